/**
 * AWS Signature Version 4 for S3, over WebCrypto (Node, browsers, workers alike).
 *
 * Why our own signer rather than aws4fetch: the path we sign must be byte for byte the path we
 * send. aws4fetch decodes the URL path and re-encodes it (and reads `+` as a space for S3), so
 * keys such as `x+y=z` or `percent%20` sign one string and send another. Here the caller
 * encodes once (`encodeRfc3986Path`) and the same string is both sent and signed. The signing
 * key is derived once per day/region/service and cached, so a request costs one SHA-256 and
 * one HMAC.
 */

/** Credentials for signing. */
export interface SigningCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string | undefined;
}

/** A request to sign: the URL must already be encoded the way it will be sent. */
export interface SignableRequest {
  method: string;
  url: URL;
  /** Headers to send; `host` is taken from the URL. Names are matched case-insensitively. */
  headers: Record<string, string>;
  /** Hex SHA-256 of the body, or `UNSIGNED-PAYLOAD`. */
  payloadHash: string;
}

/** Where the signature is valid. */
export interface SigningScope {
  region: string;
  /** `s3` for S3 and its compatibles. */
  service: string;
}

export const UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD";
/** SHA-256 of the empty string. */
export const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const ALGORITHM = "AWS4-HMAC-SHA256";
const enc = new TextEncoder();

/**
 * Encodes a string the way SigV4 wants: every byte except the unreserved characters
 * `A–Z a–z 0–9 - . _ ~` as `%XX` (upper-case hex). `encodeURIComponent` leaves `!'()*` alone,
 * which S3 would then sign differently.
 */
export function encodeRfc3986(text: string): string {
  return encodeURIComponent(text).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/** Encodes an object key for a URL path, keeping its `/` separators. */
export function encodeRfc3986Path(key: string): string {
  return key.split("/").map(encodeRfc3986).join("/");
}

/** A canonical query string: pairs sorted by name then value, both RFC 3986 encoded. */
export function canonicalQuery(params: Iterable<[string, string]>): string {
  return [...params]
    .map(([k, v]) => [encodeRfc3986(k), encodeRfc3986(v)] as const)
    .sort(([a, av], [b, bv]) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
}

/** `20130524T000000Z` */
export function amzDate(date: Date): string {
  return date
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}/, "");
}

/** Hex SHA-256 of bytes or text. */
export async function sha256Hex(data: Uint8Array | string): Promise<string> {
  const bytes = typeof data === "string" ? enc.encode(data) : data;
  return toHex(new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as BufferSource)));
}

/**
 * Signs requests with one set of credentials, caching the derived signing key per
 * day/region/service (a new day or a rotated secret derives a fresh one).
 */
export class SigV4Signer {
  readonly #scope: SigningScope;
  #cache: { day: string; secret: string; key: CryptoKey } | undefined;

  constructor(scope: SigningScope) {
    this.#scope = scope;
  }

  /** The headers to add to the request: `authorization`, `x-amz-date`, `x-amz-content-sha256` and the session token. */
  async sign(
    request: SignableRequest,
    credentials: SigningCredentials,
    date: Date = new Date(),
  ): Promise<Record<string, string>> {
    const stamp = amzDate(date);
    const added: Record<string, string> = {
      "x-amz-date": stamp,
      "x-amz-content-sha256": request.payloadHash,
    };
    if (credentials.sessionToken) added["x-amz-security-token"] = credentials.sessionToken;
    const headers = canonicalHeaders({ ...request.headers, ...added }, request.url);
    const scope = this.#credentialScope(stamp);
    const canonical = [
      request.method,
      request.url.pathname,
      canonicalQuery(request.url.searchParams),
      headers.text,
      headers.signed,
      request.payloadHash,
    ].join("\n");
    const signature = await this.#signature(canonical, stamp, scope, credentials);
    added.authorization = `${ALGORITHM} Credential=${credentials.accessKeyId}/${scope}, SignedHeaders=${headers.signed}, Signature=${signature}`;
    return added;
  }

  /** A presigned URL: the signature travels in the query, the payload is unsigned. */
  async presign(
    method: string,
    url: URL,
    credentials: SigningCredentials,
    expiresIn: number,
    date: Date = new Date(),
  ): Promise<URL> {
    const stamp = amzDate(date);
    const scope = this.#credentialScope(stamp);
    const signed = new URL(url.href);
    const query: [string, string][] = [...url.searchParams];
    query.push(
      ["X-Amz-Algorithm", ALGORITHM],
      ["X-Amz-Credential", `${credentials.accessKeyId}/${scope}`],
      ["X-Amz-Date", stamp],
      ["X-Amz-Expires", String(expiresIn)],
      ["X-Amz-SignedHeaders", "host"],
    );
    if (credentials.sessionToken) query.push(["X-Amz-Security-Token", credentials.sessionToken]);
    const queryText = canonicalQuery(query);
    const canonical = [
      method,
      url.pathname,
      queryText,
      `host:${hostOf(url)}\n`,
      "host",
      UNSIGNED_PAYLOAD,
    ].join("\n");
    const signature = await this.#signature(canonical, stamp, scope, credentials);
    signed.search = `${queryText}&X-Amz-Signature=${signature}`;
    return signed;
  }

  #credentialScope(stamp: string): string {
    return `${stamp.slice(0, 8)}/${this.#scope.region}/${this.#scope.service}/aws4_request`;
  }

  async #signature(
    canonical: string,
    stamp: string,
    scope: string,
    credentials: SigningCredentials,
  ): Promise<string> {
    const toSign = [ALGORITHM, stamp, scope, await sha256Hex(canonical)].join("\n");
    const key = await this.#signingKey(stamp.slice(0, 8), credentials.secretAccessKey);
    return toHex(new Uint8Array(await crypto.subtle.sign("HMAC", key, enc.encode(toSign))));
  }

  async #signingKey(day: string, secret: string): Promise<CryptoKey> {
    if (this.#cache?.day === day && this.#cache.secret === secret) return this.#cache.key;
    let key = await hmac(enc.encode(`AWS4${secret}`), day);
    key = await hmac(key, this.#scope.region);
    key = await hmac(key, this.#scope.service);
    key = await hmac(key, "aws4_request");
    const cryptoKey = await importHmacKey(key);
    this.#cache = { day, secret, key: cryptoKey };
    return cryptoKey;
  }
}

function canonicalHeaders(
  headers: Record<string, string>,
  url: URL,
): { text: string; signed: string } {
  const map = new Map<string, string>([["host", hostOf(url)]]);
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    // Headers a proxy may rewrite are left unsigned, as the AWS SDKs do.
    if (lower === "host" || lower === "user-agent" || lower === "content-length") continue;
    if (lower === "expect" || lower === "connection") continue;
    map.set(lower, value.trim().replace(/\s+/g, " "));
  }
  const names = [...map.keys()].sort();
  return {
    text: names.map((n) => `${n}:${map.get(n)}\n`).join(""),
    signed: names.join(";"),
  };
}

// The Host header as fetch sends it: `URL#host` already drops the scheme's default port.
function hostOf(url: URL): string {
  return url.host;
}

async function hmac(key: Uint8Array, message: string): Promise<Uint8Array> {
  const cryptoKey = await importHmacKey(key);
  return new Uint8Array(await crypto.subtle.sign("HMAC", cryptoKey, enc.encode(message)));
}

function importHmacKey(key: Uint8Array): Promise<CryptoKey> {
  return crypto.subtle.importKey(
    "raw",
    key as BufferSource,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
}

function toHex(bytes: Uint8Array): string {
  let out = "";
  for (const b of bytes) out += b.toString(16).padStart(2, "0");
  return out;
}
