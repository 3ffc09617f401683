/**
 * Requests to the Cloud Storage JSON API: URL building, the bearer token (fixed, from a
 * refreshable provider, or none for public buckets), transport failures and short bodies as
 * `StoreError`s. Statuses are left to the caller.
 */
import { StoreError, type StoreOperation } from "../../errors.js";
import { mapTransportError, readWhole, redactUrl } from "../../http/status.js";
import type { HttpMethod, HttpResponse, HttpTransport } from "../http-transport.js";
import { BACKEND } from "./errors.js";

/** An OAuth2 access token and, when known, when it stops working. */
export interface GcsAccessToken {
  token: string;
  expiresOn?: Date | number | undefined;
}

/** Returns a fresh access token (e.g. from the metadata server or `gcloud auth print-access-token`). */
export type GcsTokenProvider = (options: {
  signal?: AbortSignal | undefined;
}) => Promise<GcsAccessToken | string>;

/** The methods the JSON API needs (POST for inserts). */
export type GcsMethod = HttpMethod;

/** One request. `path` is below the endpoint (`/storage/v1/b/…`) or an absolute session URL. */
export interface GcsCall {
  method: GcsMethod;
  path: string;
  query?: Record<string, string | undefined> | undefined;
  headers?: Record<string, string> | undefined;
  body?: Uint8Array | undefined;
  signal?: AbortSignal | undefined;
  operation: StoreOperation;
  key?: string | undefined;
}

// A token is renewed this long before it expires.
const TOKEN_MARGIN_MS = 60_000;

/** Sends authorised requests to one endpoint; the caller reads or discards each body. */
export class GcsClient {
  /** The API root without a trailing `/`, e.g. `https://storage.googleapis.com`. */
  readonly endpoint: string;
  readonly anonymous: boolean;
  readonly #transport: HttpTransport;
  readonly #provider: GcsTokenProvider | undefined;
  #current: { token: string; refreshAt: number } | undefined;
  #pending: Promise<string> | undefined;

  constructor(endpoint: string, provider: GcsTokenProvider | undefined, transport: HttpTransport) {
    this.endpoint = endpoint.replace(/\/+$/, "");
    this.anonymous = provider === undefined;
    this.#provider = provider;
    this.#transport = transport;
  }

  /** The URL of a call, without credentials. */
  url(call: Pick<GcsCall, "path" | "query">): string {
    const base = /^https?:\/\//.test(call.path) ? call.path : this.endpoint + call.path;
    const params: string[] = [];
    for (const [name, value] of Object.entries(call.query ?? {})) {
      if (value !== undefined) params.push(`${name}=${encodeURIComponent(value)}`);
    }
    if (params.length === 0) return base;
    return `${base}${base.includes("?") ? "&" : "?"}${params.join("&")}`;
  }

  /** Sends a call and returns the response, whatever its status. */
  async send(call: GcsCall): Promise<HttpResponse> {
    const url = this.url(call);
    const headers: Record<string, string> = { ...call.headers };
    try {
      if (this.#provider !== undefined) {
        headers.authorization = `Bearer ${await this.#token(call.signal)}`;
      }
      return await this.#transport.request({
        method: call.method,
        url,
        headers,
        body: call.body,
        signal: call.signal,
      });
    } catch (cause) {
      throw mapTransportError(
        cause,
        { backend: BACKEND, operation: call.operation, key: call.key, url: redactUrl(url) },
        call.signal,
      );
    }
  }

  /** Reads a body whole; a body shorter than announced is a retryable `Integrity` error. */
  read(response: HttpResponse, call: GcsCall): Promise<Uint8Array> {
    return readWhole(
      response,
      { backend: BACKEND, operation: call.operation, key: call.key },
      call.signal,
    );
  }

  /** Reads a JSON body. */
  async json<T>(response: HttpResponse, call: GcsCall): Promise<T> {
    const text = new TextDecoder().decode(await this.read(response, call));
    try {
      return JSON.parse(text) as T;
    } catch (cause) {
      throw new StoreError({
        code: "Unexpected",
        message: `${BACKEND} ${call.operation}: the server's answer is not JSON; is the endpoint the Cloud Storage JSON API?`,
        operation: call.operation,
        key: call.key,
        backend: BACKEND,
        cause,
      });
    }
  }

  close(): Promise<void> {
    return this.#transport.close();
  }

  async #token(signal?: AbortSignal): Promise<string> {
    if (this.#current && Date.now() < this.#current.refreshAt) return this.#current.token;
    this.#pending ??= this.#fetchToken(signal).finally(() => {
      this.#pending = undefined;
    });
    return this.#pending;
  }

  async #fetchToken(signal?: AbortSignal): Promise<string> {
    const provider = this.#provider as GcsTokenProvider;
    let answer: GcsAccessToken | string;
    try {
      answer = await provider({ signal });
    } catch (cause) {
      if (cause instanceof StoreError) throw cause;
      throw new StoreError({
        code: "Unauthenticated",
        message: `${BACKEND}: the token provider failed (${cause instanceof Error ? cause.message : String(cause)})`,
        operation: "auth",
        backend: BACKEND,
        cause,
      });
    }
    const { token, expiresOn } = typeof answer === "string" ? { token: answer } : answer;
    if (typeof token !== "string" || token === "") {
      throw new StoreError({
        code: "Unauthenticated",
        message: `${BACKEND}: the token provider returned no token`,
        operation: "auth",
        backend: BACKEND,
      });
    }
    const expires = expiresOn === undefined ? Number.POSITIVE_INFINITY : Number(expiresOn);
    this.#current = { token, refreshAt: expires - TOKEN_MARGIN_MS };
    return token;
  }
}
