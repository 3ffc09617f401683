/**
 * Zarr v2 hierarchies made and read by Debian's Python zarr 2 (`/usr/bin/python3`), for interop
 * tests of any store. Guard suites with `describeLive(..., pythonZarrAvailable, ...)`.
 *
 * @example
 * const fixture = makePythonV2Fixture(tmpDir, "directory");   // or "zip"
 * const store = new FileSystemStore(fixture.path, { readOnly: true });
 * for (const [path, bytes] of await readWithZarrita(store, fixture.arrays)) {
 *   expect(bytes).toEqual(fixture.arrays.find((a) => a.path === path)?.values);
 * }
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as zarr from "zarrita";
import { runPython } from "./python.js";

/** How the hierarchy is stored: a DirectoryStore folder or a ZipStore archive. */
export type PythonStoreKind = "directory" | "zip";

/** One array as Python zarr sees it; `values` are its elements in C order, little-endian. */
export interface PythonArray {
  /** Path in the hierarchy without a leading `/`, e.g. `nested/deeper/values`. */
  path: string;
  /** numpy dtype string as in `.zarray` (`<f4`, `>i4`, `|u1`…). */
  dtype: string;
  shape: number[];
  chunks: number[];
  /** The compressor's codec id (`blosc`, `zlib`, `zstd`) or null. */
  compressor: string | null;
  fillValue: unknown;
  dimensionSeparator: string;
  attrs: Record<string, unknown>;
  /** Every element, C order, little-endian (big-endian arrays are byte-swapped). */
  values: Uint8Array;
}

/** A hierarchy as Python zarr reads it. */
export interface PythonHierarchy {
  /** Whether a `.zmetadata` was found and used. */
  consolidated: boolean;
  /** Group path (`""` for the root) → attributes. */
  groups: Record<string, Record<string, unknown>>;
  arrays: PythonArray[];
}

/** A hierarchy Python wrote, with where it is. */
export interface PythonFixture extends PythonHierarchy {
  /** The DirectoryStore folder or the zip file. */
  path: string;
  kind: PythonStoreKind;
}

/** One variable of an xarray Dataset. */
export interface XarrayVariable {
  dims: string[];
  dtype: string;
  shape: number[];
  attrs: Record<string, unknown>;
  /** C order, little-endian. */
  values: Uint8Array;
}

/** An xarray Dataset as `xr.open_zarr` reads it. */
export interface XarrayDataset {
  attrs: Record<string, unknown>;
  /** Data variables and coordinates by name. */
  variables: Record<string, XarrayVariable>;
}

// Shared Python: open a store of either kind, dump an array's values as little-endian C bytes.
const PRELUDE = `
import json, os, sys, warnings
import numpy as np
import zarr

def open_store(path, kind, mode="r"):
    if kind == "zip":
        return zarr.ZipStore(path, mode=mode)
    return zarr.DirectoryStore(path)

def dump(values, out_dir, n):
    a = np.ascontiguousarray(values)
    if a.dtype.byteorder == ">":
        a = a.astype(a.dtype.newbyteorder("<"))
    name = os.path.join(out_dir, "%d.bin" % n)
    with open(name, "wb") as f:
        f.write(a.tobytes())
    return name

def jsonable(v):
    if isinstance(v, (np.floating, float)):
        v = float(v)
        return v if np.isfinite(v) else str(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.ndarray):
        return [jsonable(x) for x in v.tolist()]
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, dict):
        return {k: jsonable(x) for k, x in v.items()}
    return v

def describe(store, out_dir):
    consolidated = ".zmetadata" in store
    root = zarr.open_consolidated(store, mode="r") if consolidated else zarr.open_group(store, mode="r")
    groups, arrays = {"": dict(root.attrs)}, []
    def visit(name, node):
        if isinstance(node, zarr.Array):
            arrays.append({
                "path": name,
                "dtype": node.dtype.str,
                "shape": list(node.shape),
                "chunks": list(node.chunks),
                "compressor": node.compressor.codec_id if node.compressor is not None else None,
                "fillValue": jsonable(node.fill_value),
                "dimensionSeparator": node._dimension_separator or ".",
                "attrs": jsonable(dict(node.attrs)),
                "file": dump(node[...], out_dir, len(arrays)),
            })
        else:
            groups[name] = jsonable(dict(node.attrs))
    root.visititems(visit)
    return {"consolidated": consolidated, "groups": groups, "arrays": arrays}
`;

const MAKE = `
from numcodecs import Blosc, Zlib, Zstd
path, kind, out_dir = sys.argv[1], sys.argv[2], sys.argv[3]
warnings.simplefilter("ignore")  # zipfile warns on the duplicate entries zarr's ZipStore writes
store = open_store(path, kind, mode="w")
root = zarr.group(store=store, overwrite=True)
root.attrs["title"] = "zarrstore python fixture"
root.attrs["source"] = "zarr-python " + zarr.__version__

t = root.create_dataset("temperature", shape=(6, 10), chunks=(4, 4), dtype="<f4",
    compressor=Blosc(cname="zstd", clevel=3, shuffle=Blosc.SHUFFLE), fill_value=float("nan"))
t[:] = np.arange(60, dtype="<f4").reshape(6, 10) * 0.25 - 3
t[0:4, 0:4] = -1.5  # rewrites chunk 0.0: a second entry of the same name in a zip
t.attrs["_ARRAY_DIMENSIONS"] = ["y", "x"]
t.attrs["units"] = "K"
y = root.create_dataset("y", data=np.arange(6, dtype="<i8") * 10, chunks=(4,), compressor=Zlib(level=5))
y.attrs["_ARRAY_DIMENSIONS"] = ["y"]
x = root.create_dataset("x", data=np.linspace(0, 1, 10), chunks=(10,), compressor=Zstd(level=3))
x.attrs["_ARRAY_DIMENSIONS"] = ["x"]
counts = root.create_dataset("counts", data=np.arange(100, dtype="<i4") ** 2 - 500, chunks=(30,),
    compressor=Zlib(level=1))
counts.attrs["_ARRAY_DIMENSIONS"] = ["n"]
labels = root.create_dataset("labels", shape=(20,), chunks=(8,), dtype="|u1", fill_value=7,
    compressor=Zstd(level=1))
labels[0:8] = np.arange(8, dtype="|u1")  # chunks 1 and 2 are never written: fill value
labels.attrs["_ARRAY_DIMENSIONS"] = ["m"]
big = root.create_dataset("big_endian", data=np.arange(15, dtype=">i4").reshape(3, 5) - 7,
    dtype=">i4", chunks=(2, 2), compressor=Blosc(cname="lz4", clevel=5, shuffle=Blosc.BITSHUFFLE))
big.attrs["_ARRAY_DIMENSIONS"] = ["p", "q"]

nested = root.create_group("nested")
nested.attrs["description"] = "a nested group"
deeper = nested.create_group("deeper")
rng = np.random.default_rng(42)
v = deeper.create_dataset("values", data=rng.standard_normal((5, 7, 3)), chunks=(2, 3, 3),
    compressor=Zstd(level=5), dimension_separator="/")
v.attrs["_ARRAY_DIMENSIONS"] = ["a", "b", "c"]
zarr.consolidate_metadata(store)
if kind == "zip":
    store.close()
    store = open_store(path, kind)
print(json.dumps(describe(store, out_dir)))
`;

const READ = `
path, kind, out_dir = sys.argv[1], sys.argv[2], sys.argv[3]
print(json.dumps(describe(open_store(path, kind), out_dir)))
`;

const XARRAY = `
import xarray as xr
path, kind, group, out_dir = sys.argv[1], sys.argv[2], sys.argv[3] or None, sys.argv[4]
# mask_and_scale=False keeps dtypes as stored (xarray would turn integer arrays with a fill value into floats)
ds = xr.open_zarr(open_store(path, kind), group=group, consolidated=None, mask_and_scale=False)
variables = {}
for name, var in ds.variables.items():
    values = var.values
    variables[name] = {"dims": list(var.dims), "dtype": values.dtype.str, "shape": list(values.shape),
        "attrs": jsonable(dict(var.attrs)), "file": dump(values, out_dir, len(variables))}
print(json.dumps({"attrs": jsonable(dict(ds.attrs)), "variables": variables}))
`;

/**
 * Writes a v2 hierarchy with Python zarr 2 into `dir` (as `fixture.zarr` or `fixture.zip`) and
 * returns what Python reads back from it: blosc (zstd, lz4), zlib and zstd compressors, a `>i4`
 * array, a never-written chunk (fill value), nested groups, `/`-separated chunk keys in
 * `nested/deeper/values`, `_ARRAY_DIMENSIONS` for xarray and a consolidated `.zmetadata`.
 * A zip holds duplicate entries for rewritten keys (the last one is the value).
 */
export function makePythonV2Fixture(dir: string, kind: PythonStoreKind): PythonFixture {
  fs.mkdirSync(dir, { recursive: true });
  const storePath = path.join(dir, kind === "zip" ? "fixture.zip" : "fixture.zarr");
  const hierarchy = runJson(PRELUDE + MAKE, [storePath, kind], dir);
  return { ...toHierarchy(hierarchy), path: storePath, kind };
}

/** Reads a v2 hierarchy (consolidated or not) with Python zarr 2: every group's attributes and every array's values. */
export function readWithPythonZarr(storePath: string, kind: PythonStoreKind): PythonHierarchy {
  return toHierarchy(runJson(PRELUDE + READ, [storePath, kind], path.dirname(storePath)));
}

/**
 * Opens a v2 hierarchy (or one of its groups) with `xarray.open_zarr(..., mask_and_scale=False)`
 * and returns its variables with their stored dtypes. Arrays need `_ARRAY_DIMENSIONS` attributes.
 */
export function readWithXarray(
  storePath: string,
  kind: PythonStoreKind,
  group = "",
): XarrayDataset {
  const raw = runJson(PRELUDE + XARRAY, [storePath, kind, group], path.dirname(storePath)) as {
    attrs: Record<string, unknown>;
    variables: Record<string, XarrayVariable & { file?: string }>;
  };
  const variables: Record<string, XarrayVariable> = {};
  for (const [name, { file: _file, ...variable }] of Object.entries(raw.variables)) {
    variables[name] = variable;
  }
  return { attrs: raw.attrs, variables };
}

/**
 * Reads each array through zarrita (v2) from any zarrita-readable store and returns its values
 * as little-endian C-order bytes by path, to compare with `PythonArray.values`.
 */
export async function readWithZarrita(
  store: zarr.Readable,
  arrays: readonly { path: string }[],
): Promise<Map<string, Uint8Array>> {
  const out = new Map<string, Uint8Array>();
  for (const { path: arrayPath } of arrays) {
    const arr = await zarr.open.v2(zarr.root(store).resolve(arrayPath), { kind: "array" });
    const { data } = await zarr.get(arr);
    const view = data as unknown as ArrayBufferView;
    out.set(arrayPath, new Uint8Array(view.buffer, view.byteOffset, view.byteLength).slice());
  }
  return out;
}

function runJson(script: string, args: string[], dir: string): unknown {
  const outDir = fs.mkdtempSync(path.join(dir, ".py-values-"));
  try {
    const parsed = JSON.parse(runPython(script, [...args, outDir])) as unknown;
    return loadFiles(parsed);
  } finally {
    fs.rmSync(outDir, { recursive: true, force: true });
  }
}

// Replaces every `file` field with the bytes it names (read before the folder is removed).
function loadFiles(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(loadFiles);
  if (typeof value !== "object" || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    if (k === "file" && typeof v === "string") out.values = new Uint8Array(fs.readFileSync(v));
    out[k] = k === "file" ? v : loadFiles(v);
  }
  return out;
}

function toHierarchy(raw: unknown): PythonHierarchy {
  const h = raw as Omit<PythonHierarchy, "arrays"> & {
    arrays: (PythonArray & { file?: string })[];
  };
  return {
    consolidated: h.consolidated,
    groups: h.groups,
    arrays: h.arrays.map(({ file: _file, ...array }) => array),
  };
}
