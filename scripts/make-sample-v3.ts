/**
 * Makes sample/v3.zarr, the small Zarr v3 hierarchy shipped with zarrstore:
 *
 *   node --import tsx scripts/make-sample-v3.ts [OUT]   # default: sample/v3.zarr
 *
 * - `/` group with attributes and inline consolidated metadata (as zarr-python 3 writes it);
 * - `/temperature` float32 10×15 in 4×6 chunks (partial edge chunks), bytes + zstd,
 *   `dimension_names`, NaN fill value;
 * - `/grp` group; `/grp/counts` int16 7×9 in 3×4 chunks with the `.` chunk key separator
 *   (`c.0.1`), bytes + blosc;
 * - `/grp/sharded` uint16 9×10 in 4×10 shards of 2×5 inner chunks (index at the end, bytes +
 *   crc32c, as zarr-python 3 writes it); the last shard is partial and its inner chunks that
 *   lie wholly outside the array are absent from the index.
 *
 * Arrays are written with zarrita (which cannot write shards: those are assembled here), then
 * the store's keys are written to disk. Deterministic: re-running rewrites the same bytes.
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import * as zarr from "zarrita";
import { MemoryStore } from "../src/stores/memory.js";

const here = dirname(fileURLToPath(import.meta.url));
const OUT = resolve(process.argv[2] ?? join(here, "..", "sample", "v3.zarr"));
const encoder = new TextEncoder();
const decoder = new TextDecoder();

async function main(): Promise<void> {
  const store = new MemoryStore();
  const root = zarr.root(store);
  await zarr.create(root, {
    attributes: {
      title: "zarrstore v3 sample",
      description: "A small Zarr v3 hierarchy made by scripts/make-sample-v3.ts.",
    },
  });
  await writeTemperature(root);
  await zarr.create(root.resolve("grp"), { attributes: { purpose: "nested group" } });
  await writeCounts(root);
  await writeSharded(store);
  await consolidate(store, ["temperature", "grp", "grp/counts", "grp/sharded"]);
  writeToDisk(store, OUT);
  const total = [...store.map.values()].reduce((n, v) => n + v.byteLength, 0);
  console.log(`wrote ${OUT}: ${store.map.size} keys, ${total} bytes`);
}

async function writeTemperature(root: zarr.Location<MemoryStore>): Promise<void> {
  const arr = await zarr.create(root.resolve("temperature"), {
    shape: [10, 15],
    chunkShape: [4, 6],
    dtype: "float32",
    fillValue: Number.NaN,
    dimensionNames: ["y", "x"],
    attributes: { units: "degC", long_name: "Temperature" },
    codecs: [
      { name: "bytes", configuration: { endian: "little" } },
      { name: "zstd", configuration: { level: 3, checksum: false } },
    ],
  });
  const data = new Float32Array(150);
  for (let y = 0; y < 10; y++) {
    for (let x = 0; x < 15; x++)
      data[y * 15 + x] = Math.round((15 + 8 * Math.sin(y / 3) + x / 2) * 100) / 100;
  }
  await zarr.set(arr, null, { data, shape: [10, 15], stride: [15, 1] });
}

async function writeCounts(root: zarr.Location<MemoryStore>): Promise<void> {
  const arr = await zarr.create(root.resolve("grp/counts"), {
    shape: [7, 9],
    chunkShape: [3, 4],
    dtype: "int16",
    fillValue: -1,
    chunkSeparator: ".",
    codecs: [
      { name: "bytes", configuration: { endian: "little" } },
      {
        name: "blosc",
        configuration: { cname: "lz4", clevel: 5, shuffle: "shuffle", typesize: 2, blocksize: 0 },
      },
    ],
  });
  const data = Int16Array.from({ length: 63 }, (_, i) => i * 3 - 50);
  await zarr.set(arr, null, { data, shape: [7, 9], stride: [9, 1] });
}

const SHARDED = { shape: [9, 10], shard: [4, 10], inner: [2, 5] } as const;

/** The value stored at (row, col) of /grp/sharded. */
export function shardedValue(row: number, col: number): number {
  return row * 100 + col;
}

async function writeSharded(store: MemoryStore): Promise<void> {
  const metadata = {
    zarr_format: 3,
    node_type: "array",
    shape: SHARDED.shape,
    data_type: "uint16",
    chunk_grid: { name: "regular", configuration: { chunk_shape: SHARDED.shard } },
    chunk_key_encoding: { name: "default", configuration: { separator: "/" } },
    fill_value: 0,
    codecs: [
      {
        name: "sharding_indexed",
        configuration: {
          chunk_shape: SHARDED.inner,
          codecs: [{ name: "bytes", configuration: { endian: "little" } }],
          index_codecs: [
            { name: "bytes", configuration: { endian: "little" } },
            { name: "crc32c" },
          ],
          index_location: "end",
        },
      },
    ],
    attributes: { description: "sharded: 4×10 shards of 2×5 inner chunks" },
    dimension_names: ["row", "col"],
  };
  await store.set("/grp/sharded/zarr.json", json(metadata));
  const shards = Math.ceil(SHARDED.shape[0] / SHARDED.shard[0]);
  for (let s = 0; s < shards; s++) await store.set(`/grp/sharded/c/${s}/0`, encodeShard(s));
}

/** One shard: the inner chunks present, in C order, then the index (offset, nbytes) + crc32c. */
function encodeShard(shardRow: number): Uint8Array {
  const [ir, ic] = SHARDED.inner;
  const perShard = [SHARDED.shard[0] / ir, SHARDED.shard[1] / ic] as const;
  const parts: Uint8Array[] = [];
  const index = new BigUint64Array(perShard[0] * perShard[1] * 2).fill(0xffffffffffffffffn);
  let offset = 0;
  for (let a = 0; a < perShard[0]; a++) {
    for (let b = 0; b < perShard[1]; b++) {
      const row0 = shardRow * SHARDED.shard[0] + a * ir;
      if (row0 >= SHARDED.shape[0]) continue; // wholly outside the array: not stored
      const chunk = new Uint16Array(ir * ic);
      for (let r = 0; r < ir; r++) {
        for (let c = 0; c < ic; c++) {
          const row = row0 + r;
          chunk[r * ic + c] = row < SHARDED.shape[0] ? shardedValue(row, b * ic + c) : 0;
        }
      }
      const bytes = littleEndian16(chunk);
      const slot = (a * perShard[1] + b) * 2;
      index[slot] = BigInt(offset);
      index[slot + 1] = BigInt(bytes.byteLength);
      parts.push(bytes);
      offset += bytes.byteLength;
    }
  }
  const indexBytes = new Uint8Array(index.buffer);
  const crc = new Uint8Array(4);
  new DataView(crc.buffer).setUint32(0, crc32c(indexBytes), true);
  return concat([...parts, indexBytes, crc]);
}

function littleEndian16(values: Uint16Array): Uint8Array {
  const out = new Uint8Array(values.length * 2);
  const view = new DataView(out.buffer);
  for (const [i, v] of values.entries()) view.setUint16(i * 2, v, true);
  return out;
}

// CRC-32C (Castagnoli), the checksum of the v3 `crc32c` codec.
function crc32c(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** Adds zarr-python 3's inline consolidated metadata to the root zarr.json. */
async function consolidate(store: MemoryStore, names: string[]): Promise<void> {
  const read = async (key: `/${string}`) => JSON.parse(decoder.decode(await store.get(key)));
  const metadata: Record<string, unknown> = {};
  for (const name of names) metadata[name] = await read(`/${name}/zarr.json`);
  const rootDoc = await read("/zarr.json");
  rootDoc.consolidated_metadata = { kind: "inline", must_understand: false, metadata };
  await store.set("/zarr.json", json(rootDoc));
}

function writeToDisk(store: MemoryStore, out: string): void {
  rmSync(out, { recursive: true, force: true });
  for (const key of [...store.map.keys()].sort()) {
    const path = join(out, ...key.slice(1).split("/"));
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, store.map.get(key) as Uint8Array);
  }
}

function json(value: unknown): Uint8Array {
  return encoder.encode(`${JSON.stringify(value, null, 2)}\n`);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.byteLength;
  }
  return out;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
