/**
 * The small HTTP client interface HttpStore talks through, and its `fetch` implementation
 * (browsers, Deno, Bun, workers, and Node when a caller passes `fetch`). The Node entry adds
 * an undici 7 `request()` transport (`http-transport.node.ts`).
 */
import { whenAborted } from "../abort.js";

/** The methods HttpStore sends. */
export type HttpMethod = "GET" | "HEAD" | "PUT" | "POST" | "DELETE";

/** One request; header names are lower-case. */
export interface HttpRequest {
  method: HttpMethod;
  url: string;
  /** Shared between requests: a transport copies it, never changes it. */
  headers: Readonly<Record<string, string>>;
  body?: Uint8Array | undefined;
  signal?: AbortSignal | undefined;
}

/** A response whose body has not been read yet. Read it, or discard it, exactly once. */
export interface HttpResponse {
  readonly status: number;
  /** A header's value (lower-case name), repeated headers joined by `, `. */
  header(name: string): string | undefined;
  /**
   * Reads the body. With `limit`, stops after `limit` bytes and cancels the rest of the body.
   * A body that ends before its `Content-Length` rejects with `TruncatedBodyError`.
   */
  read(limit?: number): Promise<Uint8Array>;
  /** Drops the body (small bodies are drained so the connection stays reusable). */
  discard(): Promise<void>;
}

/** Sends requests. `close` releases its sockets. */
export interface HttpTransport {
  /** What this transport is, for logs: `fetch`, `undici`… */
  readonly name: string;
  request(request: HttpRequest): Promise<HttpResponse>;
  close(): Promise<void>;
}

/** The `fetch` shape HttpStore needs (the global one fits, and so do most wrappers). */
export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

/** A body stopped before the length the server announced (or the connection broke mid-body). */
export class TruncatedBodyError extends Error {
  override readonly name = "TruncatedBodyError";
  readonly received: number;
  readonly expected: number | undefined;

  constructor(received: number, expected: number | undefined, cause?: unknown) {
    super(
      `the response body ended after ${received} bytes${expected === undefined ? "" : ` of ${expected}`}`,
      cause === undefined ? undefined : { cause },
    );
    this.received = received;
    this.expected = expected;
  }
}

// Error bodies up to this size are drained rather than cancelled, so keep-alive survives a 404.
const DRAIN_LIMIT = 64 * 1024;

/**
 * The `Content-Length` a body must match, or undefined when it cannot be checked: absent,
 * or the body is content-encoded (fetch decodes it, so the length counts other bytes).
 */
export function expectedLength(
  contentLength: string | undefined,
  contentEncoding: string | undefined,
): number | undefined {
  if (contentLength === undefined) return undefined;
  if (contentEncoding !== undefined && contentEncoding.toLowerCase() !== "identity") {
    return undefined;
  }
  const n = Number(contentLength);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/**
 * Collects chunks into one array, at most `limit` bytes. Preallocates when the length is
 * known so a large body is copied once.
 */
export class BodyCollector {
  readonly #limit: number;
  readonly #chunks: Uint8Array[] = [];
  #buffer: Uint8Array | undefined;
  #received = 0;

  constructor(expected: number | undefined, limit = Number.POSITIVE_INFINITY) {
    this.#limit = limit;
    if (expected !== undefined) this.#buffer = new Uint8Array(Math.min(expected, limit));
  }

  get received(): number {
    return this.#received;
  }

  /** Adds a chunk; returns false once the limit is reached (the caller cancels the rest). */
  add(chunk: Uint8Array): boolean {
    const room = this.#limit - this.#received;
    const part = chunk.byteLength > room ? chunk.subarray(0, room) : chunk;
    if (this.#buffer && this.#received + part.byteLength <= this.#buffer.byteLength) {
      this.#buffer.set(part, this.#received);
    } else {
      // The server sent more than it announced: fall back to collecting chunks.
      if (this.#buffer) {
        this.#chunks.push(this.#buffer.subarray(0, this.#received));
        this.#buffer = undefined;
      }
      this.#chunks.push(copyBytes(part));
    }
    this.#received += part.byteLength;
    return this.#received < this.#limit;
  }

  /** The bytes collected so far. */
  bytes(): Uint8Array {
    if (this.#buffer) return this.#buffer.subarray(0, this.#received);
    if (this.#chunks.length === 1) return this.#chunks[0] as Uint8Array;
    const out = new Uint8Array(this.#received);
    let at = 0;
    for (const chunk of this.#chunks) {
      out.set(chunk, at);
      at += chunk.byteLength;
    }
    return out;
  }
}

/** A plain Uint8Array copy (Node's `Buffer#slice` would return a view, and a Buffer). */
export function copyBytes(bytes: Uint8Array): Uint8Array {
  const copy = new Uint8Array(bytes.byteLength);
  copy.set(bytes);
  return copy;
}

/** A transport over a `fetch` function (the global one by default). */
export function fetchTransport(fetchFn?: FetchLike): HttpTransport {
  const send: FetchLike = fetchFn ?? ((input, init) => globalThis.fetch(input, init));
  return {
    name: fetchFn ? "custom fetch" : "fetch",
    async request(request) {
      const init: RequestInit = { method: request.method, headers: request.headers };
      if (request.body !== undefined) init.body = request.body as Uint8Array<ArrayBuffer>;
      const link = linkSignal(request.signal);
      if (link) init.signal = link.signal;
      try {
        const response = await send(request.url, init);
        // A HEAD reply or a bodiless one is done once its headers are in.
        if (request.method === "HEAD" || response.body === null) link?.release();
        return new FetchResponse(response, link?.release);
      } catch (error) {
        link?.release();
        throw error;
      }
    },
    async close() {},
  };
}

/**
 * A signal of the request's own that follows the caller's. A long-lived caller signal (a
 * copy's, a server's) is shared by every request in flight: given to fetch or undici directly,
 * each request adds a listener to it (Node warns past 10: "MaxListenersExceededWarning"), and
 * Node's fetch keeps its listener until the Request is garbage-collected. The caller's signal
 * gets one listener in all (`whenAborted`); `release()` once the body is read or dropped.
 */
export function linkSignal(
  caller: AbortSignal | undefined,
): { signal: AbortSignal; release: () => void } | undefined {
  if (caller === undefined) return undefined;
  const own = new AbortController();
  if (caller.aborted) own.abort(caller.reason);
  return { signal: own.signal, release: whenAborted(caller, () => own.abort(caller.reason)) };
}

class FetchResponse implements HttpResponse {
  readonly status: number;
  readonly #response: Response;
  readonly #release: () => void;

  constructor(response: Response, release: () => void = () => {}) {
    this.#response = response;
    this.status = response.status;
    this.#release = release;
  }

  header(name: string): string | undefined {
    return this.#response.headers.get(name) ?? undefined;
  }

  async read(limit?: number): Promise<Uint8Array> {
    try {
      return await this.#read(limit);
    } finally {
      this.#release();
    }
  }

  async #read(limit: number | undefined): Promise<Uint8Array> {
    const expected = expectedLength(this.header("content-length"), this.header("content-encoding"));
    const body = this.#response.body;
    if (body === null) return new Uint8Array(0);
    const collector = new BodyCollector(expected, limit);
    const reader = body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        if (!collector.add(value)) {
          // The rest of the body is not wanted: cancel it instead of downloading it.
          reader.cancel().catch(() => {});
          return collector.bytes();
        }
      }
    } catch (cause) {
      throw new TruncatedBodyError(collector.received, expected, cause);
    }
    if (expected !== undefined && collector.received < expected) {
      throw new TruncatedBodyError(collector.received, expected);
    }
    return collector.bytes();
  }

  async discard(): Promise<void> {
    const length = Number(this.header("content-length") ?? Number.NaN);
    try {
      if (length <= DRAIN_LIMIT) await this.#response.arrayBuffer();
      else await this.#response.body?.cancel();
    } catch {
      // A body we do not want failing to arrive changes nothing.
    } finally {
      this.#release();
    }
  }
}
