/**
 * Reads and decodes one source chunk. Two ways:
 * - fast: the chunk is only compressed (v2 without filters, v3 `bytes` + one compressor), so
 *   the proxy reads the key and decompresses it itself (on Node through `node:zlib`);
 * - zarrita: everything else (filters, transposes, sharding with partial reads) goes through
 *   zarrita's codec pipeline, over a thin store face that serves the metadata the proxy already
 *   holds and notes whether the chunk existed.
 * Either way the result is whole-chunk element bytes in served byte order, ready to be cached.
 */
import type { AbsolutePath } from "@zarrita/storage";
import * as zarr from "zarrita";
import { StoreError } from "../errors.js";
import type { RangeQuery, Store } from "../store.js";
import { chunkKeyName } from "../zarr/metadata.js";
import { contiguousStrides, type SourceChunk, swapBytes } from "./assemble.js";
import { type Decompress, type Decompressors, decompressorFor } from "./codecs.js";
import { hashBytes } from "./hash.js";
import type { SourceArray } from "./metadata.js";

// What a missing chunk costs in the cache: a few dozen bytes of bookkeeping.
const MISSING_SIZE = 64;

/** Reads source chunks of one array version. */
export interface SourceReader {
  read(coords: readonly number[], signal?: AbortSignal): Promise<SourceChunk>;
}

/** Makes the reader for a source array. */
export function createSourceReader(
  store: Store,
  source: SourceArray,
  decompressors: Decompressors,
): SourceReader {
  const plan = source.decode;
  if (plan.kind === "fast") {
    const decompress =
      plan.compressor === null
        ? undefined
        : decompressorFor(plan.compressor.name, plan.compressor.configuration, decompressors);
    return new FastReader(store, source, decompress, plan.swap);
  }
  if (plan.kind === "zarrita") return new ZarritaReader(store, source, plan.metadata, plan.swap);
  throw new Error(`the array ${source.matchPath} is not decodable: ${plan.reason}`);
}

class FastReader implements SourceReader {
  readonly #store: Store;
  readonly #source: SourceArray;
  readonly #decompress: Decompress | undefined;
  readonly #swap: boolean;
  readonly #strides: number[];
  readonly #expected: number;

  constructor(
    store: Store,
    source: SourceArray,
    decompress: Decompress | undefined,
    swap: boolean,
  ) {
    this.#store = store;
    this.#source = source;
    this.#decompress = decompress;
    this.#swap = swap;
    const plan = source.decode as Extract<SourceArray["decode"], { kind: "fast" }>;
    this.#strides = contiguousStrides(source.sourceChunks, plan.order);
    this.#expected = source.sourceChunks.reduce((a, b) => a * b, source.itemSize);
  }

  async read(coords: readonly number[], signal?: AbortSignal): Promise<SourceChunk> {
    const { node } = this.#source;
    const key = `${node.prefix}${chunkKeyName(node.chunkKeyEncoding, coords)}` as AbsolutePath;
    const stored = await this.#store.get(key, { signal });
    if (stored === undefined) return missingChunk(this.#strides);
    const id = hashBytes(stored);
    let bytes: Uint8Array;
    try {
      bytes = this.#decompress ? await this.#decompress(stored) : stored;
    } catch (cause) {
      throw corrupt(key, `it does not decompress (${describe(cause)})`, cause);
    }
    if (bytes.byteLength !== this.#expected) {
      throw corrupt(key, `it holds ${bytes.byteLength} bytes once decoded, not ${this.#expected}`);
    }
    if (this.#swap) bytes = swapBytes(bytes, this.#source.itemSize);
    // A plain view: Node's Buffer makes every later `subarray` several times slower.
    bytes = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return { bytes, strides: this.#strides, id, size: bytes.byteLength + MISSING_SIZE };
  }
}

/** What zarrita passes back to our store face with each call: notes about the chunk. */
interface Probe {
  signal?: AbortSignal;
  present: boolean;
  id: number;
}

class ZarritaReader implements SourceReader {
  readonly #source: SourceArray;
  readonly #swap: boolean;
  readonly #array: Promise<zarr.Array<zarr.DataType, zarr.Readable>>;
  readonly #probes = new WeakSet<object>();

  constructor(store: Store, source: SourceArray, metadata: Uint8Array, swap: boolean) {
    this.#source = source;
    this.#swap = swap;
    const { node } = source;
    const metadataKey = `${node.prefix}${node.zarrFormat === 2 ? ".zarray" : "zarr.json"}`;
    const probes = this.#probes;
    const note = (options: unknown, bytes: Uint8Array | undefined) => {
      if (bytes !== undefined && typeof options === "object" && options !== null) {
        if (probes.has(options)) {
          const probe = options as Probe;
          probe.present = true;
          probe.id = hashBytes(bytes, probe.id);
        }
      }
    };
    // The face zarrita reads through: metadata from us, chunk reads from the store.
    const face: zarr.Readable = {
      async get(key: AbsolutePath, options?: { signal?: AbortSignal }) {
        if (key === metadataKey) return metadata;
        const bytes = await store.get(key, { signal: options?.signal });
        note(options, bytes);
        return bytes;
      },
      async getRange(key: AbsolutePath, range: RangeQuery, options?: { signal?: AbortSignal }) {
        const bytes = await store.getRange(key, range, { signal: options?.signal });
        // A suffix read is a shard's index; only an offset read is the chunk itself.
        if ("offset" in range) note(options, bytes);
        return bytes;
      },
    };
    const location = new zarr.Location(face, node.path === "/" ? "/" : node.path);
    this.#array =
      node.zarrFormat === 2
        ? zarr.open.v2(location, { kind: "array", attrs: false })
        : zarr.open.v3(location, { kind: "array" });
    // An unopenable array fails each read; keep the rejection from going unhandled meanwhile.
    this.#array.catch(() => {});
  }

  async read(coords: readonly number[], signal?: AbortSignal): Promise<SourceChunk> {
    const array = await this.#array;
    const probe: Probe = signal ? { signal, present: false, id: 0 } : { present: false, id: 0 };
    this.#probes.add(probe);
    let chunk: zarr.Chunk<zarr.DataType>;
    try {
      chunk = await array.getChunk([...coords], probe);
    } catch (cause) {
      if (cause instanceof StoreError) throw cause;
      throw corrupt(`${this.#source.node.prefix}`, `a chunk does not decode (${describe(cause)})`);
    }
    const strides = chunk.stride;
    if (!probe.present) return missingChunk(strides);
    const data = chunk.data as unknown as ArrayBufferView;
    let bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    if (this.#swap) bytes = swapBytes(bytes, this.#source.itemSize);
    return { bytes, strides, id: probe.id, size: bytes.byteLength + MISSING_SIZE };
  }
}

function missingChunk(strides: readonly number[]): SourceChunk {
  return { bytes: undefined, strides, id: 0, size: MISSING_SIZE };
}

function corrupt(key: string, why: string, cause?: unknown): StoreError {
  return new StoreError({
    code: "Integrity",
    message: `the source chunk ${key} is not usable: ${why}`,
    key,
    operation: "decode",
    cause,
  });
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
