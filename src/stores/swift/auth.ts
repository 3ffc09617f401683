/**
 * Swift authentication: TempAuth/v1 (`authurl`, `user`, `key`), a pre-authenticated pair
 * (`preauthurl`, `preauthtoken`) and Keystone v3 (password or application credential), plus
 * the seed's helpers `getenvAuth()` and `acquireToken()`.
 */
import { StoreError } from "../../errors.js";
import { mapTransportError, redactUrl } from "../../http/status.js";
import { type FetchLike, fetchTransport, type HttpResponse } from "../http-transport.js";
import type { SwiftTransport } from "./client.js";
import { BACKEND } from "./errors.js";

/** TempAuth / Swift v1: `GET authurl` with `X-Auth-User: account:user` and `X-Auth-Key`. */
export interface SwiftV1Auth {
  authurl: string;
  /** `account:user`, e.g. `test:tester`. */
  user: string;
  key: string;
  authVersion?: "1" | "1.0" | undefined;
}

/** Keystone v3, with a password (user + project scope) or an application credential. */
export interface SwiftKeystoneAuth {
  /** Keystone's URL, e.g. `https://keystone.example.org:5000/v3` (`/v3` is added when absent). */
  authurl: string;
  authVersion: "3";
  username?: string | undefined;
  userId?: string | undefined;
  password?: string | undefined;
  userDomainName?: string | undefined;
  userDomainId?: string | undefined;
  projectName?: string | undefined;
  projectId?: string | undefined;
  projectDomainName?: string | undefined;
  projectDomainId?: string | undefined;
  applicationCredentialId?: string | undefined;
  applicationCredentialName?: string | undefined;
  applicationCredentialSecret?: string | undefined;
  /** Picks the object-store endpoint of this region from the catalog. */
  regionName?: string | undefined;
  /** The catalog interface to use (default `public`). */
  interface?: "public" | "internal" | "admin" | undefined;
}

/** A storage URL and a token obtained elsewhere (`swift auth`, `acquireToken`). */
export interface SwiftPreAuth {
  preauthurl: string;
  preauthtoken: string;
}

/**
 * How a SwiftStore authenticates. Credentials may come with a pre-authenticated pair: the
 * token is used first and the credentials re-authenticate when it expires.
 */
export type SwiftStorageOptions =
  | SwiftPreAuth
  | (SwiftV1Auth & Partial<SwiftPreAuth>)
  | (SwiftKeystoneAuth & Partial<SwiftPreAuth>);

/** A storage URL with the token that opens it. */
export interface SwiftSession {
  storageUrl: string;
  token: string;
  /** When the token stops working, where the server said so. */
  expiresAt?: Date | undefined;
}

/** What `acquireToken` returns: the pre-authenticated pair and its expiry. */
export interface AcquiredToken extends SwiftPreAuth {
  expiresAt: Date | undefined;
}

type Env = Record<string, string | undefined>;

/** Tells which kind of storage options these are. */
export function authKind(options: SwiftStorageOptions): "v1" | "v3" | "preauth" {
  if ("authurl" in options && typeof options.authurl === "string") {
    return options.authVersion === "3" ? "v3" : "v1";
  }
  return "preauth";
}

/**
 * Holds the current session, authenticates on demand and re-authenticates once per stale
 * token when a request gets 401. Concurrent callers share one authentication request.
 */
export class SwiftAuthenticator {
  readonly #options: SwiftStorageOptions;
  readonly #transport: SwiftTransport;
  readonly #now: () => number;
  #session: SwiftSession | undefined;
  #pending: Promise<SwiftSession> | undefined;

  constructor(
    options: SwiftStorageOptions,
    transport: SwiftTransport,
    now: () => number = Date.now,
  ) {
    this.#options = checkStorageOptions(options);
    this.#transport = transport;
    this.#now = now;
    if ("preauthurl" in options && options.preauthurl && options.preauthtoken) {
      this.#session = { storageUrl: trimSlash(options.preauthurl), token: options.preauthtoken };
    }
  }

  /** True when credentials are known, so an expired token can be replaced. */
  get canReauthenticate(): boolean {
    return authKind(this.#options) !== "preauth";
  }

  /** The storage URL once known (pre-authenticated, or after the first authentication). */
  get storageUrl(): string | undefined {
    return this.#session?.storageUrl;
  }

  /** The current session; authenticates first when there is none or it is about to expire. */
  async session(signal?: AbortSignal): Promise<SwiftSession> {
    const current = this.#session;
    if (current !== undefined && (!this.canReauthenticate || !this.#expiring(current))) {
      return current;
    }
    return this.#authenticate(signal);
  }

  /** Replaces `stale` after a 401: one authentication however many requests saw it. */
  async renew(stale: SwiftSession, signal?: AbortSignal): Promise<SwiftSession> {
    if (this.#session !== undefined && this.#session.token !== stale.token) return this.#session;
    return this.#authenticate(signal);
  }

  #expiring(session: SwiftSession): boolean {
    if (session.expiresAt === undefined) return false;
    // Renew a little before the end so a request does not leave with a dying token; the
    // margin shrinks with short lifetimes (a 3 s token in a test still gets used).
    return this.#now() >= session.expiresAt.getTime() - 1000;
  }

  #authenticate(signal?: AbortSignal): Promise<SwiftSession> {
    this.#pending ??= authenticate(this.#options, this.#transport, this.#now, signal)
      .then((session) => {
        this.#session = session;
        return session;
      })
      .finally(() => {
        this.#pending = undefined;
      });
    return this.#pending;
  }
}

/** Authenticates once with v1 or Keystone v3 options and returns the session. */
export async function authenticate(
  options: SwiftStorageOptions,
  transport: SwiftTransport = fetchTransport(),
  now: () => number = Date.now,
  signal?: AbortSignal,
): Promise<SwiftSession> {
  const kind = authKind(options);
  if (kind === "v1") return authenticateV1(options as SwiftV1Auth, transport, now, signal);
  if (kind === "v3") return authenticateV3(options as SwiftKeystoneAuth, transport, signal);
  const pre = options as SwiftPreAuth;
  return { storageUrl: trimSlash(pre.preauthurl), token: pre.preauthtoken };
}

async function authenticateV1(
  options: SwiftV1Auth,
  transport: SwiftTransport,
  now: () => number,
  signal?: AbortSignal,
): Promise<SwiftSession> {
  const response = await authRequest(transport, options.authurl, signal, {
    method: "GET",
    headers: { "x-auth-user": options.user, "x-auth-key": options.key },
  });
  await response.discard();
  if (!ok(response)) {
    throw authFailed(
      response.status,
      options.authurl,
      `user '${options.user}': check the user ('account:user') and key (ST_USER/ST_KEY)`,
    );
  }
  const storageUrl = response.header("x-storage-url");
  const token = response.header("x-auth-token") ?? response.header("x-storage-token");
  if (!storageUrl || !token) {
    throw authFailed(
      response.status,
      options.authurl,
      "the reply lacks X-Storage-Url or X-Auth-Token; is this a Swift auth URL?",
    );
  }
  const seconds = Number(response.header("x-auth-token-expires"));
  const expiresAt =
    Number.isFinite(seconds) && seconds > 0 ? new Date(now() + seconds * 1000) : undefined;
  return { storageUrl: trimSlash(storageUrl), token, expiresAt };
}

interface CatalogEntry {
  type?: string;
  endpoints?: { interface?: string; region?: string; region_id?: string; url?: string }[];
}

async function authenticateV3(
  options: SwiftKeystoneAuth,
  transport: SwiftTransport,
  signal?: AbortSignal,
): Promise<SwiftSession> {
  const url = keystoneTokensUrl(options.authurl);
  const response = await authRequest(transport, url, signal, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json" },
    body: new TextEncoder().encode(JSON.stringify(keystoneRequestBody(options))),
  });
  const text = await readAuthText(response, url, signal);
  const who = options.applicationCredentialId
    ? `application credential '${options.applicationCredentialId}'`
    : `user '${options.username ?? options.userId}'`;
  if (!ok(response)) {
    throw authFailed(
      response.status,
      url,
      `${who}: check the password or secret, the domains and the project (OS_* variables)`,
    );
  }
  const token = response.header("x-subject-token");
  let body: { token?: { expires_at?: string; catalog?: CatalogEntry[] } };
  try {
    body = JSON.parse(text);
  } catch (cause) {
    throw authFailed(response.status, url, "Keystone's reply is not JSON", cause);
  }
  if (!token) throw authFailed(response.status, url, "Keystone's reply lacks X-Subject-Token");
  const storageUrl = objectStoreEndpoint(body.token?.catalog ?? [], options);
  if (!storageUrl) {
    const region = options.regionName ? ` in region '${options.regionName}'` : "";
    throw authFailed(
      response.status,
      url,
      `the catalog has no ${options.interface ?? "public"} object-store endpoint${region}; is the token scoped to a project with Swift?`,
    );
  }
  const expires = body.token?.expires_at ? new Date(body.token.expires_at) : undefined;
  return {
    storageUrl: trimSlash(storageUrl),
    token,
    expiresAt: expires && !Number.isNaN(expires.getTime()) ? expires : undefined,
  };
}

/** Keystone's `/v3/auth/tokens` URL for an auth URL given with or without `/v3`. */
export function keystoneTokensUrl(authurl: string): string {
  const base = trimSlash(authurl);
  if (base.endsWith("/auth/tokens")) return base;
  return /\/v3$/.test(base) ? `${base}/auth/tokens` : `${base}/v3/auth/tokens`;
}

/** The JSON body of a Keystone v3 token request (password or application credential). */
export function keystoneRequestBody(options: SwiftKeystoneAuth): unknown {
  if (options.applicationCredentialId || options.applicationCredentialName) {
    const credential: Record<string, unknown> = { secret: options.applicationCredentialSecret };
    if (options.applicationCredentialId) credential.id = options.applicationCredentialId;
    else {
      credential.name = options.applicationCredentialName;
      credential.user = userRef(options);
    }
    return {
      auth: {
        identity: { methods: ["application_credential"], application_credential: credential },
      },
    };
  }
  const user = { ...userRef(options), password: options.password };
  const auth: Record<string, unknown> = {
    identity: { methods: ["password"], password: { user } },
  };
  if (options.projectId) auth.scope = { project: { id: options.projectId } };
  else if (options.projectName) {
    auth.scope = {
      project: {
        name: options.projectName,
        domain: domainRef(options.projectDomainId, options.projectDomainName),
      },
    };
  }
  return { auth };
}

function userRef(options: SwiftKeystoneAuth): Record<string, unknown> {
  if (options.userId) return { id: options.userId };
  return {
    name: options.username,
    domain: domainRef(options.userDomainId, options.userDomainName),
  };
}

function domainRef(id: string | undefined, name: string | undefined): Record<string, string> {
  if (id) return { id };
  // Keystone's default domain, as the OpenStack clients assume when none is named.
  return { name: name ?? "Default" };
}

function objectStoreEndpoint(
  catalog: CatalogEntry[],
  options: SwiftKeystoneAuth,
): string | undefined {
  const wanted = options.interface ?? "public";
  for (const entry of catalog) {
    if (entry.type !== "object-store") continue;
    for (const endpoint of entry.endpoints ?? []) {
      if (endpoint.interface !== wanted || !endpoint.url) continue;
      const region = endpoint.region_id ?? endpoint.region;
      if (options.regionName && region !== options.regionName) continue;
      return endpoint.url;
    }
  }
  return undefined;
}

async function authRequest(
  transport: SwiftTransport,
  url: string,
  signal: AbortSignal | undefined,
  init: { method: string; headers: Record<string, string>; body?: Uint8Array },
): Promise<HttpResponse> {
  try {
    return await transport.request({ ...init, url, signal });
  } catch (cause) {
    throw mapTransportError(
      cause,
      { backend: BACKEND, operation: "auth", url: redactUrl(url) },
      signal,
    );
  }
}

async function readAuthText(
  response: HttpResponse,
  url: string,
  signal: AbortSignal | undefined,
): Promise<string> {
  try {
    return new TextDecoder().decode(await response.read());
  } catch (cause) {
    throw mapTransportError(
      cause,
      { backend: BACKEND, operation: "auth", url: redactUrl(url) },
      signal,
    );
  }
}

function ok(response: HttpResponse): boolean {
  return response.status >= 200 && response.status < 300;
}

function authFailed(status: number, url: string, why: string, cause?: unknown): StoreError {
  const reason = status >= 500 ? "the auth service failed or is overloaded; retry later" : why;
  // 401/403: the credentials; 400/404/405: most likely the auth URL; 5xx: the server.
  const code =
    status === 401 || status === 403
      ? "Unauthenticated"
      : status >= 500
        ? "Unavailable"
        : status === 400 || status === 404 || status === 405
          ? "Config"
          : "Unexpected";
  return new StoreError({
    code,
    message: `${BACKEND} auth at ${redactUrl(url)} failed (HTTP ${status}): ${reason}`,
    operation: "auth",
    backend: BACKEND,
    status,
    retryable: status >= 500,
    cause,
  });
}

function checkStorageOptions(options: SwiftStorageOptions): SwiftStorageOptions {
  const fail = (why: string) =>
    new StoreError({
      code: "Config",
      message: `${BACKEND}: ${why}`,
      operation: "open",
      backend: BACKEND,
    });
  if (options === null || typeof options !== "object") {
    throw fail(
      "storageOptions must be {authurl, user, key}, {preauthurl, preauthtoken} or Keystone v3 options",
    );
  }
  const kind = authKind(options);
  if (kind === "preauth") {
    const pre = options as Partial<SwiftPreAuth>;
    if (!pre.preauthurl || !pre.preauthtoken) {
      throw fail(
        "storageOptions need {authurl, user, key}, {preauthurl, preauthtoken} or {authurl, authVersion: '3', …}",
      );
    }
    return options;
  }
  if (kind === "v1") {
    const v1 = options as SwiftV1Auth;
    if (!v1.user || !v1.key) throw fail("v1 auth needs user ('account:user') and key");
    return options;
  }
  const v3 = options as SwiftKeystoneAuth;
  const appCred = v3.applicationCredentialId || v3.applicationCredentialName;
  if (appCred && !v3.applicationCredentialSecret) {
    throw fail("an application credential needs applicationCredentialSecret");
  }
  if (!appCred && (!(v3.username || v3.userId) || !v3.password)) {
    throw fail("Keystone v3 needs username (or userId) and password, or an application credential");
  }
  return options;
}

/**
 * Reads Swift credentials from the environment, as the `swift` CLI and the seed do:
 * `OS_STORAGE_URL` + `OS_AUTH_TOKEN` (pre-authenticated), `ST_AUTH` + `ST_USER` + `ST_KEY`
 * (v1), or the openrc variables `OS_AUTH_URL`, `OS_USERNAME`, `OS_PASSWORD`,
 * `OS_PROJECT_NAME`, `OS_USER_DOMAIN_NAME`, `OS_PROJECT_DOMAIN_NAME` or
 * `OS_APPLICATION_CREDENTIAL_ID`/`_SECRET` (Keystone v3). When a token and credentials are
 * both set, both are returned: the token is used first, the credentials renew it.
 * Throws `Config` when none is set.
 */
export function getenvAuth(env: Env = processEnv()): SwiftStorageOptions {
  const pre =
    env.OS_STORAGE_URL && env.OS_AUTH_TOKEN
      ? { preauthurl: env.OS_STORAGE_URL, preauthtoken: env.OS_AUTH_TOKEN }
      : undefined;
  if (env.ST_AUTH && env.ST_USER && env.ST_KEY) {
    return { authurl: env.ST_AUTH, user: env.ST_USER, key: env.ST_KEY, ...pre };
  }
  const v3 = keystoneFromEnv(env);
  if (v3) return { ...v3, ...pre };
  if (pre) return pre;
  throw new StoreError({
    code: "Config",
    message: `${BACKEND}: no Swift credentials in the environment; set OS_STORAGE_URL and OS_AUTH_TOKEN, or ST_AUTH, ST_USER and ST_KEY, or source an openrc (OS_AUTH_URL, OS_USERNAME, OS_PASSWORD, OS_PROJECT_NAME…)`,
    operation: "open",
    backend: BACKEND,
  });
}

function keystoneFromEnv(env: Env): SwiftKeystoneAuth | undefined {
  if (!env.OS_AUTH_URL) return undefined;
  if (env.OS_AUTH_VERSION && !env.OS_AUTH_VERSION.startsWith("3")) return undefined;
  if (env.OS_IDENTITY_API_VERSION && !env.OS_IDENTITY_API_VERSION.startsWith("3")) return undefined;
  const common = {
    authurl: env.OS_AUTH_URL,
    authVersion: "3" as const,
    regionName: env.OS_REGION_NAME,
    interface: interfaceOf(env.OS_INTERFACE ?? env.OS_ENDPOINT_TYPE),
  };
  if (env.OS_APPLICATION_CREDENTIAL_ID && env.OS_APPLICATION_CREDENTIAL_SECRET) {
    return {
      ...common,
      applicationCredentialId: env.OS_APPLICATION_CREDENTIAL_ID,
      applicationCredentialSecret: env.OS_APPLICATION_CREDENTIAL_SECRET,
    };
  }
  if (!(env.OS_USERNAME || env.OS_USER_ID) || !env.OS_PASSWORD) return undefined;
  return {
    ...common,
    username: env.OS_USERNAME,
    userId: env.OS_USER_ID,
    password: env.OS_PASSWORD,
    userDomainName: env.OS_USER_DOMAIN_NAME,
    userDomainId: env.OS_USER_DOMAIN_ID,
    projectName: env.OS_PROJECT_NAME ?? env.OS_TENANT_NAME,
    projectId: env.OS_PROJECT_ID ?? env.OS_TENANT_ID,
    projectDomainName: env.OS_PROJECT_DOMAIN_NAME,
    projectDomainId: env.OS_PROJECT_DOMAIN_ID,
  };
}

function interfaceOf(value: string | undefined): SwiftKeystoneAuth["interface"] {
  const name = value?.replace(/URL$/, "").toLowerCase();
  return name === "internal" || name === "admin" || name === "public" ? name : undefined;
}

/** Options for `acquireToken`. */
export interface AcquireTokenOptions {
  authurl: string;
  /** `account:user`, e.g. `test:tester`. */
  user: string;
  key: string;
  /** Also set `OS_STORAGE_URL` and `OS_AUTH_TOKEN` in `env` (the `swift` CLI reads them). */
  updateEnv?: boolean;
  /** The environment `updateEnv` writes to (default `process.env`). */
  env?: Env;
  /** A `fetch` to send the request with (default: the global one). */
  fetch?: FetchLike;
  /** A transport instead (e.g. undici's on Node); wins over `fetch`. */
  transport?: SwiftTransport;
  signal?: AbortSignal;
}

/**
 * Authenticates with v1 credentials and returns the pre-authenticated pair with its expiry,
 * as the seed's `acquire_token` does; with `updateEnv`, exports it for the `swift` CLI.
 *
 * @example
 * const auth = await acquireToken({ ...getenvAuth(), updateEnv: true });
 * const store = new SwiftStore({ container: "demo", storageOptions: auth });
 */
export async function acquireToken(options: AcquireTokenOptions): Promise<AcquiredToken> {
  if (!options.authurl || !options.user || !options.key) {
    throw new StoreError({
      code: "Config",
      message: `${BACKEND} acquireToken needs authurl, user and key (ST_AUTH, ST_USER, ST_KEY)`,
      operation: "auth",
      backend: BACKEND,
    });
  }
  if (!/^[^:]+:[^:]+$/.test(options.user)) {
    throw new StoreError({
      code: "Config",
      message: `${BACKEND} acquireToken: user must be 'account:user' (e.g. 'test:tester'), got '${options.user}'`,
      operation: "auth",
      backend: BACKEND,
    });
  }
  const session = await authenticateV1(
    { authurl: options.authurl, user: options.user, key: options.key },
    options.transport ?? fetchTransport(options.fetch),
    Date.now,
    options.signal,
  );
  if (options.updateEnv) {
    const env = options.env ?? processEnv();
    env.OS_STORAGE_URL = session.storageUrl;
    env.OS_AUTH_TOKEN = session.token;
  }
  return {
    preauthurl: session.storageUrl,
    preauthtoken: session.token,
    expiresAt: session.expiresAt,
  };
}

/** `process.env` where there is one (Node, Deno, Bun), else an empty environment. */
export function processEnv(): Env {
  const proc = (globalThis as { process?: { env?: Env } }).process;
  return proc?.env ?? {};
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, "");
}
