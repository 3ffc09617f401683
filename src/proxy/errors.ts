/**
 * How the proxy reports failures: one `ProxyError` with an HTTP status and a message a client
 * can act on, sent as JSON `{"message": …}`. Store failures upstream become 502 (or 504 for
 * timeouts); a client's mistake is always a 4xx, never a bare 500.
 */
import { isStoreError, type StoreError } from "../errors.js";

/** A failure with the HTTP status to answer it with. */
export class ProxyError extends Error {
  override readonly name = "ProxyError";
  readonly status: number;
  /** Extra response headers (`Allow`, `WWW-Authenticate`, `Retry-After`…). */
  readonly headers: Readonly<Record<string, string>>;

  constructor(
    status: number,
    message: string,
    headers: Record<string, string> = {},
    cause?: unknown,
  ) {
    super(message, cause === undefined ? undefined : { cause });
    this.status = status;
    this.headers = headers;
  }
}

/** 400: the request itself is wrong (header, chunk key, unknown variable). */
export function badRequest(message: string): ProxyError {
  return new ProxyError(400, message);
}

/** 404: nothing under this key. */
export function notFound(message: string): ProxyError {
  return new ProxyError(404, message);
}

/** 413: the answer would be larger than the proxy's limits allow. */
export function tooLarge(message: string): ProxyError {
  return new ProxyError(413, message);
}

/**
 * Maps any failure to a `ProxyError`. Upstream store errors become 502 (504 for timeouts),
 * except the ones a client caused: an invalid key is 400, a range past the end 416.
 * Anything else is a 500 that says it is the proxy's fault, not the client's.
 */
export function toProxyError(error: unknown): ProxyError {
  if (error instanceof ProxyError) return error;
  if (isStoreError(error)) return fromStoreError(error);
  const message = error instanceof Error ? error.message : String(error);
  return new ProxyError(500, `internal error in the proxy: ${message}`, {}, error);
}

function fromStoreError(error: StoreError): ProxyError {
  switch (error.code) {
    case "InvalidKey":
    case "Config":
      return new ProxyError(400, error.message, {}, error);
    case "RangeNotSatisfiable":
      return new ProxyError(416, error.message, {}, error);
    case "Timeout":
      return new ProxyError(504, `upstream timed out: ${error.message}`, {}, error);
    case "Aborted":
      return new ProxyError(504, `upstream read was aborted: ${error.message}`, {}, error);
    default:
      return new ProxyError(502, `upstream ${describeCode(error)}: ${error.message}`, {}, error);
  }
}

function describeCode(error: StoreError): string {
  const status = error.status === undefined ? "" : ` (HTTP ${error.status})`;
  return `failure [${error.code}]${status}`;
}
