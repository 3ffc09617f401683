/**
 * Requests to a Swift storage URL: URL building, the auth token, one re-authentication per
 * 401 when credentials are known, transport failures and short bodies as `StoreError`s.
 */
import type { StoreOperation } from "../../errors.js";
import { type HttpResponse, TruncatedBodyError } from "../http-transport.js";
import type { SwiftAuthenticator, SwiftSession } from "./auth.js";
import { mapSwiftStatus, mapSwiftTransport, type SwiftErrorContext, swiftError } from "./errors.js";

/**
 * What a SwiftStore sends requests through: HttpStore's transports fit (`fetchTransport()`
 * anywhere, `undiciTransport()` on Node), with POST for ACLs, bulk deletes and temp-URL keys.
 */
export interface SwiftTransport {
  readonly name: string;
  request(request: {
    method: string;
    url: string;
    headers: Record<string, string>;
    body?: Uint8Array | undefined;
    signal?: AbortSignal | undefined;
  }): Promise<HttpResponse>;
  close(): Promise<void>;
}

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

/** Sends requests with the current token; the caller reads or discards each response body. */
export class SwiftClient {
  readonly auth: SwiftAuthenticator;
  readonly transport: SwiftTransport;

  constructor(auth: SwiftAuthenticator, transport: SwiftTransport) {
    this.auth = auth;
    this.transport = transport;
  }

  /**
   * Sends a call and returns the response, whatever its status, except 401: with known
   * credentials the token is renewed and the call sent once more; a second 401, or a 401 on a
   * bare pre-authenticated token, is an `Unauthenticated` error (never a missing key).
   */
  async send(call: SwiftCall): Promise<HttpResponse> {
    let session = await this.auth.session(call.signal);
    let response = await this.#sendWith(session, call);
    if (response.status === 401 && this.auth.canReauthenticate) {
      await response.discard();
      session = await this.auth.renew(session, call.signal);
      response = await this.#sendWith(session, call);
    }
    if (response.status === 401) {
      await response.discard();
      const hint = this.auth.canReauthenticate
        ? "a freshly issued token was rejected too; check the user's rights and the auth URL"
        : "the pre-authenticated token is invalid or expired; acquire a new one (zarrstore swift token) or pass credentials so the store can renew it";
      throw mapSwiftStatus(401, { ...context(call), hint });
    }
    return response;
  }

  /** Sends a call and throws the mapped error for any status outside `ok`. */
  async expect(call: SwiftCall, ok: (status: number) => boolean): Promise<HttpResponse> {
    const response = await this.send(call);
    if (!ok(response.status)) throw await errorFrom(response, call);
    return response;
  }

  async #sendWith(session: SwiftSession, call: SwiftCall): Promise<HttpResponse> {
    const url = swiftUrl(session.storageUrl, call.container, call.object, call.query);
    const headers: Record<string, string> = { ...call.headers, "x-auth-token": session.token };
    const body = typeof call.body === "string" ? new TextEncoder().encode(call.body) : call.body;
    try {
      return await this.transport.request({
        method: call.method,
        url,
        headers,
        body,
        signal: call.signal,
      });
    } catch (cause) {
      throw mapSwiftTransport(cause, context(call), call.signal);
    }
  }
}

/** The error for a failed response (its body is read for the server's explanation). */
export async function errorFrom(
  response: HttpResponse,
  call: SwiftCall,
  hint?: string,
): Promise<Error> {
  let detail = "";
  try {
    // The start of the body is enough to quote; a large error page is not read whole.
    detail = call.method === "HEAD" ? "" : stripHtml(decoder.decode(await response.read(2048)));
  } catch {
    // The status says enough; a broken error body must not hide it.
  }
  return mapSwiftStatus(response.status, {
    ...context(call),
    retryAfter: response.header("retry-after"),
    detail,
    hint,
  });
}

/**
 * Reads a whole body, checked against `Content-Length` by the transport: a connection that
 * ends early is an `Integrity` (retryable) error that says how many bytes arrived, never a
 * short value.
 */
export async function readBody(response: HttpResponse, call: SwiftCall): Promise<Uint8Array> {
  try {
    return await response.read();
  } catch (cause) {
    if (cause instanceof TruncatedBodyError && !call.signal?.aborted) {
      throw shortBody(call, cause.received, cause.expected, cause);
    }
    throw mapSwiftTransport(cause, context(call), call.signal);
  }
}

/** Reads a (small) body as text. */
export async function readText(response: HttpResponse, call: SwiftCall): Promise<string> {
  return decoder.decode(await readBody(response, call));
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

function context(call: SwiftCall): SwiftErrorContext {
  return {
    operation: call.operation,
    container: call.container ?? "(account)",
    key: call.key,
    object: call.object,
  };
}

const decoder = new TextDecoder();

function stripHtml(text: string): string {
  return text.replace(/<[^>]*>/g, " ");
}
