/**
 * Swift TempURLs: a URL that lets whoever holds it GET, HEAD, PUT or DELETE one object until
 * it expires, without a token (e.g. a browser uploading a chunk). Signed with HMAC-SHA256
 * over `method\nexpires\npath` with the account's temp-URL key.
 */
import { toKey } from "../../keys.js";
import type { CallOptions } from "../../store.js";
import { errorFrom, type SwiftCall, swiftUrl } from "./client.js";
import { swiftError } from "./errors.js";
import { SWIFT_INTERNALS, type SwiftStore } from "./store.js";

/** Options for `tempUrl`. */
export interface TempUrlOptions extends CallOptions {
  /** The method the URL allows (default `GET`, which also allows `HEAD`). */
  method?: "GET" | "HEAD" | "PUT" | "DELETE" | undefined;
  /** Seconds the URL works (default 3600). */
  expiresIn?: number | undefined;
  /** The account's temp-URL key; read from the account (`X-Account-Meta-Temp-URL-Key`) when absent. */
  key?: string | undefined;
  /** When the account has no key yet, set a random one (needs an admin token). */
  setKey?: boolean | undefined;
  /** The clock, in milliseconds since the epoch (for tests). */
  now?: number | undefined;
}

/**
 * Makes a TempURL for one key of the store.
 *
 * @example
 * const url = await tempUrl(store, "/foo/.zgroup", { expiresIn: 600, setKey: true });
 * await fetch(url); // no token needed
 */
export async function tempUrl(
  store: SwiftStore,
  key: string,
  options: TempUrlOptions = {},
): Promise<string> {
  const internals = store[SWIFT_INTERNALS]();
  const path = toKey(key);
  const method = options.method ?? "GET";
  const expiresIn = options.expiresIn ?? 3600;
  if (!Number.isSafeInteger(expiresIn) || expiresIn <= 0) {
    throw swiftError("Config", "expiresIn must be a whole number of seconds > 0", {
      operation: "tempUrl",
      key: path,
      container: internals.container,
    });
  }
  const session = await internals.client.auth.session(options.signal);
  const secret = options.key ?? (await accountTempUrlKey(store, options));
  if (options.key !== undefined && options.setKey)
    await setAccountTempUrlKey(store, options.key, options);
  const object = internals.objectName(path);
  const url = new URL(swiftUrl(session.storageUrl, internals.container, object));
  const expires = Math.floor((options.now ?? Date.now()) / 1000) + expiresIn;
  // The middleware signs the decoded path, as the server sees it after unquoting.
  const signedPath = decodeURIComponent(url.pathname);
  const signature = await hmacSha256Hex(secret, `${method}\n${expires}\n${signedPath}`);
  url.search = `temp_url_sig=${signature}&temp_url_expires=${expires}`;
  return url.href;
}

/** Reads the account's temp-URL key; with `setKey`, sets a random one when there is none. */
export async function accountTempUrlKey(
  store: SwiftStore,
  options: Pick<TempUrlOptions, "setKey" | "signal"> = {},
): Promise<string> {
  const { client, container } = store[SWIFT_INTERNALS]();
  const call: SwiftCall = { method: "HEAD", signal: options.signal, operation: "tempUrl" };
  const response = await client.send(call);
  if (response.status < 200 || response.status >= 300) throw await errorFrom(response, call);
  await response.discard();
  const existing =
    response.header("x-account-meta-temp-url-key") ??
    response.header("x-account-meta-temp-url-key-2");
  if (existing) return existing;
  if (!options.setKey) {
    throw swiftError(
      "Config",
      "the account has no temp-URL key; pass { setKey: true } (admin token) or { key } to use one you set",
      { operation: "tempUrl", container },
    );
  }
  const bytes = new Uint8Array(24);
  crypto.getRandomValues(bytes);
  const key = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  await setAccountTempUrlKey(store, key, options);
  return key;
}

/** Sets the account's temp-URL key (`X-Account-Meta-Temp-URL-Key`). */
export async function setAccountTempUrlKey(
  store: SwiftStore,
  key: string,
  options: CallOptions = {},
): Promise<void> {
  const { client } = store[SWIFT_INTERNALS]();
  const call: SwiftCall = {
    method: "POST",
    headers: { "X-Account-Meta-Temp-URL-Key": key },
    signal: options.signal,
    operation: "tempUrl",
  };
  const response = await client.send(call);
  if (response.status < 200 || response.status >= 300) {
    throw await errorFrom(response, call, "setting the temp-URL key needs an account admin");
  }
  await response.discard();
}

/** HMAC-SHA256 of `message` under `key`, as lowercase hex (WebCrypto: works in browsers too). */
export async function hmacSha256Hex(key: string, message: string): Promise<string> {
  const enc = new TextEncoder();
  const cryptoKey = await crypto.subtle.importKey(
    "raw",
    enc.encode(key),
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  const mac = new Uint8Array(await crypto.subtle.sign("HMAC", cryptoKey, enc.encode(message)));
  return Array.from(mac, (b) => b.toString(16).padStart(2, "0")).join("");
}
