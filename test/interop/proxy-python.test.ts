/**
 * Python xarray and zarr 2 (Debian's) read a dataset Python wrote, through the proxy, with and
 * without chunk overrides, over fsspec's HTTP filesystem with the `chunks` header passed in
 * `client_kwargs` exactly as the seed's README does, and get the values of the source.
 */
import { execFile } from "node:child_process";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { FileSystemStore } from "../../src/stores/fs.js";
import { type ProxyServer, startProxy, writePythonDataset } from "../proxy/fixtures.js";
import { describeLive } from "../support/live.js";
import { PYTHON, pythonZarrAvailable } from "../support/python.js";
import { tempDir } from "../support/static-server.js";

const READ = `
import sys, json, numpy as np, xarray as xr, zarr
source_path, base, spec = sys.argv[1], sys.argv[2], sys.argv[3]
result = {}
src = zarr.open_consolidated(source_path, mode="r")

def same(a, b):
    return a.shape == b.shape and a.dtype == b.dtype and bool(np.array_equal(a, b, equal_nan=a.dtype.kind == "f"))

def arrays(group, prefix=""):
    for name, array in group.arrays():
        yield prefix + name, array
    for name, sub in group.groups():
        yield from arrays(sub, prefix + name + "/")

for label, headers in (("native", {}), ("header", {"chunks": spec})):
    store = zarr.storage.FSStore(base, client_kwargs={"headers": headers})
    proxied = zarr.open_consolidated(store, mode="r")
    out = {}
    for path, array in arrays(src):
        got = proxied[path]
        out[path] = {"same": same(array[...], got[...]), "chunks": list(got.chunks), "compressor": got.compressor is None, "filters": got.filters}
    ds = xr.open_dataset(store, engine="zarr")
    ref = xr.open_dataset(source_path, engine="zarr")
    out["xarray"] = {"identical": bool(ds.identical(ref)), "air_chunks": list(ds.air.encoding["chunks"])}
    result[label] = out

# The path form needs no header at all.
path_store = zarr.storage.FSStore(base + "/@chunks=" + spec.replace("/", "%2F"))
result["path"] = {"air_chunks": list(zarr.open_consolidated(path_store, mode="r")["air"].chunks),
                  "same": same(src["air"][...], zarr.open_consolidated(path_store, mode="r")["air"][...])}

# Over the payload limit: opening fails loudly (the seed's 400 on chunks read as NaN fill).
try:
    xr.open_dataset(zarr.storage.FSStore(base, client_kwargs={"headers": {"chunks": "air=20,25,1001"}}), engine="zarr")
    result["too_large"] = "opened"
except Exception as error:
    result["too_large"] = type(error).__name__ + ": " + str(error)
print(json.dumps(result))
`;

function runPythonAsync(script: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      PYTHON,
      ["-c", script, ...args],
      { maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`${error.message}\n${stderr}`));
        else resolve(stdout);
      },
    );
  });
}

describeLive("Python xarray and zarr 2 through the proxy", pythonZarrAvailable, () => {
  const dir = tempDir("proxy-python");
  const root = join(dir, "py.zarr");
  let running: ProxyServer;
  beforeAll(async () => {
    writePythonDataset(root);
    running = await startProxy({ mounts: { py: new FileSystemStore(root, { readOnly: true }) } });
  }, 60_000);
  afterAll(async () => {
    await running?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("gets the source's values natively, with the chunks header and with @chunks=", async () => {
    const spec = "air=7,11,30,land=6,50,counts=8,forder=4,4,grp/sub/t=5,3,slash=5,5,5";
    const out = JSON.parse(await runPythonAsync(READ, [root, `${running.url}/py`, spec])) as Record<
      string,
      Record<
        string,
        {
          same?: boolean;
          chunks?: number[];
          compressor?: boolean;
          filters?: unknown;
          identical?: boolean;
          air_chunks?: number[];
        }
      >
    >;
    for (const label of ["native", "header"]) {
      const arrays = out[label] as Record<
        string,
        { same?: boolean; compressor?: boolean; filters?: unknown }
      >;
      for (const [path, result] of Object.entries(arrays)) {
        if (path === "xarray") continue;
        expect(result.same, `${label} ${path}`).toBe(true);
        expect(result.compressor, `${label} ${path} is served decoded`).toBe(true);
        expect(result.filters, `${label} ${path} has no filters left`).toBeNull();
      }
      expect(out[label]?.xarray?.identical, `${label}: xarray sees the same dataset`).toBe(true);
    }
    expect(out.native?.air?.chunks).toEqual([5, 10, 20]);
    expect(out.header?.air?.chunks).toEqual([7, 11, 30]);
    expect(out.header?.counts?.chunks).toEqual([8]);
    expect(out.header?.forder?.chunks).toEqual([4, 4]);
    expect(out.header?.["grp/sub/t"]?.chunks).toEqual([5, 3]);
    expect(out.header?.xarray?.air_chunks).toEqual([7, 11, 30]);
    expect(out.path).toEqual({ air_chunks: [7, 11, 30], same: true });
    expect(String(out.too_large)).toMatch(/413/);
  }, 90_000);
});
