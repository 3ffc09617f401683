/**
 * `zarrstore/gcs`: a Zarr store in a Google Cloud Storage bucket over the JSON API, with OAuth2
 * bearer tokens or anonymous access to public buckets. Fetch-based; no Google SDK.
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
import { ObjectNames, objectNamesOf, rangeBySize } from "../object-store.js";
import { type GcsCall, GcsClient, type GcsTokenProvider } from "./client.js";
import { BACKEND, gcsError, mapGcsError, parseGcsError } from "./errors.js";
import { listObjects } from "./list.js";

export type { GcsAccessToken, GcsTokenProvider } from "./client.js";
export { mapGcsError } from "./errors.js";

/** Options for `GcsStore`. */
export interface GcsStoreOptions {
  /** The bucket holding the store. */
  bucket: string;
  /** A folder inside the bucket: with `zarr-demo`, the key `/foo/.zgroup` is the object `zarr-demo/foo/.zgroup`. */
  prefix?: string | undefined;
  /** An OAuth2 access token (default GOOGLE_OAUTH_ACCESS_TOKEN). */
  token?: string | undefined;
  /** Returns fresh tokens; asked again a minute before each expires. */
  tokenProvider?: GcsTokenProvider | undefined;
  /** No credentials: read public buckets. */
  anonymous?: boolean | undefined;
  /** The API root (default `https://storage.googleapis.com`). */
  endpoint?: string | undefined;
  /** Reject writes. */
  readOnly?: boolean | undefined;
  /** Values larger than this go up as resumable uploads in chunks (default 16 MiB). */
  resumableThreshold?: number | undefined;
  /** Bytes per resumable chunk, a multiple of 256 KiB (default 16 MiB). */
  chunkSize?: number | undefined;
  /** Deletes of `deletePrefix` in flight at once (default 16). */
  concurrency?: number | undefined;
  /** The environment to read GOOGLE_OAUTH_ACCESS_TOKEN from (default `process.env`). */
  env?: Record<string, string | undefined> | undefined;
  transport?: HttpTransport | undefined;
  fetch?: FetchLike | undefined;
}

interface ObjectResource {
  name?: string;
  size?: string;
  generation?: string;
  updated?: string;
}

// 256 KiB: the JSON API wants every resumable chunk but the last to be a multiple of it.
const CHUNK_QUANTUM = 256 * 1024;
// 16 MiB: above this a single request risks a costly restart; Google's libraries use 8–16 MiB.
const DEFAULT_RESUMABLE_THRESHOLD = 16 * 1024 * 1024;
const DEFAULT_CHUNK_SIZE = 16 * 1024 * 1024;
// 16: deletes are small requests; this keeps a connection pool busy without a burst.
const DEFAULT_CONCURRENCY = 16;

/**
 * A Zarr store in a Cloud Storage bucket over the JSON API. Values are read with `alt=media`
 * and `Range` (suffix ranges included), written with `uploadType=media` or, above
 * `resumableThreshold`, a resumable upload in chunks; listings page by `pageToken`. The etag a
 * GcsStore reports is the object's **generation**, so `ifMatch` becomes `ifGenerationMatch`
 * and `ifNoneMatch: "*"` becomes `ifGenerationMatch=0`.
 *
 * @example
 * const store = new GcsStore({ bucket: "my-bucket", prefix: "air.zarr", token: process.env.GOOGLE_OAUTH_ACCESS_TOKEN });
 * const pub = new GcsStore({ bucket: "gcp-public-data-arco-era5", anonymous: true, readOnly: true });
 */
export class GcsStore implements Store {
  readonly capabilities: Capabilities;
  readonly bucket: string;
  readonly prefix: string;
  readonly #client: GcsClient;
  readonly #objectPrefix: string;
  readonly #names: ObjectNames;
  readonly #readOnly: boolean;
  readonly #threshold: number;
  readonly #chunkSize: number;
  readonly #concurrency: number;
  #closed = false;

  constructor(options: GcsStoreOptions) {
    checkOptions(options);
    this.bucket = options.bucket;
    this.prefix = (options.prefix ?? "").replace(/^\/+|\/+$/g, "");
    this.#objectPrefix = this.prefix ? `${this.prefix}/` : "";
    this.#names = new ObjectNames(this.#objectPrefix);
    this.#readOnly = options.readOnly ?? false;
    this.#threshold = options.resumableThreshold ?? DEFAULT_RESUMABLE_THRESHOLD;
    this.#chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
    this.#concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
    const transport = options.transport ?? fetchTransport(options.fetch);
    const endpoint = options.endpoint ?? "https://storage.googleapis.com";
    this.#client = new GcsClient(endpoint, tokenSource(options), transport);
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

  /** The API root (no credentials in it). */
  get endpoint(): string {
    return this.#client.endpoint;
  }

  async get(key: AbsolutePath, options?: CallOptions): Promise<Uint8Array | undefined> {
    const path = toKey(key);
    throwIfAborted(options?.signal, "get", path);
    const call = this.#mediaCall(path, "get", options?.signal);
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
    const empty = "length" in range ? range.length === 0 : range.suffixLength === 0;
    if (empty) return rangeBySize(this, path, range, options);
    const call = this.#mediaCall(path, "getRange", options?.signal, { range: rangeHeader(range) });
    const response = await this.#client.send(call);
    if (response.status === 404) return this.#missing(response, call);
    if (response.status === 416) {
      await response.discard();
      return rangeBySize(this, path, range, options);
    }
    if (response.status !== 206 && response.status !== 200) throw await this.#fail(response, call);
    const bytes = await this.#client.read(response, call);
    if (response.status === 200) {
      // The whole object came back (e.g. a suffix longer than it): cut the range here.
      const { start, end } = resolveRange(range, bytes.byteLength, path);
      return bytes.subarray(start, end);
    }
    return bytes;
  }

  async stat(key: AbsolutePath, options?: CallOptions): Promise<StatResult | undefined> {
    const path = toKey(key);
    throwIfAborted(options?.signal, "stat", path);
    const call: GcsCall = {
      method: "GET",
      path: this.#objectPath(path),
      query: { fields: "size,generation,updated" },
      signal: options?.signal,
      operation: "stat",
      key: path,
    };
    const response = await this.#client.send(call);
    if (response.status === 404) return this.#missing(response, call);
    if (response.status !== 200) throw await this.#fail(response, call);
    const meta = await this.#client.json<ObjectResource>(response, call);
    return {
      size: Number(meta.size ?? 0),
      etag: meta.generation,
      lastModified: meta.updated ? new Date(meta.updated) : undefined,
    };
  }

  async set(key: AbsolutePath, value: Uint8Array, options?: SetOptions): Promise<void> {
    await this.put(key, value, options);
  }

  async put(key: AbsolutePath, value: Uint8Array, options?: SetOptions): Promise<SetResult> {
    const path = toKey(key);
    this.#assertWritable("set", path);
    throwIfAborted(options?.signal, "set", path);
    if (!(value instanceof Uint8Array)) {
      throw gcsError("Config", "values must be Uint8Array", { operation: "set", key: path });
    }
    const condition = generationCondition(options);
    if (condition === "never") {
      // A generation is a decimal number: no object has this etag, so the condition fails.
      throw gcsError(
        "ConditionFailed",
        `no value has the etag ${JSON.stringify(options?.ifMatch)} (GcsStore etags are generations)`,
        { operation: "set", key: path },
      );
    }
    const meta =
      value.byteLength > this.#threshold
        ? await this.#resumableUpload(path, value, condition, options?.signal)
        : await this.#mediaUpload(path, value, condition, options?.signal);
    return { etag: meta.generation };
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
    const names = await objectNamesOf(
      this.#entries(folder, undefined, "deletePrefix", options?.signal),
    );
    await inParallel(names, this.#concurrency, (name) =>
      this.#deleteObject(name, folder, options?.signal),
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
      bucket: this.bucket,
      prefix: this.prefix,
      endpoint: this.#client.endpoint,
      credential: this.#client.anonymous ? "anonymous" : "token",
      readOnly: this.#readOnly,
    };
  }

  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return `GcsStore ${JSON.stringify(this.toJSON())}`;
  }

  #objectName(key: AbsolutePath): string {
    return this.#names.nameOf(key);
  }

  // Object names go into the path as one segment: '/' is encoded too.
  #objectPath(key: AbsolutePath): string {
    return `/storage/v1/b/${encodeURIComponent(this.bucket)}/o/${encodeURIComponent(this.#objectName(key))}`;
  }

  #mediaCall(
    key: AbsolutePath,
    operation: string,
    signal: AbortSignal | undefined,
    headers?: Record<string, string>,
  ): GcsCall {
    return {
      method: "GET",
      path: this.#objectPath(key),
      query: { alt: "media" },
      headers,
      signal,
      operation,
      key,
    };
  }

  async #mediaUpload(
    key: AbsolutePath,
    value: Uint8Array,
    condition: string | undefined,
    signal: AbortSignal | undefined,
  ): Promise<ObjectResource> {
    const call: GcsCall = {
      method: "POST",
      path: `/upload/storage/v1/b/${encodeURIComponent(this.bucket)}/o`,
      query: {
        uploadType: "media",
        name: this.#objectName(key),
        ifGenerationMatch: condition,
        fields: "generation",
      },
      headers: { "content-type": "application/octet-stream" },
      body: value,
      signal,
      operation: "set",
      key,
    };
    const response = await this.#client.send(call);
    if (response.status !== 200) throw await this.#fail(response, call);
    return this.#client.json<ObjectResource>(response, call);
  }

  /**
   * A resumable upload: one POST opens a session (the condition travels with it), then chunks
   * of `chunkSize` go up with `Content-Range`; the server answers 308 until the last one. The
   * object appears whole when the last chunk lands, never before.
   */
  async #resumableUpload(
    key: AbsolutePath,
    value: Uint8Array,
    condition: string | undefined,
    signal: AbortSignal | undefined,
  ): Promise<ObjectResource> {
    const open: GcsCall = {
      method: "POST",
      path: `/upload/storage/v1/b/${encodeURIComponent(this.bucket)}/o`,
      query: {
        uploadType: "resumable",
        name: this.#objectName(key),
        ifGenerationMatch: condition,
        fields: "generation",
      },
      headers: {
        "x-upload-content-type": "application/octet-stream",
        "x-upload-content-length": String(value.byteLength),
      },
      signal,
      operation: "set",
      key,
    };
    const opened = await this.#client.send(open);
    if (opened.status !== 200) throw await this.#fail(opened, open);
    const session = opened.header("location");
    await opened.discard();
    if (!session) {
      throw gcsError("Unexpected", "the server opened no upload session (no Location header)", {
        operation: "set",
        key,
      });
    }
    const total = value.byteLength;
    for (let start = 0; ; ) {
      const end = Math.min(total, start + this.#chunkSize);
      const chunk: GcsCall = {
        method: "PUT",
        path: session,
        headers: { "content-range": `bytes ${start}-${end - 1}/${total}` },
        body: value.subarray(start, end),
        signal,
        operation: "set",
        key,
      };
      const response = await this.#client.send(chunk);
      if (response.status === 200 || response.status === 201) {
        return this.#client.json<ObjectResource>(response, chunk);
      }
      if (response.status !== 308) throw await this.#fail(response, chunk);
      await response.discard();
      // The server says how much it has; go on from there (it may keep less than was sent).
      const persisted = /bytes=0-(\d+)/.exec(response.header("range") ?? "");
      const next = persisted ? Number(persisted[1]) + 1 : 0;
      if (next <= start && end < total) {
        throw gcsError("Unavailable", "the upload session made no progress; retry the write", {
          operation: "set",
          key,
        });
      }
      start = next;
    }
  }

  async #deleteObject(name: string, key: string, signal: AbortSignal | undefined): Promise<void> {
    const call: GcsCall = {
      method: "DELETE",
      path: `/storage/v1/b/${encodeURIComponent(this.bucket)}/o/${encodeURIComponent(name)}`,
      signal,
      operation: "delete",
      key,
    };
    const response = await this.#client.send(call);
    if (response.status === 204 || response.status === 200) {
      await response.discard();
      return;
    }
    if (response.status === 404) {
      // A missing object is deleted already; a missing bucket is a mistake worth hearing about.
      await this.#missing(response, call);
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
    return listObjects(this.#client, {
      bucket: this.bucket,
      prefix: this.#objectPrefix + folder.slice(1),
      delimiter,
      signal,
      operation,
      key: folder,
      fail: (response, call) => this.#fail(response, call),
    });
  }

  /** A 404 on a key: `undefined` for a missing object, an error for a missing bucket. */
  async #missing(response: HttpResponse, call: GcsCall): Promise<undefined> {
    const body = parseGcsError(await readText(response));
    if (body.message !== undefined && /bucket does not exist/i.test(body.message)) {
      throw this.#error(404, body.reason, body.message, call, response);
    }
    return undefined;
  }

  async #fail(response: HttpResponse, call: GcsCall): Promise<StoreError> {
    const body = parseGcsError(await readText(response));
    return this.#error(response.status, body.reason, body.message, call, response);
  }

  #error(
    status: number,
    reason: string | undefined,
    message: string | undefined,
    call: GcsCall,
    response: HttpResponse,
  ): StoreError {
    return mapGcsError(
      { status, reason, message, retryAfter: response.header("retry-after") },
      {
        operation: call.operation,
        key: call.key,
        bucket: this.bucket,
        credential: this.#client.anonymous ? "anonymous" : "token",
      },
    );
  }

  #assertWritable(operation: string, key: string): void {
    if (this.#closed) throw gcsError("Config", "the store is closed", { operation, key });
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

async function readText(response: HttpResponse): Promise<string> {
  try {
    return new TextDecoder().decode(await response.read(64 * 1024));
  } catch {
    return "";
  }
}

/** `ifGenerationMatch` for the write's condition: `0` for create-only, the generation for ifMatch. */
function generationCondition(options: SetOptions | undefined): string | undefined | "never" {
  if (options?.ifMatch !== undefined) {
    return /^\d+$/.test(options.ifMatch) ? options.ifMatch : "never";
  }
  return options?.ifNoneMatch === "*" ? "0" : undefined;
}

/** The token source: a provider, a fixed token, GOOGLE_OAUTH_ACCESS_TOKEN, or none (anonymous). */
function tokenSource(options: GcsStoreOptions): GcsTokenProvider | undefined {
  if (options.anonymous) return undefined;
  if (options.tokenProvider) return options.tokenProvider;
  const env = options.env ?? processEnv();
  const token = options.token ?? env.GOOGLE_OAUTH_ACCESS_TOKEN;
  if (token) return async () => token;
  throw gcsError(
    "Config",
    "no credentials: pass token or tokenProvider, set GOOGLE_OAUTH_ACCESS_TOKEN, or pass anonymous: true for a public bucket",
    { operation: "open" },
  );
}

function processEnv(): Record<string, string | undefined> {
  const proc = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
  return proc?.env ?? {};
}

function checkOptions(options: GcsStoreOptions): void {
  const fail = (message: string) => gcsError("Config", message, { operation: "open" });
  if (options === null || typeof options !== "object")
    throw fail("options are required ({bucket, …})");
  // Bucket names: 3–63 characters (up to 222 with dots), lower-case letters, digits, -, _ and .
  if (
    typeof options.bucket !== "string" ||
    !/^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/.test(options.bucket)
  ) {
    throw fail(
      `invalid bucket name ${JSON.stringify(options.bucket)}: lower-case letters, digits, '-', '_' and '.', starting and ending with a letter or digit`,
    );
  }
  if (options.prefix !== undefined) toPrefix(options.prefix);
  if (options.chunkSize !== undefined) {
    if (
      !Number.isSafeInteger(options.chunkSize) ||
      options.chunkSize < CHUNK_QUANTUM ||
      options.chunkSize % CHUNK_QUANTUM !== 0
    ) {
      throw fail("chunkSize must be a positive multiple of 256 KiB (262,144 bytes)");
    }
  }
  for (const name of ["resumableThreshold", "concurrency"] as const) {
    const value = options[name];
    if (value !== undefined && (!Number.isSafeInteger(value) || value < 1)) {
      throw fail(`${name} must be a whole number ≥ 1`);
    }
  }
}

/** What `openGcsStore` reads from `openStore`'s options. */
interface GcsOpenOptions {
  readOnly?: boolean | undefined;
  env?: Record<string, string | undefined> | undefined;
  fetch?: FetchLike | undefined;
  transport?: HttpTransport | undefined;
  token?: unknown;
  tokenProvider?: unknown;
  anonymous?: unknown;
  endpoint?: unknown;
}

/**
 * Tells whether `gs://` URLs should go to GcsStore (the JSON API): a token, a token provider,
 * anonymous mode, or GOOGLE_OAUTH_ACCESS_TOKEN is there. Otherwise they go to S3Store over
 * GCS's S3-compatible XML API with HMAC keys.
 */
export function wantsGcsJsonApi(options: GcsOpenOptions): boolean {
  const env = options.env ?? processEnv();
  return (
    (typeof options.token === "string" && options.token !== "") ||
    typeof options.tokenProvider === "function" ||
    options.anonymous === true ||
    Boolean(env.GOOGLE_OAUTH_ACCESS_TOKEN)
  );
}

/** Parses `gs://bucket/prefix`. */
export function parseGcsUrl(url: string): { bucket: string; prefix: string } {
  const match = /^gs:\/\/([^/?#]+)(\/[^?#]*)?$/i.exec(url);
  if (!match) {
    throw gcsError("Config", `cannot read ${JSON.stringify(url)}: expected gs://bucket/prefix`, {
      operation: "open",
    });
  }
  return {
    bucket: decodeURIComponent(match[1] as string),
    prefix: decodeURIComponent(match[2] ?? "").replace(/^\/+|\/+$/g, ""),
  };
}

/**
 * Opens `gs://bucket/prefix` over the JSON API.
 *
 * @example
 * const store = await openGcsStore("gs://gcp-public-data-arco-era5/ar", { anonymous: true, readOnly: true });
 */
export async function openGcsStore(url: string, options: GcsOpenOptions = {}): Promise<GcsStore> {
  const { bucket, prefix } = parseGcsUrl(url);
  return new GcsStore({
    bucket,
    prefix,
    token: typeof options.token === "string" ? options.token : undefined,
    tokenProvider:
      typeof options.tokenProvider === "function"
        ? (options.tokenProvider as GcsTokenProvider)
        : undefined,
    anonymous: options.anonymous === true,
    endpoint: typeof options.endpoint === "string" ? options.endpoint : undefined,
    readOnly: options.readOnly,
    env: options.env,
    fetch: options.fetch,
    transport: options.transport,
  });
}
