import type {
  DiffResult,
  Repository,
  RepositoryConfig,
  Session,
  SnapshotInfo,
} from "@earthmover/icechunk";
import { StoreError, throwIfAborted } from "../../errors.js";
import { type AbsolutePath, type Prefix, toKey, toPrefix } from "../../keys.js";
import { compareKeys, listDirFromKeys } from "../../listing.js";
import type { OpenOptions } from "../../open.js";
import { checkRange, resolveRange } from "../../ranges.js";
import type {
  CallOptions,
  Capabilities,
  ListDirResult,
  RangeQuery,
  SetOptions,
  SetResult,
  StatResult,
  Store,
} from "../../store.js";
import { BACKEND, call, mapIcechunkError } from "./errors.js";
import { type IcechunkModule, loadIcechunk } from "./load.js";
import { icechunkStorage } from "./storage.js";

export { mapIcechunkError } from "./errors.js";
export {
  disposeIcechunk,
  ICECHUNK_INSTALL_HINT,
  type IcechunkModule,
  loadIcechunk,
} from "./load.js";
export { backendFor, type IcechunkStorageBackend, icechunkStorage } from "./storage.js";

/** A version to look at: the tip of a branch (writable), a tag or a snapshot (read-only). */
export type IcechunkVersion = { branch: string } | { tag: string } | { snapshot: string };

/** Options for `IcechunkStore.open`. */
export interface IcechunkStoreOptions {
  /** The version to open (default `{branch: "main"}`). */
  version?: IcechunkVersion | undefined;
  /** Create the repository when the storage holds none (default false: `NotFound`). */
  create?: boolean | undefined;
  /** Open read-only even on a branch. */
  readOnly?: boolean | undefined;
  /** Icechunk's repository configuration (caching, compression, inline threshold…). */
  config?: RepositoryConfig | undefined;
  /** An already loaded Icechunk module (default: `loadIcechunk()`). */
  icechunk?: IcechunkModule | undefined;
}

/** One snapshot in a branch's history. */
export interface IcechunkSnapshot {
  id: string;
  parentId: string | undefined;
  message: string;
  writtenAt: Date;
  metadata: Record<string, unknown>;
}

/** What changed between two versions (or in the session, for `status`). */
export type IcechunkDiff = DiffResult;

const MAIN = "main";

/**
 * A Zarr store over an Icechunk repository: reads and writes go to an Icechunk session, and
 * `commit` turns the session's changes into a snapshot on its branch. The repository itself can
 * live in any zarrstore Store (`icechunkStorage`), or be opened by URL with `openIcechunkStore`
 * (`icechunk+file:///data/repo`, `icechunk+swift://container/repo`, `icechunk+memory://`).
 *
 * What differs from a plain key-value store:
 * - Icechunk holds Zarr v3 keys only: `zarr.json` documents (valid group or array metadata)
 *   and chunk keys of existing arrays (`/a/c/0/0`). Other keys read as missing and are
 *   rejected on write with `InvalidKey`; a chunk of an array that does not exist is `NotFound`.
 * - Writes are invisible to other sessions until `commit`; `close` drops uncommitted changes.
 * - No etags and no conditional writes: concurrency is handled at commit time. When another
 *   writer committed to the branch first, `commit` fails with `Conflict` naming the branch;
 *   call `rebase()` and `commit` again (the session's changes are kept).
 * - A tag or a snapshot is read-only; so is a store opened with `readOnly`.
 *
 * @example
 * const store = await IcechunkStore.open(new FileSystemStore("/data/repo"), { create: true });
 * await zarr.create(zarr.root(store), { attributes: { title: "t" } });
 * const snapshot = await store.commit("an empty group");
 */
export class IcechunkStore implements Store {
  readonly #repo: Repository;
  readonly #readOnly: boolean;
  #session: Session;
  #version: IcechunkVersion;

  private constructor(
    repo: Repository,
    session: Session,
    version: IcechunkVersion,
    readOnly: boolean,
  ) {
    this.#repo = repo;
    this.#session = session;
    this.#version = version;
    this.#readOnly = readOnly;
  }

  /** Opens (or with `create`, creates) the repository kept in `storage` at a version. */
  static async open(storage: Store, options: IcechunkStoreOptions = {}): Promise<IcechunkStore> {
    const icechunk = options.icechunk ?? (await loadIcechunk());
    const ice = await icechunkStorage(storage, icechunk);
    const repo = await call({ operation: "open" }, () =>
      options.create
        ? icechunk.Repository.openOrCreate(ice, options.config)
        : icechunk.Repository.open(ice, options.config),
    );
    return IcechunkStore.fromRepository(repo, options);
  }

  /** Wraps a Repository you opened yourself (e.g. on Icechunk's own S3 storage). */
  static async fromRepository(
    repo: Repository,
    options: Pick<IcechunkStoreOptions, "version" | "readOnly"> = {},
  ): Promise<IcechunkStore> {
    const version = options.version ?? { branch: MAIN };
    const readOnly = options.readOnly === true;
    const session = await openSession(repo, version, readOnly);
    return new IcechunkStore(repo, session, version, readOnly);
  }

  /** The Icechunk repository, for what this class does not wrap. */
  get repository(): Repository {
    return this.#repo;
  }

  /** The current session (its `store` is Icechunk's own zarrita-style store). */
  get session(): Session {
    return this.#session;
  }

  /** The version this store shows. */
  get version(): IcechunkVersion {
    return this.#version;
  }

  /** The branch a commit goes to, or undefined on a tag or snapshot. */
  get branch(): string | undefined {
    return "branch" in this.#version ? this.#version.branch : undefined;
  }

  /** The snapshot this session started from. */
  get snapshotId(): string {
    return this.#session.snapshotId;
  }

  /** Whether there are writes not yet committed. */
  get hasUncommittedChanges(): boolean {
    return this.#session.hasUncommittedChanges;
  }

  get capabilities(): Capabilities {
    const write = !this.#session.readOnly;
    return {
      write,
      overwrite: write,
      delete: write,
      list: true,
      getRange: true,
      // A range is resolved against the value's size first (Icechunk rejects ranges past the end).
      suffixRange: false,
      // Sessions have no etags and no compare-and-swap; commits detect conflicts instead.
      conditionalWrite: false,
      atomicWrite: true,
      etag: false,
    };
  }

  async get(key: AbsolutePath, options?: CallOptions): Promise<Uint8Array | undefined> {
    const path = toKey(key);
    throwIfAborted(options?.signal, "get", path);
    return this.#read("get", path, async (store) => ownCopy(await store.get(path.slice(1))));
  }

  async getRange(
    key: AbsolutePath,
    range: RangeQuery,
    options?: CallOptions,
  ): Promise<Uint8Array | undefined> {
    const path = toKey(key);
    checkRange(range, path);
    throwIfAborted(options?.signal, "getRange", path);
    const size = await this.#size(path);
    if (size === undefined) return undefined;
    const { start, end } = resolveRange(range, size, path);
    if (start === end) return new Uint8Array(0);
    return this.#read("getRange", path, async (store) => {
      const bytes = await store.getRange(path.slice(1), { offset: start, length: end - start });
      return ownCopy(bytes);
    });
  }

  async stat(key: AbsolutePath, options?: CallOptions): Promise<StatResult | undefined> {
    const path = toKey(key);
    throwIfAborted(options?.signal, "stat", path);
    const size = await this.#size(path);
    return size === undefined ? undefined : { size };
  }

  async set(key: AbsolutePath, value: Uint8Array, options?: SetOptions): Promise<void> {
    await this.put(key, value, options);
  }

  async put(key: AbsolutePath, value: Uint8Array, options?: SetOptions): Promise<SetResult> {
    const path = toKey(key);
    throwIfAborted(options?.signal, "set", path);
    this.#assertWritable("set", path);
    if (!(value instanceof Uint8Array)) {
      throw new StoreError({
        code: "Config",
        message: "values must be Uint8Array",
        operation: "set",
        key: path,
        backend: BACKEND,
      });
    }
    if (options?.ifMatch !== undefined || options?.ifNoneMatch !== undefined) {
      throw new StoreError({
        code: "Unsupported",
        message:
          "Icechunk sessions have no conditional writes (ifMatch/ifNoneMatch): write, then " +
          "commit; a concurrent commit to the branch fails with Conflict",
        operation: "set",
        key: path,
        backend: BACKEND,
      });
    }
    const store = this.#session.store;
    await call({ operation: "set", key: path }, () =>
      store.set(path.slice(1), value as unknown as Buffer),
    );
    return {};
  }

  async delete(key: AbsolutePath, options?: CallOptions): Promise<void> {
    const path = toKey(key);
    throwIfAborted(options?.signal, "delete", path);
    this.#assertWritable("delete", path);
    const store = this.#session.store;
    try {
      await store.delete(path.slice(1));
    } catch (error) {
      const mapped = mapIcechunkError(error, { operation: "delete", key: path });
      // A key Icechunk cannot hold, or under a node that is not there, is already absent.
      if (mapped.code !== "InvalidKey" && mapped.code !== "NotFound") throw mapped;
    }
  }

  async deletePrefix(prefix: string, options?: CallOptions): Promise<void> {
    const folder = toPrefix(prefix);
    throwIfAborted(options?.signal, "deletePrefix", folder);
    this.#assertWritable("deletePrefix", folder);
    const store = this.#session.store;
    await call({ operation: "deletePrefix", key: folder }, () =>
      folder === "/" ? store.clear() : store.deleteDir(folder.slice(1, -1)),
    );
  }

  async *list(prefix?: string, options?: CallOptions): AsyncIterable<AbsolutePath> {
    const folder = toPrefix(prefix);
    throwIfAborted(options?.signal, "list", folder);
    for (const key of await this.#keysUnder(folder)) yield key;
  }

  async listDir(prefix?: string, options?: CallOptions): Promise<ListDirResult> {
    const folder = toPrefix(prefix);
    throwIfAborted(options?.signal, "listDir", folder);
    return listDirFromKeys(await this.#keysUnder(folder), folder);
  }

  /** Drops the session's uncommitted changes; the repository stays as it was. */
  async close(): Promise<void> {}

  /**
   * Commits the session's changes as a snapshot on its branch and returns the snapshot id; the
   * store then continues on a fresh session at the new tip. When another writer committed to
   * the branch first this fails with `Conflict` and keeps the changes: `rebase()`, then commit.
   */
  async commit(message: string, options: CallOptions = {}): Promise<string> {
    throwIfAborted(options.signal, "commit");
    const branch = this.#writableBranch("commit");
    const session = this.#session;
    const id = await call({ operation: "commit", branch }, () => session.commit(message));
    this.#session = await openSession(this.#repo, { branch }, false);
    return id;
  }

  /**
   * Replays the session's uncommitted changes on the branch's current tip, after a `commit`
   * failed with `Conflict`. Changes that touch the same chunks or metadata as the other writer's
   * fail with `Conflict` (Icechunk's default solver); then `discard()` and redo the work.
   */
  async rebase(): Promise<void> {
    const branch = this.#writableBranch("rebase");
    const session = this.#session;
    await call({ operation: "rebase", branch }, () => session.rebase());
  }

  /** Drops the uncommitted changes and starts again from the branch's tip. */
  async discard(): Promise<void> {
    this.#session = await openSession(this.#repo, this.#version, this.#readOnly);
  }

  /**
   * Switches to another version: a branch (writable unless the store was opened read-only), a
   * tag or a snapshot (read-only). Refuses with `Conflict` while changes are uncommitted.
   */
  async checkout(version: IcechunkVersion): Promise<void> {
    if (this.#session.hasUncommittedChanges) {
      throw new StoreError({
        code: "Conflict",
        message: `uncommitted changes on ${describeVersion(this.#version)}: commit() or discard() them before checking out ${describeVersion(version)}`,
        operation: "checkout",
        backend: BACKEND,
      });
    }
    this.#session = await openSession(this.#repo, version, this.#readOnly);
    this.#version = version;
  }

  /** The branches, sorted. */
  async branches(): Promise<string[]> {
    const names = await call({ operation: "branches" }, () => this.#repo.listBranches());
    return names.sort(compareKeys);
  }

  /** The tags, sorted. */
  async tags(): Promise<string[]> {
    const names = await call({ operation: "tags" }, () => this.#repo.listTags());
    return names.sort(compareKeys);
  }

  /** The snapshot id a version points at. */
  async resolve(version: IcechunkVersion): Promise<string> {
    return call({ operation: "resolve" }, () => snapshotOf(this.#repo, version));
  }

  /** Creates a branch at a version (default: this store's snapshot). `Conflict` if it exists. */
  async createBranch(name: string, from?: IcechunkVersion): Promise<string> {
    checkRefName(name, "branch");
    const id = from ? await this.resolve(from) : this.#session.snapshotId;
    await call({ operation: "createBranch", branch: name }, () =>
      this.#repo.createBranch(name, id),
    );
    return id;
  }

  /** Deletes a branch (never `main`). */
  async deleteBranch(name: string): Promise<void> {
    await call({ operation: "deleteBranch", branch: name }, () => this.#repo.deleteBranch(name));
  }

  /** Tags a version (default: this store's snapshot). Tags never move: `Conflict` if it exists. */
  async createTag(name: string, from?: IcechunkVersion): Promise<string> {
    checkRefName(name, "tag");
    const id = from ? await this.resolve(from) : this.#session.snapshotId;
    await call({ operation: "createTag" }, () => this.#repo.createTag(name, id));
    return id;
  }

  /** Deletes a tag. */
  async deleteTag(name: string): Promise<void> {
    await call({ operation: "deleteTag" }, () => this.#repo.deleteTag(name));
  }

  /** The history of a version (default: this store's), newest first, back to the first snapshot. */
  async log(version: IcechunkVersion = this.#version): Promise<IcechunkSnapshot[]> {
    const infos = await call({ operation: "log" }, () =>
      this.#repo.ancestry(versionOptions(version)),
    );
    return infos.map(toSnapshot);
  }

  /**
   * What changed from one version to another (nodes added, changed, deleted; chunks written).
   * `from` must be an ancestor of `to` (else `Config`).
   */
  async diff(from: IcechunkVersion, to: IcechunkVersion = this.#version): Promise<IcechunkDiff> {
    // Icechunk diffs from an ancestor only, and a snapshot is not its own ancestor.
    if ((await this.resolve(from)) === (await this.resolve(to))) return emptyDiff();
    return call({ operation: "diff" }, () =>
      this.#repo.diff({ ...diffSide("from", from), ...diffSide("to", to) }),
    );
  }

  /** The session's uncommitted changes. */
  async status(): Promise<IcechunkDiff> {
    return call({ operation: "status" }, () => this.#session.status());
  }

  toString(): string {
    return `${BACKEND}(${describeVersion(this.#version)})`;
  }

  async #read<T>(
    operation: "get" | "getRange",
    path: AbsolutePath,
    work: (store: Session["store"]) => Promise<T | undefined>,
  ): Promise<T | undefined> {
    try {
      return await work(this.#session.store);
    } catch (error) {
      return absentOrThrow(error, operation, path);
    }
  }

  async #size(path: AbsolutePath): Promise<number | undefined> {
    try {
      const size = await this.#session.store.getsize(path.slice(1));
      // Icechunk reports 0 for a missing key; it holds no empty values (chunks never are).
      return size === 0 ? undefined : size;
    } catch (error) {
      return absentOrThrow(error, "stat", path);
    }
  }

  async #keysUnder(folder: Prefix): Promise<AbsolutePath[]> {
    const store = this.#session.store;
    const keys = await call({ operation: "list", key: folder }, async () => {
      if (folder === "/") return store.list();
      try {
        return await store.listPrefix(folder.slice(1, -1));
      } catch (error) {
        // Icechunk lists only folders that are nodes (a group or an array); for any other
        // folder (`/a/c/`, or a path above the first group) filter the whole listing.
        if (!/bad key prefix/.test(String((error as Error)?.message))) throw error;
        return store.list();
      }
    });
    return keys
      .map((key) => `/${key}` as AbsolutePath)
      .filter((key) => key.startsWith(folder))
      .sort(compareKeys);
  }

  #writableBranch(operation: string): string {
    const branch = this.branch;
    if (branch === undefined || this.#session.readOnly) {
      throw new StoreError({
        code: "ReadOnly",
        message: `cannot ${operation}: ${describeVersion(this.#version)} is read-only (check out a branch to write)`,
        operation,
        backend: BACKEND,
      });
    }
    return branch;
  }

  #assertWritable(operation: string, key: string): void {
    if (this.#session.readOnly) {
      throw new StoreError({
        code: "ReadOnly",
        message: `${BACKEND} on ${describeVersion(this.#version)} is read-only: cannot ${operation} ${key}`,
        operation,
        key,
        backend: BACKEND,
      });
    }
  }
}

/** Opens an Icechunk repository from a URL: `icechunk+<any openStore URL>`. */
export async function openIcechunkStore(
  url: string,
  options: OpenOptions,
  open: (url: string, options?: OpenOptions) => Promise<Store>,
): Promise<IcechunkStore> {
  const inner = parseIcechunkUrl(url);
  const { readOnly, mode, ...rest } = options;
  const storage = await open(inner.url, { ...rest, ...(readOnly ? { readOnly } : {}) });
  const create = options.create === true || mode === "w";
  return IcechunkStore.open(storage, {
    create,
    readOnly: readOnly === true,
    version: inner.version,
  });
}

/**
 * Splits `icechunk+<url>[#branch=dev|#tag=v1|#snapshot=ID]` into the storage URL and the
 * version (default the `main` branch).
 */
export function parseIcechunkUrl(url: string): { url: string; version: IcechunkVersion } {
  const match = /^icechunk\+(.+)$/i.exec(url);
  if (!match) {
    throw new StoreError({
      code: "Config",
      message: `an Icechunk URL is icechunk+<storage URL> (e.g. icechunk+file:///data/repo), got ${url}`,
      operation: "open",
    });
  }
  const [inner = "", fragment] = (match[1] as string).split("#", 2);
  return { url: inner, version: fragment ? parseVersion(fragment) : { branch: MAIN } };
}

/** Parses `branch=dev`, `tag=v1` or `snapshot=ID` (also `dev` alone for a branch). */
export function parseVersion(text: string): IcechunkVersion {
  const [kind, value] = text.includes("=") ? text.split("=", 2) : ["branch", text];
  if (value) {
    if (kind === "branch") return { branch: value };
    if (kind === "tag") return { tag: value };
    if (kind === "snapshot") return { snapshot: value };
  }
  throw new StoreError({
    code: "Config",
    message: `a version is branch=<name>, tag=<name> or snapshot=<id>, got '${text}'`,
    operation: "open",
  });
}

async function openSession(
  repo: Repository,
  version: IcechunkVersion,
  readOnly: boolean,
): Promise<Session> {
  const branch = "branch" in version ? version.branch : undefined;
  return call({ operation: "open", branch }, () =>
    branch !== undefined && !readOnly
      ? repo.writableSession(branch)
      : repo.readonlySession(versionOptions(version)),
  );
}

async function snapshotOf(repo: Repository, version: IcechunkVersion): Promise<string> {
  if ("branch" in version) return repo.lookupBranch(version.branch);
  if ("tag" in version) return repo.lookupTag(version.tag);
  return (await repo.lookupSnapshot(version.snapshot)).id;
}

function versionOptions(version: IcechunkVersion): {
  branch?: string;
  tag?: string;
  snapshotId?: string;
} {
  if ("branch" in version) return { branch: version.branch };
  if ("tag" in version) return { tag: version.tag };
  return { snapshotId: version.snapshot };
}

function diffSide(side: "from" | "to", version: IcechunkVersion): Record<string, string> {
  if ("branch" in version) return { [`${side}Branch`]: version.branch };
  if ("tag" in version) return { [`${side}Tag`]: version.tag };
  return { [`${side}SnapshotId`]: version.snapshot };
}

function toSnapshot(info: SnapshotInfo): IcechunkSnapshot {
  return {
    id: info.id,
    parentId: info.parentId,
    message: info.message,
    writtenAt: new Date(info.writtenAt),
    metadata: (info.metadata ?? {}) as Record<string, unknown>,
  };
}

function emptyDiff(): IcechunkDiff {
  return {
    newGroups: [],
    newArrays: [],
    deletedGroups: [],
    deletedArrays: [],
    updatedGroups: [],
    updatedArrays: [],
    updatedChunks: {},
    movedNodes: [],
  };
}

function describeVersion(version: IcechunkVersion): string {
  if ("branch" in version) return `branch '${version.branch}'`;
  if ("tag" in version) return `tag '${version.tag}'`;
  return `snapshot ${version.snapshot}`;
}

// Ref names become object names in the repository; keep them to printable, slash-free text.
function checkRefName(name: string, kind: string): void {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the rule is exactly about control characters
  if (typeof name !== "string" || name === "" || /[/\\\u0000-\u001f\u007f]/.test(name)) {
    throw new StoreError({
      code: "Config",
      message: `invalid ${kind} name ${JSON.stringify(name)}: use printable text without '/' or '\\'`,
      operation: `create${kind === "tag" ? "Tag" : "Branch"}`,
      backend: BACKEND,
    });
  }
}

/**
 * The bindings return Buffers over memory Icechunk may reuse; callers such as zarrita decode and
 * edit chunks in place, so each read gets bytes of its own (a plain Uint8Array, not a Buffer).
 */
function ownCopy(bytes: Uint8Array | null): Uint8Array | undefined {
  return bytes === null ? undefined : Uint8Array.prototype.slice.call(bytes);
}

function absentOrThrow(error: unknown, operation: string, path: AbsolutePath): undefined {
  const mapped = mapIcechunkError(error, { operation, key: path });
  // A key Icechunk cannot hold, or a chunk of an array that is not there, is simply missing.
  if (mapped.code === "InvalidKey" || mapped.code === "NotFound") return undefined;
  throw mapped;
}
