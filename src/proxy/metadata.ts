/**
 * Served metadata: what the proxy tells clients about each array, so that the metadata
 * describes exactly the bytes it serves.
 *
 * Rules:
 * - a rechunked array is served decoded: v2 `compressor: null, filters: null` (in `.zarray`
 *   and in every `.zmetadata` entry alike), v3 `codecs: [bytes little-endian]`; with
 *   `@codec=zstd` the compressor / the codec list gains zstd;
 * - its chunk shape is the override, else the stored one (the inner chunk shape for a sharded
 *   v3 array, which is what the proxy reads at a time);
 * - v2 keeps its dtype (byte order included), `order` and `dimension_separator`: the proxy
 *   serves bytes in that order; v3 drops `transpose` and serves C order;
 * - an array the proxy cannot decode (object or variable-length types, unknown codecs) is
 *   passed through untouched, and an override naming it is a 400;
 * - limits are checked here, from shape × item size, before any chunk is read: a served chunk
 *   over the payload limit is a 413 at metadata time, so a client fails when it opens the
 *   dataset instead of reading fill values later.
 */
import * as zarr from "zarrita";
import type { Prefix } from "../keys.js";
import {
  type ArrayNode,
  type CodecSpec,
  type DataTypeInfo,
  parseV2Array,
  parseV3Node,
} from "../zarr/metadata.js";
import { type ChunkOverrides, overrideFor, unknownNames } from "./chunks-header.js";
import { FAST_CODECS } from "./codecs.js";
import { badRequest, ProxyError, tooLarge } from "./errors.js";
import { combine, hashString } from "./hash.js";
import type { ProxyLimits } from "./limits.js";
import type { CodecChoice } from "./routes.js";

/** How the proxy decodes a source array's chunks. */
export type DecodePlan =
  /** Only compressed (or not even that): the proxy decompresses the bytes itself. */
  | { kind: "fast"; compressor: CodecSpec | null; order: "C" | "F"; swap: boolean }
  /** Filters, sharding, transposes…: zarrita's codec pipeline decodes (to native byte order). */
  | { kind: "zarrita"; metadataName: ".zarray" | "zarr.json"; metadata: Uint8Array; swap: boolean }
  /** Not decodable here: chunks pass through as stored. */
  | { kind: "none"; reason: string };

/** A source array and what the proxy needs to serve it. */
export interface SourceArray {
  node: ArrayNode;
  /** The path override names are matched against (`/grp/t`; a root array: the store's name). */
  matchPath: string;
  /** The hash of the metadata document, part of every ETag derived from it. */
  hash: number;
  itemSize: number;
  /** The byte order of served elements (v2: the dtype's; v3: little-endian). */
  bigEndian: boolean;
  /** The memory order of served chunks (v2: `order`; v3: C). */
  order: "C" | "F";
  /** One element of the fill value in served byte order (padding and missing chunks). */
  fill: Uint8Array;
  /** The chunk shape decoding yields (inner chunks when sharded). */
  sourceChunks: number[];
  decode: DecodePlan;
}

/** An array as served for one request's overrides. */
export interface ServedArray {
  source: SourceArray;
  /** False when the array passes through untouched. */
  rechunked: boolean;
  chunks: number[];
  /** Chunks along each dimension. */
  grid: number[];
  /** Bytes of one served chunk before any re-encoding. */
  chunkBytes: number;
  codec: CodecChoice | undefined;
  /** Identifies this served form (source metadata, chunks, codec) in ETags and cache keys. */
  tag: number;
}

/** What a metadata rewrite needs to know about the request. */
export interface ServeContext {
  /** The overrides as written (a cache key for what is derived from them). */
  specKey?: string;
  overrides: ChunkOverrides;
  codec: CodecChoice | undefined;
  limits: ProxyLimits;
  /** The path names are matched against for the array in folder `prefix`. */
  matchPath(prefix: Prefix): string;
}

const encoder = new TextEncoder();

/** Reads a `.zarray` document into a source array. */
export function describeV2Source(
  doc: unknown,
  bytes: Uint8Array,
  hash: number,
  prefix: Prefix,
  matchPath: string,
): SourceArray {
  return describeSource(parseV2Array(doc, undefined, locationOf(prefix)), bytes, hash, matchPath);
}

/** Reads a v3 `zarr.json` into a source array, or `undefined` when it describes a group. */
export function describeV3Source(
  doc: unknown,
  bytes: Uint8Array,
  hash: number,
  prefix: Prefix,
  matchPath: string,
): SourceArray | undefined {
  const node = parseV3Node(doc, locationOf(prefix));
  return node.kind === "array" ? describeSource(node, bytes, hash, matchPath) : undefined;
}

function describeSource(
  node: ArrayNode,
  bytes: Uint8Array,
  hash: number,
  matchPath: string,
): SourceArray {
  const itemSize = node.dtype.itemSize ?? 0;
  const bigEndian = node.zarrFormat === 2 && node.dtype.endian === "big";
  const order = node.zarrFormat === 2 ? node.order : "C";
  const fill = itemSize > 0 ? fillBytes(node.dtype, node.fillValue, bigEndian) : undefined;
  const base = {
    node,
    matchPath,
    hash,
    itemSize,
    bigEndian,
    order,
    sourceChunks: node.innerChunks,
  };
  if (fill === undefined) {
    const reason =
      itemSize > 0
        ? `its fill value ${JSON.stringify(node.fillValue)} cannot be written as ${node.dtype.name}`
        : `its data type ${node.dtype.name} has no fixed size`;
    return { ...base, fill: new Uint8Array(0), decode: { kind: "none", reason } };
  }
  return { ...base, fill, decode: decodePlan(node, bytes, bigEndian) };
}

function decodePlan(node: ArrayNode, bytes: Uint8Array, servedBigEndian: boolean): DecodePlan {
  const name = node.dtype.name;
  if (name === "object" || name === "structured" || name === "string") {
    return { kind: "none", reason: `its data type ${name} is not fixed-size` };
  }
  const fast = fastPlan(node, servedBigEndian);
  if (fast !== undefined) return fast;
  const zarritaType = zarritaDataType(node);
  if (zarritaType === undefined) {
    return { kind: "none", reason: `its data type ${name} with these codecs is not supported` };
  }
  const unknown = node.codecs
    .map((c) => (node.zarrFormat === 2 ? `numcodecs.${c.name}` : c.name))
    .filter((c) => !KNOWN_TO_ZARRITA.has(c) && !zarr.registry.has(c));
  if (unknown.length > 0) {
    return { kind: "none", reason: `no decoder for the codec(s) ${unknown.join(", ")}` };
  }
  if (node.sharding?.indexLocation === "start") {
    return { kind: "none", reason: "shard indexes at the start of a shard are not supported" };
  }
  // zarrita decodes to native (little-endian) elements; v2 big-endian arrays are served big.
  const metadata = zarritaType === node.dtype.native ? bytes : withDtype(node, zarritaType);
  return {
    kind: "zarrita",
    metadataName: node.zarrFormat === 2 ? ".zarray" : "zarr.json",
    metadata,
    swap: servedBigEndian && node.dtype.itemSize !== 1,
  };
}

// Codecs zarrita handles itself rather than through its registry.
const KNOWN_TO_ZARRITA = new Set(["numcodecs.fixedscaleoffset", "sharding_indexed"]);

// A chunk that is only compressed (v2 without filters, v3 bytes + one compressor) is decoded
// by the proxy itself: no codec pipeline, and `node:zlib` on Node, 5–10× faster than zarrita.
function fastPlan(node: ArrayNode, servedBigEndian: boolean): DecodePlan | undefined {
  if (node.zarrFormat === 2) {
    if ((node.filters?.length ?? 0) > 0) return undefined;
    const compressor = node.compressor ?? null;
    if (compressor !== null && !FAST_CODECS.has(compressor.name)) return undefined;
    return { kind: "fast", compressor, order: node.order, swap: false };
  }
  if (node.sharding !== undefined) return undefined;
  const [first, second, ...more] = node.codecs;
  if (first?.name !== "bytes" || more.length > 0) return undefined;
  if (second !== undefined && !FAST_CODECS.has(second.name)) return undefined;
  const storedBig = first.configuration.endian === "big";
  const swap = storedBig !== servedBigEndian && (node.dtype.itemSize ?? 1) > 1;
  return { kind: "fast", compressor: second ?? null, order: "C", swap };
}

// The data type zarrita should decode as: the array's own, or an integer of the same size for
// types zarrita does not know (datetime64, timedelta64) and whose bytes the proxy only moves.
function zarritaDataType(node: ArrayNode): unknown {
  const { name, native, itemSize } = node.dtype;
  const plain = /^(bool|u?int(8|16|32|64)|float(32|64))$/.test(name);
  if (plain) return native;
  if (/^(datetime|timedelta)64/.test(name) && itemSize === 8) {
    return node.zarrFormat === 2 ? String(native).replace(/[mM]8.*$/, "i8") : "int64";
  }
  return undefined;
}

function withDtype(node: ArrayNode, dataType: unknown): Uint8Array {
  const key = node.zarrFormat === 2 ? "dtype" : "data_type";
  return encoder.encode(JSON.stringify({ ...node.raw, [key]: dataType }));
}

/**
 * Chooses the served form of an array for a request: the override that names it (else its
 * stored chunking), checked against the limits. Throws 400 for an override the array cannot
 * take and 413 for a served chunk over the limits.
 */
export function serveArray(source: SourceArray, context: ServeContext): ServedArray {
  const { node } = source;
  const matched = overrideFor(context.overrides, source.matchPath);
  if (source.decode.kind === "none") {
    if (matched !== undefined) {
      throw badRequest(
        `cannot rechunk ${JSON.stringify(matched.name)}: ${source.decode.reason}; it is served as stored`,
      );
    }
    const grid = gridOf(node.shape, node.chunks);
    return {
      source,
      rechunked: false,
      chunks: node.chunks,
      grid,
      chunkBytes: 0,
      codec: undefined,
      tag: source.hash,
    };
  }
  if (matched !== undefined && matched.chunks.length !== node.shape.length) {
    throw badRequest(
      `the override ${matched.name}=${matched.chunks.join(",")} has ${matched.chunks.length} sizes but the array ${describePath(source)} has ${node.shape.length} dimensions (shape [${node.shape.join(", ")}])`,
    );
  }
  const chunks = matched ? [...matched.chunks] : source.sourceChunks;
  const chunkBytes = chunks.reduce((a, b) => a * b, source.itemSize);
  checkLimits(source, chunks, chunkBytes, matched?.name, context.limits);
  let tag = combine(source.hash, hashString(chunks.join(",")));
  if (context.codec) tag = combine(tag, hashString(`${context.codec.name}:${context.codec.level}`));
  return {
    source,
    rechunked: true,
    chunks,
    grid: gridOf(node.shape, chunks),
    chunkBytes,
    codec: context.codec,
    tag,
  };
}

function checkLimits(
  source: SourceArray,
  chunks: number[],
  chunkBytes: number,
  overrideName: string | undefined,
  limits: ProxyLimits,
): void {
  const name = overrideName ?? source.matchPath.split("/").filter(Boolean).pop() ?? "array";
  if (chunkBytes > limits.payloadBytes) {
    const hint = suggestChunks(chunks, source.itemSize, limits.payloadBytes);
    throw tooLarge(
      `the array ${describePath(source)} would be served in chunks of ${formatBytes(chunkBytes)} ([${chunks.join(", ")}] × ${source.itemSize} bytes), over the payload limit of ${formatBytes(limits.payloadBytes)}: ask for smaller chunks, e.g. chunks: ${name}=${hint.join(",")}`,
    );
  }
  const perChunk = sourceChunksPerTarget(chunks, source.sourceChunks, source.node.shape);
  if (perChunk > limits.maxSourceChunks) {
    throw tooLarge(
      `a chunk of [${chunks.join(", ")}] of ${describePath(source)} would be assembled from up to ${perChunk} source chunks of [${source.sourceChunks.join(", ")}], over the limit of ${limits.maxSourceChunks}: ask for smaller chunks`,
    );
  }
  const sourceBytes = source.sourceChunks.reduce((a, b) => a * b, source.itemSize);
  if (sourceBytes > limits.maxSourceChunkBytes) {
    throw tooLarge(
      `the array ${describePath(source)} is stored in chunks of ${formatBytes(sourceBytes)}, over the ${formatBytes(limits.maxSourceChunkBytes)} this proxy decodes at a time`,
    );
  }
}

/** The most source chunks one served chunk can overlap. */
export function sourceChunksPerTarget(
  target: readonly number[],
  source: readonly number[],
  shape: readonly number[],
): number {
  let count = 1;
  for (let d = 0; d < target.length; d++) {
    const t = target[d] as number;
    const s = source[d] as number;
    const grid = Math.max(1, Math.ceil((shape[d] as number) / s));
    // Misaligned, a span of t can touch one more source chunk than ceil(t / s).
    const aligned = t % s === 0;
    count *= Math.min(grid, Math.ceil(t / s) + (aligned ? 0 : 1));
  }
  return count;
}

// Halves the largest dimension until a chunk fits the limit.
function suggestChunks(chunks: number[], itemSize: number, limit: number): number[] {
  const hint = [...chunks];
  while (hint.reduce((a, b) => a * b, itemSize) > limit) {
    let largest = 0;
    for (let d = 1; d < hint.length; d++) {
      if ((hint[d] as number) > (hint[largest] as number)) largest = d;
    }
    if ((hint[largest] as number) <= 1) break;
    hint[largest] = Math.ceil((hint[largest] as number) / 2);
  }
  return hint;
}

/** The served metadata document of one array (`.zarray` or `zarr.json`). */
export function servedArrayDocument(served: ServedArray): Record<string, unknown> {
  const { node } = served.source;
  if (!served.rechunked) return node.raw;
  const codec = served.codec;
  if (node.zarrFormat === 2) {
    return {
      ...node.raw,
      chunks: served.chunks,
      compressor: codec ? { id: "zstd", level: codec.level } : null,
      filters: null,
    };
  }
  const codecs: Record<string, unknown>[] = [
    { name: "bytes", configuration: { endian: "little" } },
  ];
  if (codec) codecs.push({ name: "zstd", configuration: { level: codec.level, checksum: false } });
  return {
    ...node.raw,
    chunk_grid: { name: "regular", configuration: { chunk_shape: served.chunks } },
    codecs,
  };
}

/** One array found in a consolidated document. */
interface ConsolidatedArray {
  /** Where its metadata sits in the document. */
  entry: string;
  source: SourceArray;
}

/**
 * Rewrites a v2 `.zmetadata` found in folder `prefix`: every `.zarray` entry as it is served.
 * Names in the overrides that match no array are a 400 that lists the known arrays.
 */
export function rewriteZmetadata(doc: unknown, prefix: Prefix, context: ServeContext): unknown {
  const root = asObject(doc, `${prefix}.zmetadata`);
  const metadata = asObject(root.metadata, `${prefix}.zmetadata: metadata`);
  const arrays: ConsolidatedArray[] = [];
  for (const [entry, value] of Object.entries(metadata)) {
    if (entry !== ".zarray" && !entry.endsWith("/.zarray")) continue;
    const folder = `${prefix}${entry.slice(0, -".zarray".length)}` as Prefix;
    const attrs = metadata[`${entry.slice(0, -".zarray".length)}.zattrs`];
    const node = parseV2Array(value, attrs, locationOf(folder));
    const bytes = encoder.encode(JSON.stringify(value));
    const source = describeSource(node, bytes, hashOfValue(value), context.matchPath(folder));
    arrays.push({ entry, source });
  }
  checkNames(arrays, context);
  const rewritten: Record<string, unknown> = { ...metadata };
  for (const { entry, source } of arrays) {
    rewritten[entry] = servedArrayDocument(serveArray(source, context));
  }
  return { ...root, metadata: rewritten };
}

/**
 * Rewrites a v3 `zarr.json`: an array as it is served; a group's inline consolidated
 * metadata, entry by entry (unknown override names are a 400, as for `.zmetadata`).
 */
export function rewriteZarrJson(
  doc: unknown,
  bytes: Uint8Array,
  hash: number,
  prefix: Prefix,
  context: ServeContext,
): unknown {
  const source = describeV3Source(doc, bytes, hash, prefix, context.matchPath(prefix));
  if (source !== undefined) return servedArrayDocument(serveArray(source, context));
  const root = asObject(doc, `${prefix}zarr.json`);
  const consolidated = root.consolidated_metadata;
  if (consolidated === undefined || consolidated === null) return root;
  const inner = asObject(consolidated, `${prefix}zarr.json: consolidated_metadata`);
  const metadata = asObject(inner.metadata, `${prefix}zarr.json: consolidated_metadata.metadata`);
  const arrays: ConsolidatedArray[] = [];
  for (const [entry, value] of Object.entries(metadata)) {
    const folder = `${prefix}${entry}/` as Prefix;
    const node = parseV3Node(value, locationOf(folder));
    if (node.kind !== "array") continue;
    const valueBytes = encoder.encode(JSON.stringify(value));
    const found = describeSource(node, valueBytes, hashOfValue(value), context.matchPath(folder));
    arrays.push({ entry, source: found });
  }
  checkNames(arrays, context);
  const rewritten: Record<string, unknown> = { ...metadata };
  for (const { entry, source: s } of arrays) {
    rewritten[entry] = servedArrayDocument(serveArray(s, context));
  }
  return { ...root, consolidated_metadata: { ...inner, metadata: rewritten } };
}

function checkNames(arrays: ConsolidatedArray[], context: ServeContext): void {
  const unknown = unknownNames(
    context.overrides,
    arrays.map((a) => a.source.matchPath),
  );
  if (unknown.length === 0) return;
  const known = arrays.map((a) => a.entry.replace(/\/?(\.zarray)?$/, "") || "(root)").sort();
  throw badRequest(
    `the chunks override names ${unknown.map((n) => JSON.stringify(n)).join(", ")}, which ${unknown.length === 1 ? "is not an array" : "are not arrays"} of this dataset; known arrays: ${known.join(", ") || "none"}`,
  );
}

/** Bytes of the fill value for one element, or `undefined` when it cannot be written. */
export function fillBytes(
  dtype: DataTypeInfo,
  fill: unknown,
  bigEndian: boolean,
): Uint8Array | undefined {
  const size = dtype.itemSize ?? 0;
  const out = new Uint8Array(size);
  if (fill === null || fill === undefined || fill === 0 || fill === false || fill === "") {
    return out;
  }
  const view = new DataView(out.buffer);
  const little = !bigEndian;
  const name = dtype.name;
  if (name === "bool") {
    if (fill !== true && fill !== 1) return undefined;
    out[0] = 1;
    return out;
  }
  const int = /^(u?)int(8|16|32|64)$/.exec(name);
  const time = /^(datetime|timedelta)64/.test(name);
  if (int || time) {
    let value: bigint;
    if (time && fill === "NaT") value = -(2n ** 63n);
    else if (typeof fill === "number" && Number.isInteger(fill)) value = BigInt(fill);
    else return undefined;
    const bits = BigInt(size * 8);
    const wrapped = BigInt.asUintN(Number(bits), value);
    for (let i = 0; i < size; i++) {
      const byte = Number((wrapped >> BigInt(8 * i)) & 0xffn);
      out[little ? i : size - 1 - i] = byte;
    }
    return out;
  }
  const float = /^float(16|32|64)$/.exec(name);
  if (float) {
    const value = floatValue(fill, size);
    if (value === undefined) return undefined;
    writeFloat(view, 0, value, size, little);
    return out;
  }
  const complex = /^complex(64|128)$/.exec(name);
  if (complex && Array.isArray(fill) && fill.length === 2) {
    const half = size / 2;
    const re = floatValue(fill[0], half);
    const im = floatValue(fill[1], half);
    if (re === undefined || im === undefined) return undefined;
    writeFloat(view, 0, re, half, little);
    writeFloat(view, half, im, half, little);
    return out;
  }
  return undefined;
}

function floatValue(fill: unknown, size: number): number | bigint | undefined {
  if (typeof fill === "number") return fill;
  if (fill === "NaN") return Number.NaN;
  if (fill === "Infinity") return Number.POSITIVE_INFINITY;
  if (fill === "-Infinity") return Number.NEGATIVE_INFINITY;
  // v3 spells exact bit patterns in hex: "0x7fc00000".
  if (typeof fill === "string" && /^0x[0-9a-f]+$/i.test(fill) && fill.length <= 2 + size * 2) {
    return BigInt(fill);
  }
  return undefined;
}

function writeFloat(
  view: DataView,
  at: number,
  value: number | bigint,
  size: number,
  little: boolean,
): void {
  if (typeof value === "bigint") {
    if (size === 8) view.setBigUint64(at, value, little);
    else if (size === 4) view.setUint32(at, Number(value), little);
    else view.setUint16(at, Number(value), little);
  } else if (size === 8) view.setFloat64(at, value, little);
  else if (size === 4) view.setFloat32(at, value, little);
  else view.setUint16(at, toFloat16Bits(value), little);
}

/** IEEE half-precision bits of a number (round to nearest even). */
export function toFloat16Bits(value: number): number {
  if (Number.isNaN(value)) return 0x7e00;
  const f32 = new Float32Array([value]);
  const x = new Uint32Array(f32.buffer)[0] as number;
  const sign = (x >>> 16) & 0x8000;
  const exponent = ((x >>> 23) & 0xff) - 127 + 15;
  let mantissa = x & 0x7fffff;
  if (exponent >= 0x1f) return sign | 0x7c00;
  if (exponent <= 0) {
    if (exponent < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - exponent;
    const half = 1 << (shift - 1);
    let rounded = mantissa >>> shift;
    const rest = mantissa & ((1 << shift) - 1);
    if (rest > half || (rest === half && (rounded & 1) === 1)) rounded++;
    return sign | rounded;
  }
  let bits = sign | (exponent << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (bits & 1) === 1)) bits++;
  return bits;
}

function gridOf(shape: readonly number[], chunks: readonly number[]): number[] {
  return shape.map((size, d) => Math.ceil(size / (chunks[d] as number)));
}

function locationOf(prefix: Prefix) {
  const path = prefix === "/" ? "/" : (prefix.slice(0, -1) as `/${string}`);
  return { path, prefix };
}

function describePath(source: SourceArray): string {
  return JSON.stringify(source.matchPath.replace(/^\//, ""));
}

function hashOfValue(value: unknown): number {
  return hashString(JSON.stringify(value));
}

function asObject(value: unknown, what: string): Record<string, unknown> {
  if (typeof value === "object" && value !== null && !Array.isArray(value)) {
    return value as Record<string, unknown>;
  }
  throw badGateway(`${what} is not a JSON object`);
}

function badGateway(message: string): ProxyError {
  return new ProxyError(502, `upstream metadata is not valid: ${message}`);
}

/** A byte count for messages: `2,000,000 bytes`. */
export function formatBytes(bytes: number): string {
  return `${bytes.toLocaleString("en-US")} bytes`;
}
