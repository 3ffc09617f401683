/**
 * CARv1 reading and writing (https://ipld.io/specs/transport/car/carv1/).
 *
 * Reading streams: blocks come out as their bytes arrive, each verified against its CID.
 * Rejected with `Integrity` (naming the CID or the byte offset): other versions than 1 (CARv2's
 * pragma included), malformed headers and sections, hash mismatches, and truncated files.
 *
 * Writing follows the original ipldstore: header `{roots: [root], version: 1}`, then blocks
 * root first and depth-first in pre-order, following links in the order they are encoded
 * (canonical key order for DAG-CBOR maps), each CID once.
 */
import { decode as decodeCbor } from "@ipld/dag-cbor";
import { varint } from "multiformats";
import { CID } from "multiformats/cid";
import { StoreError, throwIfAborted } from "../../errors.js";
import type { CallOptions } from "../../store.js";
import {
  type AnyCID,
  type Block,
  blockMatches,
  cidKey,
  createCid,
  DAG_CBOR,
  DAG_PB,
} from "./blocks.js";
import type { CAStore } from "./castore.js";
import { decodeDagCbor, encodeDagCbor, forEachLink } from "./dag-cbor.js";

const BACKEND = "CAR";

/** Where the bytes of a CAR come from: all at once, or as a stream of chunks. */
export type CarSource = Uint8Array | AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

/** A block read from a CAR, with where it sits in the file. */
export interface CarBlock extends Block {
  /** Byte offset of the section (its length varint) in the CAR. */
  offset: number;
  /** Byte offset of the block's payload (after the CID) in the CAR. */
  payloadOffset: number;
}

/** An open CAR: its roots, and its blocks as they stream in. */
export interface CarReader {
  roots: AnyCID[];
  /** The blocks, verified. Iterate once. */
  blocks: AsyncIterable<CarBlock>;
}

/** Options for reading a CAR. */
export interface ReadCarOptions extends CallOptions {
  /** Verify every block against its CID (default true; only tests turn it off). */
  verify?: boolean;
  /** The largest section accepted, in bytes (default 256 MiB: a guard against garbage lengths). */
  maxSectionSize?: number;
  /**
   * The source hands its chunks over and never reuses them (Node's file streams, fetch bodies),
   * so blocks that are views of them may be kept without copying. Default false.
   */
  adopt?: boolean;
}

const DEFAULT_MAX_SECTION = 256 * 1024 * 1024;
// A CIDv1 header is at most four varints (≤ 10 bytes each) before the digest.
const CID_HEAD_MAX = 40;

function carError(message: string, key?: string, cause?: unknown): StoreError {
  return new StoreError({ code: "Integrity", message, key, backend: BACKEND, cause });
}

/** A queue of incoming chunks that hands out exact byte counts (views when it can). */
class ByteQueue {
  readonly #source: AsyncIterator<Uint8Array> | Iterator<Uint8Array>;
  #chunks: Uint8Array[] = [];
  #available = 0;
  #done = false;
  /** Absolute offset of the next byte to take. */
  offset = 0;
  /** Whether the last `take` assembled a new buffer (true) or returned a view of the input. */
  copied = false;

  constructor(source: CarSource) {
    if (source instanceof Uint8Array) {
      this.#source = [source][Symbol.iterator]();
    } else if (Symbol.asyncIterator in source) {
      this.#source = source[Symbol.asyncIterator]();
    } else {
      this.#source = (source as Iterable<Uint8Array>)[Symbol.iterator]();
    }
  }

  get available(): number {
    return this.#available;
  }

  /** Pulls chunks until `n` bytes are buffered; false when the source ended first. */
  async fill(n: number): Promise<boolean> {
    while (this.#available < n) {
      if (this.#done) return false;
      const next = await this.#source.next();
      if (next.done) {
        this.#done = true;
        return this.#available >= n;
      }
      const chunk = next.value;
      if (!(chunk instanceof Uint8Array)) throw carError("CAR source yielded something not bytes");
      if (chunk.byteLength === 0) continue;
      this.#chunks.push(chunk);
      this.#available += chunk.byteLength;
    }
    return true;
  }

  /** The next `n` buffered bytes without taking them (a view or a copy). */
  peek(n: number): Uint8Array {
    const first = this.#chunks[0] as Uint8Array;
    if (first.byteLength >= n) return first.subarray(0, n);
    const out = new Uint8Array(n);
    let at = 0;
    for (const chunk of this.#chunks) {
      const part = chunk.subarray(0, n - at);
      out.set(part, at);
      at += part.byteLength;
      if (at === n) break;
    }
    return out;
  }

  /** Takes `n` buffered bytes (a view of one chunk when they lie in one, else a copy). */
  take(n: number): Uint8Array {
    this.copied = false;
    if (n === 0) return new Uint8Array(0);
    const first = this.#chunks[0] as Uint8Array;
    let out: Uint8Array;
    if (first.byteLength > n) {
      out = first.subarray(0, n);
      this.#chunks[0] = first.subarray(n);
    } else if (first.byteLength === n) {
      out = first;
      this.#chunks.shift();
    } else {
      this.copied = true;
      out = new Uint8Array(n);
      let at = 0;
      while (at < n) {
        const chunk = this.#chunks[0] as Uint8Array;
        const want = n - at;
        if (chunk.byteLength <= want) {
          out.set(chunk, at);
          at += chunk.byteLength;
          this.#chunks.shift();
        } else {
          out.set(chunk.subarray(0, want), at);
          this.#chunks[0] = chunk.subarray(want);
          at = n;
        }
      }
    }
    this.#available -= n;
    this.offset += n;
    return out;
  }

  /** Reads an unsigned varint; undefined at a clean end of input. */
  async varint(what: string): Promise<number | undefined> {
    await this.fill(10);
    if (this.#available === 0) return undefined;
    const head = this.peek(Math.min(10, this.#available));
    let value: number;
    let length: number;
    try {
      [value, length] = varint.decode(head);
    } catch (cause) {
      throw carError(`CAR ${what} at byte ${this.offset}: invalid varint`, undefined, cause);
    }
    if (length > this.#available || length === 0) {
      throw carError(`CAR truncated at byte ${this.offset}: the ${what} is cut off`);
    }
    this.take(length);
    return value;
  }

  async return(): Promise<void> {
    await this.#source.return?.();
  }
}

/**
 * Opens a CARv1: reads and checks the header, then streams the blocks, each verified.
 *
 * @example
 * const car = await readCar(bytes);
 * for await (const { cid, bytes } of car.blocks) console.log(cid.toString(), bytes.length);
 */
export async function readCar(source: CarSource, options: ReadCarOptions = {}): Promise<CarReader> {
  const queue = new ByteQueue(source);
  const roots = await readHeader(queue);
  return { roots, blocks: readBlocks(queue, options) };
}

async function readHeader(queue: ByteQueue): Promise<AnyCID[]> {
  const length = await queue.varint("header length");
  if (length === undefined) throw carError("CAR is empty: no header");
  if (length === 0 || length > 1024 * 1024) {
    throw carError(`CAR header length ${length} is not plausible: not a CAR file`);
  }
  if (!(await queue.fill(length))) throw carError("CAR truncated inside its header");
  let header: unknown;
  try {
    header = decodeCbor(queue.take(length));
  } catch (cause) {
    throw carError("CAR header is not valid DAG-CBOR: not a CAR file", undefined, cause);
  }
  if (header === null || typeof header !== "object") throw carError("CAR header is not a map");
  const { version, roots } = header as { version?: unknown; roots?: unknown };
  if (version === 2) {
    throw carError(
      "CARv2 is not supported: this is a CARv2 file (pragma header); only CARv1 is read. Extract its CARv1 payload first (e.g. `car extract` / go-car `car debug`)",
    );
  }
  if (version !== 1) throw carError(`CAR version ${String(version)} is not supported (only 1)`);
  if (!Array.isArray(roots)) throw carError("CAR header has no roots list");
  return roots.map((root, i) => {
    const cid = CID.asCID(root);
    if (!cid) throw carError(`CAR header root ${i} is not a CID`);
    return cid as AnyCID;
  });
}

async function* readBlocks(queue: ByteQueue, options: ReadCarOptions): AsyncGenerator<CarBlock> {
  const verify = options.verify ?? true;
  const maxSection = options.maxSectionSize ?? DEFAULT_MAX_SECTION;
  try {
    for (;;) {
      throwIfAborted(options.signal, "importCar");
      const offset = queue.offset;
      const length = await queue.varint("section length");
      if (length === undefined) return;
      if (length === 0 || length > maxSection) {
        throw carError(`CAR section at byte ${offset} has an invalid length ${length}`);
      }
      if (!(await queue.fill(length))) {
        const partial = queue.available > 0 ? partialCid(queue, length) : undefined;
        throw carError(
          `CAR truncated at byte ${queue.offset + queue.available}: the section at byte ${offset}${partial ? ` (block ${partial})` : ""} needs ${length} bytes, only ${queue.available} remain`,
          partial,
        );
      }
      // The CID first (small, copied if it straddles chunks), then the block: a view of the
      // input when it lies in one chunk, so large blocks are not copied here.
      const head = queue.peek(Math.min(length, CID_HEAD_MAX + 64));
      const [cid, cidLength] = parseSectionCid(head, offset);
      queue.take(cidLength);
      const payloadOffset = queue.offset;
      const bytes = queue.take(length - cidLength);
      const owned = queue.copied || options.adopt === true;
      if (verify && !(await blockMatches(cid, bytes))) {
        throw carError(
          `CAR block ${cidKey(cid)} at byte ${offset} does not match its hash: the file is corrupted`,
          cidKey(cid),
        );
      }
      yield { cid, bytes, offset, payloadOffset, owned };
    }
  } finally {
    await queue.return();
  }
}

/** The CID of a section cut off by the end of input, when enough of it arrived. */
function partialCid(queue: ByteQueue, length: number): string | undefined {
  try {
    const head = queue.peek(Math.min(queue.available, length, CID_HEAD_MAX + 64));
    return cidKey(parseSectionCid(head, 0)[0]);
  } catch {
    return undefined;
  }
}

/** Parses the CID at the start of a section: CIDv0 (`0x12 0x20` + 32 bytes) or CIDv1. */
function parseSectionCid(section: Uint8Array, offset: number): [AnyCID, number] {
  try {
    if (section[0] === 0x12 && section[1] === 0x20) {
      if (section.byteLength < 34) throw new Error("short CIDv0");
      return [createCid(0, DAG_PB, 0x12, section.subarray(2, 34)), 34];
    }
    let at = 0;
    const next = (): number => {
      const [value, length] = varint.decode(section, at);
      at += length;
      return value;
    };
    const version = next();
    if (version !== 1) throw new Error(`CID version ${version}`);
    const codec = next();
    const hashCode = next();
    const digestLength = next();
    if (at + digestLength > section.byteLength) throw new Error("digest runs past the section");
    const digest = section.subarray(at, at + digestLength);
    return [createCid(1, codec, hashCode, digest), at + digestLength];
  } catch (cause) {
    throw carError(
      `CAR section at byte ${offset} does not start with a valid CID`,
      undefined,
      cause,
    );
  }
}

/** The CARv1 header for these roots (its length varint included). */
export function carHeader(roots: readonly AnyCID[]): Uint8Array {
  const header = encodeDagCbor(
    new Map<string, unknown>([
      ["roots", [...roots]],
      ["version", 1],
    ]),
  );
  const length = new Uint8Array(varint.encodingLength(header.byteLength));
  varint.encodeTo(header.byteLength, length, 0);
  return concat([length, header]);
}

/** The start of a CAR section for a block: the length varint and the CID (the block follows). */
export function sectionHead(cid: AnyCID, blockLength: number): Uint8Array {
  const cidBytes = cid.bytes;
  const total = cidBytes.byteLength + blockLength;
  const lengthBytes = varint.encodingLength(total);
  const out = new Uint8Array(lengthBytes + cidBytes.byteLength);
  varint.encodeTo(total, out, 0);
  out.set(cidBytes, lengthBytes);
  return out;
}

/** Joins byte arrays. */
export function concat(parts: readonly Uint8Array[]): Uint8Array {
  let size = 0;
  for (const p of parts) size += p.byteLength;
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/** Options for exporting a CAR from a block store. */
export interface ExportCarOptions extends CallOptions {
  /** `all` (default): the whole DAG under the root; `block`: the root block only. */
  scope?: "all" | "block";
  /** Blocks fetched ahead while writing (default 8; helps remote block stores). */
  prefetch?: number;
}

/**
 * Streams a CARv1 of the DAG under `root` from a block store: header, root block, then
 * depth-first pre-order following links in encoded order, each block once. Blocks come from
 * `castore.get`, so they are verified on the way out (except private memory, see
 * MappingCAStore). A missing block is an `Integrity` error naming it.
 */
export async function* exportCar(
  castore: CAStore,
  root: AnyCID,
  options: ExportCarOptions = {},
): AsyncGenerator<Uint8Array> {
  yield carHeader([root]);
  const written = new Set<string>();
  const prefetch = Math.max(1, options.prefetch ?? 8);
  const fetch = async (cid: AnyCID): Promise<Uint8Array> => {
    const bytes = await castore.get(cid, { signal: options.signal, shared: true });
    if (bytes === undefined) {
      throw new StoreError({
        code: "Integrity",
        message: `block ${cidKey(cid)} is linked from the DAG under ${cidKey(root)} but missing from ${castore.name}`,
        key: cidKey(cid),
        backend: castore.name,
      });
    }
    return bytes;
  };

  async function* visit(cids: AnyCID[]): AsyncGenerator<Uint8Array> {
    const pending: { cid: AnyCID; bytes: Promise<Uint8Array> }[] = [];
    let next = 0;
    const refill = () => {
      while (pending.length < prefetch && next < cids.length) {
        const cid = cids[next++] as AnyCID;
        if (written.has(cidKey(cid))) continue;
        const bytes = fetch(cid);
        bytes.catch(() => {}); // surfaced when awaited in order below
        pending.push({ cid, bytes });
      }
    };
    refill();
    while (pending.length > 0) {
      const { cid, bytes: promise } = pending.shift() as {
        cid: AnyCID;
        bytes: Promise<Uint8Array>;
      };
      const key = cidKey(cid);
      const bytes = await promise;
      refill();
      if (written.has(key)) continue;
      written.add(key);
      throwIfAborted(options.signal, "exportCar", key);
      yield sectionHead(cid, bytes.byteLength);
      yield bytes;
      if (cid.code === DAG_CBOR && options.scope !== "block") {
        const links: AnyCID[] = [];
        forEachLink(decodeDagCbor(bytes), (link) => links.push(link as AnyCID));
        if (links.length > 0) yield* visit(links);
      }
    }
  }

  yield* visit([root]);
}

/** Collects a stream of chunks into one byte array. */
export async function collectBytes(chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const chunk of chunks) parts.push(chunk);
  return concat(parts);
}
