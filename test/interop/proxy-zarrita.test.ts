/**
 * zarrita in Node reads a dataset Python wrote, through the proxy, as its users do: a
 * `FetchStore` on the proxy URL (with the `chunks` header, or the `@chunks=` path form that
 * needs none), consolidated metadata through `withConsolidatedMetadata`, whole arrays and
 * slices; the values equal zarrita's own reading of the source.
 */
import { rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import * as zarr from "zarrita";
import { FileSystemStore } from "../../src/stores/fs.js";
import {
  type ProxyServer,
  proxyStore,
  readArray,
  startProxy,
  writePythonDataset,
} from "../proxy/fixtures.js";
import { describeLive } from "../support/live.js";
import { pythonZarrAvailable } from "../support/python.js";
import { tempDir } from "../support/static-server.js";

const ARRAYS = ["air", "land", "counts", "lat", "lon", "time", "forder", "grp/sub/t", "slash"];
const SPEC = "air=7,11,30,land=6,50,counts=8,forder=4,4,grp/sub/t=5,3,slash=5,5,5";

describeLive("zarrita through the proxy", pythonZarrAvailable, () => {
  const dir = tempDir("proxy-zarrita");
  const root = join(dir, "py.zarr");
  let source: FileSystemStore;
  let running: ProxyServer;
  beforeAll(async () => {
    writePythonDataset(root);
    source = new FileSystemStore(root, { readOnly: true });
    running = await startProxy({ mounts: { py: source } });
  }, 60_000);
  afterAll(async () => {
    await running?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("reads every array as the source holds it, natively, by header and by path", async () => {
    const clients = {
      native: proxyStore(`${running.url}/py`),
      header: proxyStore(`${running.url}/py`, { chunks: SPEC }),
      path: new zarr.FetchStore(`${running.url}/py/@chunks=${SPEC.replaceAll("/", "%2F")}`),
    };
    for (const path of ARRAYS) {
      const want = await readArray(source, path);
      for (const [label, store] of Object.entries(clients)) {
        const got = await readArray(store, path);
        expect(got.shape, `${label} ${path}`).toEqual(want.shape);
        expect(got.values, `${label} ${path}`).toEqual(want.values);
      }
    }
  });

  it("opens the dataset from consolidated metadata and reads slices across served chunks", async () => {
    const store = await zarr.withConsolidatedMetadata(
      proxyStore(`${running.url}/py`, { chunks: SPEC }),
      {
        format: "v2",
      },
    );
    const group = await zarr.open(store, { kind: "group" });
    expect(group.attrs.title).toBe("proxy interop");
    const air = await zarr.open(group.resolve("air"), { kind: "array" });
    expect(air.chunks).toEqual([7, 11, 30]);
    const direct = await zarr.open(zarr.root(source).resolve("air"), { kind: "array" });
    const selection = [zarr.slice(3, 17), 12, zarr.slice(25, 53)];
    const got = await zarr.get(air, selection);
    const want = await zarr.get(direct, selection);
    expect(got.shape).toEqual([14, 28]);
    expect(Array.from(got.data as Float32Array)).toEqual(Array.from(want.data as Float32Array));
  });
});
