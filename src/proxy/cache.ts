/**
 * The proxy's caches.
 * - `ByteLruCache`: decoded source chunks, bounded by their total size in bytes, least recently
 *   used out first, with single-flight loading (concurrent requests for one chunk share one
 *   upstream read and one decode).
 * - `MetadataCache`: metadata documents by key, fresh for a time-to-live, then revalidated
 *   against the store; a document whose bytes did not change keeps its identity, so what was
 *   derived from it (parsed JSON, served metadata) stays valid.
 */
import { hashBytes } from "./hash.js";

/** A cache value that knows its size in bytes. */
export interface Sized {
  readonly size: number;
}

/** Counters of a cache, for `/metrics`. */
export interface CacheStats {
  hits: number;
  misses: number;
  /** Requests that joined a load already in flight. */
  joined: number;
  evictions: number;
  bytes: number;
  entries: number;
  maxBytes: number;
}

interface Slot<V> {
  value: V;
  /** Set on each hit; eviction gives a used entry a second chance (the CLOCK approximation of LRU). */
  used: boolean;
}

/**
 * A byte-bounded cache with single-flight loads that evicts the least recently used entries,
 * approximately: a hit only marks its entry (no reordering on the hot path), and eviction moves
 * marked entries to the back once before dropping unmarked ones (CLOCK).
 */
export class ByteLruCache<V extends Sized> {
  readonly #maxBytes: number;
  // A Map iterates in insertion order: the front holds the entries inserted or spared longest ago.
  readonly #entries = new Map<string, Slot<V>>();
  readonly #inflight = new Map<string, Promise<V>>();
  #bytes = 0;
  #hits = 0;
  #misses = 0;
  #joined = 0;
  #evictions = 0;
  #generation = 0;

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  /** The cached value, marked as recently used; `undefined` on a miss. */
  get(key: string): V | undefined {
    const slot = this.#entries.get(key);
    if (slot === undefined) return undefined;
    slot.used = true;
    this.#hits++;
    return slot.value;
  }

  /**
   * The cached value, else the load already in flight for this key, else a new load. A value
   * larger than the whole cache is returned but not kept; a failed load is not cached.
   */
  load(key: string, loader: () => Promise<V>): V | Promise<V> {
    const hit = this.get(key);
    if (hit !== undefined) return hit;
    const pending = this.#inflight.get(key);
    if (pending !== undefined) {
      this.#joined++;
      return pending;
    }
    this.#misses++;
    const generation = this.#generation;
    const promise = loader().then(
      (value) => {
        this.#inflight.delete(key);
        if (generation === this.#generation) this.#insert(key, value);
        return value;
      },
      (error: unknown) => {
        this.#inflight.delete(key);
        throw error;
      },
    );
    this.#inflight.set(key, promise);
    return promise;
  }

  /** Drops every entry (loads in flight finish but are not kept). */
  clear(): void {
    this.#entries.clear();
    this.#bytes = 0;
    this.#generation++;
  }

  stats(): CacheStats {
    return {
      hits: this.#hits,
      misses: this.#misses,
      joined: this.#joined,
      evictions: this.#evictions,
      bytes: this.#bytes,
      entries: this.#entries.size,
      maxBytes: this.#maxBytes,
    };
  }

  #insert(key: string, value: V): void {
    if (value.size > this.#maxBytes) return;
    const old = this.#entries.get(key);
    if (old !== undefined) this.#bytes -= old.value.size;
    this.#entries.delete(key);
    this.#entries.set(key, { value, used: false });
    this.#bytes += value.size;
    while (this.#bytes > this.#maxBytes) {
      const [oldest, slot] = this.#entries.entries().next().value as [string, Slot<V>];
      this.#entries.delete(oldest);
      if (slot.used && oldest !== key) {
        slot.used = false;
        this.#entries.set(oldest, slot);
      } else {
        this.#bytes -= slot.value.size;
        this.#evictions++;
      }
    }
  }
}

/** A metadata document as last read: its bytes (`undefined` when missing) and what was derived. */
export interface CachedDoc {
  readonly bytes: Uint8Array | undefined;
  /** A hash of the bytes (0 when missing), for ETags and cache keys. */
  readonly hash: number;
  /** Values computed from this version of the document (parsed JSON, served metadata…). */
  readonly memo: Map<string, unknown>;
}

interface DocEntry {
  /** `undefined` until the first read finishes. */
  doc: CachedDoc | undefined;
  checkedAt: number;
  /** Set on each hit: trimming spares it once (CLOCK, as in `ByteLruCache`). */
  used: boolean;
  refresh?: Promise<CachedDoc> | undefined;
}

/** Options for `MetadataCache`. */
export interface MetadataCacheOptions {
  /** How long a document is served without asking the store again. */
  ttlMs: number;
  /** How many documents are kept (least recently used out first). */
  maxEntries: number;
  /** The clock, in milliseconds (tests pass their own). */
  now?: (() => number) | undefined;
}

/** Metadata documents by key, revalidated after `ttlMs`. */
export class MetadataCache {
  readonly #entries = new Map<string, DocEntry>();
  readonly #ttlMs: number;
  readonly #maxEntries: number;
  readonly #now: () => number;
  #reads = 0;
  #changes = 0;

  constructor(options: MetadataCacheOptions) {
    this.#ttlMs = options.ttlMs;
    this.#maxEntries = options.maxEntries;
    this.#now = options.now ?? Date.now;
  }

  /** The document under `key`, read through `read` when absent or due for revalidation. */
  get(key: string, read: () => Promise<Uint8Array | undefined>): CachedDoc | Promise<CachedDoc> {
    const entry = this.#entries.get(key);
    if (entry !== undefined) {
      entry.used = true;
      if (entry.doc !== undefined && this.#now() - entry.checkedAt < this.#ttlMs) return entry.doc;
      entry.refresh ??= this.#read(key, read, entry.doc);
      return entry.refresh;
    }
    const fresh: DocEntry = { doc: undefined, checkedAt: Number.NEGATIVE_INFINITY, used: false };
    fresh.refresh = this.#read(key, read, undefined);
    this.#entries.set(key, fresh);
    this.#trim();
    return fresh.refresh;
  }

  /** Forgets every document. */
  clear(): void {
    this.#entries.clear();
  }

  /** Reads from the store, and changed documents seen on revalidation. */
  stats(): { entries: number; reads: number; changes: number } {
    return { entries: this.#entries.size, reads: this.#reads, changes: this.#changes };
  }

  async #read(
    key: string,
    read: () => Promise<Uint8Array | undefined>,
    previous: CachedDoc | undefined,
  ): Promise<CachedDoc> {
    this.#reads++;
    let bytes: Uint8Array | undefined;
    try {
      bytes = await read();
    } catch (error) {
      const entry = this.#entries.get(key);
      if (entry !== undefined) {
        entry.refresh = undefined;
        if (previous === undefined) this.#entries.delete(key);
      }
      throw error;
    }
    const hash = bytes === undefined ? 0 : hashBytes(bytes);
    const same =
      previous !== undefined &&
      previous.hash === hash &&
      previous.bytes?.byteLength === bytes?.byteLength &&
      (bytes === undefined) === (previous.bytes === undefined);
    if (previous !== undefined && !same) this.#changes++;
    const doc = same ? previous : { bytes, hash, memo: new Map<string, unknown>() };
    const entry = this.#entries.get(key);
    if (entry !== undefined) {
      entry.doc = doc;
      entry.checkedAt = this.#now();
      entry.refresh = undefined;
    }
    return doc;
  }

  #trim(): void {
    while (this.#entries.size > this.#maxEntries) {
      const [oldest, entry] = this.#entries.entries().next().value as [string, DocEntry];
      this.#entries.delete(oldest);
      if (entry.used) {
        entry.used = false;
        this.#entries.set(oldest, entry);
      }
    }
  }
}
