/**
 * The copy engine: copies the keys of one store into another with bounded concurrency, in an
 * order that never shows a reader a half-copied array as complete, verifying, resuming, split
 * into partitions for many machines, with progress and a summary. Runtime-neutral.
 *
 * Order. Chunks first, then metadata from the deepest folder up to the root, and inside one
 * folder `.zattrs` before `.zarray`/`.zgroup`, then `zarr.json`, then `.zmetadata`. A reader
 * finds an array only once its metadata is there, and by then every chunk is; the root's
 * metadata (and its consolidated metadata) is the very last write. When any chunk failed, no
 * metadata is written at all (the summary says `metadata: "withheld"`).
 *
 * Memory. Values are copied whole: the store contract has no streaming yet, so large values
 * are not streamed and the bound is about `concurrency × largest value`, twice that while a
 * value is compared with the destination (resume, verification by reading back). Key names are
 * listed ahead of the copy (names only, for the progress total; `deleteExtra` also keeps the
 * set of source names).
 *
 * Partitions. `partition: {index, count}` copies the chunks whose key hashes to `index`
 * (`partitionOf`), so `count` jobs (a Kubernetes indexed Job, GNU parallel) copy one dataset
 * together without talking to each other. Metadata belongs to partition 0, which writes it
 * after its own chunks: run partition 0 after the others have finished (`parallel … ::: 1 2 3`
 * then `--partition 0/4`). When all must run at once, give every partition `metadata: "skip"`
 * and finish with one `metadata: "only"` run; `zarrstore consolidate` then refreshes
 * consolidated metadata if the copy needs it.
 *
 * Retries belong here, around the whole transfer of a key (read, write, verify): a value that
 * fails verification must be sent again, which a per-request retry adapter cannot do. Only
 * retryable errors (`retryable: true`: 503, resets, timeouts, rate limits) and verification
 * mismatches are retried, with exponential backoff that honours `Retry-After`. Errors no
 * retry can cure (`Unauthenticated`, `PermissionDenied`, `ReadOnly`, `Unsupported`, `Config`)
 * stop the whole copy at once instead of failing every key the same way.
 */
import { whenAborted } from "../abort.js";
import { abortError, isStoreError, StoreError, type StoreErrorCode } from "../errors.js";
import { type AbsolutePath, isUnder, type Prefix, toPrefix } from "../keys.js";
import { compareKeys } from "../listing.js";
import type { Store } from "../store.js";
import { readConsolidated } from "./hierarchy.js";
import { type ArrayNode, chunkGridShape, chunkKey, isMetadataKey } from "./metadata.js";
import { type CopyProgress, ProgressTracker } from "./progress.js";

export type { CopyPhase, CopyProgress } from "./progress.js";

/** Which part of a deterministic split a run copies: keys whose hash mod `count` is `index`. */
export interface CopyPartition {
  index: number;
  count: number;
}

/** Options for `copyStore`. */
export interface CopyOptions {
  /** Copy only keys under this folder (`/a/` and `a` mean the same). Keys keep their names. */
  prefix?: string | undefined;
  /** Keys in flight at once (default 16). */
  concurrency?: number | undefined;
  /** Copy only keys for which this returns true. Keys it rejects are never deleted either. */
  filter?: ((key: AbsolutePath) => boolean) | undefined;
  /**
   * Check every value written: `true` or `"checksum"` compares the destination's etag with the
   * MD5 of the value where the destination reports MD5 etags (Swift, S3 single-part) and reads
   * the value back otherwise; `"read"` always reads it back and compares the bytes.
   */
  verify?: boolean | "checksum" | "read" | undefined;
  /**
   * Skip keys already at the destination and identical: same size, and the same MD5 where both
   * sides report MD5 etags, otherwise the same bytes (read and compared; nothing is re-sent).
   */
  resume?: boolean | undefined;
  /** Copy only one share of the keys; see `partitionOf`. Metadata belongs to partition 0. */
  partition?: CopyPartition | undefined;
  /**
   * What to do with metadata keys: write them `last` (the default), `skip` them, or copy
   * `only` them. With a partition other than 0 the default is `skip`.
   */
  metadata?: "last" | "skip" | "only" | undefined;
  /** After a complete copy, delete destination keys the source does not have (sync --delete). */
  deleteExtra?: boolean | undefined;
  /** Attempts after the first for one key (default 4). */
  retries?: number | undefined;
  /** Backoff before the first retry, doubling each time up to 5 s (default 200 ms). */
  retryDelayMs?: number | undefined;
  signal?: AbortSignal | undefined;
  /** Progress reports, at most every `progressIntervalMs` (default 250 ms) and at each phase. */
  onProgress?: ((progress: CopyProgress) => void) | undefined;
  progressIntervalMs?: number | undefined;
}

/** A key that could not be copied, and why. */
export interface FailedKey {
  key: string;
  code: StoreErrorCode;
  message: string;
}

/** What a copy did. */
export interface CopySummary {
  /** Everything selected was copied (or found identical) and the metadata written. */
  ok: boolean;
  /** Keys this run selected (after prefix, filter, partition and metadata choice). */
  keysTotal: number;
  copied: number;
  /** Keys found identical at the destination and not sent again. */
  skipped: number;
  /**
   * Keys listed at the source that were gone when read (deleted meanwhile; for a source listed
   * from its consolidated metadata, also chunks never written, which readers fill).
   */
  vanished: number;
  /** Destination keys deleted because the source lacks them (`deleteExtra`). */
  deleted: number;
  /** Values checked after writing (`verify`). */
  verified: number;
  /** Retries spent, across all keys. */
  retries: number;
  bytesCopied: number;
  bytesSkipped: number;
  /** The first 1,000 failed keys; `failedCount` has them all. */
  failed: FailedKey[];
  failedCount: number;
  /** `withheld` when keys failed or the run stopped early: a reader never sees a partial array as complete. */
  metadata: "written" | "skipped" | "withheld";
  /** The run was stopped by its signal. */
  aborted: boolean;
  /** The error that stopped the run early (authentication, permissions, listing). */
  error?: FailedKey | undefined;
  elapsedMs: number;
  /** How to finish the work when `ok` is false. */
  resumeHint?: string | undefined;
}

// 16: Swift's proxy saturates two cores at about this depth, and S3/HTTP stores reach their
// floor there too (notes/performance-anchors.md measures every peer at 16 in flight).
const DEFAULT_CONCURRENCY = 16;
const DEFAULT_RETRIES = 4;
const DEFAULT_RETRY_DELAY_MS = 200;
const MAX_RETRY_DELAY_MS = 5000;
const MAX_FAILED_LISTED = 1000;

/** Errors no retry can cure and that every other key would meet too: they stop the copy. */
const FATAL_CODES: ReadonlySet<StoreErrorCode> = new Set([
  "Unauthenticated",
  "PermissionDenied",
  "ReadOnly",
  "Unsupported",
  "Config",
]);

/**
 * Copies the keys of `src` into `dst` under the same names.
 *
 * A source that cannot list (plain HTTP) is enumerated from its consolidated metadata.
 *
 * It rejects (with a `StoreError`) only before any work: bad options, a source that can
 * neither list nor show consolidated metadata, a destination that is read-only or refuses a
 * probe write. Once copying has begun it
 * resolves with a `CopySummary`, also when keys failed, the signal fired, or credentials
 * were refused midway (`summary.error`).
 *
 * @example
 * const summary = await copyStore(src, dst, { concurrency: 16, verify: true, resume: true });
 * if (!summary.ok) console.error(summary.failed, summary.resumeHint);
 */
export async function copyStore(
  src: Store,
  dst: Store,
  options: CopyOptions = {},
): Promise<CopySummary> {
  const plan = resolveOptions(options);
  const listing = src.capabilities.list
    ? (signal: AbortSignal) => src.list(plan.prefix, { signal })
    : await consolidatedListing(src, plan.prefix, plan.signal);
  await checkWritable(dst, { signal: plan.signal });
  return new CopyRun(src, dst, plan, listing).run();
}

/** Lists the keys of the source for one pass (called again when a failed listing restarts). */
type Listing = (signal: AbortSignal) => AsyncIterable<AbsolutePath>;

/**
 * The keys of a source that cannot list (plain HTTP), derived from its consolidated metadata:
 * every metadata document it records, and every chunk key of every array's grid. Chunks never
 * written (fill value) are then missing at the source and counted as `vanished`. Consolidated
 * metadata is looked for at the prefix, then at the root (keys outside the prefix are left out).
 */
async function consolidatedListing(
  src: Store,
  prefix: Prefix,
  signal: AbortSignal | undefined,
): Promise<Listing> {
  const consolidated =
    (await readConsolidated(src, prefix, { signal })) ??
    (prefix === "/" ? undefined : await readConsolidated(src, "/", { signal }));
  if (consolidated === undefined) {
    throw new StoreError({
      code: "Unsupported",
      message:
        `the source cannot list its keys and has no consolidated metadata at ${prefix} to derive ` +
        "them from (.zmetadata, or consolidated_metadata in zarr.json): consolidate it where it " +
        "is written (zarrstore consolidate), or copy from a store that can list",
      operation: "list",
      key: prefix,
    });
  }
  const arrays = consolidated.nodes.filter((node): node is ArrayNode => node.kind === "array");
  return async function* () {
    for (const key of consolidated.keys) if (isUnder(key, prefix)) yield key;
    for (const array of arrays) {
      for (const key of chunkKeysOf(array)) if (isUnder(key, prefix)) yield key;
    }
  };
}

/** Every chunk key of an array's grid, in C order (one key for a 0-d array). */
export function* chunkKeysOf(
  array: Pick<ArrayNode, "prefix" | "shape" | "chunks" | "chunkKeyEncoding">,
): Generator<AbsolutePath> {
  const grid = chunkGridShape(array);
  if (grid.some((n) => n === 0)) return;
  const coords = grid.map(() => 0);
  for (;;) {
    yield chunkKey(array, coords);
    let axis = coords.length - 1;
    while (axis >= 0 && (coords[axis] as number) + 1 === grid[axis]) coords[axis--] = 0;
    if (axis < 0) return;
    coords[axis] = (coords[axis] as number) + 1;
  }
}

/** Options for `checkWritable`. */
export interface CheckWritableOptions {
  signal?: AbortSignal | undefined;
  /** How messages name the store (default "the destination"). */
  what?: string | undefined;
}

const PROBE_VALUE = new TextEncoder().encode("zarrstore write probe\n");
const PROBE_RETRIES = 3;

/**
 * Fails early, with a reason a user can act on, when `store` cannot be written: it must
 * declare `write`, and a tiny probe key must be writable and deletable (or, for stores
 * without delete, a `stat` must pass, which still catches refused credentials).
 */
export async function checkWritable(
  store: Store,
  options: CheckWritableOptions = {},
): Promise<void> {
  const what = options.what ?? "the destination";
  if (!store.capabilities.write) {
    throw new StoreError({
      code: "ReadOnly",
      message: `${what} is read-only (its store cannot write): nothing was changed`,
      operation: "set",
    });
  }
  const key = `/.zarrstore-probe-${randomHex()}` as AbsolutePath;
  const signal = options.signal;
  const probe = async () => {
    if (store.capabilities.delete) {
      const condition = store.capabilities.conditionalWrite ? { ifNoneMatch: "*" as const } : {};
      await store.put(key, PROBE_VALUE, { signal, ...condition });
      await store.delete(key, { signal });
    } else {
      await store.stat(key, { signal });
    }
  };
  for (let tries = 0; ; tries++) {
    try {
      return await probe();
    } catch (error) {
      // A 503 or a reset says nothing about permissions: try again before giving up.
      if (isStoreError(error) && error.retryable && tries < PROBE_RETRIES && !signal?.aborted) {
        await sleep(Math.max(DEFAULT_RETRY_DELAY_MS * 2 ** tries, error.retryAfterMs ?? 0), signal);
        continue;
      }
      const cause = asStoreError(error, key, "set");
      throw new StoreError({
        code: cause.code,
        message: `cannot write to ${what}: ${cause.message}${probeHint(cause.code)}; nothing was changed`,
        operation: cause.operation,
        backend: cause.backend,
        status: cause.status,
        cause: error,
      });
    }
  }
}

function probeHint(code: StoreErrorCode): string {
  if (code === "Unauthenticated") return " (check the credentials: they were refused)";
  if (code === "PermissionDenied") return " (the credentials may read here but not write)";
  if (code === "ReadOnly") return " (it was opened read-only)";
  return "";
}

/**
 * The partition a key belongs to: FNV-1a (32-bit) of its UTF-8 bytes modulo `count`. The same
 * on every machine and in every runtime, so `--partition i/n` jobs split a dataset exactly.
 */
export function partitionOf(key: string, count: number): number {
  let hash = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(key)) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % count;
}

/**
 * The place of each metadata file (`METADATA_NAMES` of ./metadata.ts) in the write order inside
 * one folder: attributes before the node's document, `.zmetadata` after everything.
 */
const METADATA_RANK: Readonly<Record<string, number>> = {
  ".zattrs": 0,
  ".zarray": 1,
  ".zgroup": 1,
  "zarr.json": 2,
  ".zmetadata": 3,
};

function metadataRank(key: string): number | undefined {
  return METADATA_RANK[key.slice(key.lastIndexOf("/") + 1)];
}

function depthOf(key: string): number {
  let depth = 0;
  for (let i = 0; i < key.length; i++) if (key.charCodeAt(i) === 47) depth++;
  return depth;
}

/**
 * Metadata keys in waves for writing: deepest folder first, and by rank inside a folder depth
 * (attributes before array/group documents before `.zmetadata`). Waves run one after another;
 * the keys of one wave run in parallel.
 */
export function metadataWriteWaves(keys: Iterable<string>): AbsolutePath[][] {
  return waves(keys, (a, b) => depthOf(b) - depthOf(a) || rankOf(a) - rankOf(b));
}

/** Metadata keys in waves for deleting: the root first, the reverse of the write order. */
export function metadataDeleteWaves(keys: Iterable<string>): AbsolutePath[][] {
  return waves(keys, (a, b) => depthOf(a) - depthOf(b) || rankOf(b) - rankOf(a));
}

function rankOf(key: string): number {
  return metadataRank(key) ?? 0;
}

function waves(keys: Iterable<string>, order: (a: string, b: string) => number): AbsolutePath[][] {
  const sorted = [...keys].sort((a, b) => order(a, b) || compareKeys(a, b));
  const out: AbsolutePath[][] = [];
  let previous: string | undefined;
  for (const key of sorted) {
    if (previous === undefined || order(previous, key) !== 0) out.push([]);
    (out[out.length - 1] as AbsolutePath[]).push(key as AbsolutePath);
    previous = key;
  }
  return out;
}

/** Options for `deleteTree`. */
export interface DeleteTreeOptions {
  signal?: AbortSignal | undefined;
  /** Metadata deletes in flight at once (default 16). */
  concurrency?: number | undefined;
}

/** What `deleteTree` removed. */
export interface DeleteTreeResult {
  /** Keys that were under the folder. */
  deleted: number;
  /** Of those, metadata keys (removed first). */
  metadata: number;
}

/**
 * Deletes every key under a folder, Zarr-aware: metadata first, from the root down (so no
 * reader finds an array whose chunks are going), then the rest with one `deletePrefix`
 * (which object stores serve with bulk deletes).
 *
 * @example
 * await deleteTree(store, "/old.zarr/");
 */
export async function deleteTree(
  store: Store,
  prefix: string = "/",
  options: DeleteTreeOptions = {},
): Promise<DeleteTreeResult> {
  const folder = toPrefix(prefix);
  const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
  checkInteger("concurrency", concurrency, 1, 4096);
  if (!store.capabilities.delete || !store.capabilities.list) {
    throw new StoreError({
      code: store.capabilities.write ? "Unsupported" : "ReadOnly",
      message: "this store cannot list and delete keys, so it cannot remove a folder",
      operation: "deletePrefix",
      key: folder,
    });
  }
  const signal = options.signal;
  const metadata: AbsolutePath[] = [];
  let deleted = 0;
  for await (const key of store.list(folder, { signal })) {
    deleted += 1;
    if (isMetadataKey(key)) metadata.push(key);
  }
  for (const wave of metadataDeleteWaves(metadata)) {
    const queue = KeyQueue.of(wave);
    const lane = async () => {
      for (let key = await queue.next(); key !== undefined; key = await queue.next()) {
        await store.delete(key, { signal });
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, wave.length) }, lane));
  }
  await store.deletePrefix(folder, { signal });
  return { deleted, metadata: metadata.length };
}

interface Plan {
  prefix: Prefix;
  concurrency: number;
  filter: ((key: AbsolutePath) => boolean) | undefined;
  verify: "none" | "checksum" | "read";
  resume: boolean;
  partition: CopyPartition | undefined;
  metadata: "last" | "skip" | "only";
  deleteExtra: boolean;
  retries: number;
  retryDelayMs: number;
  signal: AbortSignal | undefined;
  onProgress: ((progress: CopyProgress) => void) | undefined;
  progressIntervalMs: number | undefined;
}

function resolveOptions(options: CopyOptions): Plan {
  const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
  checkInteger("concurrency", concurrency, 1, 4096);
  const retries = options.retries ?? DEFAULT_RETRIES;
  checkInteger("retries", retries, 0, 100);
  const retryDelayMs = options.retryDelayMs ?? DEFAULT_RETRY_DELAY_MS;
  checkInteger("retryDelayMs", retryDelayMs, 0, 60_000);
  const partition = options.partition;
  if (partition !== undefined) {
    checkInteger("partition.count", partition.count, 1, 1_000_000);
    checkInteger("partition.index", partition.index, 0, partition.count - 1);
  }
  const verify = options.verify;
  if (verify !== undefined && ![true, false, "checksum", "read"].includes(verify)) {
    throw configError(`verify must be true, false, "checksum" or "read", not ${String(verify)}`);
  }
  const metadata = options.metadata ?? (partition && partition.index > 0 ? "skip" : "last");
  if (!["last", "skip", "only"].includes(metadata)) {
    throw configError(`metadata must be "last", "skip" or "only", not ${String(metadata)}`);
  }
  const deleteExtra = options.deleteExtra ?? false;
  if (deleteExtra && (partition !== undefined || metadata !== "last")) {
    throw configError("deleteExtra needs a whole copy: no partition, and metadata: 'last'");
  }
  return {
    prefix: toPrefix(options.prefix),
    concurrency,
    filter: options.filter,
    verify:
      verify === true ? "checksum" : verify === false || verify === undefined ? "none" : verify,
    resume: options.resume ?? false,
    partition,
    metadata,
    deleteExtra,
    retries,
    retryDelayMs,
    signal: options.signal,
    onProgress: options.onProgress,
    progressIntervalMs: options.progressIntervalMs,
  };
}

function checkInteger(name: string, value: number, min: number, max: number): void {
  if (!Number.isSafeInteger(value) || value < min || value > max) {
    throw configError(`${name} must be a whole number from ${min} to ${max}, not ${value}`);
  }
}

function configError(message: string): StoreError {
  return new StoreError({ code: "Config", message, operation: "copy" });
}

type Outcome =
  | { kind: "copied"; bytes: number; verified: boolean }
  | { kind: "skipped"; bytes: number }
  | { kind: "vanished" };

/** One run of `copyStore`: its queue, counters and stop switch. */
class CopyRun {
  readonly #src: Store;
  readonly #dst: Store;
  readonly #plan: Plan;
  readonly #progress: ProgressTracker;
  readonly #stop = new AbortController();
  readonly #metadataKeys: AbsolutePath[] = [];
  readonly #sourceKeys: Set<string> | undefined;
  readonly #failed: FailedKey[] = [];
  #failedCount = 0;
  #fatal: FailedKey | undefined;
  #selected = 0;
  #copied = 0;
  #skipped = 0;
  #vanished = 0;
  #deleted = 0;
  #verified = 0;
  #retries = 0;
  #bytesCopied = 0;
  #bytesSkipped = 0;
  /** Whether the destination's etags are MD5 of the value: unknown until a write shows it. */
  #md5Etags: boolean | undefined;

  readonly #listing: Listing;

  constructor(src: Store, dst: Store, plan: Plan, listing: Listing) {
    this.#listing = listing;
    this.#src = src;
    this.#dst = dst;
    this.#plan = plan;
    this.#sourceKeys = plan.deleteExtra ? new Set() : undefined;
    this.#progress = new ProgressTracker({
      onProgress: plan.onProgress,
      intervalMs: plan.progressIntervalMs,
    });
  }

  get #signal(): AbortSignal {
    return this.#stop.signal;
  }

  async run(): Promise<CopySummary> {
    const user = this.#plan.signal;
    const onAbort = () => this.#stop.abort(user?.reason);
    if (user?.aborted) onAbort();
    user?.addEventListener("abort", onAbort, { once: true });
    try {
      this.#progress.phase("copying");
      const queue = new KeyQueue();
      const copy = (key: AbsolutePath) => this.#handle(key);
      await Promise.all([this.#list(queue), this.#drain(queue, copy)]);
      const metadata = await this.#writeMetadata();
      if (this.#plan.deleteExtra && this.#complete()) await this.#deleteExtra();
      this.#progress.phase("done");
      return this.#summary(metadata);
    } finally {
      user?.removeEventListener("abort", onAbort);
    }
  }

  /**
   * Lists the source into the queue (data keys) and the metadata list, then ends the queue.
   * A listing that fails with a retryable error restarts and skips the keys it already gave,
   * as long as it has come in code-point order (S3, Swift and memory list sorted); an unsorted
   * listing cannot be resumed that way, and its failure stops the copy.
   */
  async #list(queue: KeyQueue): Promise<void> {
    let last: string | undefined;
    let ascending = true;
    try {
      for (let failures = 0; ; failures++) {
        try {
          for await (const key of this.#listing(this.#signal)) {
            if (this.#signal.aborted) return;
            if (last !== undefined && compareKeys(key, last) <= 0) {
              if (failures > 0 && ascending) continue; // given before the restart
              ascending = false;
            }
            last = key;
            this.#select(key, queue);
          }
          this.#progress.total(this.#selected);
          return;
        } catch (error) {
          if (this.#signal.aborted) return;
          const cause = asStoreError(error, this.#plan.prefix, "list");
          if (!cause.retryable || !ascending || failures >= this.#plan.retries) throw cause;
          this.#retries += 1;
          await sleep(this.#backoff(failures, cause), this.#signal);
        }
      }
    } catch (error) {
      if (!this.#signal.aborted) this.#halt(asStoreError(error, this.#plan.prefix, "list"));
    } finally {
      queue.close();
    }
  }

  /** Queues a listed key when this run copies it (prefix, filter, partition, metadata choice). */
  #select(key: AbsolutePath, queue: KeyQueue): void {
    const { filter, partition, metadata } = this.#plan;
    if (filter !== undefined && !filter(key)) return;
    this.#sourceKeys?.add(key);
    if (isMetadataKey(key)) {
      if (metadata === "skip" || (partition !== undefined && partition.index !== 0)) return;
      this.#metadataKeys.push(key);
    } else {
      if (metadata === "only") return;
      if (partition !== undefined && partitionOf(key, partition.count) !== partition.index) return;
      queue.push(key);
    }
    this.#selected += 1;
  }

  /** Runs `work` over the queue's keys with `concurrency` workers until it ends or the run stops. */
  async #drain(queue: KeyQueue, work: (key: AbsolutePath) => Promise<void>): Promise<void> {
    const worker = async () => {
      for (let key = await queue.next(); key !== undefined; key = await queue.next()) {
        if (this.#signal.aborted) return;
        await work(key);
      }
    };
    await Promise.all(Array.from({ length: this.#plan.concurrency }, worker));
  }

  async #writeMetadata(): Promise<CopySummary["metadata"]> {
    if (this.#plan.metadata === "skip" || (this.#plan.partition?.index ?? 0) !== 0) {
      return "skipped";
    }
    if (!this.#complete()) return "withheld";
    this.#progress.phase("metadata");
    for (const wave of metadataWriteWaves(this.#metadataKeys)) {
      await this.#drain(KeyQueue.of(wave), (key) => this.#handle(key));
      if (!this.#complete()) return "withheld";
    }
    return "written";
  }

  /** Deletes destination keys the source lacks: metadata first (root first), then the rest. */
  async #deleteExtra(): Promise<void> {
    this.#progress.phase("deleting");
    const keep = this.#sourceKeys as Set<string>;
    const extraMeta: AbsolutePath[] = [];
    const extraData: AbsolutePath[] = [];
    try {
      for await (const key of this.#dst.list(this.#plan.prefix, { signal: this.#signal })) {
        if (keep.has(key) || (this.#plan.filter !== undefined && !this.#plan.filter(key))) continue;
        (isMetadataKey(key) ? extraMeta : extraData).push(key);
      }
    } catch (error) {
      if (!this.#signal.aborted) this.#halt(asStoreError(error, this.#plan.prefix, "list"));
      return;
    }
    for (const wave of [...metadataDeleteWaves(extraMeta), extraData]) {
      await this.#drain(KeyQueue.of(wave), (key) => this.#deleteOne(key));
      if (!this.#complete()) return;
    }
  }

  async #deleteOne(key: AbsolutePath): Promise<void> {
    try {
      await this.#withRetries(() => this.#dst.delete(key, { signal: this.#signal }));
      this.#deleted += 1;
      this.#progress.deleted();
    } catch (error) {
      this.#onError(key, error, "delete");
    }
  }

  /** Copies one key with retries and records what happened. */
  async #handle(key: AbsolutePath): Promise<void> {
    try {
      const outcome = await this.#withRetries(() => this.#transfer(key));
      if (outcome.kind === "copied") {
        this.#copied += 1;
        this.#bytesCopied += outcome.bytes;
        if (outcome.verified) this.#verified += 1;
        this.#progress.copied(outcome.bytes);
      } else if (outcome.kind === "skipped") {
        this.#skipped += 1;
        this.#bytesSkipped += outcome.bytes;
        this.#progress.skipped(outcome.bytes);
      } else {
        this.#vanished += 1;
        this.#progress.skipped(0);
      }
    } catch (error) {
      this.#onError(key, error, "copy");
    }
  }

  #onError(key: AbsolutePath, error: unknown, operation: string): void {
    // A key cut short by the stop switch is not a failure: resume picks it up.
    if (this.#signal.aborted) return;
    const storeError = asStoreError(error, key, operation);
    this.#failedCount += 1;
    if (this.#failed.length < MAX_FAILED_LISTED) this.#failed.push(describe(storeError, key));
    this.#progress.failed();
    if (FATAL_CODES.has(storeError.code)) this.#halt(storeError, key);
  }

  /** Stops the run for an error every other key would meet too. */
  #halt(error: StoreError, key?: string): void {
    this.#fatal ??= describe(error, key ?? error.key ?? "");
    this.#stop.abort(error);
  }

  #complete(): boolean {
    return !this.#signal.aborted && this.#failedCount === 0;
  }

  async #withRetries<T>(attempt: () => Promise<T>): Promise<T> {
    for (let tries = 0; ; tries++) {
      try {
        return await attempt();
      } catch (error) {
        if (this.#signal.aborted || tries >= this.#plan.retries || !isRetryable(error)) throw error;
        this.#retries += 1;
        await sleep(this.#backoff(tries, error), this.#signal);
      }
    }
  }

  #backoff(tries: number, error: unknown): number {
    const exponential = Math.min(MAX_RETRY_DELAY_MS, this.#plan.retryDelayMs * 2 ** tries);
    // Full jitter halves the herd when many keys fail together (a 503 storm).
    const jittered = exponential * (0.5 + Math.random() / 2);
    const asked = isStoreError(error) ? (error.retryAfterMs ?? 0) : 0;
    return Math.max(jittered, Math.min(asked, 60_000));
  }

  /** Reads, writes and verifies one key (one attempt). */
  async #transfer(key: AbsolutePath): Promise<Outcome> {
    const signal = this.#signal;
    let value: Uint8Array | undefined;
    if (this.#plan.resume) {
      const same = await this.#compare(key);
      if (same.identical) return { kind: "skipped", bytes: same.size };
      value = same.source;
    }
    value ??= await this.#src.get(key, { signal });
    if (value === undefined) return { kind: "vanished" };
    const { etag } = await this.#dst.put(key, value, { signal });
    if (this.#plan.verify !== "none") await this.#verify(key, value, etag);
    return { kind: "copied", bytes: value.byteLength, verified: this.#plan.verify !== "none" };
  }

  /**
   * Tells whether the destination already holds the source's value: sizes first (two stats),
   * then MD5 etags where there are some, then the bytes. Returns the source value when it had
   * to read it, so it is not read twice.
   */
  async #compare(
    key: AbsolutePath,
  ): Promise<{ identical: true; size: number } | { identical: false; source?: Uint8Array }> {
    const signal = this.#signal;
    const [there, here] = await Promise.all([
      this.#dst.stat(key, { signal }),
      this.#src.stat(key, { signal }),
    ]);
    if (there === undefined || here === undefined || there.size !== here.size) {
      return { identical: false };
    }
    const size = here.size;
    const md5There = md5OfEtag(there.etag);
    const md5Here = md5OfEtag(here.etag);
    if (md5There !== undefined && md5Here !== undefined) {
      return md5There === md5Here ? { identical: true, size } : { identical: false };
    }
    if (md5Here !== undefined) {
      const value = await this.#dst.get(key, { signal });
      return value !== undefined && md5Hex(value) === md5Here
        ? { identical: true, size }
        : { identical: false };
    }
    const source = await this.#src.get(key, { signal });
    if (source === undefined) return { identical: false };
    if (md5There !== undefined) {
      return md5Hex(source) === md5There ? { identical: true, size } : { identical: false, source };
    }
    const value = await this.#dst.get(key, { signal });
    return value !== undefined && equalBytes(value, source)
      ? { identical: true, size }
      : { identical: false, source };
  }

  /** Checks a written value: by its MD5 etag where the destination has those, else by reading back. */
  async #verify(key: AbsolutePath, value: Uint8Array, etag: string | undefined): Promise<void> {
    const md5 = md5OfEtag(etag);
    if (this.#plan.verify === "checksum" && md5 !== undefined && this.#md5Etags !== false) {
      if (md5Hex(value) === md5) {
        this.#md5Etags = true;
        return;
      }
      if (this.#md5Etags === true)
        throw integrityError(key, `etag ${md5} is not the MD5 of the value sent`);
      // An etag that looks like MD5 but is not (yet) known to be one: read back to find out.
    }
    const back = await this.#dst.get(key, { signal: this.#signal });
    if (back === undefined) throw integrityError(key, "the value is missing when read back");
    if (!equalBytes(back, value))
      throw integrityError(key, "the value read back differs from the value sent");
    if (md5 !== undefined && this.#md5Etags === undefined) this.#md5Etags = false;
  }

  #summary(metadata: CopySummary["metadata"]): CopySummary {
    const aborted = this.#stop.signal.aborted && this.#fatal === undefined;
    const ok = !aborted && this.#fatal === undefined && this.#failedCount === 0;
    const summary: CopySummary = {
      ok: ok && metadata !== "withheld",
      keysTotal: this.#selected,
      copied: this.#copied,
      skipped: this.#skipped,
      vanished: this.#vanished,
      deleted: this.#deleted,
      verified: this.#verified,
      retries: this.#retries,
      bytesCopied: this.#bytesCopied,
      bytesSkipped: this.#bytesSkipped,
      failed: this.#failed,
      failedCount: this.#failedCount,
      metadata,
      aborted,
      error: this.#fatal,
      elapsedMs: this.#progress.snapshot().elapsedMs,
    };
    if (!summary.ok) {
      summary.resumeHint =
        "run the copy again with resume (CLI: --resume): keys already copied and identical are skipped";
    }
    return summary;
  }
}

/** A FIFO of keys that workers wait on until it is closed. */
class KeyQueue {
  #items: AbsolutePath[] = [];
  #head = 0;
  #closed = false;
  #waiting: (() => void)[] = [];

  static of(keys: AbsolutePath[]): KeyQueue {
    const queue = new KeyQueue();
    queue.#items = keys.slice();
    queue.#closed = true;
    return queue;
  }

  push(key: AbsolutePath): void {
    this.#items.push(key);
    this.#waiting.shift()?.();
  }

  close(): void {
    this.#closed = true;
    for (const wake of this.#waiting.splice(0)) wake();
  }

  async next(): Promise<AbsolutePath | undefined> {
    for (;;) {
      if (this.#head < this.#items.length) {
        const key = this.#items[this.#head++] as AbsolutePath;
        // Drop consumed names now and then so a long listing does not pin them all.
        if (this.#head >= 4096 && this.#head * 2 >= this.#items.length) {
          this.#items = this.#items.slice(this.#head);
          this.#head = 0;
        }
        return key;
      }
      if (this.#closed) return undefined;
      await new Promise<void>((wake) => this.#waiting.push(wake));
    }
  }
}

function isRetryable(error: unknown): boolean {
  return isStoreError(error) && (error.retryable || error.code === "Integrity");
}

function asStoreError(error: unknown, key: string, operation: string): StoreError {
  if (isStoreError(error)) return error;
  return new StoreError({
    code: "Unexpected",
    message: error instanceof Error ? error.message : String(error),
    operation,
    key,
    cause: error,
  });
}

function describe(error: StoreError, key: string): FailedKey {
  return { key, code: error.code, message: error.message };
}

function integrityError(key: string, why: string): StoreError {
  return new StoreError({
    code: "Integrity",
    message: `verification of ${key} failed: ${why}`,
    operation: "verify",
    key,
    retryable: true,
  });
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal === undefined) {
      setTimeout(resolve, ms);
      return;
    }
    if (signal.aborted) return reject(abortError(signal));
    const timer = setTimeout(() => {
      stopWaiting();
      resolve();
    }, ms);
    const stopWaiting = whenAborted(signal, () => {
      clearTimeout(timer);
      reject(abortError(signal));
    });
  });
}

function randomHex(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Tells whether two byte arrays hold the same bytes. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * The MD5 an etag carries, lower-case hex, or undefined when it is not one: Swift and S3
 * (single-part uploads) report the MD5 of the value as a 32-digit hex etag, quoted or not.
 * Multipart etags (`…-3`), weak etags and version counters are not MD5 and give undefined.
 */
export function md5OfEtag(etag: string | undefined): string | undefined {
  if (etag === undefined) return undefined;
  const match = /^"?([0-9a-fA-F]{32})"?$/.exec(etag);
  return match ? (match[1] as string).toLowerCase() : undefined;
}

type NodeCrypto = {
  createHash(name: string): { update(data: Uint8Array): { digest(encoding: "hex"): string } };
};

// Node's own MD5 is ~5× faster than the portable one below; loaded without an import so this
// module stays runtime-neutral (process.getBuiltinModule exists from Node 20.16).
const nodeCrypto = (
  globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }
).process?.getBuiltinModule?.("node:crypto") as NodeCrypto | undefined;

/** The MD5 of bytes as lower-case hex (Node's crypto where there is one, portable code elsewhere). */
export function md5Hex(bytes: Uint8Array): string {
  if (nodeCrypto !== undefined) return nodeCrypto.createHash("md5").update(bytes).digest("hex");
  return md5Portable(bytes);
}

// RFC 1321: per-round shift amounts and the sine table K[i] = floor(|sin(i + 1)| × 2^32).
const MD5_SHIFTS = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];
const MD5_K = Int32Array.from([
  0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
  0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
  0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
  0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
  0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
  0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
  0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
  0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
]);

/** MD5 in plain TypeScript, for runtimes without Node's crypto (WebCrypto has no MD5). */
export function md5Portable(bytes: Uint8Array): string {
  const state = Int32Array.of(0x67452301, 0xefcdab89 | 0, 0x98badcfe | 0, 0x10325476);
  const words = new Int32Array(16);
  const fullBlocks = Math.floor(bytes.byteLength / 64);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let block = 0; block < fullBlocks; block++) {
    for (let i = 0; i < 16; i++) words[i] = view.getInt32(block * 64 + i * 4, true);
    md5Block(state, words);
  }
  // The tail: the last partial block, 0x80, zeros, and the length in bits (little-endian).
  const rest = bytes.subarray(fullBlocks * 64);
  const tail = new Uint8Array(rest.byteLength < 56 ? 64 : 128);
  tail.set(rest);
  tail[rest.byteLength] = 0x80;
  const tailView = new DataView(tail.buffer);
  const bits = bytes.byteLength * 8;
  tailView.setUint32(tail.byteLength - 8, bits >>> 0, true);
  tailView.setUint32(tail.byteLength - 4, Math.floor(bits / 2 ** 32), true);
  for (let offset = 0; offset < tail.byteLength; offset += 64) {
    for (let i = 0; i < 16; i++) words[i] = tailView.getInt32(offset + i * 4, true);
    md5Block(state, words);
  }
  const out = new DataView(new ArrayBuffer(16));
  for (let i = 0; i < 4; i++) out.setInt32(i * 4, state[i] as number, true);
  return Array.from(new Uint8Array(out.buffer), (b) => b.toString(16).padStart(2, "0")).join("");
}

function md5Block(state: Int32Array, words: Int32Array): void {
  let a = state[0] as number;
  let b = state[1] as number;
  let c = state[2] as number;
  let d = state[3] as number;
  for (let i = 0; i < 64; i++) {
    let f: number;
    let g: number;
    if (i < 16) {
      f = (b & c) | (~b & d);
      g = i;
    } else if (i < 32) {
      f = (d & b) | (~d & c);
      g = (5 * i + 1) % 16;
    } else if (i < 48) {
      f = b ^ c ^ d;
      g = (3 * i + 5) % 16;
    } else {
      f = c ^ (b | ~d);
      g = (7 * i) % 16;
    }
    const shift = MD5_SHIFTS[(i >> 4) * 4 + (i % 4)] as number;
    const sum = (a + f + (MD5_K[i] as number) + (words[g] as number)) | 0;
    a = d;
    d = c;
    c = b;
    b = (b + ((sum << shift) | (sum >>> (32 - shift)))) | 0;
  }
  state[0] = ((state[0] as number) + a) | 0;
  state[1] = ((state[1] as number) + b) | 0;
  state[2] = ((state[2] as number) + c) | 0;
  state[3] = ((state[3] as number) + d) | 0;
}
