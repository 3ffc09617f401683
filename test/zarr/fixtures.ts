import { readdirSync, readFileSync } from "node:fs";
import { join, relative, sep } from "node:path";
import { readOnlyError, unsupported } from "../../src/errors.js";
import type { AbsolutePath } from "../../src/keys.js";
import {
  type CallOptions,
  type Capabilities,
  type RangeQuery,
  READ_ONLY_CAPABILITIES,
  type SetOptions,
  type Store,
} from "../../src/store.js";
import { MemoryStore } from "../../src/stores/memory.js";
import { REPO_ROOT } from "../support/cli.js";

/** The shipped v2 sample (Python xarray + zarr 2) and v3 sample (zarrita). */
export const SAMPLE_V2 = join(REPO_ROOT, "sample", "air.zarr");
export const SAMPLE_V3 = join(REPO_ROOT, "sample", "v3.zarr");

/** Every file under `dir`, as `/`-rooted keys (optionally under `prefix`, e.g. `/air.zarr`). */
export function filesUnder(dir: string, prefix = ""): Map<string, Uint8Array> {
  const out = new Map<string, Uint8Array>();
  const walk = (folder: string) => {
    for (const entry of readdirSync(folder, { withFileTypes: true })) {
      const path = join(folder, entry.name);
      if (entry.isDirectory()) walk(path);
      else out.set(`${prefix}/${relative(dir, path).split(sep).join("/")}`, readFileSync(path));
    }
  };
  walk(dir);
  return out;
}

/** A MemoryStore holding the files of a folder on disk. */
export function storeFromDir(dir: string, prefix = ""): MemoryStore {
  return new MemoryStore(
    new Map([...filesUnder(dir, prefix)].map(([k, v]) => [k, new Uint8Array(v)])),
  );
}

/** Forwards every method to the store it wraps (the base of the test wrappers below). */
class Forwarding implements Store {
  readonly capabilities: Capabilities;
  protected readonly inner: Store;
  constructor(inner: Store, capabilities: Capabilities = inner.capabilities) {
    this.inner = inner;
    this.capabilities = capabilities;
  }
  get(key: AbsolutePath, options?: CallOptions) {
    return this.inner.get(key, options);
  }
  getRange(key: AbsolutePath, range: RangeQuery, options?: CallOptions) {
    return this.inner.getRange(key, range, options);
  }
  stat(key: AbsolutePath, options?: CallOptions) {
    return this.inner.stat(key, options);
  }
  set(key: AbsolutePath, value: Uint8Array, options?: SetOptions) {
    return this.inner.set(key, value, options);
  }
  put(key: AbsolutePath, value: Uint8Array, options?: SetOptions) {
    return this.inner.put(key, value, options);
  }
  delete(key: AbsolutePath, options?: CallOptions) {
    return this.inner.delete(key, options);
  }
  deletePrefix(prefix: string, options?: CallOptions) {
    return this.inner.deletePrefix(prefix, options);
  }
  list(prefix?: string, options?: CallOptions) {
    return this.inner.list(prefix, options);
  }
  listDir(prefix?: string, options?: CallOptions) {
    return this.inner.listDir(prefix, options);
  }
  close() {
    return this.inner.close();
  }
}

/**
 * A read-only view of a store that cannot list, as a plain HTTP server is: `capabilities.list`
 * is false, `list`/`listDir` reject with `Unsupported`, writes with `ReadOnly`. Records the keys read.
 */
export class NoListStore extends Forwarding {
  readonly requested: string[] = [];
  constructor(inner: Store) {
    super(inner, { ...READ_ONLY_CAPABILITIES, getRange: inner.capabilities.getRange });
  }
  override get(key: AbsolutePath, options?: CallOptions) {
    this.requested.push(key);
    return this.inner.get(key, options);
  }
  override getRange(key: AbsolutePath, range: RangeQuery, options?: CallOptions) {
    this.requested.push(key);
    return this.inner.getRange(key, range, options);
  }
  override async set(key: AbsolutePath): Promise<void> {
    throw readOnlyError("NoListStore", "set", key);
  }
  override async put(key: AbsolutePath): Promise<never> {
    throw readOnlyError("NoListStore", "set", key);
  }
  override async delete(key: AbsolutePath): Promise<void> {
    throw readOnlyError("NoListStore", "delete", key);
  }
  override async deletePrefix(): Promise<void> {
    throw readOnlyError("NoListStore", "deletePrefix");
  }
  // biome-ignore lint/correctness/useYield: it rejects before yielding, as a store that cannot list does
  override async *list(): AsyncIterable<AbsolutePath> {
    throw unsupported("NoListStore", "list");
  }
  override async listDir(): Promise<never> {
    throw unsupported("NoListStore", "listDir");
  }
}

/** Records the folders it was asked to list. */
export class RecordingStore extends Forwarding {
  readonly listed: string[] = [];
  override listDir(prefix?: string, options?: CallOptions) {
    this.listed.push(prefix ?? "/");
    return this.inner.listDir(prefix, options);
  }
}
