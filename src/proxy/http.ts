/**
 * The HTTP side of the proxy, runtime-neutral: the plain request/response shapes the core
 * works with, and conditional requests, ranges and CORS on them.
 */
import { ProxyError } from "./errors.js";

/** What the core reads from a request (a `Request` has all of it). */
export interface ProxyRequest {
  method: string;
  /** An absolute URL, or a path with its query (`/air/.zmetadata`). */
  url: string;
  headers: { get(name: string): string | null | undefined };
  signal?: AbortSignal | undefined;
}

/** What the core answers: a status, headers (lower-case names) and the body bytes. */
export interface ProxyResponse {
  status: number;
  headers: Record<string, string>;
  /** `undefined` for HEAD, 204 and 304. */
  body: Uint8Array | undefined;
  /** Call once the body has been written, so that its buffer can serve the next response. */
  release?: (() => void) | undefined;
}

/** How browsers may use the proxy. */
export interface CorsOptions {
  /** `Access-Control-Allow-Origin` (default `*`). */
  origin?: string;
  /** Seconds a browser may cache a preflight answer (default 600). */
  maxAge?: number;
}

// Request headers a browser may send: `chunks` is the reason the preflight exists.
const ALLOWED_HEADERS = "chunks, range, if-none-match, if-modified-since, authorization";
const EXPOSED_HEADERS = "etag, content-length, content-range, accept-ranges, vary";

/** The CORS headers every response carries. */
export function corsHeaders(cors: CorsOptions): Record<string, string> {
  return {
    "access-control-allow-origin": cors.origin ?? "*",
    "access-control-expose-headers": EXPOSED_HEADERS,
  };
}

/** The answer to an `OPTIONS` request (a CORS preflight or a plain one). */
export function preflight(cors: CorsOptions): ProxyResponse {
  return {
    status: 204,
    headers: {
      ...corsHeaders(cors),
      "access-control-allow-methods": "GET, HEAD, OPTIONS",
      "access-control-allow-headers": ALLOWED_HEADERS,
      "access-control-max-age": String(cors.maxAge ?? 600),
      allow: "GET, HEAD, OPTIONS",
    },
    body: undefined,
  };
}

/** A strong ETag from two 32-bit hashes. */
export function etag(prefix: string, first: number, second: number): string {
  return `"${prefix}${hex8(first)}${hex8(second)}"`;
}

function hex8(value: number): string {
  return (value >>> 0).toString(16).padStart(8, "0");
}

/** Tells whether `If-None-Match` names this ETag (weak comparison, as RFC 9110 asks for GET). */
export function notModified(ifNoneMatch: string | null | undefined, tag: string): boolean {
  if (!ifNoneMatch) return false;
  const bare = tag.replace(/^W\//, "");
  return ifNoneMatch
    .split(",")
    .map((t) => t.trim())
    .some((t) => t === "*" || t.replace(/^W\//, "") === bare);
}

/** A byte range asked for by a `Range` header, resolved against the body's size. */
export interface ByteRange {
  start: number;
  /** Exclusive. */
  end: number;
}

/**
 * Reads a `Range` header against a body of `size` bytes: one `bytes=a-b`, `bytes=a-` or
 * `bytes=-n` range. Returns `undefined` to serve the whole body (no header, a header this
 * parser does not take such as several ranges: RFC 9110 lets a server ignore those), or throws
 * 416 when the range starts past the end.
 */
export function parseRange(header: string | null | undefined, size: number): ByteRange | undefined {
  // An empty body has no byte to point at: serve it whole rather than answer 416.
  if (!header || size === 0) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match) return undefined;
  const [, first = "", last = ""] = match;
  if (first === "" && last === "") return undefined;
  if (first === "") {
    const suffix = Number(last);
    if (suffix === 0) throw unsatisfiable(size);
    return { start: Math.max(0, size - suffix), end: size };
  }
  const start = Number(first);
  const end = last === "" ? size : Math.min(size, Number(last) + 1);
  if (last !== "" && Number(last) < start) return undefined;
  if (start >= size) throw unsatisfiable(size);
  return { start, end };
}

function unsatisfiable(size: number): ProxyError {
  return new ProxyError(416, `the range starts past the end of the ${size}-byte body`, {
    "content-range": `bytes */${size}`,
  });
}

/**
 * The response for a body: 200 with it, 206 with the part a `Range` header asks for, 304 when
 * `If-None-Match` names its ETag. HEAD gets the same headers and no body.
 */
export function bodyResponse(
  request: ProxyRequest,
  body: Uint8Array,
  headers: Record<string, string>,
): ProxyResponse {
  const tag = headers.etag;
  if (tag !== undefined && notModified(request.headers.get("if-none-match"), tag)) {
    return { status: 304, headers: withoutContentHeaders(headers), body: undefined };
  }
  const head = request.method === "HEAD";
  const range = parseRange(request.headers.get("range"), body.byteLength);
  const out: Record<string, string> = { ...headers, "accept-ranges": "bytes" };
  if (range === undefined) {
    out["content-length"] = String(body.byteLength);
    return { status: 200, headers: out, body: head ? undefined : body };
  }
  out["content-range"] = `bytes ${range.start}-${range.end - 1}/${body.byteLength}`;
  out["content-length"] = String(range.end - range.start);
  return {
    status: 206,
    headers: out,
    body: head ? undefined : body.subarray(range.start, range.end),
  };
}

function withoutContentHeaders(headers: Record<string, string>): Record<string, string> {
  const { "content-type": _type, "content-length": _length, ...rest } = headers;
  return rest;
}

const encoder = new TextEncoder();

/** A JSON body response (errors, the index, `/health`). */
export function jsonResponse(
  status: number,
  value: unknown,
  headers: Record<string, string> = {},
): ProxyResponse {
  const body = encoder.encode(JSON.stringify(value));
  return {
    status,
    headers: {
      "content-type": "application/json",
      "content-length": String(body.byteLength),
      ...headers,
    },
    body,
  };
}

/** The request's path, from an absolute URL or a path with a query. */
export function pathOf(url: string): string {
  if (url.startsWith("/")) {
    const query = url.search(/[?#]/);
    return query === -1 ? url : url.slice(0, query);
  }
  return new URL(url).pathname;
}

/** Converts a core response to a fetch `Response`. */
export function toResponse(response: ProxyResponse): Response {
  return new Response(response.body as Uint8Array<ArrayBuffer> | undefined, {
    status: response.status,
    headers: response.headers,
  });
}
