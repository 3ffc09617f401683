/**
 * One table from HTTP statuses (and transport failures) to `StoreError`s, shared by every
 * HTTP-based backend (HTTP, S3, Swift, Azure, GCS…). A backend passes its name, the operation
 * and the key; it maps "missing" (404/410) to `undefined` itself before calling here when the
 * operation allows it.
 *
 * @example
 * if (!response.ok) throw mapHttpStatus(response.status, {
 *   backend: "S3Store", operation: "get", key,
 *   retryAfter: response.headers.get("retry-after"), detail: await response.text(),
 * });
 */
import { abortError, StoreError, type StoreErrorCode, type StoreOperation } from "../errors.js";
import { type HttpResponse, TruncatedBodyError } from "../stores/http-transport.js";

/** What an HTTP backend knows about the failed call. Never put credentials in here. */
export interface HttpErrorContext {
  /** The store's name, e.g. `HttpStore`. */
  backend: string;
  operation: StoreOperation;
  key?: string | undefined;
  /** Where the request went, already free of credentials (see `redactUrl`). */
  url?: string | undefined;
  /** The response's `Retry-After` header, if any. */
  retryAfter?: string | null | undefined;
  /** Text from the server's error body (trimmed and shortened here). */
  detail?: string | undefined;
  /** A hint that beats the table's own (e.g. "check ST_KEY"). */
  hint?: string | undefined;
  /** The clock for HTTP-date Retry-After values (milliseconds since the epoch). */
  now?: number | undefined;
}

/** One row of the status table. */
export interface StatusRule {
  code: StoreErrorCode;
  retryable: boolean;
  hint: string;
}

// The table. Rows say what a user can do; `retryable` is true only where waiting cures it.
const RULES: Readonly<Record<number, StatusRule>> = {
  304: { code: "ConditionFailed", retryable: false, hint: "the value has not changed" },
  400: {
    code: "Unexpected",
    retryable: false,
    hint: "the server rejected the request as malformed",
  },
  401: {
    code: "Unauthenticated",
    retryable: false,
    hint: "check the credentials or token (missing, wrong or expired)",
  },
  403: {
    code: "PermissionDenied",
    retryable: false,
    hint: "the credentials lack permission for this key, or the resource is private",
  },
  404: { code: "NotFound", retryable: false, hint: "no value at this key" },
  405: {
    code: "Unsupported",
    retryable: false,
    hint: "the server does not allow this method here",
  },
  408: { code: "Timeout", retryable: true, hint: "the server timed out waiting for the request" },
  409: { code: "Conflict", retryable: false, hint: "a conflicting change is in progress" },
  410: { code: "NotFound", retryable: false, hint: "the value was removed" },
  411: { code: "Unexpected", retryable: false, hint: "the server requires Content-Length" },
  412: {
    code: "ConditionFailed",
    retryable: false,
    hint: "the value changed or exists (If-Match / If-None-Match)",
  },
  413: { code: "Config", retryable: false, hint: "the value is larger than the server accepts" },
  414: { code: "InvalidKey", retryable: false, hint: "the key is too long for the server" },
  416: {
    code: "RangeNotSatisfiable",
    retryable: false,
    hint: "the range starts at or past the end of the value",
  },
  428: {
    code: "ConditionFailed",
    retryable: false,
    hint: "the server requires a conditional request",
  },
  429: { code: "RateLimited", retryable: true, hint: "too many requests; slow down" },
  499: { code: "Unavailable", retryable: true, hint: "the server closed the request" },
  501: { code: "Unsupported", retryable: false, hint: "the server does not implement this" },
  505: { code: "Unsupported", retryable: false, hint: "the server rejects this HTTP version" },
};

const SERVER_FAILURE: StatusRule = {
  code: "Unavailable",
  retryable: true,
  hint: "the server failed or is overloaded; retry later",
};
const CLIENT_FAILURE: StatusRule = {
  code: "Unexpected",
  retryable: false,
  hint: "the server refused the request",
};
const ODD_STATUS: StatusRule = {
  code: "Unexpected",
  retryable: false,
  hint: "the server answered with a status this store does not expect",
};

/** The table row for a status: its code, whether a retry may cure it, and a hint. */
export function statusRule(status: number): StatusRule {
  const rule = RULES[status];
  if (rule) return rule;
  if (status >= 500 && status <= 599) return SERVER_FAILURE;
  if (status >= 400 && status <= 499) return CLIENT_FAILURE;
  return ODD_STATUS;
}

/** Tells whether a status means "no value here" (404 Not Found, 410 Gone). */
export function isMissingStatus(status: number): boolean {
  return status === 404 || status === 410;
}

/**
 * Turns an HTTP error status into a `StoreError`: code and retryable flag from the table,
 * `retryAfterMs` from `Retry-After`, a message naming the backend, operation, key and status,
 * with a hint a user can act on and the start of the server's own explanation.
 */
export function mapHttpStatus(status: number, ctx: HttpErrorContext): StoreError {
  const rule = statusRule(status);
  const retryAfterMs = parseRetryAfter(ctx.retryAfter, ctx.now);
  const where = ctx.key ? ` ${ctx.key}` : "";
  const url = ctx.url ? ` (${ctx.url})` : "";
  const detail = shortDetail(ctx.detail);
  const wait = retryAfterMs === undefined ? "" : `; the server asks to wait ${retryAfterMs} ms`;
  return new StoreError({
    code: rule.code,
    message: `${ctx.backend} ${ctx.operation}${where}: HTTP ${status}${url}: ${ctx.hint ?? rule.hint}${wait}${detail ? ` (server said: ${detail})` : ""}`,
    operation: ctx.operation,
    key: ctx.key,
    backend: ctx.backend,
    status,
    retryable: rule.retryable,
    retryAfterMs,
  });
}

/**
 * Parses a `Retry-After` header into milliseconds to wait: delta-seconds (`"120"`) or an
 * HTTP-date (`"Wed, 21 Oct 2015 07:28:00 GMT"`, counted from `now`). A date in the past is 0;
 * anything unparsable is `undefined`.
 */
export function parseRetryAfter(
  value: string | null | undefined,
  now: number = Date.now(),
): number | undefined {
  if (value === null || value === undefined) return undefined;
  const text = value.trim();
  if (text === "") return undefined;
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  if (/^\d+\.\d+$/.test(text)) return Math.round(Number(text) * 1000);
  // An HTTP-date names its weekday and month; Date.parse alone would read "-5" as a year.
  if (!/[a-z]{3}/i.test(text)) return undefined;
  const date = Date.parse(text);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

// Transport error codes (Node's and undici's) and what they mean for a caller.
const TIMEOUT_CODES = new Set([
  "ETIMEDOUT",
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
]);
const UNREACHABLE_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENETDOWN",
  "EAI_AGAIN",
  "UND_ERR_SOCKET",
  "UND_ERR_CLOSED",
]);
const CONFIG_CODES = new Set([
  "ENOTFOUND",
  "UND_ERR_INVALID_ARG",
  "ERR_INVALID_URL",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "CERT_HAS_EXPIRED",
]);

/**
 * Turns a transport failure (no HTTP status: refused, reset, timed out, aborted, bad
 * certificate…) into a `StoreError`. Aborts become `Aborted`/`Timeout` from the signal's
 * reason; resets and refusals are `Unavailable` (retryable); timeouts `Timeout`; DNS and TLS
 * mistakes `Config`. A `StoreError` passes through unchanged.
 */
export function mapTransportError(
  cause: unknown,
  ctx: HttpErrorContext,
  signal?: AbortSignal,
): StoreError {
  if (cause instanceof StoreError) return cause;
  if (signal?.aborted) {
    const error = abortError(signal, ctx.operation, ctx.key);
    return new StoreError({
      code: error.code,
      message: `${ctx.backend} ${ctx.operation}${ctx.key ? ` ${ctx.key}` : ""}: ${error.message}`,
      operation: ctx.operation,
      key: ctx.key,
      backend: ctx.backend,
      cause: signal.reason,
    });
  }
  const code = errorCodeOf(cause);
  const what = describeCause(cause, code);
  const where = `${ctx.backend} ${ctx.operation}${ctx.key ? ` ${ctx.key}` : ""}${ctx.url ? ` (${ctx.url})` : ""}`;
  const init = { operation: ctx.operation, key: ctx.key, backend: ctx.backend, cause };
  if (code !== undefined && TIMEOUT_CODES.has(code)) {
    return new StoreError({ ...init, code: "Timeout", message: `${where}: timed out (${what})` });
  }
  if (code !== undefined && CONFIG_CODES.has(code)) {
    return new StoreError({
      ...init,
      code: "Config",
      message: `${where}: ${what}; check the URL, host name and certificates`,
    });
  }
  const known = code !== undefined && UNREACHABLE_CODES.has(code);
  return new StoreError({
    ...init,
    code: "Unavailable",
    retryable: true,
    message: `${where}: ${known ? "connection failed" : "request failed"} (${what}); is the server up?`,
  });
}

/** Finds a Node/undici error code (`ECONNRESET`, `UND_ERR_SOCKET`…) on an error or its causes. */
export function errorCodeOf(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current instanceof Object; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string") return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

function describeCause(cause: unknown, code: string | undefined): string {
  const message = cause instanceof Error ? cause.message : String(cause);
  const inner =
    cause instanceof Error && cause.cause instanceof Error ? `: ${cause.cause.message}` : "";
  return `${code ? `${code} ` : ""}${message}${inner}`;
}

/** Removes user info and query values from a URL for messages and logs (`?X-Amz-Signature=…` → `?X-Amz-Signature=***`). */
export function redactUrl(url: string | URL): string {
  let parsed: URL;
  try {
    parsed = new URL(String(url));
  } catch {
    return "<invalid URL>";
  }
  parsed.username = "";
  parsed.password = "";
  const names = [...parsed.searchParams.keys()];
  if (names.length === 0) return parsed.href;
  const search = names.map((name) => `${encodeURIComponent(name)}=***`).join("&");
  // `origin` is "null" for schemes other than http(s) and a few more (s3://, az://, swift://).
  return `${parsed.protocol}//${parsed.host}${parsed.pathname}?${search}`;
}

function shortDetail(detail: string | undefined): string {
  if (!detail) return "";
  const flat = detail.replace(/\s+/g, " ").trim();
  return flat.length > 200 ? `${flat.slice(0, 200)}…` : flat;
}

/**
 * Reads a response body whole for an object-store backend: a body shorter than announced is a
 * retryable `Integrity` error, other failures go through `mapTransportError`.
 */
export async function readWhole(
  response: HttpResponse,
  ctx: Pick<HttpErrorContext, "backend" | "operation" | "key">,
  signal?: AbortSignal,
): Promise<Uint8Array> {
  try {
    return await response.read();
  } catch (cause) {
    if (cause instanceof TruncatedBodyError) {
      throw new StoreError({
        code: "Integrity",
        message: `${ctx.backend} ${ctx.operation}${ctx.key ? ` ${ctx.key}` : ""}: ${cause.message}; retry the read`,
        operation: ctx.operation,
        key: ctx.key,
        backend: ctx.backend,
        retryable: true,
        cause,
      });
    }
    throw mapTransportError(cause, ctx, signal);
  }
}
