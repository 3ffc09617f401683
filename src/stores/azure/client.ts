/**
 * Requests to Azure Blob Storage: URL building, the `x-ms-*` headers, and the three ways to
 * authenticate — Shared Key signing (HMAC-SHA256 through WebCrypto, so this runs in browsers),
 * a SAS token appended to the URL, and OAuth bearer tokens from a refreshable provider.
 * Transport failures and short bodies become `StoreError`s here; statuses are left to the caller.
 */
import { StoreError, type StoreOperation } from "../../errors.js";
import { mapTransportError, readWhole, redactUrl } from "../../http/status.js";
import type { HttpMethod, HttpResponse, HttpTransport } from "../http-transport.js";
import { BACKEND, sasWindow } from "./errors.js";

/** The REST API version we speak: 2021-08-06 brought `Encoded` names in listings. */
export const AZURE_API_VERSION = "2021-08-06";

/** An OAuth access token and, when known, when it stops working. */
export interface AzureAccessToken {
  token: string;
  /** Expiry; the provider is asked again a minute before it. */
  expiresOn?: Date | number | undefined;
}

/** Returns a fresh token (e.g. from MSAL or `az account get-access-token`). */
export type AzureTokenProvider = (options: {
  signal?: AbortSignal | undefined;
}) => Promise<AzureAccessToken | string>;

/**
 * How requests authenticate:
 * - `{accountKey}`: Shared Key signing with the account's base64 key;
 * - `{sasToken}`: a SAS query string (`sv=…&sig=…`, with or without a leading `?`);
 * - `{token}` or `{tokenProvider}`: an OAuth bearer token (Microsoft Entra ID), refreshed
 *   through the provider before it expires;
 * - `{anonymous: true}`: no credential, for containers with public read access.
 */
export type AzureCredential =
  | { accountKey: string }
  | { sasToken: string }
  | { token: string }
  | { tokenProvider: AzureTokenProvider }
  | { anonymous: true };

/** The kind of credential, for messages (never the credential itself). */
export type AzureCredentialKind = "sharedKey" | "sas" | "bearer" | "anonymous";

/** Names the kind of a credential. */
export function credentialKind(credential: AzureCredential): AzureCredentialKind {
  if ("accountKey" in credential) return "sharedKey";
  if ("sasToken" in credential) return "sas";
  if ("anonymous" in credential) return "anonymous";
  return "bearer";
}

/** One request: the account, a container, or a blob in it. */
export interface AzureCall {
  method: HttpMethod;
  container?: string | undefined;
  /** The blob name inside the container, unencoded (`zarr-demo/foo/.zgroup`). */
  blob?: string | undefined;
  query?: Record<string, string | undefined> | undefined;
  /** Header names in lower case. */
  headers?: Record<string, string> | undefined;
  body?: Uint8Array | undefined;
  signal?: AbortSignal | undefined;
  operation: StoreOperation;
  /** The store key, for error messages. */
  key?: string | undefined;
}

// A token is renewed this long before it expires, so no request goes out with a dying one.
const TOKEN_MARGIN_MS = 60_000;

/** Encodes a blob name for a URL path, keeping its `/` separators. */
export function encodeBlobName(name: string): string {
  return name.split("/").map(encodePathSegment).join("/");
}

// encodeURIComponent leaves !'()* alone; Azure signs the path as sent, so any spelling works
// as long as the signature uses the same one. These are encoded too, as the Azure SDKs do.
function encodePathSegment(segment: string): string {
  return encodeURIComponent(segment).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/** Sends signed requests to one account endpoint; the caller reads or discards each body. */
export class AzureClient {
  /** The account name (from the options, the endpoint or the connection string). */
  readonly account: string;
  /** The blob endpoint without a trailing `/`, e.g. `https://acct.blob.core.windows.net`. */
  readonly endpoint: string;
  readonly kind: AzureCredentialKind;
  /** A SAS token's validity window, for error hints (never the token). */
  readonly sasWindow: { start?: Date; expiry?: Date } | undefined;
  readonly #transport: HttpTransport;
  readonly #version: string;
  readonly #sas: string | undefined;
  readonly #signer: SharedKeySigner | undefined;
  readonly #bearer: BearerSource | undefined;
  readonly #basePath: string;

  constructor(
    account: string,
    endpoint: string,
    credential: AzureCredential,
    transport: HttpTransport,
    version = AZURE_API_VERSION,
  ) {
    this.account = account;
    this.endpoint = endpoint.replace(/\/+$/, "");
    this.kind = credentialKind(credential);
    this.#transport = transport;
    this.#version = version;
    this.#basePath = new URL(this.endpoint).pathname.replace(/\/+$/, "");
    if ("accountKey" in credential)
      this.#signer = new SharedKeySigner(account, credential.accountKey);
    if ("sasToken" in credential) this.#sas = credential.sasToken.replace(/^\?/, "");
    this.sasWindow = this.#sas === undefined ? undefined : sasWindow(this.#sas);
    if ("token" in credential) this.#bearer = new BearerSource(async () => credential.token);
    if ("tokenProvider" in credential) this.#bearer = new BearerSource(credential.tokenProvider);
  }

  /** The URL of the account, a container or a blob, without credentials. */
  url(call: Pick<AzureCall, "container" | "blob" | "query">): string {
    let url = this.endpoint;
    if (call.container !== undefined) url += `/${encodeURIComponent(call.container)}`;
    if (call.blob !== undefined) url += `/${encodeBlobName(call.blob)}`;
    const params: string[] = [];
    for (const [name, value] of Object.entries(call.query ?? {})) {
      if (value !== undefined) params.push(`${name}=${encodeURIComponent(value)}`);
    }
    return params.length > 0 ? `${url}?${params.join("&")}` : url;
  }

  /** Sends a call and returns the response, whatever its status. */
  async send(call: AzureCall): Promise<HttpResponse> {
    const plainUrl = this.url(call);
    const headers: Record<string, string> = {
      ...call.headers,
      "x-ms-date": new Date().toUTCString(),
      "x-ms-version": this.#version,
    };
    let url = plainUrl;
    try {
      if (this.#sas !== undefined) {
        url += `${plainUrl.includes("?") ? "&" : "?"}${this.#sas}`;
      } else if (this.#signer !== undefined) {
        headers.authorization = await this.#signer.sign(
          call.method,
          this.#canonicalPath(call),
          call.query,
          headers,
          call.body?.byteLength ?? 0,
        );
      } else if (this.#bearer !== undefined) {
        headers.authorization = `Bearer ${await this.#bearer.token(call.signal)}`;
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
        { backend: BACKEND, operation: call.operation, key: call.key, url: redactUrl(plainUrl) },
        call.signal,
      );
    }
  }

  /**
   * One sub-request of a Blob Batch, authorised on its own as the batch format asks: the request
   * line (the path as sent, with a SAS in its query) and its headers, without `x-ms-version`
   * (the batch's applies to all).
   */
  async subrequest(
    call: Pick<AzureCall, "method" | "container" | "blob" | "signal">,
  ): Promise<string> {
    const headers: Record<string, string> = { "x-ms-date": new Date().toUTCString() };
    let target = this.#canonicalPath(call);
    if (this.#sas !== undefined) target += `?${this.#sas}`;
    else if (this.#signer !== undefined) {
      headers.authorization = await this.#signer.sign(call.method, target, undefined, headers, 0);
    } else if (this.#bearer !== undefined) {
      headers.authorization = `Bearer ${await this.#bearer.token(call.signal)}`;
    }
    const lines = [`${call.method} ${target} HTTP/1.1`];
    for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
    lines.push("content-length: 0");
    return `${lines.join("\r\n")}\r\n`;
  }

  /** Reads a body whole; a body shorter than announced is a retryable `Integrity` error. */
  read(response: HttpResponse, call: AzureCall): Promise<Uint8Array> {
    return readWhole(
      response,
      { backend: BACKEND, operation: call.operation, key: call.key },
      call.signal,
    );
  }

  /** Releases the transport's sockets. */
  close(): Promise<void> {
    return this.#transport.close();
  }

  // The path as signed: the URL's path (with the account segment of a path-style endpoint).
  #canonicalPath(call: Pick<AzureCall, "container" | "blob">): string {
    let path = this.#basePath;
    if (call.container !== undefined) path += `/${encodeURIComponent(call.container)}`;
    if (call.blob !== undefined) path += `/${encodeBlobName(call.blob)}`;
    return path === "" ? "/" : path;
  }
}

/**
 * Shared Key signing (the `SharedKey account:signature` header), as the REST API documents it
 * for version 2015-02-21 and later. The key is imported into WebCrypto once and never leaves it.
 */
export class SharedKeySigner {
  readonly #account: string;
  readonly #key: Promise<CryptoKey>;

  constructor(account: string, accountKey: string) {
    this.#account = account;
    this.#key = importHmacKey(accountKey);
    // An invalid key is reported by the first request; keep the rejection from going unhandled.
    this.#key.catch(() => {});
  }

  /** The Authorization header value for a request. */
  async sign(
    method: string,
    path: string,
    query: Record<string, string | undefined> | undefined,
    headers: Record<string, string>,
    contentLength: number,
  ): Promise<string> {
    const text = stringToSign(this.#account, method, path, query, headers, contentLength);
    const key = await this.#key;
    const signature = await crypto.subtle.sign("HMAC", key, utf8.encode(text));
    return `SharedKey ${this.#account}:${bytesToBase64(new Uint8Array(signature))}`;
  }
}

const utf8 = new TextEncoder();

async function importHmacKey(base64Key: string): Promise<CryptoKey> {
  let raw: Uint8Array;
  try {
    raw = base64ToBytes(base64Key);
  } catch (cause) {
    throw new StoreError({
      code: "Config",
      message: `${BACKEND}: the account key is not valid base64; copy it again from the portal (Access keys) or AZURE_STORAGE_KEY`,
      operation: "auth",
      backend: BACKEND,
      cause,
    });
  }
  return crypto.subtle.importKey(
    "raw",
    raw as Uint8Array<ArrayBuffer>,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
}

// The standard headers that take part in the signature, in their documented order.
const SIGNED_HEADERS = [
  "content-encoding",
  "content-language",
  "content-length",
  "content-md5",
  "content-type",
  "date",
  "if-modified-since",
  "if-match",
  "if-none-match",
  "if-unmodified-since",
  "range",
] as const;

/** The Shared Key string-to-sign (exported for tests against the documented example). */
export function stringToSign(
  account: string,
  method: string,
  path: string,
  query: Record<string, string | undefined> | undefined,
  headers: Record<string, string>,
  contentLength: number,
): string {
  const lines: string[] = [method];
  for (const name of SIGNED_HEADERS) {
    // Since 2015-02-21 a zero Content-Length is signed as an empty string.
    if (name === "content-length") lines.push(contentLength > 0 ? String(contentLength) : "");
    else lines.push(headers[name] ?? "");
  }
  const msHeaders = Object.keys(headers)
    .filter((name) => name.startsWith("x-ms-"))
    .sort()
    .map((name) => `${name}:${(headers[name] as string).trim()}`);
  let resource = `/${account}${path}`;
  const params = Object.entries(query ?? {})
    .filter((entry): entry is [string, string] => entry[1] !== undefined)
    .map(([name, value]) => [name.toLowerCase(), value] as const)
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  for (const [name, value] of params) resource += `\n${name}:${value}`;
  return [...lines, ...msHeaders, resource].join("\n");
}

/** Caches a bearer token and asks its provider again shortly before it expires. */
class BearerSource {
  readonly #provider: AzureTokenProvider;
  #current: { token: string; refreshAt: number } | undefined;
  #pending: Promise<string> | undefined;

  constructor(provider: AzureTokenProvider) {
    this.#provider = provider;
  }

  async token(signal?: AbortSignal): Promise<string> {
    if (this.#current && Date.now() < this.#current.refreshAt) return this.#current.token;
    this.#pending ??= this.#fetch(signal).finally(() => {
      this.#pending = undefined;
    });
    return this.#pending;
  }

  async #fetch(signal?: AbortSignal): Promise<string> {
    let answer: AzureAccessToken | string;
    try {
      answer = await this.#provider({ signal });
    } catch (cause) {
      if (cause instanceof StoreError) throw cause;
      throw new StoreError({
        code: "Unauthenticated",
        message: `${BACKEND}: the token provider failed (${cause instanceof Error ? cause.message : String(cause)}); check the identity it signs in with`,
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

/** Options for `generateAccountSas`. */
export interface AccountSasOptions {
  account: string;
  /** The account key (base64). */
  accountKey: string;
  /** When the token stops working. */
  expiresOn: Date;
  /** When it starts working (default: no start, i.e. at once). */
  startsOn?: Date | undefined;
  /** Permissions, in the documented order `rwdlacup…` (default `rwdlac`). */
  permissions?: string | undefined;
  /** Resource types: `s`ervice, `c`ontainer, `o`bject (default `sco`). */
  resourceTypes?: string | undefined;
  /** `https` or `https,http` (default `https,http`, so it works with Azurite). */
  protocol?: string | undefined;
  version?: string | undefined;
}

/**
 * Makes an account SAS for the blob service (signed with the account key), as the REST API
 * documents it for version 2020-12-06 and later. Returns the query string without `?`.
 *
 * @example
 * const sas = await generateAccountSas({ account, accountKey, expiresOn: new Date(Date.now() + 3600e3), permissions: "rl" });
 * const store = new AzureBlobStore({ account, container: "data", credential: { sasToken: sas } });
 */
export async function generateAccountSas(options: AccountSasOptions): Promise<string> {
  const version = options.version ?? AZURE_API_VERSION;
  const fields = {
    sp: options.permissions ?? "rwdlac",
    ss: "b",
    srt: options.resourceTypes ?? "sco",
    st: options.startsOn ? sasTime(options.startsOn) : "",
    se: sasTime(options.expiresOn),
    spr: options.protocol ?? "https,http",
  };
  const text = `${[options.account, fields.sp, fields.ss, fields.srt, fields.st, fields.se, "", fields.spr, version, ""].join("\n")}\n`;
  const key = await importHmacKey(options.accountKey);
  const signature = await crypto.subtle.sign("HMAC", key, utf8.encode(text));
  const params: [string, string][] = [
    ["sv", version],
    ["ss", fields.ss],
    ["srt", fields.srt],
    ["sp", fields.sp],
    ["se", fields.se],
  ];
  if (fields.st) params.push(["st", fields.st]);
  params.push(["spr", fields.spr], ["sig", bytesToBase64(new Uint8Array(signature))]);
  return params.map(([name, value]) => `${name}=${encodeURIComponent(value)}`).join("&");
}

// SAS times are ISO 8601 in UTC without milliseconds.
function sasTime(date: Date): string {
  return `${date.toISOString().slice(0, 19)}Z`;
}

/** Base64 of bytes (btoa, which every runtime has). */
export function bytesToBase64(bytes: Uint8Array): string {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

/** Bytes of base64 (atob); throws on anything else. */
export function base64ToBytes(text: string): Uint8Array {
  const binary = atob(text.trim());
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
