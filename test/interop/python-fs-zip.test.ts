/**
 * Interop with Debian's Python zarr 2 and xarray (/usr/bin/python3) through FileSystemStore
 * and ZipStore: hierarchies Python wrote are read bit-exactly through zarrita; hierarchies we
 * write (v2 metadata and chunks) are read exactly by Python's zarr and xarray.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as nodeZlib from "node:zlib";
import { afterAll, expect, it } from "vitest";
import * as zarr from "zarrita";
import { getJson, listAll } from "../../src/helpers.js";
import type { AbsolutePath } from "../../src/keys.js";
import type { Store } from "../../src/store.js";
import { FileSystemStore } from "../../src/stores/fs.js";
import { ZipStore } from "../../src/stores/zip.js";
import { describeLive } from "../support/live.js";
import { pythonZarrAvailable } from "../support/python.js";
import {
  makePythonV2Fixture,
  type PythonStoreKind,
  readWithPythonZarr,
  readWithXarray,
  readWithZarrita,
} from "../support/python-fixtures.js";

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), "zs-py-interop-"));
afterAll(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));

const KINDS: PythonStoreKind[] = ["directory", "zip"];
const enc = new TextEncoder();

async function openForReading(kind: PythonStoreKind, storePath: string): Promise<Store> {
  return kind === "zip"
    ? ZipStore.open(storePath, { mode: "r" })
    : new FileSystemStore(storePath, { readOnly: true });
}

async function openForWriting(kind: PythonStoreKind, storePath: string): Promise<Store> {
  return kind === "zip" ? ZipStore.open(storePath, { mode: "w" }) : new FileSystemStore(storePath);
}

// ---- v2 arrays written by hand: metadata JSON and encoded chunks --------------------------

type Compressor =
  | { id: "zlib"; level: number }
  | { id: "zstd"; level: number }
  | { id: "blosc"; cname: string; clevel: number; shuffle: number; blocksize: number }
  | null;

interface ByteCodec {
  encode(bytes: Uint8Array): Uint8Array | Promise<Uint8Array>;
}

/** Encodes a chunk as numcodecs would: zlib with node:zlib (zlib format), zstd and blosc with numcodecs. */
async function compress(compressor: Compressor, raw: Uint8Array): Promise<Uint8Array> {
  if (compressor === null) return raw;
  if (compressor.id === "zlib") return nodeZlib.deflateSync(raw, { level: compressor.level });
  // numcodecs' .d.ts use extensionless imports that nodenext cannot follow: type it here.
  const module = (await import(`numcodecs/${compressor.id}`)) as {
    default: { fromConfig(config: Compressor): ByteCodec };
  };
  return module.default.fromConfig(compressor).encode(raw);
}

interface ArraySpec {
  path: string;
  dtype: "<f4" | "<f8" | "<i8" | ">i4" | "<u2";
  shape: number[];
  chunks: number[];
  compressor: Compressor;
  fillValue: number;
  dims: string[];
  /** Elements in C order. */
  values: number[];
  /** Chunk indices not to write (they read as the fill value). */
  skip?: string[];
}

const ITEM_SIZE = { "<f4": 4, "<f8": 8, "<i8": 8, ">i4": 4, "<u2": 2 } as const;

function encodeElements(dtype: ArraySpec["dtype"], values: number[]): Uint8Array {
  const out = new Uint8Array(values.length * ITEM_SIZE[dtype]);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => {
    const at = i * ITEM_SIZE[dtype];
    if (dtype === "<f4") view.setFloat32(at, v, true);
    else if (dtype === "<f8") view.setFloat64(at, v, true);
    else if (dtype === "<i8") view.setBigInt64(at, BigInt(v), true);
    else if (dtype === ">i4") view.setInt32(at, v, false);
    else view.setUint16(at, v, true);
  });
  return out;
}

/** The elements of one chunk, C order, padded with the fill value past the array's edge. */
function chunkElements(spec: ArraySpec, index: number[]): number[] {
  const out: number[] = [];
  const total = spec.chunks.reduce((a, b) => a * b, 1);
  for (let flat = 0; flat < total; flat++) {
    let rest = flat;
    let offset = 0;
    let inside = true;
    for (let d = spec.shape.length - 1, stride = 1; d >= 0; d--) {
      const within = rest % (spec.chunks[d] as number);
      rest = Math.floor(rest / (spec.chunks[d] as number));
      const coordinate = (index[d] as number) * (spec.chunks[d] as number) + within;
      if (coordinate >= (spec.shape[d] as number)) inside = false;
      offset += coordinate * stride;
      stride *= spec.shape[d] as number;
    }
    out.push(inside ? (spec.values[offset] as number) : spec.fillValue);
  }
  return out;
}

function chunkIndices(spec: ArraySpec): number[][] {
  const counts = spec.shape.map((n, d) => Math.ceil(n / (spec.chunks[d] as number)));
  let indices: number[][] = [[]];
  for (const count of counts) {
    indices = indices.flatMap((prefix) => Array.from({ length: count }, (_, i) => [...prefix, i]));
  }
  return indices;
}

function jsonBytes(value: unknown): Uint8Array {
  return enc.encode(JSON.stringify(value, null, 4));
}

/** Writes a v2 hierarchy with consolidated metadata through any store; returns the arrays. */
async function writeV2Hierarchy(store: Store): Promise<ArraySpec[]> {
  const arrays: ArraySpec[] = [
    {
      path: "temperature",
      dtype: "<f4",
      shape: [5, 7],
      chunks: [2, 3],
      compressor: { id: "zlib", level: 5 },
      fillValue: 0,
      dims: ["y", "x"],
      values: Array.from({ length: 35 }, (_, i) => i * 0.5 - 4.25),
    },
    {
      path: "y",
      dtype: "<i8",
      shape: [5],
      chunks: [5],
      compressor: { id: "zstd", level: 3 },
      fillValue: 0,
      dims: ["y"],
      values: [10, 20, 30, 40, -(2 ** 40)],
    },
    {
      path: "x",
      dtype: "<f8",
      shape: [7],
      chunks: [4],
      compressor: { id: "blosc", cname: "lz4", clevel: 5, shuffle: 1, blocksize: 0 },
      fillValue: 0,
      dims: ["x"],
      values: [0, 0.1, 0.2, 0.3, 1e-300, -1e300, Math.PI],
    },
    {
      path: "g/sub/counts",
      dtype: "<u2",
      shape: [10],
      chunks: [4],
      compressor: null,
      fillValue: 9,
      dims: ["n"],
      values: [1, 2, 3, 4, 9, 9, 9, 9, 65535, 0],
      skip: ["1"],
    },
    {
      path: "g/sub/big_endian",
      dtype: ">i4",
      shape: [3],
      chunks: [2],
      compressor: { id: "zlib", level: 1 },
      fillValue: 0,
      dims: ["m"],
      values: [-7, 2 ** 31 - 1, -(2 ** 31)],
    },
  ];
  const metadata: Record<string, unknown> = {};
  const put = async (key: string, value: unknown) => {
    metadata[key] = value;
    await store.set(`/${key}` as AbsolutePath, jsonBytes(value));
  };
  await put(".zgroup", { zarr_format: 2 });
  await put(".zattrs", { title: "written by zarrstore", answer: 42 });
  await put("g/.zgroup", { zarr_format: 2 });
  await put("g/sub/.zgroup", { zarr_format: 2 });
  await put("g/sub/.zattrs", { level: "sub" });
  for (const spec of arrays) {
    await put(`${spec.path}/.zarray`, {
      zarr_format: 2,
      shape: spec.shape,
      chunks: spec.chunks,
      dtype: spec.dtype,
      compressor: spec.compressor,
      fill_value: spec.fillValue,
      filters: null,
      order: "C",
    });
    await put(`${spec.path}/.zattrs`, { _ARRAY_DIMENSIONS: spec.dims });
    for (const index of chunkIndices(spec)) {
      const name = index.join(".");
      if (spec.skip?.includes(name)) continue;
      const raw = encodeElements(spec.dtype, chunkElements(spec, index));
      await store.set(
        `/${spec.path}/${name}` as AbsolutePath,
        await compress(spec.compressor, raw),
      );
    }
  }
  await store.set("/.zmetadata", jsonBytes({ metadata, zarr_consolidated_format: 1 }));
  return arrays;
}

/** Expected values as Python dumps them: C order, little-endian, at the dtype's width. */
function expectedBytes(spec: ArraySpec): Uint8Array {
  const little = spec.dtype === ">i4" ? "<i4" : spec.dtype;
  const out = new Uint8Array(spec.values.length * ITEM_SIZE[spec.dtype]);
  const view = new DataView(out.buffer);
  spec.values.forEach((v, i) => {
    const at = i * ITEM_SIZE[spec.dtype];
    if (little === "<f4") view.setFloat32(at, v, true);
    else if (little === "<f8") view.setFloat64(at, v, true);
    else if (little === "<i8") view.setBigInt64(at, BigInt(v), true);
    else if (little === "<i4") view.setInt32(at, v, true);
    else view.setUint16(at, v, true);
  });
  return out;
}

describeLive("Python zarr 2 and xarray ↔ FileSystemStore and ZipStore", pythonZarrAvailable, () => {
  for (const kind of KINDS) {
    it(`reads a v2 hierarchy Python's ${kind} store wrote, bit-exactly`, async () => {
      const fixture = makePythonV2Fixture(path.join(tmpRoot, `from-python-${kind}`), kind);
      expect(fixture.consolidated).toBe(true);
      const store = await openForReading(kind, fixture.path);
      try {
        const got = await readWithZarrita(store, fixture.arrays);
        for (const array of fixture.arrays) {
          expect(got.get(array.path), array.path).toEqual(array.values);
        }
        // The rewritten chunk (a second zip entry of the same name) reads as its last value.
        const temperature = fixture.arrays.find((a) => a.path === "temperature")?.values;
        expect(new Float32Array((temperature as Uint8Array).slice().buffer)[0]).toBe(-1.5);
        // Attributes and consolidated metadata, as Python wrote them.
        expect(await getJson(store, "/.zattrs")).toEqual(fixture.groups[""]);
        expect(await getJson(store, "/nested/.zattrs")).toEqual(fixture.groups.nested);
        const consolidated = await zarr.withConsolidatedMetadata(store, { format: "v2" });
        const contents = consolidated.contents().map((c) => `${c.kind} ${c.path}`);
        for (const array of fixture.arrays) expect(contents).toContain(`array /${array.path}`);
        expect(contents).toContain("group /nested/deeper");
        const viaConsolidated = await readWithZarrita(consolidated, fixture.arrays);
        expect(viaConsolidated).toEqual(got);
        // `/`-separated chunk keys of nested/deeper/values are plain nested keys here.
        expect(await listAll(store, "/nested/deeper/values/")).toContain(
          "/nested/deeper/values/0/0/0",
        );
      } finally {
        await store.close();
      }
    });

    it(`writes a v2 hierarchy through ${kind === "zip" ? "ZipStore" : "FileSystemStore"} that Python zarr and xarray read exactly`, async () => {
      const storePath = path.join(tmpRoot, kind === "zip" ? "ours.zip" : "ours.zarr");
      const store = await openForWriting(kind, storePath);
      const arrays = await writeV2Hierarchy(store);
      await store.close();

      const python = readWithPythonZarr(storePath, kind);
      expect(python.consolidated).toBe(true);
      expect(python.groups[""]).toEqual({ title: "written by zarrstore", answer: 42 });
      expect(python.groups["g/sub"]).toEqual({ level: "sub" });
      expect(python.arrays.map((a) => a.path).sort()).toEqual(arrays.map((a) => a.path).sort());
      for (const spec of arrays) {
        const seen = python.arrays.find((a) => a.path === spec.path);
        expect(seen?.dtype, spec.path).toBe(spec.dtype);
        expect(seen?.shape).toEqual(spec.shape);
        expect(seen?.values, spec.path).toEqual(expectedBytes(spec));
      }

      const dataset = readWithXarray(storePath, kind);
      expect(dataset.attrs).toEqual({ title: "written by zarrstore", answer: 42 });
      for (const name of ["temperature", "x", "y"]) {
        const spec = arrays.find((a) => a.path === name) as ArraySpec;
        expect(dataset.variables[name]?.dims).toEqual(spec.dims);
        expect(dataset.variables[name]?.values, name).toEqual(expectedBytes(spec));
      }
      const sub = readWithXarray(storePath, kind, "g/sub");
      expect(sub.variables.counts?.values).toEqual(
        expectedBytes(arrays.find((a) => a.path === "g/sub/counts") as ArraySpec),
      );
      expect(sub.variables.big_endian?.values).toEqual(
        expectedBytes(arrays.find((a) => a.path === "g/sub/big_endian") as ArraySpec),
      );
    });
  }
});
