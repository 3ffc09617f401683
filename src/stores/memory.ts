import { StoreError, throwIfAborted } from "../errors.js";
import { type AbsolutePath, toKey, toPrefix } from "../keys.js";
import { compareKeys, listDirFromKeys } from "../listing.js";
import { sliceRange } from "../ranges.js";
import type {
  CallOptions,
  Capabilities,
  ListDirResult,
  RangeQuery,
  SetOptions,
  SetResult,
  StatResult,
  Store,
} from "../store.js";

interface Entry {
  value: Uint8Array;
  etag: string;
  lastModified: Date;
}

/** A synchronous face of a store, as zarrita's `SyncReadable` & `SyncMutable` expect. */
export interface SyncStore {
  get(key: AbsolutePath): Uint8Array | undefined;
  getRange(key: AbsolutePath, range: RangeQuery): Uint8Array | undefined;
  set(key: AbsolutePath, value: Uint8Array): void;
  delete(key: AbsolutePath): void;
}

/** Options for `MemoryStore`. */
export interface MemoryStoreOptions {
  /** Reject every write with `ReadOnly`. */
  readOnly?: boolean;
}

const BACKEND = "MemoryStore";

/**
 * Keeps values in a `Map` keyed by zarrita paths (`/a/zarr.json`). Pass your own `Map` to share
 * it; values are copied on `set` so later changes to the caller's buffer do not leak in.
 */
export class MemoryStore implements Store {
  readonly capabilities: Capabilities;
  readonly #data: Map<string, Uint8Array>;
  readonly #meta = new Map<string, { etag: string; lastModified: Date }>();
  readonly #readOnly: boolean;
  #version = 0;

  constructor(data: Map<string, Uint8Array> = new Map(), options: MemoryStoreOptions = {}) {
    this.#data = data;
    this.#readOnly = options.readOnly ?? false;
    const write = !this.#readOnly;
    this.capabilities = Object.freeze({
      write,
      overwrite: write,
      delete: write,
      list: true,
      getRange: true,
      suffixRange: true,
      conditionalWrite: write,
      atomicWrite: true,
      etag: true,
    });
  }

  /** The map behind the store (keys are `/`-rooted). */
  get map(): Map<string, Uint8Array> {
    return this.#data;
  }

  async get(key: AbsolutePath, options?: CallOptions): Promise<Uint8Array | undefined> {
    throwIfAborted(options?.signal, "get", key);
    return this.#data.get(toKey(key));
  }

  async getRange(
    key: AbsolutePath,
    range: RangeQuery,
    options?: CallOptions,
  ): Promise<Uint8Array | undefined> {
    throwIfAborted(options?.signal, "getRange", key);
    const value = this.#data.get(toKey(key));
    return value === undefined ? undefined : sliceRange(value, range, key);
  }

  async stat(key: AbsolutePath, options?: CallOptions): Promise<StatResult | undefined> {
    throwIfAborted(options?.signal, "stat", key);
    const entry = this.#entry(toKey(key));
    return (
      entry && { size: entry.value.byteLength, etag: entry.etag, lastModified: entry.lastModified }
    );
  }

  async set(key: AbsolutePath, value: Uint8Array, options?: SetOptions): Promise<void> {
    await this.put(key, value, options);
  }

  async put(key: AbsolutePath, value: Uint8Array, options?: SetOptions): Promise<SetResult> {
    throwIfAborted(options?.signal, "set", key);
    return this.#setNow(toKey(key), value, options);
  }

  async delete(key: AbsolutePath, options?: CallOptions): Promise<void> {
    throwIfAborted(options?.signal, "delete", key);
    this.#deleteNow(toKey(key));
  }

  async deletePrefix(prefix: string, options?: CallOptions): Promise<void> {
    throwIfAborted(options?.signal, "deletePrefix", prefix);
    this.#assertWritable("deletePrefix", prefix);
    const folder = toPrefix(prefix);
    for (const key of [...this.#data.keys()]) {
      if (key.startsWith(folder)) this.#deleteNow(key as AbsolutePath);
    }
  }

  async *list(prefix?: string, options?: CallOptions): AsyncIterable<AbsolutePath> {
    const folder = toPrefix(prefix);
    const keys = [...this.#data.keys()].filter((k) => k.startsWith(folder)).sort(compareKeys);
    for (const key of keys) {
      throwIfAborted(options?.signal, "list", folder);
      yield key as AbsolutePath;
    }
  }

  async listDir(prefix?: string, options?: CallOptions): Promise<ListDirResult> {
    throwIfAborted(options?.signal, "listDir", prefix);
    return listDirFromKeys(this.#data.keys(), toPrefix(prefix));
  }

  async close(): Promise<void> {}

  /** A synchronous face over the same data, for zarrita's synchronous API. */
  sync(): SyncStore {
    return {
      get: (key) => this.#data.get(toKey(key)),
      getRange: (key, range) => {
        const value = this.#data.get(toKey(key));
        return value === undefined ? undefined : sliceRange(value, range, key);
      },
      set: (key, value) => {
        this.#setNow(toKey(key), value);
      },
      delete: (key) => this.#deleteNow(toKey(key)),
    };
  }

  #entry(key: AbsolutePath): Entry | undefined {
    const value = this.#data.get(key);
    if (value === undefined) return undefined;
    let meta = this.#meta.get(key);
    // A caller's map may hold values we never saw being set: give them an etag now.
    if (meta === undefined) {
      meta = { etag: this.#nextEtag(), lastModified: new Date() };
      this.#meta.set(key, meta);
    }
    return { value, ...meta };
  }

  #setNow(key: AbsolutePath, value: Uint8Array, options?: SetOptions): SetResult {
    this.#assertWritable("set", key);
    if (!(value instanceof Uint8Array)) {
      throw new StoreError({
        code: "Config",
        message: "values must be Uint8Array",
        operation: "set",
        key,
        backend: BACKEND,
      });
    }
    this.#checkCondition(key, options);
    const etag = this.#nextEtag();
    // Uint8Array's slice, not the value's own: Buffer#slice returns a view, not a copy.
    this.#data.set(key, Uint8Array.prototype.slice.call(value));
    this.#meta.set(key, { etag, lastModified: new Date() });
    return { etag };
  }

  #deleteNow(key: AbsolutePath): void {
    this.#assertWritable("delete", key);
    this.#data.delete(key);
    this.#meta.delete(key);
  }

  #checkCondition(key: AbsolutePath, options?: SetOptions): void {
    if (options?.ifNoneMatch === "*" && this.#data.has(key)) {
      throw conditionFailed(key, "the key already exists (ifNoneMatch: '*')");
    }
    if (options?.ifMatch !== undefined && this.#entry(key)?.etag !== options.ifMatch) {
      throw conditionFailed(key, `the value changed or is missing (ifMatch: ${options.ifMatch})`);
    }
  }

  #assertWritable(operation: string, key: string): void {
    if (this.#readOnly) {
      throw new StoreError({
        code: "ReadOnly",
        message: `${BACKEND} is read-only: cannot ${operation} ${key}`,
        operation,
        key,
        backend: BACKEND,
      });
    }
  }

  #nextEtag(): string {
    this.#version += 1;
    return `"m${this.#version}"`;
  }
}

function conditionFailed(key: string, why: string): StoreError {
  return new StoreError({
    code: "ConditionFailed",
    message: `cannot set ${key}: ${why}`,
    operation: "set",
    key,
    backend: BACKEND,
  });
}
