import { StoreError, throwIfAborted } from "../../errors.js";
import { toKey } from "../../keys.js";
import type { CallOptions, Store } from "../../store.js";
import {
  type AnyCID,
  type Block,
  cidKey,
  cidOf,
  copyBytes,
  identityBlock,
  parseCid,
  SYNC_HASH,
  verifyBlock,
} from "./blocks.js";

/** Options for reading a block. */
export interface BlockGetOptions extends CallOptions {
  /**
   * The caller will not modify the bytes, so a store may hand out its own buffer instead of a
   * copy (CAR export uses this).
   */
  shared?: boolean | undefined;
}

/**
 * A content-addressed block store, the layer under IPLDStore. Every read is verified against
 * its CID (`Integrity` on a mismatch); a missing block is `undefined`.
 */
export interface CAStore {
  /** The backend name used in errors (`MappingCAStore`, `KuboCAStore`…). */
  readonly name: string;
  /** False for stores that only read (a gateway). */
  readonly writable: boolean;
  /** Reads a block and verifies it; `undefined` when the store does not have it. */
  get(cid: AnyCID, options?: BlockGetOptions): Promise<Uint8Array | undefined>;
  /** Hashes bytes (sha2-256, CIDv1) under a codec, stores them, and returns the CID. */
  put(bytes: Uint8Array, codec: number, options?: CallOptions): Promise<AnyCID>;
  /** Stores a block the caller has already verified (imports). */
  putBlock(block: Block, options?: CallOptions): Promise<void>;
  /** `put` done synchronously where the store can (else `undefined`): a fast path for writers. */
  putSync?(bytes: Uint8Array, codec: number): AnyCID | undefined;
  /** `putBlock` done synchronously where the store can (else false): a fast path for imports. */
  putBlockSync?(block: Block, key?: string): boolean;
  /** Stores many verified blocks; stores with a bulk path (Kubo's `dag/import`) batch them. */
  putMany?(blocks: AsyncIterable<Block>, options?: CallOptions): Promise<void>;
  /** Tells whether the store has a block. */
  has(cid: AnyCID, options?: CallOptions): Promise<boolean>;
  /** A block's size without reading it where the backend can; `undefined` when absent. */
  size(cid: AnyCID, options?: CallOptions): Promise<number | undefined>;
  /** Releases connections and nodes the store opened itself. Idempotent. */
  close(): Promise<void>;
}

/** Options for `MappingCAStore`. */
export interface MappingCAStoreOptions {
  /** A folder of the backing store to keep blocks under (default: its root). */
  prefix?: string;
}

const BACKEND = "MappingCAStore";

/**
 * Keeps blocks in any zarrstore Store, one key per block named by its CIDv1 in base32
 * (`/bafkrei…`), as the original's `MappingCAStore` keeps them in a Python mapping. Any CID form
 * (CIDv0 `Qm…`, other bases) is looked up by that normalised name.
 *
 * Without a backing store the blocks live in private memory that nothing else can write, so
 * reads skip re-hashing (each block was hashed or verified on the way in). Over a store you pass,
 * which others can write, every read is verified.
 *
 * @example
 * const blocks = new MappingCAStore(new FileSystemStore("blocks"));
 * const store = new IPLDStore(blocks);
 */
export class MappingCAStore implements CAStore {
  readonly name = BACKEND;
  readonly writable: boolean;
  readonly #store: Store | undefined;
  readonly #private: Map<string, Uint8Array> | undefined;
  readonly #prefix: string;
  readonly #slab = new Slab();
  readonly #alloc = (size: number) => this.#slab.take(size);

  constructor(store?: Store, options: MappingCAStoreOptions = {}) {
    this.#store = store;
    this.#private = store === undefined ? new Map() : undefined;
    this.writable = store === undefined || store.capabilities.write;
    const prefix = options.prefix?.replace(/^\/+|\/+$/g, "") ?? "";
    this.#prefix = prefix === "" ? "/" : `/${prefix}/`;
    if (prefix !== "") toKey(`${this.#prefix}x`);
  }

  /** The backing store (undefined for private memory). */
  get store(): Store | undefined {
    return this.#store;
  }

  /** The number of blocks in private memory (for tests and tools); undefined over a store. */
  get count(): number | undefined {
    return this.#private?.size;
  }

  async get(cid: AnyCID, options?: BlockGetOptions): Promise<Uint8Array | undefined> {
    throwIfAborted(options?.signal, "get", cidKey(cid));
    const inline = identityBlock(cid);
    if (inline) return copyBytes(inline);
    const name = cidKey(cid);
    if (this.#private) {
      const bytes = this.#private.get(name);
      return bytes === undefined || options?.shared ? bytes : copyBytes(bytes);
    }
    const bytes = await (this.#store as Store).get(this.#key(name), options);
    if (bytes !== undefined) await verifyBlock(cid, bytes, BACKEND);
    return bytes;
  }

  async put(bytes: Uint8Array, codec: number, options?: CallOptions): Promise<AnyCID> {
    throwIfAborted(options?.signal, "set");
    const cid = await cidOf(bytes, codec);
    await this.#write(cidKey(cid), bytes, options);
    return cid;
  }

  /**
   * `putBlock` without a promise for private memory (importCar's fast path); false elsewhere,
   * where the caller awaits `putBlock`. `key` is the block's `cidKey`, when the caller has it.
   */
  putBlockSync(block: Block, key = cidKey(block.cid)): boolean {
    if (this.#private === undefined) return false;
    if (identityBlock(block.cid)) return true;
    this.#private.set(key, block.owned ? block.bytes : this.#slab.copy(block.bytes));
    return true;
  }

  /**
   * `put` without a promise, where that is possible (private memory on Node, where hashing is
   * synchronous): IPLDStore's write path uses it to skip the await chain. `undefined` elsewhere.
   */
  putSync(bytes: Uint8Array, codec: number): AnyCID | undefined {
    if (this.#private === undefined || !SYNC_HASH) return undefined;
    const cid = cidOf(bytes, codec, this.#alloc) as AnyCID;
    this.#private.set(cidKey(cid), this.#slab.copy(bytes));
    return cid;
  }

  async putBlock(block: Block, options?: CallOptions): Promise<void> {
    throwIfAborted(options?.signal, "set", cidKey(block.cid));
    if (identityBlock(block.cid)) return;
    if (this.#private && block.owned) {
      this.#private.set(cidKey(block.cid), block.bytes);
      return;
    }
    await this.#write(cidKey(block.cid), block.bytes, options);
  }

  async has(cid: AnyCID, options?: CallOptions): Promise<boolean> {
    return (await this.size(cid, options)) !== undefined;
  }

  async size(cid: AnyCID, options?: CallOptions): Promise<number | undefined> {
    throwIfAborted(options?.signal, "stat", cidKey(cid));
    const inline = identityBlock(cid);
    if (inline) return inline.byteLength;
    const name = cidKey(cid);
    if (this.#private) return this.#private.get(name)?.byteLength;
    return (await (this.#store as Store).stat(this.#key(name), options))?.size;
  }

  /** Every CID in the store (names that are not CIDs are skipped). */
  async *cids(options?: CallOptions): AsyncIterable<AnyCID> {
    if (this.#private) {
      for (const name of this.#private.keys()) yield parseCid(name);
      return;
    }
    for await (const key of (this.#store as Store).list(this.#prefix, options)) {
      const name = key.slice(this.#prefix.length);
      if (name.includes("/")) continue;
      try {
        yield parseCid(name);
      } catch {
        // Not a block name: something else shares the folder.
      }
    }
  }

  async close(): Promise<void> {}

  async #write(name: string, bytes: Uint8Array, options?: CallOptions): Promise<void> {
    if (this.#private) {
      // Copied: the caller may reuse its buffer, and blocks here are never re-hashed.
      this.#private.set(name, this.#slab.copy(bytes));
      return;
    }
    if (!this.writable) {
      throw new StoreError({
        code: "ReadOnly",
        message: `${BACKEND}: the backing store is read-only`,
        operation: "set",
        key: name,
        backend: BACKEND,
      });
    }
    await (this.#store as Store).set(this.#key(name), bytes, options);
  }

  #key(name: string): `/${string}` {
    return `${this.#prefix}${name}` as `/${string}`;
  }
}

// Values up to this size are copied into shared slabs: each ArrayBuffer of its own costs about
// a microsecond in V8 (its own backing store), a view into a slab a few nanoseconds.
const SLAB_VALUE_LIMIT = 64 * 1024;
const SLAB_SIZE = 1024 * 1024;

/** Copies small values into 1 MiB slabs (8-byte aligned, for typed-array views). */
class Slab {
  #buffer = new Uint8Array(0);
  #at = 0;

  copy(bytes: Uint8Array): Uint8Array {
    if (bytes.byteLength > SLAB_VALUE_LIMIT) return copyBytes(bytes);
    const view = this.take(bytes.byteLength);
    view.set(bytes);
    return view;
  }

  /** A zeroed view of `n` bytes (n ≤ the slab value limit) that no one else will get. */
  take(n: number): Uint8Array {
    if (this.#at + n > this.#buffer.byteLength) {
      this.#buffer = new Uint8Array(SLAB_SIZE);
      this.#at = 0;
    }
    const view = this.#buffer.subarray(this.#at, this.#at + n);
    this.#at += (n + 7) & ~7;
    return view;
  }
}
