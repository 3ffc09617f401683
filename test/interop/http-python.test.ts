/**
 * A v2 hierarchy written by Python's zarr 2 (DirectoryStore; blosc, zlib, zstd; consolidated
 * `.zmetadata`), served by a real nginx, read bit-exactly through HttpStore and zarrita.
 */
import { rmSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as zarr from "zarrita";
import { getJson } from "../../src/helpers.js";
import { openStore } from "../../src/index.node.js";
import { HttpStore as PortableHttpStore } from "../../src/stores/http.js";
import { HttpStore } from "../../src/stores/http.node.js";
import { describeLive } from "../support/live.js";
import { pythonZarrAvailable } from "../support/python.js";
import {
  makePythonV2Fixture,
  type PythonFixture,
  readWithZarrita,
} from "../support/python-fixtures.js";
import {
  nginxAvailable,
  type RunningServer,
  startNginx,
  tempDir,
} from "../support/static-server.js";

function prerequisites(): true | string {
  const python = pythonZarrAvailable();
  if (python !== true) return python;
  return nginxAvailable();
}

describeLive("Python zarr 2 hierarchy over nginx, read through HttpStore", prerequisites, () => {
  const dir = tempDir("http-python");
  let fixture: PythonFixture;
  let nginx: RunningServer;
  let base: string;
  beforeAll(async () => {
    fixture = makePythonV2Fixture(dir, "directory");
    nginx = await startNginx(dir);
    base = `${nginx.url}fixture.zarr`;
  }, 60_000);
  afterAll(async () => {
    await nginx?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("covers blosc, zlib and zstd and consolidated metadata", () => {
    const compressors = new Set(fixture.arrays.map((a) => a.compressor));
    for (const id of ["blosc", "zlib", "zstd"]) expect(compressors).toContain(id);
    expect(fixture.consolidated).toBe(true);
  });

  describe.each([
    ["undici", (url: string) => new HttpStore(url)],
    ["fetch", (url: string) => new PortableHttpStore(url)],
  ])("through the %s transport", (_name, make) => {
    it("reads every array bit-exactly, as Python dumped it", async () => {
      const store = make(base);
      const values = await readWithZarrita(store, fixture.arrays);
      for (const array of fixture.arrays) {
        expect(values.get(array.path), array.path).toEqual(array.values);
      }
      await store.close();
    });

    it("lists the hierarchy from .zmetadata (HTTP cannot list) and reads through it", async () => {
      const store = make(base);
      const meta = await getJson<{ metadata: Record<string, unknown> }>(store, "/.zmetadata");
      const arrayPaths = Object.keys(meta?.metadata ?? {})
        .filter((key) => key.endsWith("/.zarray"))
        .map((key) => key.slice(0, -"/.zarray".length))
        .sort();
      expect(arrayPaths).toEqual(fixture.arrays.map((a) => a.path).sort());
      const consolidated = await zarr.withConsolidatedMetadata(store, { format: "v2" });
      const kinds = consolidated.contents().filter((c) => c.kind === "array");
      expect(kinds.map((c) => c.path.slice(1)).sort()).toEqual(arrayPaths);
      const values = await readWithZarrita(consolidated, fixture.arrays);
      for (const array of fixture.arrays) expect(values.get(array.path)).toEqual(array.values);
      await store.close();
    });
  });

  it("reads group attributes and a chunk by range through openStore", async () => {
    const store = await openStore(base);
    const attrs = await getJson<Record<string, unknown>>(store, "/.zattrs");
    expect(attrs).toEqual(fixture.groups[""]);
    const chunk = await store.get("/temperature/0.0");
    expect(chunk?.byteLength).toBeGreaterThan(16);
    const tail = await store.getRange("/temperature/0.0", { suffixLength: 8 });
    expect(tail).toEqual(chunk?.subarray(chunk.byteLength - 8));
    expect(await store.get("/temperature/9.9")).toBeUndefined();
    await store.close();
  });
});
