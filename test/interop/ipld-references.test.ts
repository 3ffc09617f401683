/**
 * carToReferences against Python: a dataset written by xarray is replayed into an IPLDStore,
 * exported as a CAR file, turned into ReferenceFileSystem v1 JSON, and opened by Python's
 * fsspec (`reference://`) + xarray with values identical to the source; every key's bytes
 * through fsspec equal the bytes the dataset wrote. ReferenceStore opens the same JSON.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, expect, it } from "vitest";
import * as zarr from "zarrita";
import { openStore } from "../../src/open.node.js";
import { carToReferences, IPLDStore } from "../../src/stores/ipld/index.js";
import { describeLive } from "../support/live.js";
import { pythonZarrAvailable, runPython } from "../support/python.js";

const WRITE = `
import base64, json, sys, warnings
import numpy as np, xarray as xr, zarr
warnings.simplefilter("ignore")
store = {}
rng = np.random.default_rng(7)
ds = xr.Dataset(
    {
        "temp": (("t", "y", "x"), rng.normal(280, 5, (6, 8, 10)).astype("f4"), {"units": "K", "scale_factor": 1.0}),
        "mask": (("y", "x"), rng.integers(0, 2, (8, 10)).astype("u1")),
    },
    coords={"t": np.arange(6) * 0.5, "y": np.linspace(-1, 1, 8), "x": np.arange(10)},
    attrs={"title": "reference round trip", "offset": 0.0},
)
ds.to_zarr(store, consolidated=True, encoding={"temp": {"chunks": (2, 4, 5)}})
sub = xr.Dataset({"v": ("z", np.array([1.5, -2.0, 0.0, 40.0]))})
sub.to_zarr(store, group="nested/deeper", consolidated=True)
ds.to_zarr(sys.argv[1], consolidated=True, encoding={"temp": {"chunks": (2, 4, 5)}})
sub.to_zarr(sys.argv[1], group="nested/deeper", consolidated=True)
print(json.dumps({k: base64.b64encode(bytes(v)).decode() for k, v in store.items()}))
`;

const READ = `
import base64, json, sys, warnings
import fsspec, xarray as xr, zarr
warnings.simplefilter("ignore")
refs_path, source, writes_path = sys.argv[1], sys.argv[2], sys.argv[3]
fs = fsspec.filesystem("reference", fo=refs_path)
mapper = fs.get_mapper("")
writes = json.load(open(writes_path))
mismatched = [k for k, v in writes.items() if k.split("/")[-1] not in (".zarray", ".zgroup", ".zattrs", ".zmetadata") and mapper[k] != base64.b64decode(v)]
assert not mismatched, mismatched
for consolidated in (False, True):
    got = xr.open_zarr(mapper, consolidated=consolidated).load()
    want = xr.open_zarr(source, consolidated=consolidated).load()
    xr.testing.assert_identical(got, want)
    got = xr.open_zarr(mapper, group="nested/deeper", consolidated=consolidated).load()
    want = xr.open_zarr(source, group="nested/deeper", consolidated=consolidated).load()
    xr.testing.assert_identical(got, want)
print("identical", len(writes))
`;

const tmp = mkdtempSync(join(tmpdir(), "zarrstore-refs-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describeLive("carToReferences read by Python fsspec + xarray", pythonZarrAvailable, () => {
  it("opens the references with values identical to the source", async () => {
    const source = join(tmp, "source.zarr");
    const writes = JSON.parse(runPython(WRITE, [source])) as Record<string, string>;
    const store = new IPLDStore();
    for (const [key, b64] of Object.entries(writes)) {
      await store.set(`/${key}`, new Uint8Array(Buffer.from(b64, "base64")));
    }
    const carPath = join(tmp, "data.car");
    writeFileSync(carPath, await store.toCar());
    const refs = await carToReferences(readFileSync(carPath), carPath);
    expect(refs.templates.a).toBe(carPath);
    expect(refs.refs[".zgroup"]).toBe('{"zarr_format": 2}');
    const refsPath = join(tmp, "refs.json");
    writeFileSync(refsPath, JSON.stringify(refs));
    const writesPath = join(tmp, "writes.json");
    writeFileSync(writesPath, JSON.stringify(writes));
    const out = runPython(READ, [refsPath, source, writesPath]);
    expect(out.trim()).toBe(`identical ${Object.keys(writes).length}`);

    // The same JSON through ReferenceStore: every value equals what the CAR's IPLDStore reads
    // (metadata as json.dumps of the decoded tree, in both).
    const references = await openStore(`reference://${refsPath}`);
    const fromCar = await IPLDStore.fromCar(readFileSync(carPath));
    for (const key of Object.keys(writes)) {
      expect(await references.get(`/${key}`), key).toEqual(await fromCar.get(`/${key}`));
    }
    const temp = await zarr.open.v2(zarr.root(references).resolve("temp"), { kind: "array" });
    const fromIpld = await zarr.open.v2(zarr.root(store).resolve("temp"), { kind: "array" });
    expect((await zarr.get(temp)).data).toEqual((await zarr.get(fromIpld)).data);
    await references.close();
  }, 120_000);
});
