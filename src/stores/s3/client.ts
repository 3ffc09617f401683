/**
 * Requests to one S3 bucket: addressing (path or virtual-host style), SigV4 signing (or none,
 * anonymously), transport failures, error replies and short bodies as `StoreError`s.
 */
import type { StoreOperation } from "../../errors.js";
import { BodyCollector, expectedLength } from "../http-transport.js";
import type { CredentialSource } from "./credentials.js";
import { mapS3Error, mapS3Transport, parseS3Error, s3Error } from "./errors.js";
import {
  canonicalQuery,
  EMPTY_SHA256,
  encodeRfc3986Path,
  SigV4Signer,
  sha256Hex,
  UNSIGNED_PAYLOAD,
} from "./signing.js";

type FetchLike = typeof globalThis.fetch;

/** One request: the bucket itself, or an object in it. */
export interface S3Call {
  method: "GET" | "HEAD" | "PUT" | "POST" | "DELETE";
  /** The object name in the bucket, unencoded (`prefix/a/zarr.json`); absent for the bucket. */
  object?: string | undefined;
  query?: [string, string][] | undefined;
  headers?: Record<string, string> | undefined;
  body?: Uint8Array | undefined;
  signal?: AbortSignal | undefined;
  operation: StoreOperation;
  /** The store key, for messages. */
  key?: string | undefined;
}

/** How the client reaches the bucket. */
export interface S3ClientOptions {
  bucket: string;
  endpoint: URL;
  region: string;
  pathStyle: boolean;
  /** `undefined`: anonymous, requests go unsigned. */
  credentials: CredentialSource | undefined;
  /** Sign the body's SHA-256 (true) or send `UNSIGNED-PAYLOAD` (false). */
  signPayload: boolean;
  fetch: FetchLike;
}

// Credentials from a provider may expire between a check and the server reading them: these
// codes make the client ask the provider again once.
const STALE_CREDENTIAL_CODES = new Set(["ExpiredToken", "TokenRefreshRequired", "InvalidToken"]);

/** Sends signed requests to one bucket; the caller reads or cancels each response body. */
export class S3Client {
  readonly bucket: string;
  readonly region: string;
  readonly #options: S3ClientOptions;
  readonly #signer: SigV4Signer;

  constructor(options: S3ClientOptions) {
    this.#options = options;
    this.bucket = options.bucket;
    this.region = options.region;
    this.#signer = new SigV4Signer({ region: options.region, service: "s3" });
  }

  /** True when requests go unsigned. */
  get anonymous(): boolean {
    return this.#options.credentials === undefined;
  }

  /** The URL of the bucket or an object, encoded exactly as it is signed. */
  url(object?: string, query: [string, string][] = []): URL {
    const { endpoint, bucket, pathStyle } = this.#options;
    const base = endpoint.pathname.replace(/\/+$/, "");
    const objectPath = object === undefined ? "" : encodeRfc3986Path(object);
    const url = new URL(endpoint.href);
    if (pathStyle) {
      url.pathname = `${base}/${encodeRfc3986Path(bucket)}${object === undefined ? "" : `/${objectPath}`}`;
    } else {
      url.hostname = `${bucket}.${endpoint.hostname}`;
      url.pathname = `${base}/${objectPath}`;
    }
    url.search = query.length > 0 ? canonicalQuery(query) : "";
    return url;
  }

  /**
   * Signs and sends a call; returns the response whatever its status. With a credential
   * provider, an expired-token reply makes it ask the provider once more and resend.
   */
  async send(call: S3Call): Promise<Response> {
    const response = await this.#sendOnce(call);
    if ((response.status === 400 || response.status === 403) && this.#options.credentials) {
      if (call.method === "HEAD") return response;
      const text = await response.text();
      const code = parseS3Error(text).code;
      if (code !== undefined && STALE_CREDENTIAL_CODES.has(code)) {
        this.#options.credentials.invalidate();
        return this.#sendOnce(call);
      }
      return new Response(text, { status: response.status, headers: response.headers });
    }
    return response;
  }

  /** Sends a call and throws the mapped error for a status outside `ok`. */
  async expect(call: S3Call, ok: (status: number) => boolean): Promise<Response> {
    const response = await this.send(call);
    if (!ok(response.status)) throw await this.error(response, call);
    return response;
  }

  /** The `StoreError` for a failed response (its XML body names the reason). */
  async error(response: Response, call: S3Call): Promise<Error> {
    let text = "";
    try {
      text = call.method === "HEAD" ? "" : await response.text();
    } catch {
      // The status alone will have to do.
    }
    return mapS3Error(response.status, parseS3Error(text), {
      operation: call.operation,
      bucket: this.bucket,
      key: call.key,
      object: call.object,
      retryAfter: response.headers.get("retry-after"),
      region: this.region,
      anonymous: this.anonymous,
    });
  }

  /** A presigned URL for one object. */
  async presign(method: string, object: string, expiresIn: number, date?: Date): Promise<string> {
    const credentials = await this.#options.credentials?.get();
    if (credentials === undefined) return this.url(object).href;
    return (await this.#signer.presign(method, this.url(object), credentials, expiresIn, date))
      .href;
  }

  async #sendOnce(call: S3Call): Promise<Response> {
    const url = this.url(call.object, call.query);
    const headers: Record<string, string> = { ...call.headers };
    try {
      const credentials = await this.#options.credentials?.get();
      if (credentials !== undefined) {
        const payloadHash = await this.#payloadHash(call.body);
        Object.assign(
          headers,
          await this.#signer.sign({ method: call.method, url, headers, payloadHash }, credentials),
        );
      }
      return await this.#options.fetch(url.href, {
        method: call.method,
        headers,
        // TS 5.9 types BodyInit over ArrayBuffer only; other Uint8Arrays send the same.
        body: (call.body ?? null) as BodyInit | null,
        signal: call.signal ?? null,
      });
    } catch (cause) {
      if (cause instanceof Error && cause.name === "StoreError") throw cause;
      throw mapS3Transport(
        cause,
        { operation: call.operation, bucket: this.bucket, key: call.key },
        call.signal,
      );
    }
  }

  async #payloadHash(body: Uint8Array | undefined): Promise<string> {
    if (body === undefined || body.byteLength === 0) return EMPTY_SHA256;
    return this.#options.signPayload ? sha256Hex(body) : UNSIGNED_PAYLOAD;
  }
}

/**
 * Reads a whole body, checked against `Content-Length`: a connection that ends early is a
 * retryable `Integrity` error saying how many bytes came, never a short value.
 */
export async function readS3Body(
  response: Response,
  call: S3Call,
  bucket: string,
): Promise<Uint8Array> {
  const expected = expectedLength(
    response.headers.get("content-length") ?? undefined,
    response.headers.get("content-encoding") ?? undefined,
  );
  const body = response.body;
  if (body === null) return new Uint8Array(0);
  const collector = new BodyCollector(expected);
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      collector.add(value);
    }
  } catch (cause) {
    if (call.signal?.aborted) {
      throw mapS3Transport(
        cause,
        { operation: call.operation, bucket, key: call.key },
        call.signal,
      );
    }
    throw shortBody(call, bucket, collector.received, expected, cause);
  }
  if (expected !== undefined && collector.received !== expected) {
    throw shortBody(call, bucket, collector.received, expected);
  }
  return collector.bytes();
}

function shortBody(
  call: S3Call,
  bucket: string,
  received: number,
  expected: number | undefined,
  cause?: unknown,
): Error {
  const of = expected === undefined ? "" : ` of ${expected}`;
  return s3Error(
    "Integrity",
    `the response body ended after ${received}${of} bytes (connection closed early); retry the read`,
    { operation: call.operation, key: call.key, bucket },
    { retryable: true, cause },
  );
}
