import { type AbsolutePath, type Prefix, toKey, toPrefix } from "../keys.js";
import type {
  CallOptions,
  ListDirResult,
  RangeQuery,
  SetOptions,
  SetResult,
  StatResult,
  Store,
} from "../store.js";
import { ForwardingStore } from "./forward.js";

/**
 * A store seen through one of its folders: `/a/zarr.json` here is `/sub/a/zarr.json` inside.
 * Keys are validated before they are joined, so no key (`..`, `//`) can leave the folder;
 * listings come back with the folder stripped.
 */
export class PrefixStore extends ForwardingStore {
  /** The folder inside the inner store, e.g. `/sub/`. */
  readonly prefix: Prefix;
  // The folder without its trailing `/`: inner key = base + outer key.
  readonly #base: string;

  constructor(inner: Store, prefix: string) {
    super(inner);
    this.prefix = toPrefix(prefix);
    this.#base = this.prefix.slice(0, -1);
  }

  // Not `async`: an async method returning the inner promise costs extra ticks per call; a key
  // that fails validation still becomes a rejection, never a synchronous throw.
  override get(key: AbsolutePath, options?: CallOptions): Promise<Uint8Array | undefined> {
    const path = this.#in(key);
    return typeof path === "string" ? this.inner.get(path, options) : path;
  }

  override getRange(
    key: AbsolutePath,
    range: RangeQuery,
    options?: CallOptions,
  ): Promise<Uint8Array | undefined> {
    const path = this.#in(key);
    return typeof path === "string" ? this.inner.getRange(path, range, options) : path;
  }

  override stat(key: AbsolutePath, options?: CallOptions): Promise<StatResult | undefined> {
    const path = this.#in(key);
    return typeof path === "string" ? this.inner.stat(path, options) : path;
  }

  override put(key: AbsolutePath, value: Uint8Array, options?: SetOptions): Promise<SetResult> {
    const path = this.#in(key);
    return typeof path === "string" ? this.inner.put(path, value, options) : path;
  }

  override delete(key: AbsolutePath, options?: CallOptions): Promise<void> {
    const path = this.#in(key);
    return typeof path === "string" ? this.inner.delete(path, options) : path;
  }

  override async deletePrefix(prefix: string, options?: CallOptions): Promise<void> {
    return this.inner.deletePrefix(this.#inFolder(prefix), options);
  }

  override async *list(prefix?: string, options?: CallOptions): AsyncIterable<AbsolutePath> {
    const cut = this.#base.length;
    for await (const key of this.inner.list(this.#inFolder(prefix), options)) {
      yield key.slice(cut) as AbsolutePath;
    }
  }

  override async listDir(prefix?: string, options?: CallOptions): Promise<ListDirResult> {
    const { keys, prefixes } = await this.inner.listDir(this.#inFolder(prefix), options);
    const cut = this.#base.length;
    return {
      keys: keys.map((key) => key.slice(cut) as AbsolutePath),
      prefixes: prefixes.map((folder) => folder.slice(cut) as Prefix),
    };
  }

  // The inner key, or a rejected promise when the key is invalid.
  #in(key: AbsolutePath): AbsolutePath | Promise<never> {
    try {
      return (this.#base + toKey(key)) as AbsolutePath;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #inFolder(prefix: string | undefined): Prefix {
    return (this.#base + toPrefix(prefix)) as Prefix;
  }
}

/**
 * Roots a store at one of its folders. Nothing outside the folder can be read, written or listed.
 *
 * @example
 * const tenant = withPrefix(bucket, "/tenants/42/");
 * await tenant.get("/zarr.json"); // reads /tenants/42/zarr.json
 */
export function withPrefix(inner: Store, prefix: string): PrefixStore {
  return new PrefixStore(inner, prefix);
}
