/**
 * HttpStore's Node transport: undici 7's `request()`, which costs about a third of the client
 * CPU per request of the global `fetch` (see notes/performance-anchors.md).
 */
import { promisify } from "node:util";
import { brotliDecompress, gunzip, inflate } from "node:zlib";
import { Agent, type Dispatcher, request } from "undici";
import {
  BodyCollector,
  expectedLength,
  type HttpRequest,
  type HttpResponse,
  type HttpTransport,
  linkSignal,
  TruncatedBodyError,
} from "./http-transport.js";

/** Options for `undiciTransport`. */
export interface UndiciTransportOptions {
  /** A dispatcher to share between stores; the caller closes it. Default: an Agent of our own. */
  dispatcher?: Dispatcher | undefined;
  /** Idle keep-alive sockets are closed after this many ms (default 10,000). */
  keepAliveTimeout?: number | undefined;
  /** Redirects followed per request (default 5). */
  maxRedirections?: number | undefined;
}

// Errors while reading a body that are timeouts, not truncation.
const BODY_TIMEOUT_CODES = new Set(["UND_ERR_BODY_TIMEOUT", "ETIMEDOUT"]);
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
// Error bodies up to this size are drained rather than destroyed, so keep-alive survives a 404.
const DRAIN_LIMIT = 64 * 1024;

const decoders: Record<string, (input: Uint8Array) => Promise<Uint8Array>> = {
  gzip: promisify(gunzip),
  "x-gzip": promisify(gunzip),
  deflate: promisify(inflate),
  br: promisify(brotliDecompress),
};

/**
 * A transport over undici's `request()` with a keep-alive Agent of its own (closed by
 * `close()`), pipelining off, redirects followed (up to `maxRedirections`). Asks for identity encoding and decodes
 * gzip/deflate/br itself when a server compresses anyway.
 */
export function undiciTransport(options: UndiciTransportOptions = {}): HttpTransport {
  const owned = options.dispatcher === undefined;
  const base =
    options.dispatcher ??
    new Agent({
      // 1: one request per connection at a time (no pipelining); a stalled response must not
      // hold up the requests queued behind it.
      pipelining: 1,
      keepAliveTimeout: options.keepAliveTimeout ?? 10_000,
    });
  const maxRedirections = options.maxRedirections ?? 5;
  return {
    name: "undici",
    async request(req) {
      const init: Parameters<typeof request>[1] = {
        method: req.method,
        headers: { "accept-encoding": "identity", ...req.headers },
        dispatcher: base,
      };
      if (req.body !== undefined) init.body = req.body;
      const link = linkSignal(req.signal);
      if (link) init.signal = link.signal;
      try {
        return await follow(req, init, link?.release);
      } catch (error) {
        link?.release();
        throw error;
      }
    },
    async close() {
      if (owned) await base.close();
    },
  };

  async function follow(
    req: HttpRequest,
    init: NonNullable<Parameters<typeof request>[1]>,
    release: (() => void) | undefined,
  ): Promise<HttpResponse> {
    let url = req.url;
    // Redirects are followed here rather than by undici's interceptor, which costs every
    // request a wrapper (about 10 µs of CPU each on this machine) for the rare redirect.
    for (let hops = 0; ; hops++) {
      const response = await request(url, init);
      const location = response.headers.location;
      if (!REDIRECTS.has(response.statusCode) || typeof location !== "string") {
        // A HEAD reply is done once its headers are in, whether or not anyone reads it.
        if (req.method === "HEAD") release?.();
        return new UndiciResponse(response, req.method, release);
      }
      await response.body.dump({ limit: DRAIN_LIMIT }).catch(() => {});
      if (hops >= maxRedirections) {
        throw new Error(`more than ${maxRedirections} redirects from ${new URL(req.url).origin}`);
      }
      const next = new URL(location, url);
      if (next.origin !== new URL(url).origin) {
        // Credentials are for the origin they were given for (fetch drops them too).
        const { authorization: _, ...rest } = init.headers as Record<string, string>;
        init.headers = rest;
      }
      url = next.href;
      if (response.statusCode === 303 && req.method !== "HEAD") {
        init.method = "GET";
        init.body = null;
      }
    }
  }
}

class UndiciResponse implements HttpResponse {
  readonly status: number;
  readonly #data: Dispatcher.ResponseData<unknown>;
  readonly #method: string;
  /** Stops following the caller's signal; set only when the request had one. */
  readonly #release: (() => void) | undefined;

  constructor(data: Dispatcher.ResponseData<unknown>, method: string, release?: () => void) {
    this.#data = data;
    this.#method = method;
    this.status = data.statusCode;
    this.#release = release;
  }

  header(name: string): string | undefined {
    const value = this.#data.headers[name];
    return Array.isArray(value) ? value.join(", ") : value;
  }

  read(limit?: number): Promise<Uint8Array> {
    if (this.#method === "HEAD") {
      this.#release?.();
      return Promise.resolve(new Uint8Array(0));
    }
    const encoding = this.#data.headers["content-encoding"];
    // The common case goes straight to the body: one async layer less per read.
    const reading =
      encoding === undefined || encoding === "identity"
        ? this.#collect(limit)
        : this.#readEncoded(String(encoding).toLowerCase(), limit);
    return this.#release ? reading.finally(this.#release) : reading;
  }

  async #readEncoded(encoding: string, limit: number | undefined): Promise<Uint8Array> {
    const decode = decoders[encoding];
    if (decode === undefined) {
      this.#data.body.destroy();
      throw new Error(`unsupported Content-Encoding ${encoding}`);
    }
    // Encoded bodies are decoded whole before any limit applies.
    const decoded = await decode(await this.#collect(undefined));
    const bytes = new Uint8Array(decoded.buffer, decoded.byteOffset, decoded.byteLength);
    return limit === undefined ? bytes : bytes.subarray(0, limit);
  }

  async #collect(limit: number | undefined): Promise<Uint8Array> {
    const body = this.#data.body;
    const expected = expectedLength(this.header("content-length"), undefined);
    const collector = new BodyCollector(expected, limit);
    try {
      for await (const chunk of body) {
        if (!collector.add(chunk as Uint8Array)) {
          // Leaving the loop destroys the body: undici stops reading and drops the socket.
          return collector.bytes();
        }
      }
    } catch (cause) {
      const code = (cause as { code?: unknown }).code;
      if (typeof code === "string" && BODY_TIMEOUT_CODES.has(code)) throw cause;
      if ((cause as { name?: unknown }).name === "AbortError") throw cause;
      throw new TruncatedBodyError(collector.received, expected, cause);
    }
    if (expected !== undefined && collector.received < expected) {
      throw new TruncatedBodyError(collector.received, expected);
    }
    return collector.bytes();
  }

  async discard(): Promise<void> {
    try {
      // Drains up to the limit (the socket stays reusable), destroys a longer body.
      await this.#data.body.dump({ limit: DRAIN_LIMIT });
    } catch {
      // A body we do not want failing to arrive changes nothing.
    } finally {
      this.#release?.();
    }
  }
}
