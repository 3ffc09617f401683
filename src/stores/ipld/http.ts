/** HTTP plumbing shared by the Kubo RPC and gateway block stores (fetch only: runtime-neutral). */
import { StoreError, type StoreErrorCode } from "../../errors.js";
import type { CallOptions } from "../../store.js";

/** HTTP status → error code, for the IPFS HTTP APIs. */
const STATUS_CODES: Record<number, StoreErrorCode> = {
  400: "Config",
  401: "Unauthenticated",
  403: "PermissionDenied",
  404: "NotFound",
  405: "Config",
  408: "Timeout",
  409: "Conflict",
  412: "ConditionFailed",
  413: "Unsupported",
  416: "RangeNotSatisfiable",
  429: "RateLimited",
  500: "Unexpected",
  501: "Unsupported",
  502: "Unavailable",
  503: "Unavailable",
  504: "Timeout",
};

/** The error code for an HTTP status. */
export function codeForStatus(status: number): StoreErrorCode {
  return STATUS_CODES[status] ?? (status >= 500 ? "Unavailable" : "Unexpected");
}

/** An endpoint: its base URL without credentials, and the headers to send (credentials moved there). */
export interface Endpoint {
  /** The base URL as shown in messages: never holds credentials. */
  base: string;
  headers: Record<string, string>;
}

/**
 * Parses a base URL: strips a trailing `/` and `suffix` (e.g. `/api/v0`), and moves
 * `user:password@` into a Basic `Authorization` header so it never shows in messages.
 */
export function parseEndpoint(
  url: string,
  suffix: string,
  headers: Record<string, string> = {},
  backend = "IPFS",
): Endpoint {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new StoreError({
      code: "Config",
      message: `${backend}: not a URL: ${JSON.stringify(url.replace(/\/\/[^@/]*@/, "//***@"))}`,
      backend,
    });
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new StoreError({
      code: "Config",
      message: `${backend}: the URL must be http(s), got ${parsed.protocol}`,
      backend,
    });
  }
  const out = { ...headers };
  if (parsed.username || parsed.password) {
    const user = decodeURIComponent(parsed.username);
    const password = decodeURIComponent(parsed.password);
    out.authorization ??= `Basic ${btoa(`${user}:${password}`)}`;
    parsed.username = "";
    parsed.password = "";
  }
  let base = parsed.toString().replace(/\/+$/, "");
  if (base.endsWith(suffix)) base = base.slice(0, -suffix.length);
  return { base, headers: out };
}

/** Options for one request. */
export interface RequestOptions extends CallOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: Uint8Array;
  timeoutMs: number;
  fetch: typeof globalThis.fetch;
  backend: string;
  operation: string;
  key?: string | undefined;
}

/** Sends a request; network failures, timeouts and aborts become StoreErrors. */
export async function send(url: string, options: RequestOptions): Promise<Response> {
  const timeout = AbortSignal.timeout(options.timeoutMs);
  const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
  try {
    return await options.fetch(url, {
      method: options.method ?? "GET",
      headers: options.headers ?? {},
      body: (options.body ?? null) as Uint8Array<ArrayBuffer> | null,
      signal,
    });
  } catch (cause) {
    const shown = url.split("?")[0];
    if (options.signal?.aborted) {
      throw new StoreError({
        code: "Aborted",
        message: "the operation was aborted",
        operation: options.operation,
        key: options.key,
        backend: options.backend,
        cause,
      });
    }
    if (timeout.aborted) {
      throw new StoreError({
        code: "Timeout",
        message: `${options.backend}: no answer from ${shown} within ${options.timeoutMs} ms`,
        operation: options.operation,
        key: options.key,
        backend: options.backend,
        cause,
      });
    }
    throw new StoreError({
      code: "Unavailable",
      message: `${options.backend}: cannot reach ${shown} (${(cause as Error)?.message ?? cause})`,
      operation: options.operation,
      key: options.key,
      backend: options.backend,
      cause,
    });
  }
}

/** The error for a failed response, with the server's message (Kubo's JSON `Message` or text). */
export async function responseError(
  response: Response,
  backend: string,
  operation: string,
  key?: string,
  hint = "",
): Promise<StoreError> {
  const text = await response.text().catch(() => "");
  let message = text.trim();
  try {
    const parsed = JSON.parse(text) as { Message?: string };
    if (typeof parsed.Message === "string") message = parsed.Message;
  } catch {
    // Not JSON: keep the text.
  }
  return new StoreError({
    code: codeForStatus(response.status),
    message: `${backend}: ${operation}${key ? ` ${key}` : ""} failed with HTTP ${response.status}: ${message.slice(0, 300)}${hint}`,
    operation,
    key,
    backend,
    status: response.status,
  });
}

/** Reads a response body whole. */
export async function bodyBytes(response: Response): Promise<Uint8Array> {
  return new Uint8Array(await response.arrayBuffer());
}

/** Runs `work` over `items` with at most `limit` in flight. */
export async function pool<T>(
  items: Iterable<T>,
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  const iterator = items[Symbol.iterator]();
  const lanes = Array.from({ length: Math.max(1, limit) }, async () => {
    for (let next = iterator.next(); !next.done; next = iterator.next()) await work(next.value);
  });
  await Promise.all(lanes);
}
