/**
 * `zarrstore/azure`: a Zarr store in an Azure Blob Storage container, over the REST API with
 * `fetch` (or any `HttpTransport`), no Azure SDK. Runs in browsers: signing uses WebCrypto.
 */
import { StoreError, throwIfAborted } from "../../errors.js";
import { type AbsolutePath, type Prefix, toKey, toPrefix } from "../../keys.js";
import { inParallel } from "../../lanes.js";
import { checkRange, rangeHeader, resolveRange } from "../../ranges.js";
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
import {
  type FetchLike,
  fetchTransport,
  type HttpResponse,
  type HttpTransport,
} from "../http-transport.js";
import {
  ObjectNames,
  objectNamesOf,
  rangeBySize,
  statFromHeaders,
  unquote,
} from "../object-store.js";
import {
  BATCH_LIMIT,
  type BatchResult,
  batchBody,
  boundaryOf,
  parseBatchResponse,
} from "./batch.js";
import { putBlocks } from "./blocks.js";
import { type AzureCall, AzureClient, type AzureCredential } from "./client.js";
import { parseAzureUrl, resolveTarget } from "./env.js";
import { azureError, BACKEND, mapAzureError, parseErrorBody } from "./errors.js";
import { listBlobs } from "./list.js";

export {
  type AccountSasOptions,
  AZURE_API_VERSION,
  type AzureAccessToken,
  type AzureCredential,
  type AzureTokenProvider,
  generateAccountSas,
} from "./client.js";
export {
  type AzureUrl,
  accountFromEndpoint,
  type ConnectionString,
  parseAzureUrl,
  parseConnectionString,
} from "./env.js";
export { mapAzureError } from "./errors.js";

/** Options for `AzureBlobStore`. */
export interface AzureBlobStoreOptions {
  /** The container holding the store. */
  container: string;
  /** The storage account (default: from the endpoint, the connection string or AZURE_STORAGE_ACCOUNT). */
  account?: string | undefined;
  /** A folder inside the container: with `zarr-demo`, the key `/foo/.zgroup` is the blob `zarr-demo/foo/.zgroup`. */
  prefix?: string | undefined;
  /** The blob endpoint (default `https://<account>.blob.core.windows.net`; Azurite: `http://127.0.0.1:10000/devstoreaccount1`). */
  endpoint?: string | undefined;
  /** How to authenticate (default: from `connectionString` or the environment; see `resolveTarget`). */
  credential?: AzureCredential | undefined;
  /** A connection string (default AZURE_STORAGE_CONNECTION_STRING). */
  connectionString?: string | undefined;
  /** Reject writes. */
  readOnly?: boolean | undefined;
  /** Create the container on the first write that finds it missing (default true). */
  createContainer?: boolean | undefined;
  /** Values larger than this are staged as blocks and committed at once (default 256 MiB). */
  singlePutLimit?: number | undefined;
  /** Block size for large values (default 8 MiB). */
  blockSize?: number | undefined;
  /** Blocks (and deletes of `deletePrefix`) in flight at once (default 8). */
  concurrency?: number | undefined;
  /** The environment to read credentials from (default `process.env` where there is one). */
  env?: Record<string, string | undefined> | undefined;
  /** How requests are sent (default: `fetch`; on Node, `undiciTransport()` from `zarrstore/http` is faster). */
  transport?: HttpTransport | undefined;
  /** A `fetch` to use instead of the global one (ignored when `transport` is given). */
  fetch?: FetchLike | undefined;
}

// 256 MiB: what the Azure SDKs send in one Put Blob before they switch to blocks.
const DEFAULT_SINGLE_PUT_LIMIT = 256 * 1024 * 1024;
// 8 MiB blocks: 50,000 blocks (the service's limit) reach 390 GiB; each fits in memory easily.
const DEFAULT_BLOCK_SIZE = 8 * 1024 * 1024;
// 8: enough requests in flight to hide the round trip on one connection pool.
const DEFAULT_CONCURRENCY = 8;
// The service's limit for one block.
const MAX_BLOCK_SIZE = 4000 * 1024 * 1024;

/**
 * A Zarr store in an Azure Blob Storage container. Keys map to block blobs under `prefix`;
 * listings page by marker and are never capped; ranged reads use `Range`; writes are atomic
 * (one Put Blob, or staged blocks committed by one Put Block List) and honour `ifNoneMatch: "*"`
 * and `ifMatch` with the blob's ETag. Azure has no suffix ranges, so a suffix read asks for the
 * size first (`capabilities.suffixRange` is false).
 *
 * @example
 * const store = new AzureBlobStore({
 *   account: "myaccount",
 *   container: "data",
 *   prefix: "air.zarr",
 *   credential: { sasToken: process.env.AZURE_STORAGE_SAS_TOKEN! },
 * });
 * const arr = await zarr.open(store, { kind: "array" });
 */
export class AzureBlobStore implements Store {
  readonly capabilities: Capabilities;
  /** The storage account. */
  readonly account: string;
  /** The container name. */
  readonly container: string;
  /** The folder inside the container (`zarr-demo`), or `""` for the whole container. */
  readonly prefix: string;
  readonly #client: AzureClient;
  readonly #blobPrefix: string;
  readonly #names: ObjectNames;
  /** Whether the server takes Blob Batch deletes: unknown until the first deletePrefix. */
  #batchDelete: boolean | undefined;
  readonly #readOnly: boolean;
  readonly #createContainer: boolean;
  readonly #singlePutLimit: number;
  readonly #blockSize: number;
  readonly #concurrency: number;
  #closed = false;
  // Set once a large write has made sure the container exists.
  #containerKnown = false;

  constructor(options: AzureBlobStoreOptions) {
    checkOptions(options);
    const target = resolveTarget(options);
    this.account = target.account;
    this.container = options.container;
    this.prefix = (options.prefix ?? "").replace(/^\/+|\/+$/g, "");
    this.#blobPrefix = this.prefix ? `${this.prefix}/` : "";
    this.#names = new ObjectNames(this.#blobPrefix);
    this.#readOnly = options.readOnly ?? false;
    this.#createContainer = options.createContainer ?? true;
    this.#singlePutLimit = options.singlePutLimit ?? DEFAULT_SINGLE_PUT_LIMIT;
    this.#blockSize = options.blockSize ?? DEFAULT_BLOCK_SIZE;
    this.#concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
    const transport = options.transport ?? fetchTransport(options.fetch);
    this.#client = new AzureClient(target.account, target.endpoint, target.credential, transport);
    const write = !this.#readOnly;
    this.capabilities = Object.freeze({
      write,
      overwrite: write,
      delete: write,
      list: true,
      getRange: true,
      // Azure accepts bytes=a- and bytes=a-b only; a suffix costs a HEAD first.
      suffixRange: false,
      conditionalWrite: write,
      atomicWrite: true,
      etag: true,
    });
  }

  /** The blob endpoint (no credentials in it). */
  get endpoint(): string {
    return this.#client.endpoint;
  }

  async get(key: AbsolutePath, options?: CallOptions): Promise<Uint8Array | undefined> {
    const path = toKey(key);
    throwIfAborted(options?.signal, "get", path);
    const call = this.#blobCall("GET", path, "get", options?.signal);
    const response = await this.#client.send(call);
    if (response.status === 404) return this.#missing(response, call);
    if (response.status !== 200) throw await this.#fail(response, call);
    return this.#client.read(response, call);
  }

  async getRange(
    key: AbsolutePath,
    range: RangeQuery,
    options?: CallOptions,
  ): Promise<Uint8Array | undefined> {
    const path = toKey(key);
    checkRange(range, path);
    throwIfAborted(options?.signal, "getRange", path);
    // No suffix ranges in Azure, and a zero-length range has no HTTP spelling: the size decides.
    if ("suffixLength" in range || range.length === 0)
      return rangeBySize(this, path, range, options);
    const call = this.#blobCall("GET", path, "getRange", options?.signal, {
      "x-ms-range": rangeHeader(range),
    });
    const response = await this.#client.send(call);
    if (response.status === 404) return this.#missing(response, call);
    if (response.status === 416) {
      // At or past the end, or any range of an empty blob: the size tells which.
      await response.discard();
      return rangeBySize(this, path, range, options);
    }
    if (response.status !== 206 && response.status !== 200) throw await this.#fail(response, call);
    const bytes = await this.#client.read(response, call);
    // A 200 means the whole blob came back: cut the range here.
    if (response.status === 200) {
      const { start, end } = resolveRange(range, bytes.byteLength, path);
      return bytes.subarray(start, end);
    }
    // Azure answers an offset at the end with 416, Azurite with an empty 206: the total decides.
    const total = /\/(\d+)$/.exec(response.header("content-range") ?? "");
    if (total) resolveRange(range, Number(total[1]), path);
    return bytes;
  }

  async stat(key: AbsolutePath, options?: CallOptions): Promise<StatResult | undefined> {
    const path = toKey(key);
    throwIfAborted(options?.signal, "stat", path);
    const call = this.#blobCall("HEAD", path, "stat", options?.signal);
    const response = await this.#client.send(call);
    if (response.status === 404) return this.#missing(response, call);
    if (response.status !== 200) throw await this.#fail(response, call);
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
      throw azureError("Config", "values must be Uint8Array", { operation: "set", key: path });
    }
    const conditions = conditionHeaders(options);
    let response = await this.#write(path, value, conditions, options?.signal);
    if (response.status === 404 && this.#createContainer) {
      const code = await errorCodeOf(response);
      if (code !== "ContainerNotFound")
        throw this.#error(response.status, code, undefined, "set", path, response);
      await this.#ensureContainer(path, options?.signal);
      response = await this.#write(path, value, conditions, options?.signal);
    }
    if (response.status !== 201)
      throw await this.#fail(response, this.#blobCall("PUT", path, "set", options?.signal));
    await response.discard();
    return { etag: unquote(response.header("etag")) };
  }

  async delete(key: AbsolutePath, options?: CallOptions): Promise<void> {
    const path = toKey(key);
    this.#assertWritable("delete", path);
    throwIfAborted(options?.signal, "delete", path);
    await this.#deleteBlob(this.#blobName(path), path, options?.signal);
  }

  async deletePrefix(prefix: string, options?: CallOptions): Promise<void> {
    const folder = toPrefix(prefix);
    this.#assertWritable("deletePrefix", folder);
    throwIfAborted(options?.signal, "deletePrefix", folder);
    const names = await objectNamesOf(
      this.#entries(folder, undefined, "deletePrefix", options?.signal),
    );
    const signal = options?.signal;
    let single = names;
    if (this.#batches()) {
      const batches: string[][] = [];
      for (let i = 0; i < names.length; i += BATCH_LIMIT) {
        batches.push(names.slice(i, i + BATCH_LIMIT));
      }
      single = [];
      // A batch of 256 takes the server a while: a few at once.
      await inParallel(batches, Math.max(1, this.#concurrency >> 2), async (batch) => {
        single.push(...(this.#batches() ? await this.#deleteBatch(batch, folder, signal) : batch));
      });
    }
    // Deletes carry no body: twice the lanes of block uploads keep the connection pool busy.
    await inParallel(single, this.#concurrency * 2, (name) =>
      this.#deleteBlob(name, folder, signal),
    );
  }

  async *list(prefix?: string, options?: CallOptions): AsyncIterable<AbsolutePath> {
    const folder = toPrefix(prefix);
    yield* this.#names.keys(this.#entries(folder, undefined, "list", options?.signal));
  }

  async listDir(prefix?: string, options?: CallOptions): Promise<ListDirResult> {
    return this.#names.dir(this.#entries(toPrefix(prefix), "/", "listDir", options?.signal));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#client.close();
  }

  /** A description without credentials, for logs. */
  toJSON(): Record<string, unknown> {
    return {
      backend: BACKEND,
      account: this.account,
      container: this.container,
      prefix: this.prefix,
      endpoint: this.#client.endpoint,
      credential: this.#client.kind,
      readOnly: this.#readOnly,
    };
  }

  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return `AzureBlobStore ${JSON.stringify(this.toJSON())}`;
  }

  #blobName(key: AbsolutePath): string {
    return this.#names.nameOf(key);
  }

  #blobCall(
    method: AzureCall["method"],
    key: AbsolutePath,
    operation: string,
    signal: AbortSignal | undefined,
    headers?: Record<string, string>,
    body?: Uint8Array,
  ): AzureCall {
    return {
      method,
      container: this.container,
      blob: this.#blobName(key),
      headers,
      body,
      signal,
      operation,
      key,
    };
  }

  async #write(
    key: AbsolutePath,
    value: Uint8Array,
    conditions: Record<string, string>,
    signal: AbortSignal | undefined,
  ): Promise<HttpResponse> {
    if (value.byteLength > this.#singlePutLimit) {
      // A missing container fails the first staged block, not the commit: make sure of it first.
      if (this.#createContainer && !this.#containerKnown) {
        await this.#ensureContainer(key, signal);
        this.#containerKnown = true;
      }
      return putBlocks(
        this.#client,
        {
          container: this.container,
          blob: this.#blobName(key),
          key,
          blockSize: this.#blockSize,
          concurrency: this.#concurrency,
          conditions,
          signal,
          fail: (response, call) => this.#fail(response, call),
        },
        value,
      );
    }
    const call = this.#blobCall(
      "PUT",
      key,
      "set",
      signal,
      {
        "x-ms-blob-type": "BlockBlob",
        "content-type": "application/octet-stream",
        ...conditions,
      },
      value,
    );
    return this.#client.send(call);
  }

  async #ensureContainer(key: string, signal: AbortSignal | undefined): Promise<void> {
    const call: AzureCall = {
      method: "PUT",
      container: this.container,
      query: { restype: "container" },
      signal,
      operation: "set",
      key,
    };
    const response = await this.#client.send(call);
    // 409 ContainerAlreadyExists: another writer created it first, which is just as good.
    if (response.status === 201 || response.status === 409) {
      const code = response.status === 409 ? await errorCodeOf(response) : undefined;
      if (response.status === 201) await response.discard();
      if (code === undefined || code === "ContainerAlreadyExists") return;
      throw this.#error(response.status, code, undefined, "set", key, response);
    }
    throw await this.#fail(response, call);
  }

  /**
   * Whether deletePrefix tries Blob Batch: with Shared Key only, the one credential tested
   * against a server here (Azurite answers batches signed with an account SAS with a 500, and
   * Azure takes no service SAS in batches); never again once the server refused one.
   */
  #batches(): boolean {
    return this.#client.kind === "sharedKey" && this.#batchDelete !== false;
  }

  /**
   * Deletes up to 256 blobs with one Blob Batch request and returns the names left to delete one
   * by one: none, all of them when the server does not take batches (remembered for later
   * calls) or failed as a whole, or those its answer left out. Missing blobs count as deleted.
   */
  async #deleteBatch(
    names: string[],
    key: string,
    signal: AbortSignal | undefined,
  ): Promise<string[]> {
    const boundary = `batch_${crypto.randomUUID()}`;
    const subrequests = await Promise.all(
      names.map((blob) =>
        this.#client.subrequest({ method: "DELETE", container: this.container, blob, signal }),
      ),
    );
    const call: AzureCall = {
      method: "POST",
      container: this.container,
      query: { restype: "container", comp: "batch" },
      headers: { "content-type": `multipart/mixed; boundary=${boundary}` },
      body: new TextEncoder().encode(batchBody(boundary, subrequests)),
      signal,
      operation: "deletePrefix",
      key,
    };
    const response = await this.#client.send(call);
    if (response.status === 404) {
      // No container: nothing to delete.
      await response.discard();
      return [];
    }
    // Credentials refused: single deletes would be refused too, so say so now.
    if (response.status === 401 || response.status === 403) throw await this.#fail(response, call);
    if (response.status !== 202) {
      // Any other refusal (400, 405, 409 on accounts without batches, 501) means no batches
      // here; a 5xx fails this batch only. Deletes are idempotent: the blobs go one by one.
      await response.discard();
      if (response.status < 500 || response.status === 501) this.#batchDelete = false;
      return names;
    }
    const answer = boundaryOf(response.header("content-type"));
    const text = new TextDecoder().decode(await this.#client.read(response, call));
    const results = answer === undefined ? [] : parseBatchResponse(text, answer);
    // The whole batch refused (one answer without a Content-ID): take the blob-by-blob way.
    if (results.length === 0 || results.some((r) => r.id === undefined && r.status === 400)) {
      this.#batchDelete = false;
      return names;
    }
    // A missing blob is deleted already; any other answer fails the call, naming its key.
    const failed = results.find((r) => r.status !== 202 && r.status !== 404);
    if (failed) throw this.#batchError(failed, names, key);
    this.#batchDelete = true;
    // Names the answer does not mention are not known to be deleted: they go one by one.
    const answered = new Set(results.map((r) => r.id));
    return names.filter((_, id) => !answered.has(id));
  }

  #batchError(result: BatchResult, names: string[], folder: string): StoreError {
    const name = result.id === undefined ? undefined : names[result.id];
    return mapAzureError(
      {
        status: result.status,
        errorCode: result.errorCode,
        message: undefined,
        retryAfter: undefined,
      },
      {
        operation: "deletePrefix",
        key: name === undefined ? folder : (this.#names.keyOf(name) ?? folder),
        account: this.account,
        container: this.container,
        credential: this.#client.kind,
        sasWindow: this.#client.sasWindow,
      },
    );
  }

  async #deleteBlob(name: string, key: string, signal: AbortSignal | undefined): Promise<void> {
    const call: AzureCall = {
      method: "DELETE",
      container: this.container,
      blob: name,
      signal,
      operation: "delete",
      key,
    };
    const response = await this.#client.send(call);
    if (response.status === 202) {
      await response.discard();
      return;
    }
    // Deleting what is not there (a missing blob, or no container at all) is done already.
    if (response.status === 404) {
      await response.discard();
      return;
    }
    throw await this.#fail(response, call);
  }

  #entries(
    folder: Prefix,
    delimiter: string | undefined,
    operation: string,
    signal: AbortSignal | undefined,
  ) {
    return listBlobs(this.#client, {
      container: this.container,
      prefix: this.#blobPrefix + folder.slice(1),
      delimiter,
      signal,
      operation,
      key: folder,
      missing: (response, call) => this.#missing(response, call),
      fail: (response, call) => this.#fail(response, call),
    });
  }

  /**
   * A 404 on a key: `undefined` when the blob is missing. A missing container is an empty store
   * while the first write may still create it; for a read-only store (or createContainer: false)
   * it is a NotFound error naming the container, since no write will ever fill it.
   */
  async #missing(response: HttpResponse, call: AzureCall): Promise<undefined> {
    const code = await errorCodeOf(response);
    if (code === undefined || code === "BlobNotFound") return undefined;
    if (code === "ContainerNotFound" && this.#createsContainer) return undefined;
    throw this.#error(404, code, undefined, call.operation, call.key, response);
  }

  get #createsContainer(): boolean {
    return this.#createContainer && !this.#readOnly;
  }

  async #fail(response: HttpResponse, call: AzureCall): Promise<StoreError> {
    let text = "";
    try {
      text = call.method === "HEAD" ? "" : new TextDecoder().decode(await response.read(64 * 1024));
    } catch {
      // The status says enough when the body cannot be read.
    }
    const body = parseErrorBody(text);
    const code = response.header("x-ms-error-code") ?? body.code;
    return this.#error(response.status, code, body.message, call.operation, call.key, response);
  }

  #error(
    status: number,
    errorCode: string | undefined,
    message: string | undefined,
    operation: string,
    key: string | undefined,
    response: HttpResponse,
  ): StoreError {
    return mapAzureError(
      { status, errorCode, message, retryAfter: response.header("retry-after") },
      {
        operation,
        key,
        account: this.account,
        container: this.container,
        credential: this.#client.kind,
        sasWindow: this.#client.sasWindow,
      },
    );
  }

  #assertWritable(operation: string, key: string): void {
    if (this.#closed) {
      throw azureError("Config", "the store is closed", { operation, key });
    }
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
}

/** The error code of a response (header first; the body is read and dropped). */
async function errorCodeOf(response: HttpResponse): Promise<string | undefined> {
  const header = response.header("x-ms-error-code");
  if (header !== undefined) {
    await response.discard();
    return header;
  }
  try {
    return parseErrorBody(new TextDecoder().decode(await response.read(64 * 1024))).code;
  } catch {
    return undefined;
  }
}

function conditionHeaders(options: SetOptions | undefined): Record<string, string> {
  const headers: Record<string, string> = {};
  if (options?.ifNoneMatch === "*") headers["if-none-match"] = "*";
  if (options?.ifMatch !== undefined) headers["if-match"] = quote(options.ifMatch);
  return headers;
}

function quote(etag: string): string {
  return etag.startsWith('"') || etag.startsWith('W/"') ? etag : `"${etag}"`;
}

function checkOptions(options: AzureBlobStoreOptions): void {
  const fail = (message: string) => azureError("Config", message, { operation: "open" });
  if (options === null || typeof options !== "object")
    throw fail("options are required ({container, …})");
  // Container names: 3–63 characters, lower-case letters, digits and single hyphens.
  if (
    typeof options.container !== "string" ||
    !/^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/.test(options.container)
  ) {
    if (options.container !== "$root" && options.container !== "$web") {
      throw fail(
        `invalid container name ${JSON.stringify(options.container)}: 3–63 characters of lower-case letters, digits and single hyphens, starting and ending with a letter or digit`,
      );
    }
  }
  if (options.prefix !== undefined) toPrefix(options.prefix);
  const positive = (name: string, value: number | undefined, max = Number.MAX_SAFE_INTEGER) => {
    if (value !== undefined && (!Number.isSafeInteger(value) || value < 1 || value > max)) {
      throw fail(`${name} must be a whole number between 1 and ${max}`);
    }
  };
  positive("singlePutLimit", options.singlePutLimit, 5000 * 1024 * 1024);
  positive("blockSize", options.blockSize, MAX_BLOCK_SIZE);
  positive("concurrency", options.concurrency, 256);
}

/** What `openAzureStore` reads from `openStore`'s options (all optional; the rest is ignored). */
interface AzureOpenOptions {
  readOnly?: boolean | undefined;
  env?: Record<string, string | undefined> | undefined;
  fetch?: FetchLike | undefined;
  transport?: HttpTransport | undefined;
  account?: unknown;
  endpoint?: unknown;
  credential?: unknown;
  connectionString?: unknown;
  accountKey?: unknown;
  sasToken?: unknown;
  token?: unknown;
  anonymous?: unknown;
  createContainer?: unknown;
}

/**
 * Opens `az://container/prefix` or `abfs[s]://container[@account.dfs.core.windows.net]/prefix`
 * (as fsspec's adlfs writes them). Credentials come from the options (`credential`, or the
 * shortcuts `accountKey`, `sasToken`, `token`, `anonymous`) or the environment.
 *
 * @example
 * const store = await openAzureStore("az://data/air.zarr", { env: { AZURE_STORAGE_CONNECTION_STRING: "UseDevelopmentStorage=true" } });
 */
export async function openAzureStore(
  url: string,
  options: AzureOpenOptions = {},
): Promise<AzureBlobStore> {
  const { container, prefix, account } = parseAzureUrl(url);
  const text = (value: unknown) => (typeof value === "string" && value !== "" ? value : undefined);
  let credential = options.credential as AzureCredential | undefined;
  if (credential === undefined) {
    const key = text(options.accountKey);
    const sas = text(options.sasToken);
    const token = text(options.token);
    if (key) credential = { accountKey: key };
    else if (sas) credential = { sasToken: sas };
    else if (token) credential = { token };
    else if (options.anonymous === true) credential = { anonymous: true };
  }
  return new AzureBlobStore({
    container,
    prefix,
    account: text(options.account) ?? account,
    endpoint: text(options.endpoint),
    credential,
    connectionString: text(options.connectionString),
    readOnly: options.readOnly,
    createContainer:
      typeof options.createContainer === "boolean" ? options.createContainer : undefined,
    env: options.env,
    fetch: options.fetch,
    transport: options.transport,
  });
}
