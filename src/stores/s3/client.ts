/**
 * Requests to one S3 bucket: addressing (path or virtual-host style), SigV4 signing (or none,
 * anonymously), transport failures, error replies and short bodies as `StoreError`s.
 */
import type { StoreOperation } from "../../errors.js";
import { type HttpResponse, TruncatedBodyError } from "../http-transport.js";
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

/**
 * What an S3Store sends requests through: HttpStore's transports fit (`fetchTransport()`
 * anywhere, `undiciTransport()` on Node), with POST for multipart uploads and batch deletes.
 */
export interface S3Transport {
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
  transport: S3Transport;
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
  async send(call: S3Call): Promise<HttpResponse> {
    const response = await this.#sendOnce(call);
    if ((response.status === 400 || response.status === 403) && this.#options.credentials) {
      if (call.method === "HEAD") return response;
      const buffered = await bufferResponse(response, call, this.bucket);
      const code = parseS3Error(decoder.decode(await buffered.read())).code;
      if (code !== undefined && STALE_CREDENTIAL_CODES.has(code)) {
        this.#options.credentials.invalidate();
        return this.#sendOnce(call);
      }
      return buffered;
    }
    return response;
  }

  /** The transport, for closing. */
  get transport(): S3Transport {
    return this.#options.transport;
  }

  /** Sends a call and throws the mapped error for a status outside `ok`. */
  async expect(call: S3Call, ok: (status: number) => boolean): Promise<HttpResponse> {
    const response = await this.send(call);
    if (!ok(response.status)) throw await this.error(response, call);
    return response;
  }

  /** The `StoreError` for a failed response (its XML body names the reason). */
  async error(response: HttpResponse, call: S3Call): Promise<Error> {
    let text = "";
    try {
      // Error replies are small XML documents; a huge body is not read whole.
      text = call.method === "HEAD" ? "" : decoder.decode(await response.read(ERROR_BODY_LIMIT));
    } catch {
      // The status alone will have to do.
    }
    return mapS3Error(response.status, parseS3Error(text), {
      operation: call.operation,
      bucket: this.bucket,
      key: call.key,
      object: call.object,
      retryAfter: response.header("retry-after"),
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

  async #sendOnce(call: S3Call): Promise<HttpResponse> {
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
      return await this.#options.transport.request({
        method: call.method,
        url: url.href,
        headers,
        body: call.body,
        signal: call.signal,
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
 * Reads a whole body, checked against `Content-Length` by the transport: a connection that
 * ends early is a retryable `Integrity` error saying how many bytes came, never a short value.
 */
export async function readS3Body(
  response: HttpResponse,
  call: S3Call,
  bucket: string,
): Promise<Uint8Array> {
  try {
    return await response.read();
  } catch (cause) {
    if (cause instanceof TruncatedBodyError && !call.signal?.aborted) {
      throw shortBody(call, bucket, cause.received, cause.expected, cause);
    }
    throw mapS3Transport(cause, { operation: call.operation, bucket, key: call.key }, call.signal);
  }
}

/** Reads a response's body now and returns a response that serves it again. */
export async function bufferResponse(
  response: HttpResponse,
  call: S3Call,
  bucket: string,
): Promise<HttpResponse> {
  const bytes = await readS3Body(response, call, bucket);
  return {
    status: response.status,
    header: (name) => response.header(name),
    read: async (limit) => (limit === undefined ? bytes : bytes.subarray(0, limit)),
    discard: async () => {},
  };
}

const decoder = new TextDecoder();
// S3 error documents are a few hundred bytes.
const ERROR_BODY_LIMIT = 16 * 1024;

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
