import type { AbsolutePath, Prefix } from "./keys.js";

export type { AbsolutePath, Prefix } from "./keys.js";

/** A byte range: `{offset, length}` from the start, or the last `suffixLength` bytes. */
export type RangeQuery = { offset: number; length: number } | { suffixLength: number };

/** Options every store method takes. */
export interface CallOptions {
  signal?: AbortSignal | undefined;
}

/** Conditions for `set`: write only when absent (`ifNoneMatch: "*"`) or unchanged (`ifMatch`). */
export interface SetOptions extends CallOptions {
  ifNoneMatch?: "*" | undefined;
  ifMatch?: string | undefined;
}

/** What `stat` knows about a value. */
export interface StatResult {
  size: number;
  etag?: string | undefined;
  lastModified?: Date | undefined;
}

/** What `put` returns: the new value's etag where the store has one. */
export interface SetResult {
  etag?: string | undefined;
}

/** One level of a listing: full keys and full prefixes (ending in `/`), both sorted. */
export interface ListDirResult {
  keys: AbsolutePath[];
  prefixes: Prefix[];
}

/** What a store can do. The conformance suite picks its cases from these. */
export interface Capabilities {
  /** `set` works (false for read-only stores). */
  readonly write: boolean;
  /** `set` may replace an existing value (false for append-only archives). */
  readonly overwrite: boolean;
  /** `delete` and `deletePrefix` work. */
  readonly delete: boolean;
  /** `list`, `listDir` and `deletePrefix` can enumerate keys. */
  readonly list: boolean;
  /** `getRange` reads only the bytes asked for (otherwise it is emulated). */
  readonly getRange: boolean;
  /** `getRange` with `suffixLength` is served without knowing the size first. */
  readonly suffixRange: boolean;
  /** `set` honours `ifNoneMatch` and `ifMatch`. */
  readonly conditionalWrite: boolean;
  /** A reader never sees a partly written value. */
  readonly atomicWrite: boolean;
  /** `stat` and `put` report etags. */
  readonly etag: boolean;
}

/** Reads values. Missing keys are `undefined`; every failure is a `StoreError`. */
export interface Readable {
  get(key: AbsolutePath, options?: CallOptions): Promise<Uint8Array | undefined>;
  getRange(
    key: AbsolutePath,
    range: RangeQuery,
    options?: CallOptions,
  ): Promise<Uint8Array | undefined>;
  stat(key: AbsolutePath, options?: CallOptions): Promise<StatResult | undefined>;
}

/**
 * Writes and removes values. `set` resolves to nothing so that every store is a zarrita
 * `AsyncMutable` as it is; `put` is the same write and reports the new etag.
 */
export interface Writable {
  /** Writes a value (conditions in `options` are honoured where `conditionalWrite` is declared). */
  set(key: AbsolutePath, value: Uint8Array, options?: SetOptions): Promise<void>;
  /** Writes a value and returns its etag, for compare-and-swap loops. */
  put(key: AbsolutePath, value: Uint8Array, options?: SetOptions): Promise<SetResult>;
  /** Removes a key; removing a missing key is not an error. */
  delete(key: AbsolutePath, options?: CallOptions): Promise<void>;
  /** Removes every key under the folder. */
  deletePrefix(prefix: string, options?: CallOptions): Promise<void>;
}

/** Enumerates keys. */
export interface Listable {
  /** Every key under the folder, at any depth; paginated underneath, never capped. */
  list(prefix?: string, options?: CallOptions): AsyncIterable<AbsolutePath>;
  /** One level of the folder: its keys and its sub-folders. */
  listDir(prefix?: string, options?: CallOptions): Promise<ListDirResult>;
}

/**
 * The zarrstore contract. Every store implements every method; what it cannot do it declares
 * in `capabilities` and rejects with a `StoreError` (`ReadOnly` or `Unsupported`).
 * A Store is usable by zarrita.js as it is.
 */
export interface Store extends Readable, Writable, Listable {
  readonly capabilities: Capabilities;
  /** Releases files, sockets and workers. Idempotent. */
  close(): Promise<void>;
}

/**
 * A store that writes its target whole when closed (a zip archive, a CAR file) and can drop
 * what it gathered instead, leaving the target as it was: what a failed copy calls so that no
 * partial archive replaces a good one. (Not IcechunkStore's `discard()`, which drops
 * uncommitted changes and keeps the store open.)
 */
export interface Abandonable {
  /** Drops the pending output and releases the store, instead of `close()`. Idempotent. */
  abandon(): Promise<void>;
}

/** Tells whether a store can drop its pending output (see `Abandonable`). */
export function isAbandonable(store: object): store is Abandonable {
  return typeof (store as Partial<Abandonable>).abandon === "function";
}

/** Capabilities of a store that can do nothing but read whole values. */
export const READ_ONLY_CAPABILITIES: Capabilities = Object.freeze({
  write: false,
  overwrite: false,
  delete: false,
  list: false,
  getRange: false,
  suffixRange: false,
  conditionalWrite: false,
  atomicWrite: false,
  etag: false,
});

/** The capability names, for tables and for case selection. */
export const CAPABILITY_NAMES = Object.keys(READ_ONLY_CAPABILITIES) as (keyof Capabilities)[];
