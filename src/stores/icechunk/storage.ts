import type {
  Storage,
  StorageCopyObjectArgs,
  StorageDeleteBatchArgs,
  StorageDeleteObjectsResult,
  StorageGetModifiedResult,
  StorageGetObjectConditionalArgs,
  StorageGetObjectRangeArgs,
  StorageGetObjectResponse,
  StorageListInfo,
  StoragePutObjectArgs,
  StorageVersionedUpdateResult,
  StorageVersionInfo,
} from "@earthmover/icechunk";
import { isStoreError, StoreError } from "../../errors.js";
import { type AbsolutePath, toKey, toPrefix } from "../../keys.js";
import type { SetOptions, StatResult, Store } from "../../store.js";
import { type IcechunkModule, loadIcechunk } from "./load.js";

/**
 * Icechunk finds "object not found" by this word in a custom storage's error message (it is
 * what its own fetch storage throws); anything else is a storage failure.
 */
const NOT_FOUND_MARK = "ObjectNotFound";

/**
 * Our StoreError codes cross Icechunk inside its error messages as `[zarrstore:<Code>]`, so the
 * IcechunkStore can give the caller the code the backend chose (Unauthenticated, Unavailable…).
 */
const CODE_MARK = /\[zarrstore:([A-Za-z]+)\]/;

// stat calls in flight while listing: listings carry no sizes or dates in our contract.
const LIST_STAT_CONCURRENCY = 16;
// How often a read of a mutable object is retried when it changed between its stat and its get.
const CONSISTENT_READ_ATTEMPTS = 5;

/** The callbacks of Icechunk's `Storage.newCustom` (error-first: the first argument is always null). */
export interface IcechunkStorageBackend {
  canWrite(err: null): Promise<boolean>;
  getObjectRange(err: null, args: StorageGetObjectRangeArgs): Promise<StorageGetObjectResponse>;
  putObject(err: null, args: StoragePutObjectArgs): Promise<StorageVersionedUpdateResult>;
  copyObject(err: null, args: StorageCopyObjectArgs): Promise<StorageVersionedUpdateResult>;
  listObjects(err: null, prefix: string): Promise<StorageListInfo[]>;
  deleteBatch(err: null, args: StorageDeleteBatchArgs): Promise<StorageDeleteObjectsResult>;
  getObjectLastModified(err: null, path: string): Promise<Date>;
  getObjectConditional(
    err: null,
    args: StorageGetObjectConditionalArgs,
  ): Promise<StorageGetModifiedResult>;
}

/**
 * Makes an Icechunk `Storage` whose objects live in a zarrstore `Store`, so a repository can
 * sit on a file system, S3, Swift (which Icechunk does not support itself) or in memory. The
 * repository's object `snapshots/ABC` is the key `/snapshots/ABC` of the store; wrap the store
 * with `withPrefix`, or open it at a folder (`swift://container/repo`), to place it elsewhere.
 *
 * Conditions map to the store's: "must not exist" is `ifNoneMatch: "*"` and "unchanged" is
 * `ifMatch: etag`; a `ConditionFailed` tells Icechunk that another writer got there first.
 * Stores that cannot keep `ifMatch` (Swift) get a stat-then-write emulation with a short
 * race window, documented in `backendFor`.
 *
 * @example
 * const storage = await icechunkStorage(new FileSystemStore("/data/repo"));
 * const repo = await Repository.openOrCreate(storage);
 */
export async function icechunkStorage(store: Store, icechunk?: IcechunkModule): Promise<Storage> {
  const module = icechunk ?? (await loadIcechunk());
  // The typings leave out the error-first argument the callbacks really receive.
  const backend = backendFor(store) as unknown as Parameters<typeof module.Storage.newCustom>[0];
  return module.Storage.newCustom(backend);
}

/**
 * The custom-storage callbacks over a store, without Icechunk itself (tested on their own).
 *
 * - Reads of a missing object throw an error whose message holds `ObjectNotFound`.
 * - Versions are the store's etags. Immutable objects (chunks, manifests, snapshots,
 *   transactions) are read without one; mutable ones (`repo`, refs, config) are read
 *   with the etag of exactly the bytes returned (stat, get, stat again until both agree).
 * - On a store without `conditionalWrite` (Swift ignores If-Match), "unchanged" is checked by
 *   a stat right before the write: two writers racing within that window can both succeed.
 *   Icechunk's commits on such a store are safe against writers that are not that close.
 */
export function backendFor(store: Store): IcechunkStorageBackend {
  return {
    canWrite: async () => store.capabilities.write,
    getObjectRange: (_, args) => getObjectRange(store, args),
    putObject: (_, args) => putObject(store, args),
    copyObject: (_, args) => copyObject(store, args),
    listObjects: (_, prefix) => listObjects(store, prefix),
    deleteBatch: (_, args) => deleteBatch(store, args),
    getObjectLastModified: (_, path) => getObjectLastModified(store, path),
    getObjectConditional: (_, args) => getObjectConditional(store, args),
  };
}

async function getObjectRange(
  store: Store,
  { path, rangeStart, rangeEnd }: StorageGetObjectRangeArgs,
): Promise<StorageGetObjectResponse> {
  const key = keyOf(path);
  return guard("getObjectRange", path, async () => {
    if (rangeStart != null) {
      const length =
        rangeEnd == null ? Number.MAX_SAFE_INTEGER - rangeStart : rangeEnd - rangeStart;
      if (length <= 0) return { data: asBuffer(new Uint8Array(0)), version: {} };
      const data = await store.getRange(key, { offset: rangeStart, length });
      if (data === undefined) throw notFound(path);
      return { data: asBuffer(data), version: {} };
    }
    if (isImmutable(path)) {
      const data = await store.get(key);
      if (data === undefined) throw notFound(path);
      return { data: asBuffer(data), version: {} };
    }
    const { data, stat } = await readConsistently(store, key, path);
    return { data: asBuffer(data), version: versionOf(stat) };
  });
}

async function getObjectConditional(
  store: Store,
  { path, previousVersion }: StorageGetObjectConditionalArgs,
): Promise<StorageGetModifiedResult> {
  const key = keyOf(path);
  return guard("getObjectConditional", path, async () => {
    const known = previousVersion?.etag;
    if (known !== undefined) {
      const stat = await store.stat(key);
      if (stat === undefined) throw notFound(path);
      if (stat.etag === known) return { kind: "on_latest_version" };
    }
    const { data, stat } = await readConsistently(store, key, path);
    return { kind: "modified", data: asBuffer(data), newVersion: versionOf(stat) };
  });
}

async function putObject(
  store: Store,
  { path, data, previousVersion }: StoragePutObjectArgs,
): Promise<StorageVersionedUpdateResult> {
  const key = keyOf(path);
  // The bytes are a view into Icechunk's memory (the WASM build's linear memory), reused once
  // this callback yields: copy them before the first await.
  const bytes = copyOf(data);
  return guard("putObject", path, () => writeIf(store, key, bytes, previousVersion));
}

async function copyObject(
  store: Store,
  { from, to, version }: StorageCopyObjectArgs,
): Promise<StorageVersionedUpdateResult> {
  const source = keyOf(from);
  const target = keyOf(to);
  return guard("copyObject", from, async () => {
    const { data, stat } = await readConsistently(store, source, from);
    if (version.etag !== undefined && stat.etag !== version.etag) {
      return { kind: "not_on_latest_version" };
    }
    return writeIf(store, target, data, undefined);
  });
}

async function listObjects(store: Store, prefix: string): Promise<StorageListInfo[]> {
  return guard("listObjects", prefix, async () => {
    // Icechunk lists folders ("snapshots/", "refs/") or the root (""); a partial name is cut to its folder.
    const folder = toPrefix(prefix.slice(0, prefix.lastIndexOf("/") + 1));
    const wanted = `/${prefix}`;
    const keys: AbsolutePath[] = [];
    for await (const key of store.list(folder)) if (key.startsWith(wanted)) keys.push(key);
    const infos: (StorageListInfo | undefined)[] = new Array(keys.length);
    let next = 0;
    const lane = async () => {
      while (next < keys.length) {
        const index = next++;
        const key = keys[index] as AbsolutePath;
        const stat = await store.stat(key);
        // A key deleted since it was listed is simply gone.
        if (stat === undefined) continue;
        infos[index] = {
          id: key.slice(wanted.length),
          createdAt: stat.lastModified ?? new Date(0),
          sizeBytes: stat.size,
        };
      }
    };
    await Promise.all(Array.from({ length: Math.min(LIST_STAT_CONCURRENCY, keys.length) }, lane));
    return infos.filter((info): info is StorageListInfo => info !== undefined);
  });
}

async function deleteBatch(
  store: Store,
  { prefix, batch }: StorageDeleteBatchArgs,
): Promise<StorageDeleteObjectsResult> {
  return guard("deleteBatch", prefix, async () => {
    let deletedBytes = 0;
    for (const item of batch) {
      await store.delete(
        keyOf(`${prefix}${prefix === "" || prefix.endsWith("/") ? "" : "/"}${item.id}`),
      );
      deletedBytes += item.size;
    }
    return { deletedObjects: batch.length, deletedBytes };
  });
}

async function getObjectLastModified(store: Store, path: string): Promise<Date> {
  const key = keyOf(path);
  return guard("getObjectLastModified", path, async () => {
    const stat = await store.stat(key);
    if (stat === undefined) throw notFound(path);
    if (stat.lastModified === undefined) {
      throw new StoreError({
        code: "Unsupported",
        message: `the store reports no modification time for ${key}`,
        operation: "stat",
        key,
      });
    }
    return stat.lastModified;
  });
}

/**
 * Writes with Icechunk's condition: none, "must not exist" (a version without etag or
 * generation), or "unchanged since this etag". A failed condition is `not_on_latest_version`.
 */
async function writeIf(
  store: Store,
  key: AbsolutePath,
  data: Uint8Array,
  previous: StorageVersionInfo | undefined,
): Promise<StorageVersionedUpdateResult> {
  const options: SetOptions = {};
  if (previous !== undefined) {
    if (previous.etag === undefined && previous.generation === undefined) {
      options.ifNoneMatch = "*";
    } else if (previous.etag !== undefined) {
      if (store.capabilities.conditionalWrite) {
        options.ifMatch = previous.etag;
      } else if ((await store.stat(key))?.etag !== previous.etag) {
        return { kind: "not_on_latest_version" };
      }
    }
  }
  try {
    const result = await store.put(key, data, options);
    const etag = result.etag ?? (await store.stat(key))?.etag;
    return { kind: "updated", newVersion: etag === undefined ? {} : { etag } };
  } catch (error) {
    if (isStoreError(error, "ConditionFailed")) return { kind: "not_on_latest_version" };
    throw error;
  }
}

/** Reads a value and the etag of exactly those bytes (stat, get, stat until the etags agree). */
async function readConsistently(
  store: Store,
  key: AbsolutePath,
  path: string,
): Promise<{ data: Uint8Array; stat: StatResult }> {
  for (let attempt = 0; attempt < CONSISTENT_READ_ATTEMPTS; attempt++) {
    const before = await store.stat(key);
    if (before === undefined) throw notFound(path);
    const data = await store.get(key);
    if (data === undefined) throw notFound(path);
    if (!store.capabilities.etag) return { data, stat: before };
    const after = await store.stat(key);
    if (after !== undefined && after.etag === before.etag) return { data, stat: after };
  }
  throw new StoreError({
    code: "Conflict",
    message: `${key} kept changing while it was read (${CONSISTENT_READ_ATTEMPTS} attempts)`,
    operation: "get",
    key,
    retryable: true,
  });
}

// Objects Icechunk never rewrites: their names are content ids.
const IMMUTABLE_FOLDERS = ["chunks/", "manifests/", "snapshots/", "transactions/"];

function isImmutable(path: string): boolean {
  return IMMUTABLE_FOLDERS.some((folder) => path.startsWith(folder));
}

function copyOf(data: Uint8Array): Uint8Array {
  // Not data.slice(): Buffer#slice returns a view.
  return Uint8Array.prototype.slice.call(data);
}

function versionOf(stat: StatResult): StorageVersionInfo {
  return stat.etag === undefined ? {} : { etag: stat.etag };
}

function keyOf(path: string): AbsolutePath {
  return toKey(path);
}

// The typings say Buffer; both builds take any Uint8Array (as Icechunk's own fetch storage
// returns), which keeps this module free of Node's Buffer.
function asBuffer(data: Uint8Array): Buffer {
  return data as unknown as Buffer;
}

function notFound(path: string): Error {
  return new Error(`${NOT_FOUND_MARK}: ${path}`);
}

/**
 * Runs a callback and turns a StoreError into a plain Error that carries its code across
 * Icechunk (see `CODE_MARK`); not-found errors pass unchanged.
 */
async function guard<T>(operation: string, path: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if (error instanceof StoreError) {
      throw new Error(`[zarrstore:${error.code}] ${operation} ${path}: ${error.message}`, {
        cause: error,
      });
    }
    throw error;
  }
}

/** The StoreError code a storage callback reported through Icechunk, if the message carries one. */
export function codeInMessage(message: string): string | undefined {
  return CODE_MARK.exec(message)?.[1];
}
