import { StoreError, throwIfAborted } from "../../errors.js";
import { type AbsolutePath, type Prefix, toKey, toPrefix } from "../../keys.js";
import { inParallel } from "../../lanes.js";
import { checkRange, rangeHeader, sliceRange } from "../../ranges.js";
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
import { type FetchLike, fetchTransport, type HttpResponse } from "../http-transport.js";
import { ObjectNames, rangeBySize, statFromHeaders, unquote } from "../object-store.js";
import { getenvAuth, SwiftAuthenticator, type SwiftStorageOptions } from "./auth.js";
import {
  errorFrom,
  readBody,
  type SwiftCall,
  SwiftClient,
  type SwiftTransport,
  swiftUrl,
} from "./client.js";
import { BACKEND, swiftError } from "./errors.js";
import { listContainer, type SwiftListEntry } from "./list.js";
import { putLargeObject, SWIFT_MAX_OBJECT_SIZE } from "./slo.js";

/** Options for `SwiftStore`. */
export interface SwiftStoreOptions {
  /** The container holding the store. Created on the first write when absent. */
  container: string;
  /** A folder inside the container: with `zarr-demo`, the key `/foo/.zgroup` is the object `zarr-demo/foo/.zgroup`. */
  prefix?: string | undefined;
  /** Credentials (v1, pre-authenticated or Keystone v3); by default read by `getenvAuth()`. */
  storageOptions?: SwiftStorageOptions | undefined;
  /** Reject writes; a missing container is then an error rather than an empty store. */
  readOnly?: boolean | undefined;
  /** Values larger than this are written as static large objects (default: Swift's 5 GiB limit). */
  largeObjectThreshold?: number | undefined;
  /** Segment size for large objects (default 1 GiB). */
  segmentSize?: number | undefined;
  /** Where segments go (default `<container>_segments`, as the `swift` CLI names it). */
  segmentContainer?: string | undefined;
  /** The environment `getenvAuth()` reads when `storageOptions` is absent. */
  env?: Record<string, string | undefined> | undefined;
  /** A `fetch` to send requests with (default: the global one). */
  fetch?: FetchLike | undefined;
  /**
   * The transport to send requests through; wins over `fetch`. The Node entry
   * (`zarrstore/swift` under the `node` condition) passes undici's, which costs about a third
   * of fetch's CPU per request. A transport passed here is the caller's to close.
   */
  transport?: SwiftTransport | undefined;
}

/** What the ACL and temp-URL helpers need from a store; not part of the public surface. */
export interface SwiftInternals {
  client: SwiftClient;
  container: string;
  objectPrefix: string;
  readOnly: boolean;
  objectName(key: AbsolutePath): string;
}

/** The symbol under which a SwiftStore hands its internals to the helpers of this folder. */
export const SWIFT_INTERNALS: unique symbol = Symbol("zarrstore.swift.internals");

// 1 GiB: five segments for a value at Swift's limit; few requests, and each fits in memory.
const DEFAULT_SEGMENT_SIZE = 1024 ** 3;
// 32: enough DELETEs in flight to keep a proxy busy when bulk delete is not available.
const DELETE_CONCURRENCY = 32;
// Swift's bulk middleware accepts up to 10,000 names per request; 1,000 keeps each reply quick.
const BULK_DELETE_BATCH = 1000;

/**
 * A Zarr store in an OpenStack Swift container, reproducing the Python `zarrswift` store and
 * going past it: listings page past 10,000 names, tokens renew themselves, large values become
 * static large objects, and every failure is a typed `StoreError`.
 *
 * @example
 * const store = new SwiftStore({
 *   container: "demo",
 *   prefix: "zarr-demo",
 *   storageOptions: { authurl: process.env.ST_AUTH, user: process.env.ST_USER, key: process.env.ST_KEY },
 * });
 * const group = await zarr.create(zarr.root(store));
 */
export class SwiftStore implements Store {
  readonly capabilities: Capabilities;
  /** The container name. */
  readonly container: string;
  /** The folder inside the container (`zarr-demo`), or `""` for the whole container. */
  readonly prefix: string;
  readonly #client: SwiftClient;
  readonly #ownsTransport: boolean;
  readonly #objectPrefix: string;
  readonly #names: ObjectNames;
  readonly #readOnly: boolean;
  readonly #threshold: number;
  readonly #segmentSize: number;
  readonly #segmentContainer: string;
  // Set once the container is known to exist, so a 404 means "no such key" without asking again.
  #containerSeen = false;
  #bulkDelete: boolean | undefined;

  /**
   * @param defaultTransport makes the transport when the options name neither `transport` nor
   * `fetch` (the Node entry passes undici's); the store owns and closes it.
   */
  constructor(options: SwiftStoreOptions, defaultTransport?: () => SwiftTransport) {
    const opts = checkOptions(options);
    this.container = opts.container;
    this.prefix = normalisePrefix(opts.prefix);
    this.#objectPrefix = this.prefix ? `${this.prefix}/` : "";
    this.#names = new ObjectNames(this.#objectPrefix);
    this.#readOnly = opts.readOnly ?? false;
    this.#threshold = opts.largeObjectThreshold ?? SWIFT_MAX_OBJECT_SIZE;
    this.#segmentSize = opts.segmentSize ?? DEFAULT_SEGMENT_SIZE;
    this.#segmentContainer = opts.segmentContainer ?? `${opts.container}_segments`;
    const custom = opts.transport !== undefined || opts.fetch !== undefined;
    const transport =
      opts.transport ??
      (custom || defaultTransport === undefined ? fetchTransport(opts.fetch) : defaultTransport());
    this.#ownsTransport = opts.transport === undefined;
    const auth = new SwiftAuthenticator(opts.storageOptions ?? getenvAuth(opts.env), transport);
    this.#client = new SwiftClient(auth, transport);
    const write = !this.#readOnly;
    this.capabilities = Object.freeze({
      write,
      overwrite: write,
      delete: write,
      list: true,
      getRange: true,
      suffixRange: true,
      // Swift honours If-None-Match: * on PUT but ignores If-Match, so ifMatch cannot be kept.
      conditionalWrite: false,
      atomicWrite: true,
      etag: true,
    });
  }

  /** The store's location: `<storage URL>/<container>/<prefix>` (authenticates first if needed). */
  async url(options?: CallOptions): Promise<string> {
    const session = await this.#client.auth.session(options?.signal);
    const base = swiftUrl(session.storageUrl, this.container);
    return this.prefix
      ? `${base}/${this.prefix.split("/").map(encodeURIComponent).join("/")}`
      : base;
  }

  async get(key: AbsolutePath, options?: CallOptions): Promise<Uint8Array | undefined> {
    const path = toKey(key);
    throwIfAborted(options?.signal, "get", path);
    const call = this.#objectCall("GET", path, "get", options?.signal);
    const response = await this.#client.send(call);
    if (response.status === 404) return this.#missing(response, call);
    if (response.status !== 200) throw await errorFrom(response, call);
    this.#containerSeen = true;
    return readBody(response, call);
  }

  async getRange(
    key: AbsolutePath,
    range: RangeQuery,
    options?: CallOptions,
  ): Promise<Uint8Array | undefined> {
    const path = toKey(key);
    checkRange(range, path);
    throwIfAborted(options?.signal, "getRange", path);
    // A zero-length request has no HTTP spelling; the size alone decides its answer.
    if (
      ("length" in range && range.length === 0) ||
      ("suffixLength" in range && range.suffixLength === 0)
    ) {
      return rangeBySize(this, path, range, options);
    }
    const call = this.#objectCall("GET", path, "getRange", options?.signal, {
      Range: rangeHeader(range),
    });
    const response = await this.#client.send(call);
    if (response.status === 404) return this.#missing(response, call);
    if (response.status === 416) {
      // Offset past the end, or any suffix of an empty value: the size tells which.
      await response.discard();
      return rangeBySize(this, path, range, options);
    }
    if (response.status === 200) {
      // The server ignored the range (e.g. an empty value): cut it here.
      return sliceRange(await readBody(response, call), range, path);
    }
    if (response.status !== 206) throw await errorFrom(response, call);
    this.#containerSeen = true;
    return readBody(response, call);
  }

  async stat(key: AbsolutePath, options?: CallOptions): Promise<StatResult | undefined> {
    const path = toKey(key);
    throwIfAborted(options?.signal, "stat", path);
    const call = this.#objectCall("HEAD", path, "stat", options?.signal);
    const response = await this.#client.send(call);
    if (response.status === 404) return this.#missing(response, call);
    if (response.status !== 200) throw await errorFrom(response, call);
    this.#containerSeen = true;
    await response.discard();
    return statFromHeaders(response);
  }

  async set(key: AbsolutePath, value: Uint8Array, options?: SetOptions): Promise<void> {
    await this.put(key, value, options);
  }

  async put(key: AbsolutePath, value: Uint8Array, options?: SetOptions): Promise<SetResult> {
    const path = toKey(key);
    this.#assertWritable("set", path);
    throwIfAborted(options?.signal, "set", path);
    if (!(value instanceof Uint8Array)) {
      throw swiftError("Config", "values must be Uint8Array", this.#ctx("set", path));
    }
    if (options?.ifMatch !== undefined) {
      throw swiftError(
        "Unsupported",
        "Swift does not honour If-Match on PUT, so ifMatch cannot be kept; use ifNoneMatch: '*' or no condition",
        this.#ctx("set", path),
      );
    }
    if (value.byteLength > this.#threshold) {
      return putLargeObject(
        this.#client,
        {
          container: this.container,
          segmentContainer: this.#segmentContainer,
          object: this.#objectName(path),
          key: path,
          segmentSize: this.#segmentSize,
          headers: {},
          options,
          ensureContainer: (container, signal) => this.#createContainer(container, path, signal),
        },
        value,
      );
    }
    const headers: Record<string, string> = { "Content-Type": "application/octet-stream" };
    if (options?.ifNoneMatch === "*") headers["If-None-Match"] = "*";
    const call = this.#objectCall("PUT", path, "set", options?.signal, headers, value);
    let response = await this.#client.send(call);
    if (response.status === 404) {
      // Swift does not create containers on PUT: create it, then write once more.
      await response.discard();
      await this.#createContainer(this.container, path, options?.signal);
      response = await this.#client.send(call);
    }
    if (response.status === 412) {
      await response.discard();
      throw swiftError(
        "ConditionFailed",
        "the key already exists (ifNoneMatch: '*')",
        this.#ctx("set", path),
        { status: 412 },
      );
    }
    if (response.status !== 201) throw await errorFrom(response, call);
    await response.discard();
    this.#containerSeen = true;
    return { etag: unquote(response.header("etag")) };
  }

  async delete(key: AbsolutePath, options?: CallOptions): Promise<void> {
    const path = toKey(key);
    this.#assertWritable("delete", path);
    throwIfAborted(options?.signal, "delete", path);
    await this.#deleteObject(this.#objectName(path), path, options?.signal);
  }

  async deletePrefix(prefix: string, options?: CallOptions): Promise<void> {
    const folder = toPrefix(prefix);
    this.#assertWritable("deletePrefix", folder);
    throwIfAborted(options?.signal, "deletePrefix", folder);
    const plain: string[] = [];
    const large: string[] = [];
    for await (const entry of this.#entries(folder, undefined, "deletePrefix", options?.signal)) {
      if (entry.kind === "object") (entry.slo ? large : plain).push(entry.name);
    }
    await this.#deleteMany(plain, folder, options?.signal);
    // Manifests go one by one so that their segments go with them.
    await inParallel(large, DELETE_CONCURRENCY, (name) =>
      this.#deleteObject(name, folder, options?.signal, true),
    );
  }

  async *list(prefix?: string, options?: CallOptions): AsyncIterable<AbsolutePath> {
    const folder = toPrefix(prefix);
    yield* this.#names.keys(this.#entries(folder, undefined, "list", options?.signal));
  }

  async listDir(prefix?: string, options?: CallOptions): Promise<ListDirResult> {
    return this.#names.dir(this.#entries(toPrefix(prefix), "/", "listDir", options?.signal));
  }

  /** Releases the store's own transport (sockets); a transport passed in stays open. */
  async close(): Promise<void> {
    if (this.#ownsTransport) await this.#client.transport.close();
  }

  /** A description without credentials, for logs. */
  toJSON(): Record<string, unknown> {
    return {
      backend: BACKEND,
      container: this.container,
      prefix: this.prefix,
      readOnly: this.#readOnly,
      storageUrl: this.#client.auth.storageUrl,
    };
  }

  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return `SwiftStore ${JSON.stringify(this.toJSON())}`;
  }

  /** Hands the ACL and temp-URL helpers what they need. */
  [SWIFT_INTERNALS](): SwiftInternals {
    return {
      client: this.#client,
      container: this.container,
      objectPrefix: this.#objectPrefix,
      readOnly: this.#readOnly,
      objectName: (key) => this.#objectName(toKey(key)),
    };
  }

  #objectName(key: AbsolutePath): string {
    return this.#names.nameOf(key);
  }

  #objectCall(
    method: SwiftCall["method"],
    key: AbsolutePath,
    operation: string,
    signal: AbortSignal | undefined,
    headers?: Record<string, string>,
    body?: Uint8Array,
  ): SwiftCall {
    return {
      method,
      container: this.container,
      object: this.#objectName(key),
      headers,
      body,
      signal,
      operation,
      key,
    };
  }

  #ctx(operation: string, key?: string) {
    return { operation, key, container: this.container };
  }

  /**
   * A 404 on a key: `undefined` when the container exists (or may still be created by a
   * write); an error naming the container when a read-only store's container is missing.
   */
  async #missing(response: HttpResponse, call: SwiftCall): Promise<undefined> {
    await response.discard();
    if (this.#containerSeen) return undefined;
    if (await this.#containerExists(call)) {
      this.#containerSeen = true;
      return undefined;
    }
    if (this.#readOnly) throw this.#noContainer(call.operation, call.key);
    return undefined;
  }

  #noContainer(operation: string, key?: string): StoreError {
    return swiftError(
      "NotFound",
      "the container does not exist; check the container name (and the account of the credentials), or open the store writable to create it",
      this.#ctx(operation, key),
      { status: 404 },
    );
  }

  async #containerExists(call: SwiftCall): Promise<boolean> {
    const head: SwiftCall = {
      method: "HEAD",
      container: this.container,
      signal: call.signal,
      operation: call.operation,
      key: call.key,
    };
    const response = await this.#client.send(head);
    await response.discard();
    if (response.status === 404) return false;
    if (response.status >= 200 && response.status < 300) return true;
    throw await errorFrom(response, head);
  }

  async #createContainer(container: string, key: string, signal?: AbortSignal): Promise<void> {
    const call: SwiftCall = { method: "PUT", container, signal, operation: "set", key };
    const response = await this.#client.send(call);
    // 201 created, 202 already there (another writer won the race).
    if (response.status !== 201 && response.status !== 202) {
      throw await errorFrom(
        response,
        call,
        `cannot create container '${container}'; create it yourself or use credentials allowed to`,
      );
    }
    await response.discard();
  }

  async *#entries(
    folder: Prefix,
    delimiter: string | undefined,
    operation: string,
    signal: AbortSignal | undefined,
  ): AsyncGenerator<SwiftListEntry> {
    let missing = false;
    yield* listContainer(this.#client, {
      container: this.container,
      prefix: this.#objectPrefix + folder.slice(1),
      delimiter,
      signal,
      operation,
      key: folder,
      onMissingContainer: async () => {
        // Read-only: a missing container is a mistake to report. Writable: an empty store
        // whose container the first write creates.
        if (this.#readOnly) throw this.#noContainer(operation, folder);
        missing = true;
      },
    });
    if (!missing) this.#containerSeen = true;
  }

  /**
   * Deletes one object; a static large object's segments go with it (Swift's SLO middleware
   * refuses `multipart-manifest=delete` on plain objects, so a HEAD tells which it is unless
   * the caller knows). Missing objects are fine.
   */
  async #deleteObject(
    name: string,
    key: string,
    signal?: AbortSignal,
    large?: boolean,
  ): Promise<void> {
    const call: SwiftCall = {
      method: "DELETE",
      container: this.container,
      object: name,
      signal,
      operation: "delete",
      key,
    };
    if (large === undefined) {
      const head = await this.#client.send({ ...call, method: "HEAD" });
      await head.discard();
      if (head.status === 404) return;
      if (head.status !== 200) throw await errorFrom(head, { ...call, method: "HEAD" });
      large = head.header("x-static-large-object")?.toLowerCase() === "true";
    }
    if (large) {
      call.query = { "multipart-manifest": "delete" };
      call.headers = { Accept: "application/json" };
    }
    const response = await this.#client.send(call);
    if (response.status === 404 || response.status === 204) {
      await response.discard();
      return;
    }
    if (response.status !== 200) throw await errorFrom(response, call);
    checkBulkReply(await readBody(response, call), call, this.container);
  }

  /** Deletes many plain objects: Swift's bulk delete when the cluster has it, else one by one. */
  async #deleteMany(names: string[], key: string, signal?: AbortSignal): Promise<void> {
    for (let i = 0; i < names.length; i += BULK_DELETE_BATCH) {
      const batch = names.slice(i, i + BULK_DELETE_BATCH);
      if (this.#bulkDelete !== false && (await this.#bulkDeleteBatch(batch, key, signal))) continue;
      await inParallel(batch, DELETE_CONCURRENCY, (name) =>
        this.#deleteObject(name, key, signal, false),
      );
    }
  }

  async #bulkDeleteBatch(names: string[], key: string, signal?: AbortSignal): Promise<boolean> {
    const body = names
      .map(
        (name) =>
          `/${encodeURIComponent(this.container)}/${name.split("/").map(encodeURIComponent).join("/")}`,
      )
      .join("\n");
    const call: SwiftCall = {
      method: "POST",
      query: { "bulk-delete": "" },
      headers: { Accept: "application/json", "Content-Type": "text/plain" },
      body,
      signal,
      operation: "deletePrefix",
      key,
    };
    const response = await this.#client.send(call);
    if (response.status !== 200) {
      // No bulk middleware here: the account itself answered (405/404/400…).
      await response.discard();
      this.#bulkDelete = false;
      return false;
    }
    this.#bulkDelete = true;
    checkBulkReply(await readBody(response, call), call, this.container);
    return true;
  }

  #assertWritable(operation: string, key: string): void {
    if (this.#readOnly) {
      throw swiftError("ReadOnly", "the store is read-only", this.#ctx(operation, key));
    }
  }
}

interface BulkReply {
  "Response Status"?: string;
  Errors?: [string, string][];
}

// Bulk replies are HTTP 200 with the real outcome in the body: check it.
function checkBulkReply(body: Uint8Array, call: SwiftCall, container: string): void {
  let reply: BulkReply;
  try {
    reply = JSON.parse(new TextDecoder().decode(body)) as BulkReply;
  } catch {
    return;
  }
  const status = Number.parseInt(reply["Response Status"] ?? "200", 10);
  const errors = (reply.Errors ?? []).filter(([, s]) => !s.startsWith("404"));
  if (status < 400 && errors.length === 0) return;
  const first = errors[0];
  const code = first?.[1].startsWith("401")
    ? "Unauthenticated"
    : first?.[1].startsWith("403")
      ? "PermissionDenied"
      : "Unavailable";
  throw swiftError(
    code,
    `delete failed for ${errors.length || "some"} object(s)${first ? `, e.g. ${first[0]}: ${first[1]}` : ""} (${reply["Response Status"]})`,
    { operation: call.operation, key: call.key, container },
    { status, retryable: code === "Unavailable" },
  );
}

function normalisePrefix(prefix: string | undefined): string {
  if (prefix === undefined || prefix === "" || prefix === "/") return "";
  // The same rules as keys: no empty, '.' or '..' segments, no control characters.
  return toPrefix(prefix).slice(1, -1);
}

function checkOptions(options: SwiftStoreOptions): SwiftStoreOptions {
  const fail = (why: string) =>
    new StoreError({
      code: "Config",
      message: `${BACKEND}: ${why}`,
      operation: "open",
      backend: BACKEND,
    });
  if (options === null || typeof options !== "object") throw fail("options are required");
  const { container } = options;
  if (typeof container !== "string" || container === "" || container.includes("/")) {
    throw fail(`container must be a non-empty name without '/', got ${JSON.stringify(container)}`);
  }
  for (const name of ["largeObjectThreshold", "segmentSize"] as const) {
    const value = options[name];
    if (value !== undefined && (!Number.isSafeInteger(value) || value < 1)) {
      throw fail(`${name} must be a whole number of bytes ≥ 1`);
    }
  }
  return options;
}
