import type { AbsolutePath } from "../keys.js";
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

/** A function that wraps a store in an adapter, as `compose` takes them. */
export type Adapter<S extends Store = Store> = (inner: Store) => S;

/**
 * Every member of the contract, checked by the compiler in both directions: adding a method to
 * `Store` without listing it here (and forwarding it in `ForwardingStore`) fails the type check.
 */
export const CONTRACT_MEMBERS = {
  capabilities: "property",
  get: "method",
  getRange: "method",
  stat: "method",
  set: "method",
  put: "method",
  delete: "method",
  deletePrefix: "method",
  list: "method",
  listDir: "method",
  close: "method",
} as const satisfies Record<keyof Store, "method" | "property">;

/**
 * The base of every adapter: forwards each contract method to the inner store by name, and
 * derives its capabilities from the inner store's (with the adapter's changes on top).
 *
 * `set` calls `this.put`, so an adapter that changes writes overrides `put` alone; adapters that
 * report the operation by name (logging, metrics) override both.
 */
export class ForwardingStore implements Store {
  readonly capabilities: Capabilities;
  /** The wrapped store. */
  protected readonly inner: Store;

  constructor(inner: Store, changes: Partial<Capabilities> = {}) {
    this.inner = inner;
    this.capabilities = Object.freeze({ ...inner.capabilities, ...changes });
  }

  get(key: AbsolutePath, options?: CallOptions): Promise<Uint8Array | undefined> {
    return this.inner.get(key, options);
  }

  getRange(
    key: AbsolutePath,
    range: RangeQuery,
    options?: CallOptions,
  ): Promise<Uint8Array | undefined> {
    return this.inner.getRange(key, range, options);
  }

  stat(key: AbsolutePath, options?: CallOptions): Promise<StatResult | undefined> {
    return this.inner.stat(key, options);
  }

  async set(key: AbsolutePath, value: Uint8Array, options?: SetOptions): Promise<void> {
    await this.put(key, value, options);
  }

  put(key: AbsolutePath, value: Uint8Array, options?: SetOptions): Promise<SetResult> {
    return this.inner.put(key, value, options);
  }

  delete(key: AbsolutePath, options?: CallOptions): Promise<void> {
    return this.inner.delete(key, options);
  }

  deletePrefix(prefix: string, options?: CallOptions): Promise<void> {
    return this.inner.deletePrefix(prefix, options);
  }

  list(prefix?: string, options?: CallOptions): AsyncIterable<AbsolutePath> {
    return this.inner.list(prefix, options);
  }

  listDir(prefix?: string, options?: CallOptions): Promise<ListDirResult> {
    return this.inner.listDir(prefix, options);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
