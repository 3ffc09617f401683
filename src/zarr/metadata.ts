/**
 * Zarr metadata, v2 and v3, read into one normalised model.
 *
 * v2 keeps its metadata in `.zgroup`, `.zarray` and `.zattrs`; v3 in one `zarr.json` per node.
 * Both become a `ZarrNode`: a group or an array with its attributes, and for arrays the shape,
 * the chunk grid, the data type (native spelling and a normalised name), the fill value, the
 * memory order, the codecs and the chunk key encoding. The parsers are pure (no I/O); reading
 * from a store lives in `hierarchy.ts`.
 */
import { StoreError } from "../errors.js";
import type { AbsolutePath, Prefix } from "../keys.js";

/** The Zarr format of a node: 2 or 3. */
export type ZarrFormat = 2 | 3;

/** The names under which Zarr keeps metadata; everything else in a hierarchy is chunk data. */
export const METADATA_NAMES: readonly string[] = Object.freeze([
  "zarr.json",
  ".zarray",
  ".zgroup",
  ".zattrs",
  ".zmetadata",
]);

/** One codec, as v3 spells it. v2 filters and compressors become `{name: id, configuration}`. */
export interface CodecSpec {
  name: string;
  configuration: Record<string, unknown>;
}

/** A data type: the spelling the metadata uses and a normalised name shared by v2 and v3. */
export interface DataTypeInfo {
  /** As stored: `"<f4"` (v2), `"float32"` or `{name, configuration}` (v3). */
  native: unknown;
  /**
   * The v3 name where there is one (`float32`, `int16`, `bool`, `complex64`), numpy-style
   * otherwise (`datetime64[ns]`, `S10`, `U5`, `object`, `structured`).
   */
  name: string;
  /** Bytes per element, when fixed. */
  itemSize?: number | undefined;
  /** Byte order of the stored bytes; `none` for single-byte and non-numeric types. */
  endian?: "little" | "big" | "none" | undefined;
}

/** How chunk coordinates become key names: v3 `default` (`c/0/1`) or `v2` (`0.1`). */
export interface ChunkKeyEncoding {
  name: "default" | "v2";
  separator: "/" | ".";
}

/** A v3 `sharding_indexed` codec: each stored chunk (a shard) holds a grid of inner chunks. */
export interface ShardingInfo {
  /** The shape of the inner chunks. */
  chunkShape: number[];
  /** Codecs of each inner chunk. */
  codecs: CodecSpec[];
  /** Codecs of the shard index. */
  indexCodecs: CodecSpec[];
  indexLocation: "start" | "end";
}

/** What groups and arrays share. */
interface NodeBase {
  /** The node's path in its hierarchy, zarrita style: `/` for the root, `/grp/temp` below it. */
  path: AbsolutePath | "/";
  /** The node's folder in the store (`/data.zarr/grp/temp/`). */
  prefix: Prefix;
  zarrFormat: ZarrFormat;
  attributes: Record<string, unknown>;
  /** The key its metadata document lives under (`.zarray`, `.zgroup` or `zarr.json`). */
  metadataKey: AbsolutePath;
  /** The metadata document as stored (for rewriting it without losing unknown fields). */
  raw: Record<string, unknown>;
}

/** A Zarr group. */
export interface GroupNode extends NodeBase {
  kind: "group";
}

/** A Zarr array with its chunking and encoding. */
export interface ArrayNode extends NodeBase {
  kind: "array";
  shape: number[];
  /** The regular chunk grid's chunk shape (for a sharded v3 array: the shard shape). */
  chunks: number[];
  /** The shape a reader decodes at a time: the inner chunk shape when sharded, else `chunks`. */
  innerChunks: number[];
  dtype: DataTypeInfo;
  /** As stored in the metadata (`"NaN"` and base64 spellings are kept). */
  fillValue: unknown;
  /** Memory order of decoded chunks: v2's `order`, or `F` for a v3 array whose transpose reverses the axes. */
  order: "C" | "F";
  /** Every codec in the order they are applied when writing: v2 filters then compressor, or v3 codecs. */
  codecs: CodecSpec[];
  /** v2 only: the compressor as stored (`null` for none). */
  compressor?: CodecSpec | null | undefined;
  /** v2 only: the filters as stored (`null` for none). */
  filters?: CodecSpec[] | null | undefined;
  /** v3 only: the sharding codec's settings when the array is sharded. */
  sharding?: ShardingInfo | undefined;
  chunkKeyEncoding: ChunkKeyEncoding;
  /** v3 `dimension_names`, or v2's xarray convention `_ARRAY_DIMENSIONS` in the attributes. */
  dimensionNames?: (string | null)[] | undefined;
}

/** A group or an array. */
export type ZarrNode = GroupNode | ArrayNode;

/** Where a node sits: its path in the hierarchy and its folder in the store. */
export interface NodeLocation {
  path: AbsolutePath | "/";
  prefix: Prefix;
}

type Json = Record<string, unknown>;

/** Parses v2 `.zarray` (with the node's `.zattrs`, if any) into an `ArrayNode`. */
export function parseV2Array(zarray: unknown, attrs: unknown, at: NodeLocation): ArrayNode {
  const metadataKey = `${at.prefix}.zarray` as AbsolutePath;
  const doc = expectObject(zarray, metadataKey);
  expectFormat(doc, 2, metadataKey);
  const shape = expectShape(doc.shape, metadataKey, "shape", 0);
  const chunks = expectShape(doc.chunks, metadataKey, "chunks", 1);
  if (chunks.length !== shape.length) {
    throw invalidMetadata(
      metadataKey,
      `chunks has ${chunks.length} dimensions but shape has ${shape.length}`,
    );
  }
  const order = doc.order ?? "C";
  if (order !== "C" && order !== "F")
    throw invalidMetadata(metadataKey, `order must be "C" or "F"`);
  const separator = doc.dimension_separator ?? ".";
  if (separator !== "." && separator !== "/") {
    throw invalidMetadata(metadataKey, `dimension_separator must be "." or "/"`);
  }
  const compressor = doc.compressor == null ? null : v2Codec(doc.compressor, metadataKey);
  const filters = doc.filters == null ? null : expectArray(doc.filters, metadataKey, "filters");
  const filterCodecs = filters?.map((f) => v2Codec(f, metadataKey)) ?? null;
  const attributes = attrs === undefined ? {} : expectObject(attrs, `${at.prefix}.zattrs`);
  return {
    kind: "array",
    path: at.path,
    prefix: at.prefix,
    zarrFormat: 2,
    attributes,
    metadataKey,
    raw: doc,
    shape,
    chunks,
    innerChunks: chunks,
    dtype: v2DataType(doc.dtype, metadataKey),
    fillValue: doc.fill_value ?? null,
    order,
    codecs: [...(filterCodecs ?? []), ...(compressor ? [compressor] : [])],
    compressor,
    filters: filterCodecs,
    chunkKeyEncoding: { name: "v2", separator },
    dimensionNames: xarrayDimensions(attributes, shape.length),
  };
}

/** Parses v2 `.zgroup` (with its `.zattrs`, if any) into a `GroupNode`. */
export function parseV2Group(zgroup: unknown, attrs: unknown, at: NodeLocation): GroupNode {
  const metadataKey = `${at.prefix}.zgroup` as AbsolutePath;
  const doc = expectObject(zgroup, metadataKey);
  expectFormat(doc, 2, metadataKey);
  const attributes = attrs === undefined ? {} : expectObject(attrs, `${at.prefix}.zattrs`);
  return {
    kind: "group",
    path: at.path,
    prefix: at.prefix,
    zarrFormat: 2,
    attributes,
    metadataKey,
    raw: doc,
  };
}

/** Parses a v3 `zarr.json` into a group or an array. */
export function parseV3Node(zarrJson: unknown, at: NodeLocation): ZarrNode {
  const metadataKey = `${at.prefix}zarr.json` as AbsolutePath;
  const doc = expectObject(zarrJson, metadataKey);
  expectFormat(doc, 3, metadataKey);
  const attributes = doc.attributes === undefined ? {} : expectObject(doc.attributes, metadataKey);
  const base = {
    path: at.path,
    prefix: at.prefix,
    zarrFormat: 3 as const,
    attributes,
    metadataKey,
    raw: doc,
  };
  if (doc.node_type === "group") return { kind: "group", ...base };
  if (doc.node_type !== "array") {
    throw invalidMetadata(
      metadataKey,
      `node_type must be "group" or "array", not ${JSON.stringify(doc.node_type)}`,
    );
  }
  const shape = expectShape(doc.shape, metadataKey, "shape", 0);
  const chunks = v3ChunkShape(doc.chunk_grid, metadataKey);
  if (chunks.length !== shape.length) {
    throw invalidMetadata(
      metadataKey,
      `the chunk shape has ${chunks.length} dimensions but shape has ${shape.length}`,
    );
  }
  const codecs = expectArray(doc.codecs, metadataKey, "codecs").map((c) => v3Codec(c, metadataKey));
  const sharding = shardingOf(codecs, metadataKey);
  return {
    kind: "array",
    ...base,
    shape,
    chunks,
    innerChunks: sharding?.chunkShape ?? chunks,
    dtype: v3DataType(doc.data_type, sharding?.codecs ?? codecs, metadataKey),
    fillValue: doc.fill_value ?? null,
    order: v3Order(codecs, shape.length),
    codecs,
    sharding,
    chunkKeyEncoding: v3KeyEncoding(doc.chunk_key_encoding, metadataKey),
    dimensionNames: v3DimensionNames(doc.dimension_names, shape.length, metadataKey),
  };
}

/** The number of chunks along each dimension (edge chunks count as whole chunks). */
export function chunkGridShape(array: Pick<ArrayNode, "shape" | "chunks">): number[] {
  return array.shape.map((size, i) => Math.ceil(size / (array.chunks[i] as number)));
}

/** The total number of chunks (shards, when sharded) the array's grid has. */
export function chunkCount(array: Pick<ArrayNode, "shape" | "chunks">): number {
  return chunkGridShape(array).reduce((a, b) => a * b, 1);
}

/**
 * The name of a chunk relative to its array's folder.
 * v3 `default`: `c/1/0` (`c` alone for a 0-d array); `v2`: `1.0` or `1/0` (`0` for a 0-d array).
 */
export function chunkKeyName(encoding: ChunkKeyEncoding, coords: readonly number[]): string {
  if (encoding.name === "default") {
    return ["c", ...coords].join(encoding.separator);
  }
  return coords.length === 0 ? "0" : coords.join(encoding.separator);
}

/**
 * The store key of the chunk at `coords`, e.g. `/air.zarr/air/1.0.2` or `/v3.zarr/t/c/1/0`.
 * Throws `InvalidKey` for coordinates outside the chunk grid.
 */
export function chunkKey(
  array: Pick<ArrayNode, "prefix" | "shape" | "chunks" | "chunkKeyEncoding">,
  coords: readonly number[],
): AbsolutePath {
  const grid = chunkGridShape(array);
  const inside =
    coords.length === grid.length &&
    coords.every((c, i) => Number.isInteger(c) && c >= 0 && c < Math.max(1, grid[i] as number));
  if (!inside) {
    throw new StoreError({
      code: "InvalidKey",
      message: `chunk [${coords.join(", ")}] lies outside the chunk grid [${grid.join(", ")}] of ${array.prefix}`,
    });
  }
  return `${array.prefix}${chunkKeyName(array.chunkKeyEncoding, coords)}` as AbsolutePath;
}

/**
 * The chunk coordinates a key name stands for (the inverse of `chunkKeyName`), or `undefined`
 * when the name is not a chunk of this array (metadata, a stray file, coordinates off the grid).
 */
export function parseChunkKeyName(
  array: Pick<ArrayNode, "shape" | "chunks" | "chunkKeyEncoding">,
  name: string,
): number[] | undefined {
  const { name: scheme, separator } = array.chunkKeyEncoding;
  const rank = array.shape.length;
  let body = name;
  if (scheme === "default") {
    if (name === "c" && rank === 0) return [];
    if (!name.startsWith(`c${separator}`)) return undefined;
    body = name.slice(2);
  } else if (rank === 0) {
    return name === "0" ? [] : undefined;
  }
  const parts = body.split(separator);
  if (parts.length !== rank || !parts.every((p) => /^(0|[1-9][0-9]*)$/.test(p))) return undefined;
  const coords = parts.map(Number);
  const grid = chunkGridShape(array);
  return coords.every((c, i) => c < (grid[i] as number)) ? coords : undefined;
}

/** Tells whether a key's last segment is a Zarr metadata document. */
export function isMetadataKey(key: string): boolean {
  return METADATA_NAMES.includes(key.slice(key.lastIndexOf("/") + 1));
}

// ---- data types ----

const V2_KINDS: Record<string, (size: number) => string> = {
  b: () => "bool",
  i: (n) => `int${n * 8}`,
  u: (n) => `uint${n * 8}`,
  f: (n) => `float${n * 8}`,
  c: (n) => `complex${n * 8}`,
  S: (n) => `S${n}`,
  U: (n) => `U${n}`,
  V: (n) => `V${n}`,
};

/** Normalises a v2 (numpy) dtype string such as `<f4`, `|b1`, `<M8[ns]` or `|O`. */
export function v2DataType(dtype: unknown, key = ".zarray"): DataTypeInfo {
  if (Array.isArray(dtype)) return { native: dtype, name: "structured" };
  if (typeof dtype !== "string")
    throw invalidMetadata(key, "dtype must be a string or a list of fields");
  const match = /^([<>|=]?)([biufcmMSUVO])(\d*)(\[\w+\])?$/.exec(dtype);
  if (!match) throw invalidMetadata(key, `unrecognised dtype ${JSON.stringify(dtype)}`);
  const [, order = "", kind = "", digits = "", unit = ""] = match;
  const size = digits === "" ? undefined : Number(digits);
  const endian = order === ">" ? "big" : order === "<" || order === "=" ? "little" : "none";
  if (kind === "O") return { native: dtype, name: "object" };
  if (kind === "M" || kind === "m") {
    const name = `${kind === "M" ? "datetime64" : "timedelta64"}${unit}`;
    return { native: dtype, name, itemSize: size ?? 8, endian };
  }
  const describe = V2_KINDS[kind] as (n: number) => string;
  const n = size ?? 1;
  const itemSize = kind === "U" ? n * 4 : n;
  return { native: dtype, name: describe(n), itemSize, endian: itemSize > 1 ? endian : "none" };
}

const V3_SIZES: Record<string, number> = {
  bool: 1,
  int8: 1,
  uint8: 1,
  int16: 2,
  uint16: 2,
  float16: 2,
  int32: 4,
  uint32: 4,
  float32: 4,
  int64: 8,
  uint64: 8,
  float64: 8,
  complex64: 8,
  complex128: 16,
};

function v3DataType(dataType: unknown, codecs: CodecSpec[], key: string): DataTypeInfo {
  let name: string;
  if (typeof dataType === "string") name = dataType;
  else if (isObject(dataType) && typeof dataType.name === "string") {
    const unit = isObject(dataType.configuration) ? dataType.configuration.unit : undefined;
    name =
      typeof unit === "string"
        ? `${dataType.name.replace(/^numpy\./, "")}[${unit}]`
        : dataType.name;
  } else {
    throw invalidMetadata(key, "data_type must be a name or {name, configuration}");
  }
  const raw = /^r(\d+)$/.exec(name);
  const itemSize = raw
    ? Number(raw[1]) / 8
    : (V3_SIZES[name] ?? (/^(datetime|timedelta)64/.test(name) ? 8 : undefined));
  const bytes = codecs.find((c) => c.name === "bytes");
  const endianName = bytes?.configuration.endian;
  const endian =
    itemSize === undefined || itemSize <= 1 ? "none" : endianName === "big" ? "big" : "little";
  return { native: dataType, name, itemSize, endian: itemSize === undefined ? undefined : endian };
}

// ---- v3 details ----

function v3ChunkShape(grid: unknown, key: string): number[] {
  const doc = expectObject(grid, key, "chunk_grid");
  if (doc.name !== "regular") {
    throw new StoreError({
      code: "Unsupported",
      message: `${key}: chunk grid ${JSON.stringify(doc.name)} is not supported (only "regular")`,
      key,
    });
  }
  const config = expectObject(doc.configuration, key, "chunk_grid.configuration");
  return expectShape(config.chunk_shape, key, "chunk_grid.configuration.chunk_shape", 1);
}

function v3KeyEncoding(encoding: unknown, key: string): ChunkKeyEncoding {
  if (encoding === undefined) return { name: "default", separator: "/" };
  const doc = expectObject(encoding, key, "chunk_key_encoding");
  if (doc.name !== "default" && doc.name !== "v2") {
    throw invalidMetadata(
      key,
      `chunk_key_encoding must be "default" or "v2", not ${JSON.stringify(doc.name)}`,
    );
  }
  const config = doc.configuration === undefined ? {} : expectObject(doc.configuration, key);
  const separator = config.separator ?? (doc.name === "default" ? "/" : ".");
  if (separator !== "/" && separator !== ".") {
    throw invalidMetadata(key, `chunk_key_encoding separator must be "/" or "."`);
  }
  return { name: doc.name, separator };
}

function v3Codec(codec: unknown, key: string): CodecSpec {
  if (typeof codec === "string") return { name: codec, configuration: {} };
  const doc = expectObject(codec, key, "codecs[]");
  if (typeof doc.name !== "string") throw invalidMetadata(key, "every codec needs a name");
  const configuration = doc.configuration === undefined ? {} : expectObject(doc.configuration, key);
  return { name: doc.name, configuration };
}

function shardingOf(codecs: CodecSpec[], key: string): ShardingInfo | undefined {
  const codec = codecs.find((c) => c.name === "sharding_indexed");
  if (codec === undefined) return undefined;
  const config = codec.configuration;
  const list = (value: unknown, field: string) =>
    expectArray(value ?? [], key, field).map((c) => v3Codec(c, key));
  return {
    chunkShape: expectShape(config.chunk_shape, key, "sharding_indexed chunk_shape", 1),
    codecs: list(config.codecs, "sharding_indexed codecs"),
    indexCodecs: list(config.index_codecs, "sharding_indexed index_codecs"),
    indexLocation: config.index_location === "start" ? "start" : "end",
  };
}

// A transpose codec whose order reverses the axes stores the array in Fortran order.
function v3Order(codecs: CodecSpec[], rank: number): "C" | "F" {
  const transpose = codecs.find((c) => c.name === "transpose");
  const order = transpose?.configuration.order;
  if (order === "F") return "F";
  if (Array.isArray(order) && rank > 1 && order.every((axis, i) => axis === rank - 1 - i))
    return "F";
  return "C";
}

function v3DimensionNames(
  names: unknown,
  rank: number,
  key: string,
): (string | null)[] | undefined {
  if (names === undefined || names === null) return undefined;
  const list = expectArray(names, key, "dimension_names");
  if (list.length !== rank || !list.every((n) => typeof n === "string" || n === null)) {
    throw invalidMetadata(key, `dimension_names must list ${rank} names (strings or null)`);
  }
  return list as (string | null)[];
}

// ---- v2 details ----

function v2Codec(codec: unknown, key: string): CodecSpec {
  const doc = expectObject(codec, key, "compressor/filters");
  const { id, ...configuration } = doc;
  if (typeof id !== "string") throw invalidMetadata(key, "every compressor and filter needs an id");
  return { name: id, configuration };
}

// xarray keeps v2 dimension names in the attribute `_ARRAY_DIMENSIONS`.
function xarrayDimensions(attributes: Json, rank: number): string[] | undefined {
  const names = attributes._ARRAY_DIMENSIONS;
  if (!Array.isArray(names) || names.length !== rank) return undefined;
  return names.every((n) => typeof n === "string") ? (names as string[]) : undefined;
}

// ---- validation ----

function isObject(value: unknown): value is Json {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function expectObject(value: unknown, key: string, field?: string): Json {
  if (isObject(value)) return value;
  throw invalidMetadata(key, `${field ?? "the document"} must be a JSON object`);
}

function expectArray(value: unknown, key: string, field: string): unknown[] {
  if (Array.isArray(value)) return value;
  throw invalidMetadata(key, `${field} must be a list`);
}

function expectShape(value: unknown, key: string, field: string, min: number): number[] {
  const list = expectArray(value, key, field);
  if (!list.every((n) => Number.isSafeInteger(n) && (n as number) >= min)) {
    throw invalidMetadata(
      key,
      `${field} must be a list of integers ≥ ${min}, got ${JSON.stringify(value)}`,
    );
  }
  return list as number[];
}

function expectFormat(doc: Json, format: ZarrFormat, key: string): void {
  if (doc.zarr_format !== format) {
    throw invalidMetadata(
      key,
      `zarr_format must be ${format}, got ${JSON.stringify(doc.zarr_format)}`,
    );
  }
}

/** The error for a document that is not valid Zarr metadata (`Integrity`, naming the key). */
export function invalidMetadata(key: string, why: string): StoreError {
  return new StoreError({
    code: "Integrity",
    message: `${key} is not valid Zarr metadata: ${why}`,
    key,
    operation: "readMetadata",
  });
}
