/**
 * Test datasets for the proxy, written as plain keys the way zarr-python lays them out, and
 * helpers to read arrays with zarrita (directly and through the proxy) and to run the proxy on
 * a real port.
 */
import { deflateSync, gzipSync } from "node:zlib";
import * as zarr from "zarrita";
import { loadNumcodec } from "../../src/proxy/codecs.js";
import {
  createRechunkProxy,
  type RechunkProxy,
  type RechunkProxyOptions,
} from "../../src/proxy/index.js";
import { nodeDecompressors, type RunningServer, serve } from "../../src/proxy/node.js";
import type { Store } from "../../src/store.js";
import { MemoryStore } from "../../src/stores/memory.js";
import { runPython } from "../support/python.js";

const encoder = new TextEncoder();

/** How one v2 array is stored. */
export interface V2Spec {
  path: string;
  shape: number[];
  chunks: number[];
  dtype: string;
  order?: "C" | "F";
  separator?: "." | "/";
  compressor?: "zlib" | "gzip" | "zstd" | null;
  /** `delta` stores differences (numcodecs' Delta filter). */
  filter?: "delta";
  fill_value?: number | string | null;
  /** Chunks (as `i.j`) that are not written. */
  missing?: string[];
  attrs?: Record<string, unknown>;
}

const TYPED: Record<string, (n: number) => { bytes: Uint8Array; set(i: number, v: number): void }> =
  {
    f4: (n) => view(new Float32Array(n)),
    f8: (n) => view(new Float64Array(n)),
    i4: (n) => view(new Int32Array(n)),
    u2: (n) => view(new Uint16Array(n)),
    i2: (n) => view(new Int16Array(n)),
    u1: (n) => view(new Uint8Array(n)),
  };

function view(
  array: Float32Array | Float64Array | Int32Array | Uint16Array | Int16Array | Uint8Array,
) {
  return {
    bytes: new Uint8Array(array.buffer),
    set: (i: number, v: number) => {
      array[i] = v;
    },
  };
}

/** The value of element `flat` (C order) of an array: distinct, exact in every dtype used here. */
export function valueAt(path: string, flat: number, dtype: string): number {
  const kind = dtype.slice(1);
  const seed = path.length * 7;
  if (kind.startsWith("f")) return (flat % 977) * 0.25 - 50 + seed;
  if (kind === "u1") return (flat + seed) % 251;
  if (kind === "u2") return (flat * 3 + seed) % 65_000;
  if (kind === "i2") return ((flat * 5 + seed) % 30_000) - 15_000;
  return flat * 13 - 100_000 + seed;
}

/** Writes a v2 array as plain keys: `.zarray`, `.zattrs` and compressed chunks. */
export async function writeV2Array(store: Store, spec: V2Spec): Promise<Record<string, unknown>> {
  const zarray = {
    zarr_format: 2,
    shape: spec.shape,
    chunks: spec.chunks,
    dtype: spec.dtype,
    order: spec.order ?? "C",
    compressor: spec.compressor ? compressorConfig(spec.compressor) : null,
    filters: spec.filter === "delta" ? [{ id: "delta", dtype: spec.dtype }] : null,
    fill_value: spec.fill_value ?? null,
    ...(spec.separator && { dimension_separator: spec.separator }),
  };
  const prefix = spec.path ? `/${spec.path}/` : "/";
  await store.set(`${prefix}.zarray` as `/${string}`, encoder.encode(JSON.stringify(zarray)));
  if (spec.attrs) {
    await store.set(`${prefix}.zattrs` as `/${string}`, encoder.encode(JSON.stringify(spec.attrs)));
  }
  const grid = spec.shape.map((s, d) => Math.ceil(s / (spec.chunks[d] as number)));
  const itemSize = Number(spec.dtype.slice(2));
  const make = TYPED[spec.dtype.slice(1)] as (n: number) => ReturnType<typeof view>;
  const count = spec.chunks.reduce((a, b) => a * b, 1);
  for (const coords of indexes(grid)) {
    const name = coords.join(spec.separator ?? ".") || "0";
    if (spec.missing?.includes(coords.join("."))) continue;
    const chunk = make(count);
    const local = indexes(spec.chunks);
    for (let k = 0; k < local.length; k++) {
      const l = local[k] as number[];
      const global = l.map((x, d) => x + (coords[d] as number) * (spec.chunks[d] as number));
      if (global.some((g, d) => g >= (spec.shape[d] as number))) continue; // edge: left as 0
      const flat = global.reduce((acc, g, d) => acc * (spec.shape[d] as number) + g, 0);
      const at =
        spec.order === "F"
          ? l.reduceRight((acc, x, d) => acc * (spec.chunks[d] as number) + x, 0)
          : l.reduce((acc, x, d) => acc * (spec.chunks[d] as number) + x, 0);
      chunk.set(at, valueAt(spec.path, flat, spec.dtype));
    }
    let bytes = chunk.bytes;
    if (spec.filter === "delta") bytes = deltaEncode(bytes, spec.dtype);
    if (spec.dtype.startsWith(">")) bytes = swap(bytes, itemSize);
    await store.set(
      `${prefix}${name}` as `/${string}`,
      await compress(bytes, spec.compressor ?? null),
    );
  }
  return zarray;
}

function deltaEncode(bytes: Uint8Array, dtype: string): Uint8Array {
  if (dtype.slice(1) !== "i4") throw new Error("delta fixtures are int32");
  const values = new Int32Array(
    bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength),
  );
  const out = new Int32Array(values.length);
  for (let i = 0; i < values.length; i++)
    out[i] = i === 0 ? (values[0] as number) : (values[i] as number) - (values[i - 1] as number);
  return new Uint8Array(out.buffer);
}

function swap(bytes: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(bytes.byteLength);
  for (let i = 0; i < bytes.byteLength; i += size) {
    for (let b = 0; b < size; b++) out[i + b] = bytes[i + size - 1 - b] as number;
  }
  return out;
}

function compressorConfig(name: "zlib" | "gzip" | "zstd"): Record<string, unknown> {
  return name === "zstd" ? { id: "zstd", level: 3 } : { id: name, level: 1 };
}

async function compress(bytes: Uint8Array, name: V2Spec["compressor"]): Promise<Uint8Array> {
  if (name === "zlib") return deflateSync(bytes);
  if (name === "gzip") return gzipSync(bytes);
  if (name === "zstd") return (await loadNumcodec("zstd", { level: 3 })).encode(bytes);
  return bytes;
}

/** Every index of a grid, in C order. */
export function indexes(shape: readonly number[]): number[][] {
  let result: number[][] = [[]];
  for (const n of shape) {
    const next: number[][] = [];
    for (const prefix of result) for (let i = 0; i < n; i++) next.push([...prefix, i]);
    result = next;
  }
  return result;
}

/** The arrays of the `ds` dataset: every layout the proxy must get right. */
export const V2_ARRAYS: V2Spec[] = [
  {
    path: "air",
    shape: [20, 25, 53],
    chunks: [5, 10, 20],
    dtype: "<f4",
    compressor: "zlib",
    fill_value: "NaN",
    attrs: { _ARRAY_DIMENSIONS: ["time", "lat", "lon"] },
  },
  { path: "forder", shape: [7, 9], chunks: [3, 4], dtype: "<i4", order: "F", fill_value: -1 },
  {
    path: "slash",
    shape: [6, 7, 5],
    chunks: [4, 3, 2],
    dtype: "<f8",
    separator: "/",
    compressor: "zlib",
    fill_value: 0,
  },
  {
    path: "grp/sub/t",
    shape: [9, 10],
    chunks: [4, 4],
    dtype: "<u2",
    compressor: "gzip",
    fill_value: 3,
  },
  { path: "big", shape: [10, 10], chunks: [3, 3], dtype: ">i4", compressor: "zstd", fill_value: 5 },
  {
    path: "holes",
    shape: [10, 10],
    chunks: [4, 4],
    dtype: "<f4",
    compressor: "zlib",
    fill_value: 7.5,
    missing: ["0.1", "2.2", "1.0"],
  },
  {
    path: "delta",
    shape: [11, 6],
    chunks: [4, 4],
    dtype: "<i4",
    filter: "delta",
    compressor: "zlib",
    fill_value: 0,
  },
  { path: "small", shape: [30], chunks: [7], dtype: "|u1", fill_value: 0 },
];

/** Writes the `ds` dataset (with consolidated metadata) into a store. */
export async function writeDataset(store: Store): Promise<void> {
  const metadata: Record<string, unknown> = {
    ".zgroup": { zarr_format: 2 },
    ".zattrs": { title: "proxy fixtures" },
    "grp/.zgroup": { zarr_format: 2 },
    "grp/sub/.zgroup": { zarr_format: 2 },
  };
  for (const [key, doc] of Object.entries(metadata)) {
    await store.set(`/${key}` as `/${string}`, encoder.encode(JSON.stringify(doc)));
  }
  for (const spec of V2_ARRAYS) {
    metadata[`${spec.path}/.zarray`] = await writeV2Array(store, spec);
    if (spec.attrs) metadata[`${spec.path}/.zattrs`] = spec.attrs;
  }
  // An object array (variable-length strings): the proxy cannot rechunk it and passes it through.
  const objects = {
    zarr_format: 2,
    shape: [3],
    chunks: [2],
    dtype: "|O",
    order: "C",
    compressor: null,
    filters: [{ id: "vlen-utf8" }],
    fill_value: null,
  };
  metadata["names/.zarray"] = objects;
  await store.set("/names/.zarray", encoder.encode(JSON.stringify(objects)));
  await store.set("/names/0", vlen(["ab", "cde"]));
  await store.set("/names/1", vlen(["f", ""]));
  await store.set(
    "/.zmetadata",
    encoder.encode(JSON.stringify({ zarr_consolidated_format: 1, metadata }, null, 4)),
  );
}

function vlen(items: string[]): Uint8Array {
  const parts = items.map((s) => encoder.encode(s));
  const out = new Uint8Array(4 + parts.reduce((a, p) => a + 4 + p.byteLength, 0));
  const dv = new DataView(out.buffer);
  dv.setUint32(0, items.length, true);
  let at = 4;
  for (const p of parts) {
    dv.setUint32(at, p.byteLength, true);
    out.set(p, at + 4);
    at += 4 + p.byteLength;
  }
  return out;
}

/** A fresh MemoryStore holding the `ds` dataset. */
export async function datasetStore(): Promise<MemoryStore> {
  const store = new MemoryStore();
  await writeDataset(store);
  return store;
}

/** An array read whole with zarrita: its shape and its elements as bytes (C order, little-endian). */
export interface ReadArray {
  shape: number[];
  chunks: number[];
  bytes: Uint8Array;
  values: unknown[];
}

/** Reads an array whole with zarrita from any zarrita store. */
export async function readArray(store: zarr.Readable, path: string): Promise<ReadArray> {
  const array = await zarr.open(zarr.root(store).resolve(path), { kind: "array" });
  const got = await zarr.get(array);
  const data = got.data as unknown as ArrayLike<unknown> & Partial<ArrayBufferView>;
  const bytes =
    data.buffer !== undefined && data.byteLength !== undefined
      ? new Uint8Array(data.buffer, data.byteOffset ?? 0, data.byteLength)
      : new Uint8Array(0);
  return { shape: array.shape, chunks: array.chunks, bytes, values: Array.from(data) };
}

/** A zarrita store over the proxy, sending a `chunks` header when given one. */
export function proxyStore(url: string, headers: Record<string, string> = {}): zarr.FetchStore {
  return new zarr.FetchStore(url, {
    fetch: (request) => {
      for (const [name, value] of Object.entries(headers)) request.headers.set(name, value);
      return fetch(request);
    },
  });
}

/** A proxy on a free port of 127.0.0.1, stopped by `stop()`. */
export interface ProxyServer {
  proxy: RechunkProxy;
  server: RunningServer;
  url: string;
  stop(): Promise<void>;
}

/** Starts a proxy on a free port with Node's decompressors. */
export async function startProxy(options: RechunkProxyOptions): Promise<ProxyServer> {
  const proxy = createRechunkProxy({ decompressors: nodeDecompressors, env: {}, ...options });
  const server = await serve(proxy, { port: 0 });
  return {
    proxy,
    server,
    url: server.url,
    async stop() {
      await server.close();
      await proxy.close();
    },
  };
}

// Shapes chosen so that neither the stored nor the requested chunks divide them.
const PYTHON_DATASET = `
import sys, numpy as np, xarray as xr, zarr, numcodecs
root = sys.argv[1]
t = np.arange(20)
air = (np.arange(20 * 25 * 53, dtype="f4").reshape(20, 25, 53) % 977) * 0.25 + 200
air[0, 0, :5] = np.nan
ds = xr.Dataset(
    {
        "air": (("time", "lat", "lon"), air, {"units": "degK"}),
        "land": (("lat", "lon"), (np.arange(25 * 53).reshape(25, 53) % 2).astype("u1")),
        "counts": (("time",), np.arange(20, dtype="i8") * 3),
    },
    coords={"time": t, "lat": np.linspace(75, 15, 25).astype("f4"), "lon": np.linspace(200, 330, 53).astype("f4")},
    attrs={"title": "proxy interop"},
)
enc = {
    "air": {"chunks": (5, 10, 20), "compressor": numcodecs.Zlib(level=1)},
    "land": {"chunks": (10, 20), "compressor": numcodecs.Blosc(cname="lz4", shuffle=1)},
    "counts": {"chunks": (7,), "compressor": numcodecs.Zstd(level=3), "filters": [numcodecs.Delta(dtype="i8")]},
}
ds.to_zarr(root, encoding=enc, consolidated=False)
g = zarr.open_group(root, mode="a")
forder = g.create_dataset("forder", data=np.arange(63, dtype=">i4").reshape(7, 9), chunks=(3, 4), order="F")
forder.attrs["_ARRAY_DIMENSIONS"] = ["fy", "fx"]
nested = zarr.open_group(zarr.DirectoryStore(root), mode="a").require_group("grp/sub")
nested.create_dataset("t", data=np.arange(90, dtype="<u2").reshape(9, 10) * 7, chunks=(4, 4), fill_value=3)
slash = g.create_dataset("slash", data=np.arange(210, dtype="f8").reshape(6, 7, 5) / 4, chunks=(4, 3, 2), dimension_separator="/")
slash.attrs["_ARRAY_DIMENSIONS"] = ["sz", "sy", "sx"]
zarr.consolidate_metadata(root)
`;

/**
 * Writes, with Debian's Python (xarray + zarr 2), a consolidated v2 dataset with compressors,
 * a Delta filter, an F-order big-endian array, a nested group and a "/"-separated array.
 */
export function writePythonDataset(root: string): void {
  runPython(PYTHON_DATASET, [root]);
}
