/**
 * Where an AzureBlobStore's account, endpoint and credential come from: the options, a
 * connection string, or the environment variables the Azure CLI and SDKs read. Also the
 * `az://` and `abfs(s)://` URLs fsspec (adlfs) writes.
 */
import { StoreError } from "../../errors.js";
import type { AzureCredential } from "./client.js";
import { BACKEND } from "./errors.js";

/** Azurite's and the old storage emulator's development account (public, documented). */
export const DEVELOPMENT_ACCOUNT = "devstoreaccount1";
const DEVELOPMENT_KEY =
  "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const DEVELOPMENT_ENDPOINT = `http://127.0.0.1:10000/${DEVELOPMENT_ACCOUNT}`;

/** An account, its blob endpoint and a credential, resolved once. */
export interface AzureTarget {
  account: string;
  endpoint: string;
  credential: AzureCredential;
}

/** What a connection string says (every part optional until resolved). */
export interface ConnectionString {
  account?: string | undefined;
  accountKey?: string | undefined;
  sasToken?: string | undefined;
  /** The blob endpoint, explicit (`BlobEndpoint=`) or built from protocol and suffix. */
  endpoint?: string | undefined;
}

/**
 * Parses an Azure Storage connection string: `AccountName`, `AccountKey`,
 * `SharedAccessSignature`, `BlobEndpoint`, `DefaultEndpointsProtocol`, `EndpointSuffix`, and
 * `UseDevelopmentStorage=true` (Azurite's account on 127.0.0.1:10000). Keys are matched
 * without regard to case; values keep their `=` (base64 keys end in it).
 */
export function parseConnectionString(text: string): ConnectionString {
  const parts = new Map<string, string>();
  for (const piece of text.split(";")) {
    const trimmed = piece.trim();
    if (trimmed === "") continue;
    const eq = trimmed.indexOf("=");
    if (eq <= 0) {
      throw configError(
        "the connection string has a part without '=' (expected Name=Value pairs separated by ';')",
      );
    }
    parts.set(trimmed.slice(0, eq).toLowerCase(), trimmed.slice(eq + 1));
  }
  if (parts.get("usedevelopmentstorage")?.toLowerCase() === "true") {
    return {
      account: DEVELOPMENT_ACCOUNT,
      accountKey: DEVELOPMENT_KEY,
      endpoint: DEVELOPMENT_ENDPOINT,
    };
  }
  const account = parts.get("accountname");
  const protocol = parts.get("defaultendpointsprotocol") ?? "https";
  const suffix = parts.get("endpointsuffix") ?? "core.windows.net";
  const explicit = parts.get("blobendpoint");
  const endpoint = explicit ?? (account ? `${protocol}://${account}.blob.${suffix}` : undefined);
  return {
    account: account ?? (endpoint ? accountFromEndpoint(endpoint) : undefined),
    accountKey: parts.get("accountkey"),
    sasToken: parts.get("sharedaccesssignature"),
    endpoint: endpoint?.replace(/\/+$/, ""),
  };
}

/** The account an endpoint names: its first host label, or the first path segment of a path-style (emulator) endpoint. */
export function accountFromEndpoint(endpoint: string): string | undefined {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    return undefined;
  }
  const segment = url.pathname.split("/").find((part) => part !== "");
  if (segment) return segment;
  const host = url.hostname;
  if (/^[\d.]+$/.test(host) || host === "localhost" || host.startsWith("[")) return undefined;
  return host.split(".")[0];
}

/** The parts of the store options this module reads. */
export interface AzureTargetOptions {
  account?: string | undefined;
  endpoint?: string | undefined;
  credential?: AzureCredential | undefined;
  connectionString?: string | undefined;
  env?: Record<string, string | undefined> | undefined;
}

/**
 * Resolves account, endpoint and credential, first match wins:
 * 1. `credential` in the options (account from `account` or the endpoint);
 * 2. a connection string (`connectionString`, else `AZURE_STORAGE_CONNECTION_STRING`);
 * 3. `AZURE_STORAGE_ACCOUNT` with `AZURE_STORAGE_KEY` or `AZURE_STORAGE_SAS_TOKEN`.
 * Options beat the environment for account and endpoint. Nothing found is a `Config` error
 * that names the variables; anonymous access must be asked for (`credential: {anonymous: true}`).
 */
export function resolveTarget(options: AzureTargetOptions): AzureTarget {
  const env = options.env ?? processEnv();
  const fromString = options.connectionString ?? env.AZURE_STORAGE_CONNECTION_STRING;
  const parsed = fromString ? parseConnectionString(fromString) : {};
  const account =
    options.account ??
    (options.endpoint ? accountFromEndpoint(options.endpoint) : undefined) ??
    parsed.account ??
    env.AZURE_STORAGE_ACCOUNT;
  if (!account) {
    throw configError(
      "no account: pass account (or an endpoint naming it), or set AZURE_STORAGE_ACCOUNT or AZURE_STORAGE_CONNECTION_STRING",
    );
  }
  const endpoint = (
    options.endpoint ??
    (parsed.account === undefined || parsed.account === account ? parsed.endpoint : undefined) ??
    `https://${account}.blob.core.windows.net`
  ).replace(/\/+$/, "");
  checkEndpoint(endpoint);
  const credential = options.credential ?? credentialFrom(parsed, env);
  if (credential === undefined) {
    throw configError(
      "no credential: pass credential ({accountKey}, {sasToken}, {token}, {tokenProvider} or {anonymous: true}), or set AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN",
    );
  }
  return { account, endpoint, credential };
}

function credentialFrom(
  parsed: ConnectionString,
  env: Record<string, string | undefined>,
): AzureCredential | undefined {
  if (parsed.accountKey) return { accountKey: parsed.accountKey };
  if (parsed.sasToken) return { sasToken: parsed.sasToken };
  if (env.AZURE_STORAGE_KEY) return { accountKey: env.AZURE_STORAGE_KEY };
  if (env.AZURE_STORAGE_SAS_TOKEN) return { sasToken: env.AZURE_STORAGE_SAS_TOKEN };
  return undefined;
}

function checkEndpoint(endpoint: string): void {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw configError(`the endpoint ${JSON.stringify(endpoint)} is not a URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw configError(`the endpoint must be http(s), not ${url.protocol}`);
  }
  if (url.search || url.username || url.password) {
    throw configError(
      "the endpoint must not carry a query or user info: pass a SAS as credential {sasToken}",
    );
  }
}

/** What an `az://` or `abfs(s)://` URL names. */
export interface AzureUrl {
  container: string;
  prefix: string;
  /** From `container@account.dfs.core.windows.net` (adlfs), when given. */
  account?: string | undefined;
}

/**
 * Parses `az://container/prefix`, `abfs://container/prefix`,
 * `abfs[s]://container@account.dfs.core.windows.net/prefix` (as fsspec's adlfs writes them)
 * and `az://container@account.blob.core.windows.net/prefix`.
 */
export function parseAzureUrl(url: string): AzureUrl {
  const match = /^(az|abfss?|azure):\/\/([^/?#]*)(\/[^?#]*)?$/i.exec(url);
  if (!match) {
    throw configError(
      `cannot read ${JSON.stringify(url)}: expected az://container/prefix or abfs://container@account.dfs.core.windows.net/prefix`,
    );
  }
  const authority = decodeURIComponent(match[2] as string);
  const prefix = decodeURIComponent(match[3] ?? "").replace(/^\/+|\/+$/g, "");
  const at = authority.indexOf("@");
  const container = at === -1 ? authority : authority.slice(0, at);
  const host = at === -1 ? undefined : authority.slice(at + 1);
  if (container === "") throw configError(`${JSON.stringify(url)} names no container`);
  return { container, prefix, account: host ? host.split(".")[0] : undefined };
}

function processEnv(): Record<string, string | undefined> {
  const proc = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
  return proc?.env ?? {};
}

function configError(message: string): StoreError {
  return new StoreError({
    code: "Config",
    message: `${BACKEND}: ${message}`,
    operation: "open",
    backend: BACKEND,
  });
}
