/**
 * Seed-style interop through Azure Blob Storage (real Azurite; Python has no Azure SDK here):
 * - Python's zarr 2 writes a v2 hierarchy (blosc, zlib, zstd, consolidated) to a folder;
 *   `zarrstore cp` uploads it to `az://`; zarrita reads it back through AzureBlobStore.
 * - the rechunking proxy mounts that `az://` dataset and serves it re-chunked to zarrita;
 * - zarrita writes a v2 array into Azurite through AzureBlobStore; `zarrstore cp` downloads
 *   it to a folder; Python's zarr 2 reads it.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import * as zarr from "zarrita";
import { listAll, setJson } from "../../src/helpers.js";
import { openStore } from "../../src/open.node.js";
import { AzureBlobStore } from "../../src/stores/azure/index.js";
import { proxyStore, startProxy } from "../proxy/fixtures.js";
import { type AzuriteServer, azuriteAvailable, startAzurite } from "../support/azurite.js";
import { runCli } from "../support/cli.js";
import { describeLive } from "../support/live.js";
import { pythonZarrAvailable } from "../support/python.js";
import {
  makePythonV2Fixture,
  readWithPythonZarr,
  readWithZarrita,
} from "../support/python-fixtures.js";

function prerequisites(): true | string {
  const python = pythonZarrAvailable();
  return python === true ? azuriteAvailable() : python;
}

describeLive("Python zarr 2 ⇄ Azure Blob Storage (Azurite) ⇄ zarrita", prerequisites, () => {
  let azurite: AzuriteServer;
  let dir: string;
  let env: Record<string, string>;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "zarrstore-azure-interop-"));
    azurite = await startAzurite();
    env = { AZURE_STORAGE_CONNECTION_STRING: azurite.connectionString };
  });
  afterAll(async () => {
    await azurite?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("a hierarchy written by Python zarr 2 and uploaded with `zarrstore cp` reads bit-exactly through zarrita", async () => {
    const fixture = makePythonV2Fixture(dir, "directory");
    const upload = await runCli(["cp", fixture.path, "az://interop/python.zarr", "--verify"], {
      env,
    });
    expect(upload.stderr).toBe("");
    expect(upload.code).toBe(0);

    const store = await openStore("az://interop/python.zarr", { env, readOnly: true });
    expect(store).toBeInstanceOf(AzureBlobStore);
    const keys = await listAll(store);
    expect(keys).toContain("/.zmetadata");
    const values = await readWithZarrita(store, fixture.arrays);
    for (const array of fixture.arrays) {
      expect(values.get(array.path), array.path).toEqual(array.values);
    }
    const consolidated = await zarr.withConsolidatedMetadata(store, { format: "v2" });
    const arrays = consolidated.contents().filter((node) => node.kind === "array");
    expect(arrays.map((node) => node.path.slice(1)).sort()).toEqual(
      fixture.arrays.map((a) => a.path).sort(),
    );
    await store.close();
  }, 120_000);

  it("the rechunking proxy serves the az:// dataset re-chunked, and zarrita reads the same values", async () => {
    const fixture = makePythonV2Fixture(dir, "directory");
    const upload = await runCli(["cp", fixture.path, "az://interop/proxied.zarr", "-q"], { env });
    expect(upload.code).toBe(0);
    const running = await startProxy({
      mounts: { az: "az://interop/proxied.zarr" },
      openStore: (url, options) => openStore(url, { ...options, env }),
    });
    try {
      const spec = "temperature=3,5,counts=7";
      const values = await readWithZarrita(
        proxyStore(`${running.url}/az`, { chunks: spec }),
        fixture.arrays,
      );
      for (const array of fixture.arrays) {
        expect(values.get(array.path), array.path).toEqual(array.values);
      }
      const served = await zarr.open(
        zarr.root(proxyStore(`${running.url}/az`, { chunks: spec })).resolve("temperature"),
        { kind: "array" },
      );
      expect(served.chunks).toEqual([3, 5]);
    } finally {
      await running.stop();
    }
  }, 120_000);

  it("a v2 array written by zarrita into Azure and downloaded with `zarrstore cp` reads in Python zarr 2", async () => {
    const store = new AzureBlobStore({
      container: "interop",
      prefix: "zarrita.zarr",
      connectionString: azurite.connectionString,
      env: {},
    });
    await setJson(store, "/.zgroup", { zarr_format: 2 });
    await setJson(store, "/.zattrs", { written_by: "zarrita" });
    await setJson(store, "/temperature/.zarray", {
      zarr_format: 2,
      shape: [5, 7],
      chunks: [2, 3],
      dtype: "<f4",
      compressor: null,
      fill_value: 0,
      filters: null,
      order: "C",
    });
    await setJson(store, "/temperature/.zattrs", { units: "K" });
    const values = Float32Array.from({ length: 35 }, (_, i) => 270 + i * 0.25);
    const arr = await zarr.open.v2(zarr.root(store).resolve("temperature"), { kind: "array" });
    await zarr.set(arr, null, { data: values, shape: [5, 7], stride: [7, 1] });
    await store.close();

    const target = join(dir, "from-azure.zarr");
    const download = await runCli(["cp", "az://interop/zarrita.zarr", target], { env });
    expect(download.stderr).toBe("");
    expect(download.code).toBe(0);

    const python = readWithPythonZarr(target, "directory");
    expect(python.groups[""]).toEqual({ written_by: "zarrita" });
    const temperature = python.arrays.find((a) => a.path === "temperature");
    expect(temperature?.shape).toEqual([5, 7]);
    expect(temperature?.attrs).toEqual({ units: "K" });
    expect(temperature?.values).toEqual(new Uint8Array(values.buffer));
  }, 120_000);
});
