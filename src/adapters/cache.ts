import { whenAborted } from "../abort.js";
import { abortError, throwIfAborted } from "../errors.js";
import { type AbsolutePath, toKey, toPrefix } from "../keys.js";
import { sliceRange } from "../ranges.js";
import type {
  CallOptions,
  RangeQuery,
  SetOptions,
  SetResult,
  StatResult,
  Store,
} from "../store.js";
import { ForwardingStore } from "./forward.js";

/** Options for `withCache`. */
export interface CacheOptions {
  /** Most value bytes held at once (default 64 MiB). Larger values pass through uncached. */
  maxBytes?: number;
  /** Most entries held at once, misses included (default 100,000), so empty values stay bounded. */
  maxEntries?: number;
  /**
   * Remember missing keys too (default false). Off by default because a key another writer
   * creates stays invisible here until its entry is evicted or this cache writes it.
   */
  negative?: boolean;
}

/** What a cache has done since it was made. */
export interface CacheStats {
  hits: number;
  misses: number;
  evictions: number;
  entries: number;
  bytes: number;
}

// One inner `get` shared by every caller that asks for the key while it runs.
interface Flight {
  promise: Promise<Uint8Array | undefined>;
  // Only when the first caller brought a signal: a caller without one never leaves, so the
  // fetch can never lose all its waiters (and an AbortController costs microseconds to make).
  controller: AbortController | undefined;
  waiters: number;
  // Cleared when a write or delete of the key overtakes the fetch: its result is then stale.
  valid: boolean;
}

// 64 MiB: a few hundred typical chunks, small beside a Node heap.
const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;
const DEFAULT_MAX_ENTRIES = 100_000;

/**
 * A read-through LRU cache of whole values, bounded by bytes.
 *
 * - `get` is single-flight: callers asking for a key while it is being fetched share one inner
 *   `get`; the inner request is aborted only when every one of them has aborted.
 * - `getRange` is served from a cached (or in-flight) whole value. A range miss passes through
 *   to the inner `getRange` and caches nothing: ranges are how readers avoid fetching large
 *   values (shards, big chunks), so a cache must not turn them into whole-value reads.
 * - `stat`, `list` and `listDir` pass through (a missing key remembered by `negative` is
 *   answered here).
 * - Writes and deletes made through the cache invalidate the key (or folder) before and after
 *   they run; writes made around the cache are not seen until the entry is evicted.
 * - Cached values are shared between callers: treat them as read-only, as zarrita does.
 */
export class CacheStore extends ForwardingStore {
  // Insertion order is recency order: a hit moves its entry to the end. `null` marks a known miss.
  readonly #entries = new Map<string, Uint8Array | null>();
  readonly #flights = new Map<string, Flight>();
  readonly #maxBytes: number;
  readonly #maxEntries: number;
  readonly #negative: boolean;
  #bytes = 0;
  #hits = 0;
  #misses = 0;
  #evictions = 0;

  constructor(inner: Store, options: CacheOptions = {}) {
    super(inner);
    this.#maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
    this.#maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
    this.#negative = options.negative ?? false;
  }

  override async get(key: AbsolutePath, options?: CallOptions): Promise<Uint8Array | undefined> {
    throwIfAborted(options?.signal, "get", key);
    // Only validated keys are ever cached, so a hit on the key as given needs no validation.
    const hit = this.#lookup(key);
    if (hit !== undefined) return hit ?? undefined;
    const path = toKey(key);
    const cached = path === key ? undefined : this.#lookup(path);
    if (cached !== undefined) return cached ?? undefined;
    this.#misses += 1;
    return this.#join(this.#flightFor(path, options?.signal), path, options?.signal);
  }

  override async getRange(
    key: AbsolutePath,
    range: RangeQuery,
    options?: CallOptions,
  ): Promise<Uint8Array | undefined> {
    const path = toKey(key);
    throwIfAborted(options?.signal, "getRange", path);
    const cached = this.#lookup(path);
    if (cached === null) return undefined;
    if (cached !== undefined) return sliceRange(cached, range, path);
    const flight = this.#flights.get(path);
    if (flight !== undefined) {
      const value = await this.#join(flight, path, options?.signal);
      return value === undefined ? undefined : sliceRange(value, range, path);
    }
    this.#misses += 1;
    return this.inner.getRange(path, range, options);
  }

  override async stat(key: AbsolutePath, options?: CallOptions): Promise<StatResult | undefined> {
    const path = toKey(key);
    if (this.#entries.get(path) === null) return undefined;
    return this.inner.stat(path, options);
  }

  override async put(
    key: AbsolutePath,
    value: Uint8Array,
    options?: SetOptions,
  ): Promise<SetResult> {
    const path = toKey(key);
    this.#invalidate(path);
    try {
      return await this.inner.put(path, value, options);
    } finally {
      // Reads that started while the write ran may have fetched the old value.
      this.#invalidate(path);
    }
  }

  override async delete(key: AbsolutePath, options?: CallOptions): Promise<void> {
    const path = toKey(key);
    this.#invalidate(path);
    try {
      await this.inner.delete(path, options);
    } finally {
      this.#invalidate(path);
    }
  }

  override async deletePrefix(prefix: string, options?: CallOptions): Promise<void> {
    const folder = toPrefix(prefix);
    this.#invalidateFolder(folder);
    try {
      await this.inner.deletePrefix(folder, options);
    } finally {
      this.#invalidateFolder(folder);
    }
  }

  override async close(): Promise<void> {
    this.clear();
    await this.inner.close();
  }

  /** Counters and the current size. */
  stats(): CacheStats {
    return {
      hits: this.#hits,
      misses: this.#misses,
      evictions: this.#evictions,
      entries: this.#entries.size,
      bytes: this.#bytes,
    };
  }

  /** Drops every entry (in-flight fetches finish but are not kept). */
  clear(): void {
    for (const flight of this.#flights.values()) flight.valid = false;
    this.#flights.clear();
    this.#entries.clear();
    this.#bytes = 0;
  }

  // A hit (value, or null for a known miss) moves to the most recent end; undefined is a miss.
  #lookup(path: string): Uint8Array | null | undefined {
    const cached = this.#entries.get(path);
    if (cached === undefined) return undefined;
    this.#entries.delete(path);
    this.#entries.set(path, cached);
    this.#hits += 1;
    return cached;
  }

  #flightFor(path: AbsolutePath, signal: AbortSignal | undefined): Flight {
    const running = this.#flights.get(path);
    if (running !== undefined) return running;
    const controller = signal === undefined ? undefined : new AbortController();
    const flight: Flight = {
      controller,
      waiters: 0,
      valid: true,
      promise: this.inner.get(path, controller && { signal: controller.signal }),
    };
    const settle = () => {
      if (this.#flights.get(path) === flight) this.#flights.delete(path);
    };
    flight.promise.then((value) => {
      settle();
      if (flight.valid) this.#insert(path, value);
    }, settle);
    this.#flights.set(path, flight);
    return flight;
  }

  // Waits for a shared fetch; the caller's abort detaches the caller alone, and the fetch itself
  // is aborted when its last waiter leaves.
  #join(flight: Flight, path: AbsolutePath, signal?: AbortSignal): Promise<Uint8Array | undefined> {
    flight.waiters += 1;
    if (signal === undefined) {
      return flight.promise.finally(() => {
        flight.waiters -= 1;
      });
    }
    return new Promise((resolve, reject) => {
      const stopWaiting = whenAborted(signal, () => {
        flight.waiters -= 1;
        if (flight.waiters === 0) {
          flight.valid = false;
          if (this.#flights.get(path) === flight) this.#flights.delete(path);
          flight.controller?.abort(signal.reason);
        }
        reject(abortError(signal, "get", path));
      });
      flight.promise.then(
        (value) => {
          stopWaiting();
          flight.waiters -= 1;
          resolve(value);
        },
        (error: unknown) => {
          stopWaiting();
          flight.waiters -= 1;
          reject(error);
        },
      );
    });
  }

  #insert(path: string, value: Uint8Array | undefined): void {
    if (value === undefined && !this.#negative) return;
    const size = value?.byteLength ?? 0;
    if (size > this.#maxBytes) return;
    this.#remove(path);
    this.#entries.set(path, value ?? null);
    this.#bytes += size;
    while (this.#bytes > this.#maxBytes || this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.keys().next().value as string;
      this.#remove(oldest);
      this.#evictions += 1;
    }
  }

  #remove(path: string): void {
    const old = this.#entries.get(path);
    if (old === undefined) return;
    this.#bytes -= old?.byteLength ?? 0;
    this.#entries.delete(path);
  }

  #invalidate(path: string): void {
    this.#remove(path);
    const flight = this.#flights.get(path);
    if (flight !== undefined) {
      flight.valid = false;
      this.#flights.delete(path);
    }
  }

  #invalidateFolder(folder: string): void {
    for (const path of [...this.#entries.keys()]) if (path.startsWith(folder)) this.#remove(path);
    for (const [path, flight] of [...this.#flights]) {
      if (path.startsWith(folder)) {
        flight.valid = false;
        this.#flights.delete(path);
      }
    }
  }
}

/**
 * Caches whole values in memory, least recently used first out, bounded by bytes.
 *
 * @example
 * const store = withCache(await openStore("https://example.org/data.zarr"), { maxBytes: 256e6 });
 */
export function withCache(inner: Store, options: CacheOptions = {}): CacheStore {
  return new CacheStore(inner, options);
}
