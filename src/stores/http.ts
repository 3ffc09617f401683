import { readOnlyError, StoreError, type StoreOperation, unsupported } from "../errors.js";
import { isMissingStatus, mapHttpStatus, mapTransportError, redactUrl } from "../http/status.js";
import { type AbsolutePath, toKey, toPrefix } from "../keys.js";
import { checkRange, rangeHeader, resolveRange } from "../ranges.js";
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
import {
  type FetchLike,
  fetchTransport,
  type HttpMethod,
  type HttpResponse,
  type HttpTransport,
  TruncatedBodyError,
} from "./http-transport.js";

export {
  type FetchLike,
  fetchTransport,
  type HttpMethod,
  type HttpRequest,
  type HttpResponse,
  type HttpTransport,
  TruncatedBodyError,
} from "./http-transport.js";

/** Options for `HttpStore`. */
export interface HttpStoreOptions {
  /** Headers sent with every request (e.g. `authorization`). Never shown in errors or logs. */
  headers?: Record<string, string> | undefined;
  /** A `fetch` to send requests with. It always wins over the built-in transport. */
  fetch?: FetchLike | undefined;
  /** Send PUT and DELETE (default false: the store is read-only and writes fail with `ReadOnly`). */
  writable?: boolean | undefined;
  /**
   * The server honours `If-Match` / `If-None-Match` on PUT (default false). Without it, a
   * conditional `set` fails with `Unsupported` instead of writing unconditionally.
   */
  conditionalWrite?: boolean | undefined;
  /**
   * Ask for suffix ranges (`bytes=-n`) directly (default true). A server that rejects them is
   * detected on first use and from then on asked for the size first (HEAD, then a plain range).
   */
  suffixRange?: boolean | undefined;
  /** The transport to send requests through (advanced; the Node entry passes undici's). */
  transport?: HttpTransport | undefined;
}

const BACKEND = "HttpStore";
const EMPTY = new Uint8Array(0);
// Server explanations quoted in errors are cut here; a 404 page does not need reading in full.
const ERROR_DETAIL_LIMIT = 2048;
const CONTENT_RANGE = /^bytes (\d+)-(\d+)\/(\d+|\*)$/i;
const UNSATISFIED_RANGE = /^bytes \*\/(\d+)$/i;

/**
 * Reads (and, with `writable`, writes) a Zarr hierarchy over plain HTTP: GET, ranged GET, HEAD,
 * PUT and DELETE under a base URL. Keys map to URLs segment by segment, percent-encoded
 * (`/a b/c#1` → `<base>/a%20b/c%231`); the base URL's query string is kept on every request.
 * HTTP cannot list, so `list`, `listDir` and `deletePrefix` are `Unsupported`: read hierarchies
 * through consolidated metadata.
 *
 * Status mapping: 404 and 410 are a missing key (`undefined`); 401 `Unauthenticated`; 403
 * `PermissionDenied`; 5xx `Unavailable` (retryable); refused or reset connections
 * `Unavailable`; a body shorter than its `Content-Length` `Integrity` (retryable).
 *
 * @example
 * const store = new HttpStore("https://example.org/data.zarr", {
 *   headers: { authorization: `Bearer ${token}` },
 * });
 * const arr = await zarr.open(store, { kind: "array" });
 */
export class HttpStore implements Store {
  readonly capabilities: Capabilities;
  /** The base URL without credentials or query values, safe to show. */
  readonly url: string;
  readonly #base: string;
  readonly #search: string;
  readonly #headers: Record<string, string>;
  readonly #transport: HttpTransport;
  readonly #writable: boolean;
  readonly #conditional: boolean;
  /** False once the server has rejected a suffix range (or when configured so). */
  #suffixRange: boolean;
  #closed = false;

  constructor(url: string | URL, options: HttpStoreOptions = {}) {
    const { url: parsed, credentials } = parseBaseUrl(url);
    this.#base = `${parsed.origin}${parsed.pathname}`;
    this.#search = parsed.search;
    this.url = redactUrl(parsed);
    this.#headers = lowerCaseHeaders(options.headers ?? {});
    if (credentials && this.#headers.authorization === undefined) {
      this.#headers.authorization = `Basic ${credentials}`;
    }
    this.#transport = options.fetch
      ? fetchTransport(options.fetch)
      : (options.transport ?? fetchTransport());
    this.#writable = options.writable ?? false;
    this.#conditional = this.#writable && (options.conditionalWrite ?? false);
    this.#suffixRange = options.suffixRange ?? true;
    this.capabilities = Object.freeze({
      write: this.#writable,
      overwrite: this.#writable,
      delete: this.#writable,
      list: false,
      getRange: true,
      suffixRange: this.#suffixRange,
      conditionalWrite: this.#conditional,
      atomicWrite: false,
      etag: true,
    });
  }

  /** The transport in use: `undici`, `fetch` or `custom fetch`. */
  get transport(): string {
    return this.#transport.name;
  }

  async get(key: AbsolutePath, options?: CallOptions): Promise<Uint8Array | undefined> {
    const path = toKey(key);
    const response = await this.#send("get", path, "GET", undefined, options?.signal);
    if (isMissingStatus(response.status)) return this.#missing(response);
    if (!isSuccess(response.status)) throw await this.#statusError("get", path, response);
    return this.#read("get", path, response, options?.signal);
  }

  async getRange(
    key: AbsolutePath,
    range: RangeQuery,
    options?: CallOptions,
  ): Promise<Uint8Array | undefined> {
    const path = toKey(key);
    checkRange(range, path);
    const signal = options?.signal;
    // A zero-length range has no Range header; whether it is satisfiable depends on the size.
    const empty = "suffixLength" in range ? range.suffixLength === 0 : range.length === 0;
    if (empty || ("suffixLength" in range && !this.#suffixRange)) {
      return this.#rangeBySize(path, range, signal);
    }
    const response = await this.#send(
      "getRange",
      path,
      "GET",
      { range: rangeHeader(range) },
      signal,
    );
    if ("suffixLength" in range && rejectsSuffix(response)) {
      return this.#afterSuffixRejected(path, range, response, signal);
    }
    return this.#rangeResponse(path, range, response, signal);
  }

  async stat(key: AbsolutePath, options?: CallOptions): Promise<StatResult | undefined> {
    const path = toKey(key);
    const signal = options?.signal;
    const response = await this.#send("stat", path, "HEAD", undefined, signal);
    if (isMissingStatus(response.status)) return this.#missing(response);
    // Some servers refuse HEAD (presigned GET URLs, minimal servers): ask for one byte instead.
    if (response.status === 405 || response.status === 501) {
      await response.discard();
      return this.#statByGet(path, signal);
    }
    if (!isSuccess(response.status)) throw await this.#statusError("stat", path, response);
    await response.discard();
    const size = parseLength(response.header("content-length"));
    if (size === undefined) return this.#statByGet(path, signal);
    return statOf(size, response);
  }

  async set(key: AbsolutePath, value: Uint8Array, options?: SetOptions): Promise<void> {
    await this.put(key, value, options);
  }

  async put(key: AbsolutePath, value: Uint8Array, options?: SetOptions): Promise<SetResult> {
    const path = toKey(key);
    if (!this.#writable) throw readOnlyError(BACKEND, "set", path);
    if (!(value instanceof Uint8Array)) {
      throw new StoreError({
        code: "Config",
        message: `${BACKEND} set ${path}: values must be Uint8Array`,
        operation: "set",
        key: path,
        backend: BACKEND,
      });
    }
    const headers = this.#conditionHeaders(path, options);
    headers["content-type"] = "application/octet-stream";
    const response = await this.#send("set", path, "PUT", headers, options?.signal, value);
    if (!isSuccess(response.status)) throw await this.#statusError("set", path, response);
    await response.discard();
    return { etag: response.header("etag") };
  }

  async delete(key: AbsolutePath, options?: CallOptions): Promise<void> {
    const path = toKey(key);
    if (!this.#writable) throw readOnlyError(BACKEND, "delete", path);
    const response = await this.#send("delete", path, "DELETE", undefined, options?.signal);
    if (isMissingStatus(response.status) || isSuccess(response.status)) {
      await response.discard();
      return;
    }
    throw await this.#statusError("delete", path, response);
  }

  async deletePrefix(prefix: string, _options?: CallOptions): Promise<void> {
    const folder = toPrefix(prefix);
    if (!this.#writable) throw readOnlyError(BACKEND, "deletePrefix", folder);
    throw unsupported(BACKEND, "deletePrefix", "plain HTTP cannot list the keys under a folder");
  }

  // biome-ignore lint/correctness/useYield: HTTP cannot list; the generator rejects on first use
  async *list(prefix?: string, _options?: CallOptions): AsyncIterable<AbsolutePath> {
    toPrefix(prefix);
    throw unsupported(BACKEND, "list", "plain HTTP cannot list; read consolidated metadata");
  }

  async listDir(prefix?: string, _options?: CallOptions): Promise<ListDirResult> {
    toPrefix(prefix);
    throw unsupported(BACKEND, "listDir", "plain HTTP cannot list; read consolidated metadata");
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#transport.close();
  }

  /** What a log may show: the URL without secrets, the transport, the header names only. */
  toJSON(): Record<string, unknown> {
    return {
      backend: BACKEND,
      url: this.url,
      transport: this.#transport.name,
      writable: this.#writable,
      headers: Object.keys(this.#headers),
    };
  }

  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return `HttpStore ${JSON.stringify(this.toJSON())}`;
  }

  /** The URL of a key: each segment percent-encoded, the base's query string kept. */
  #urlOf(key: AbsolutePath, operation: StoreOperation): string {
    try {
      return `${this.#base}${key.slice(1).split("/").map(encodeURIComponent).join("/")}${this.#search}`;
    } catch (cause) {
      // encodeURIComponent throws on lone surrogates, which no URL can carry.
      throw new StoreError({
        code: "InvalidKey",
        message: `invalid key ${JSON.stringify(key)}: it is not valid Unicode`,
        operation,
        key,
        backend: BACKEND,
        cause,
      });
    }
  }

  async #send(
    operation: StoreOperation,
    key: AbsolutePath,
    method: HttpMethod,
    extra: Record<string, string> | undefined,
    signal: AbortSignal | undefined,
    body?: Uint8Array,
  ): Promise<HttpResponse> {
    const url = this.#urlOf(key, operation);
    if (this.#closed) {
      throw new StoreError({
        code: "Config",
        message: `${BACKEND} ${this.url} is closed; open a new store`,
        operation,
        key,
        backend: BACKEND,
      });
    }
    if (signal?.aborted) {
      throw mapTransportError(signal.reason, this.#context(operation, key), signal);
    }
    // Transports copy the headers they send, so the shared object goes out as it is.
    const headers = extra === undefined ? this.#headers : { ...this.#headers, ...extra };
    try {
      return await this.#transport.request({ method, url, headers, body, signal });
    } catch (cause) {
      throw mapTransportError(cause, this.#context(operation, key), signal);
    }
  }

  async #read(
    operation: StoreOperation,
    key: AbsolutePath,
    response: HttpResponse,
    signal: AbortSignal | undefined,
    limit?: number,
  ): Promise<Uint8Array> {
    try {
      return await response.read(limit);
    } catch (cause) {
      if (cause instanceof TruncatedBodyError && !signal?.aborted) {
        throw new StoreError({
          code: "Integrity",
          message: `${BACKEND} ${operation} ${key}: truncated response (${cause.message}); retry`,
          operation,
          key,
          backend: BACKEND,
          status: response.status,
          retryable: true,
          cause,
        });
      }
      throw mapTransportError(cause, this.#context(operation, key), signal);
    }
  }

  /** Interprets the answer to a ranged GET (206, 200 with the whole body, 416, 404…). */
  async #rangeResponse(
    key: AbsolutePath,
    range: RangeQuery,
    response: HttpResponse,
    signal: AbortSignal | undefined,
  ): Promise<Uint8Array | undefined> {
    const status = response.status;
    if (isMissingStatus(status)) return this.#missing(response);
    if (status === 206) return this.#partial(key, range, response, signal);
    if (status === 416) {
      const size = unsatisfiedSize(response);
      await response.discard();
      if (size === undefined) throw mapHttpStatus(416, this.#context("getRange", key));
      resolveRange(range, size, key); // throws RangeNotSatisfiable unless the range is empty
      return EMPTY;
    }
    if (status === 200) return this.#fromWholeBody(key, range, response, signal);
    throw await this.#statusError("getRange", key, response);
  }

  /** A 206: checks that the server sent the range asked for, then reads it. */
  async #partial(
    key: AbsolutePath,
    range: RangeQuery,
    response: HttpResponse,
    signal: AbortSignal | undefined,
  ): Promise<Uint8Array> {
    const match = CONTENT_RANGE.exec(response.header("content-range") ?? "");
    const start = match ? Number(match[1]) : undefined;
    const end = match ? Number(match[2]) + 1 : undefined;
    const total = match && match[3] !== "*" ? Number(match[3]) : undefined;
    const wrong =
      start === undefined ||
      ("offset" in range ? start !== range.offset : total !== undefined && end !== total);
    if (wrong) {
      await response.discard();
      throw new StoreError({
        code: "Unexpected",
        message: `${BACKEND} getRange ${key}: the server answered ${JSON.stringify(rangeHeader(range))} with Content-Range ${JSON.stringify(response.header("content-range") ?? null)}`,
        operation: "getRange",
        key,
        backend: BACKEND,
        status: 206,
      });
    }
    const bytes = await this.#read("getRange", key, response, signal);
    if (end !== undefined && bytes.byteLength !== end - start) {
      throw new StoreError({
        code: "Integrity",
        message: `${BACKEND} getRange ${key}: Content-Range promised ${end - start} bytes, the body had ${bytes.byteLength}; retry`,
        operation: "getRange",
        key,
        backend: BACKEND,
        status: 206,
        retryable: true,
      });
    }
    return bytes;
  }

  /**
   * A 200 to a ranged GET: the server ignored Range and sends the whole value. Reads only up to
   * the end of the range and cancels the rest (a suffix needs the whole body).
   */
  async #fromWholeBody(
    key: AbsolutePath,
    range: RangeQuery,
    response: HttpResponse,
    signal: AbortSignal | undefined,
  ): Promise<Uint8Array> {
    const size = parseLength(response.header("content-length"));
    const encoded = (response.header("content-encoding") ?? "identity") !== "identity";
    if (size !== undefined && !encoded) {
      let resolved: { start: number; end: number };
      try {
        resolved = resolveRange(range, size, key);
      } catch (error) {
        await response.discard();
        throw error;
      }
      const bytes = await this.#read("getRange", key, response, signal, resolved.end);
      return bytes.subarray(resolved.start, resolved.end);
    }
    const offset = "offset" in range ? range.offset : undefined;
    const limit = "offset" in range ? range.offset + range.length : undefined;
    const bytes = await this.#read("getRange", key, response, signal, limit);
    // Fewer bytes than the limit means the body ended: it is the whole value.
    if (offset !== undefined && bytes.byteLength === limit) return bytes.subarray(offset);
    const { start, end } = resolveRange(range, bytes.byteLength, key);
    return bytes.subarray(start, end);
  }

  /** Reads a range by asking for the size first (HEAD), then for a plain range. */
  async #rangeBySize(
    key: AbsolutePath,
    range: RangeQuery,
    signal: AbortSignal | undefined,
  ): Promise<Uint8Array | undefined> {
    const stat = await this.stat(key, signal ? { signal } : undefined);
    if (stat === undefined) return undefined;
    const { start, end } = resolveRange(range, stat.size, key);
    if (start === end) return EMPTY;
    const plain = { offset: start, length: end - start };
    const response = await this.#send(
      "getRange",
      key,
      "GET",
      { range: rangeHeader(plain) },
      signal,
    );
    return this.#rangeResponse(key, plain, response, signal);
  }

  /** The server would not serve `bytes=-n`: remember that when it is a real refusal, then fall back. */
  async #afterSuffixRejected(
    key: AbsolutePath,
    range: { suffixLength: number },
    response: HttpResponse,
    signal: AbortSignal | undefined,
  ): Promise<Uint8Array | undefined> {
    const size = unsatisfiedSize(response);
    await response.discard();
    // RFC 9110: a suffix range of an empty value is unsatisfiable; that is no refusal.
    if (size === 0) return EMPTY;
    const value = await this.#rangeBySize(key, range, signal);
    if (value !== undefined && value.byteLength > 0) this.#suffixRange = false;
    return value;
  }

  /** Stat without HEAD: a one-byte GET whose Content-Range names the size. */
  async #statByGet(
    key: AbsolutePath,
    signal: AbortSignal | undefined,
  ): Promise<StatResult | undefined> {
    const response = await this.#send("stat", key, "GET", { range: "bytes=0-0" }, signal);
    if (isMissingStatus(response.status)) return this.#missing(response);
    if (response.status === 416) {
      const size = unsatisfiedSize(response);
      await response.discard();
      if (size !== undefined) return statOf(size, response);
    }
    if (response.status === 206) {
      const total = CONTENT_RANGE.exec(response.header("content-range") ?? "")?.[3];
      await response.discard();
      if (total !== undefined && total !== "*") return statOf(Number(total), response);
    }
    if (response.status === 200) {
      const value = await this.#read("stat", key, response, signal);
      return statOf(value.byteLength, response);
    }
    if (!isSuccess(response.status)) throw await this.#statusError("stat", key, response);
    await response.discard();
    throw new StoreError({
      code: "Unexpected",
      message: `${BACKEND} stat ${key}: the server reports no size (no Content-Length or Content-Range)`,
      operation: "stat",
      key,
      backend: BACKEND,
    });
  }

  #conditionHeaders(key: AbsolutePath, options?: SetOptions): Record<string, string> {
    const headers: Record<string, string> = {};
    const { ifNoneMatch, ifMatch } = options ?? {};
    if (ifNoneMatch === undefined && ifMatch === undefined) return headers;
    if (!this.#conditional) {
      throw unsupported(
        BACKEND,
        "set",
        `conditional writes need a server that honours If-Match/If-None-Match; pass conditionalWrite: true if ${this.url} does (key ${key})`,
      );
    }
    if (ifNoneMatch !== undefined) {
      if (ifNoneMatch !== "*") {
        throw new StoreError({
          code: "Config",
          message: `${BACKEND} set ${key}: ifNoneMatch must be "*"`,
          operation: "set",
          key,
          backend: BACKEND,
        });
      }
      headers["if-none-match"] = "*";
    }
    if (ifMatch !== undefined) headers["if-match"] = ifMatch;
    return headers;
  }

  async #missing(response: HttpResponse): Promise<undefined> {
    await response.discard();
    return undefined;
  }

  async #statusError(
    operation: StoreOperation,
    key: AbsolutePath,
    response: HttpResponse,
  ): Promise<StoreError> {
    let detail: string | undefined;
    try {
      detail = new TextDecoder().decode(await response.read(ERROR_DETAIL_LIMIT));
    } catch {
      detail = undefined;
    }
    return mapHttpStatus(response.status, {
      ...this.#context(operation, key),
      retryAfter: response.header("retry-after"),
      detail,
    });
  }

  #context(operation: StoreOperation, key: string) {
    return { backend: BACKEND, operation, key, url: this.url };
  }
}

/** Parses the base URL: http(s) only, a trailing `/` added, user info taken out of it. */
function parseBaseUrl(input: string | URL): { url: URL; credentials: string | undefined } {
  let url: URL;
  try {
    url = new URL(String(input));
  } catch (cause) {
    throw new StoreError({
      code: "Config",
      message: `${BACKEND}: ${JSON.stringify(redactUrl(String(input)))} is not a URL`,
      operation: "open",
      backend: BACKEND,
      cause,
    });
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new StoreError({
      code: "Config",
      message: `${BACKEND} needs an http:// or https:// URL, not ${url.protocol}//`,
      operation: "open",
      backend: BACKEND,
    });
  }
  // `user:password@` becomes a Basic authorization header: fetch refuses URLs that carry it.
  const userInfo = `${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`;
  const credentials = url.username || url.password ? btoa(binaryString(userInfo)) : undefined;
  url.username = "";
  url.password = "";
  url.hash = "";
  if (!url.pathname.endsWith("/")) url.pathname += "/";
  return { url, credentials };
}

/** UTF-8 bytes of a string as a binary string, which `btoa` accepts. */
function binaryString(text: string): string {
  return String.fromCharCode(...new TextEncoder().encode(text));
}

function lowerCaseHeaders(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) out[name.toLowerCase()] = String(value);
  return out;
}

function isSuccess(status: number): boolean {
  return status >= 200 && status <= 299;
}

/** A suffix request the server refused rather than answered (416 for a non-empty value, 400, 501). */
function rejectsSuffix(response: HttpResponse): boolean {
  const status = response.status;
  if (status === 400 || status === 501) return true;
  return status === 416 && unsatisfiedSize(response) !== 0;
}

/** The size in a 416's `Content-Range: bytes *\/size`. */
function unsatisfiedSize(response: HttpResponse): number | undefined {
  const match = UNSATISFIED_RANGE.exec(response.header("content-range") ?? "");
  return match ? Number(match[1]) : undefined;
}

function parseLength(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d+$/.test(value.trim())) return undefined;
  return Number(value);
}

function statOf(size: number, response: HttpResponse): StatResult {
  const modified = response.header("last-modified");
  const date = modified === undefined ? Number.NaN : Date.parse(modified);
  const stat: StatResult = { size };
  const etag = response.header("etag");
  if (etag !== undefined) stat.etag = etag;
  if (!Number.isNaN(date)) stat.lastModified = new Date(date);
  return stat;
}

/**
 * HttpStore options from `openStore`'s options: `headers`, `fetch`, `conditionalWrite`,
 * `suffixRange`; writable when `writable: true`, `readOnly: false` or `mode: "w"`.
 */
export function httpOptionsFrom(options: Readonly<Record<string, unknown>>): HttpStoreOptions {
  const out: HttpStoreOptions = {
    writable: options.writable === true || options.readOnly === false || options.mode === "w",
  };
  if (options.headers !== undefined) out.headers = options.headers as Record<string, string>;
  if (options.fetch !== undefined) out.fetch = options.fetch as FetchLike;
  if (typeof options.conditionalWrite === "boolean")
    out.conditionalWrite = options.conditionalWrite;
  if (typeof options.suffixRange === "boolean") out.suffixRange = options.suffixRange;
  return out;
}
