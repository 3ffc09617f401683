/**
 * Requests to a Swift storage URL: URL building, the auth token, one re-authentication per
 * 401 when credentials are known, transport failures and short bodies as `StoreError`s.
 */
import type { StoreOperation } from "../../errors.js";
import type { SwiftAuthenticator, SwiftSession } from "./auth.js";
import { mapSwiftStatus, mapSwiftTransport, type SwiftErrorContext, swiftError } from "./errors.js";

type FetchLike = typeof globalThis.fetch;

/** One request: the account (no container), a container, or an object in it. */
export interface SwiftCall {
  method: "GET" | "HEAD" | "PUT" | "POST" | "DELETE";
  container?: string | undefined;
  /** The object name inside the container, unencoded (`zarr-demo/foo/.zgroup`). */
  object?: string | undefined;
  query?: Record<string, string | undefined> | undefined;
  headers?: Record<string, string> | undefined;
  body?: Uint8Array | string | undefined;
  signal?: AbortSignal | undefined;
  operation: StoreOperation;
  /** The store key, for error messages. */
  key?: string | undefined;
}

/** Encodes an object name for a URL path, keeping its `/` separators. */
export function encodeObjectName(name: string): string {
  return name.split("/").map(encodeURIComponent).join("/");
}

/** The URL of the account, a container or an object under a storage URL. */
export function swiftUrl(
  storageUrl: string,
  container?: string,
  object?: string,
  query?: Record<string, string | undefined>,
): string {
  let url = storageUrl;
  if (container !== undefined) url += `/${encodeURIComponent(container)}`;
  if (object !== undefined) url += `/${encodeObjectName(object)}`;
  const params = Object.entries(query ?? {}).filter(([, v]) => v !== undefined) as [
    string,
    string,
  ][];
  if (params.length > 0) url += `?${new URLSearchParams(params).toString()}`;
  return url;
}

/** Sends requests with the current token; the caller reads or cancels the response body. */
export class SwiftClient {
  readonly auth: SwiftAuthenticator;
  readonly #fetch: FetchLike;

  constructor(auth: SwiftAuthenticator, fetchImpl: FetchLike) {
    this.auth = auth;
    this.#fetch = fetchImpl;
  }

  /**
   * Sends a call and returns the response, whatever its status, except 401: with known
   * credentials the token is renewed and the call sent once more; a second 401, or a 401 on a
   * bare pre-authenticated token, is an `Unauthenticated` error (never a missing key).
   */
  async send(call: SwiftCall): Promise<Response> {
    let session = await this.auth.session(call.signal);
    let response = await this.#sendWith(session, call);
    if (response.status === 401 && this.auth.canReauthenticate) {
      await response.body?.cancel();
      session = await this.auth.renew(session, call.signal);
      response = await this.#sendWith(session, call);
    }
    if (response.status === 401) {
      await response.body?.cancel();
      const hint = this.auth.canReauthenticate
        ? "a freshly issued token was rejected too; check the user's rights and the auth URL"
        : "the pre-authenticated token is invalid or expired; acquire a new one (zarrstore swift token) or pass credentials so the store can renew it";
      throw mapSwiftStatus(401, { ...context(call), hint });
    }
    return response;
  }

  /** Sends a call and throws the mapped error for any status outside `ok`. */
  async expect(call: SwiftCall, ok: (status: number) => boolean): Promise<Response> {
    const response = await this.send(call);
    if (!ok(response.status)) throw await errorFrom(response, call);
    return response;
  }

  async #sendWith(session: SwiftSession, call: SwiftCall): Promise<Response> {
    const url = swiftUrl(session.storageUrl, call.container, call.object, call.query);
    const headers: Record<string, string> = { ...call.headers, "X-Auth-Token": session.token };
    try {
      return await this.#fetch(url, {
        method: call.method,
        headers,
        // TS 5.9 types BodyInit over ArrayBuffer only; values over a SharedArrayBuffer are
        // as sendable at runtime.
        body: (call.body ?? null) as BodyInit | null,
        signal: call.signal ?? null,
      });
    } catch (cause) {
      throw mapSwiftTransport(cause, context(call), call.signal);
    }
  }
}

/** The error for a failed response (its body is read for the server's explanation). */
export async function errorFrom(
  response: Response,
  call: SwiftCall,
  hint?: string,
): Promise<Error> {
  let detail = "";
  try {
    detail = call.method === "HEAD" ? "" : stripHtml(await response.text());
  } catch {
    // The status says enough; a broken error body must not hide it.
  }
  return mapSwiftStatus(response.status, {
    ...context(call),
    retryAfter: response.headers.get("retry-after"),
    detail,
    hint,
  });
}

/**
 * Reads a whole body and checks it against `Content-Length`: a connection that ends early is
 * an `Integrity` (retryable) error that says how many bytes arrived, never a short value.
 */
export async function readBody(response: Response, call: SwiftCall): Promise<Uint8Array> {
  const declared = response.headers.get("content-length");
  const encoded = response.headers.get("content-encoding");
  const expected = declared !== null && !encoded ? Number(declared) : undefined;
  const reader = response.body?.getReader();
  if (reader === undefined) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let received = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      received += value.byteLength;
    }
  } catch (cause) {
    if (call.signal?.aborted) throw mapSwiftTransport(cause, context(call), call.signal);
    throw shortBody(call, received, expected, cause);
  }
  if (expected !== undefined && received !== expected) {
    throw shortBody(call, received, expected);
  }
  return concat(chunks, received);
}

function shortBody(
  call: SwiftCall,
  received: number,
  expected: number | undefined,
  cause?: unknown,
): Error {
  const of = expected === undefined ? "" : ` of ${expected}`;
  // Integrity (retryable), as HttpStore reports it: the bytes are not the value, and a new
  // request usually gets all of them.
  return swiftError(
    "Integrity",
    `the response body ended after ${received}${of} bytes (connection closed early); retry the read`,
    { operation: call.operation, key: call.key, container: call.container ?? "" },
    { retryable: true, cause },
  );
}

function concat(chunks: Uint8Array[], total: number): Uint8Array {
  if (chunks.length === 1) return chunks[0] as Uint8Array;
  const out = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return out;
}

function context(call: SwiftCall): SwiftErrorContext {
  return {
    operation: call.operation,
    container: call.container ?? "(account)",
    key: call.key,
    object: call.object,
  };
}

function stripHtml(text: string): string {
  return text.replace(/<[^>]*>/g, " ");
}
