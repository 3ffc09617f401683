/**
 * Where S3Store finds credentials, region and endpoint, in the order the AWS CLI uses:
 * explicit options (credentials or a provider function), then `AWS_ACCESS_KEY_ID` /
 * `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`, then the shared files `~/.aws/credentials` and
 * `~/.aws/config` for `AWS_PROFILE` (or `default`). Files are read only where there is a file
 * system (Node, Deno, Bun); in a browser the chain ends at the environment given.
 */
import { StoreError } from "../../errors.js";

/** Credentials, with an expiry when they are temporary. */
export interface S3Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string | undefined;
  /** When temporary credentials stop working; the store asks its provider again before then. */
  expiration?: Date | undefined;
}

/** A function that returns (fresh) credentials, e.g. from an STS call or a vault. */
export type S3CredentialProvider = () => S3Credentials | Promise<S3Credentials>;

type Env = Record<string, string | undefined>;

const BACKEND = "S3Store";
// Ask a provider again this long before its credentials expire.
const REFRESH_MARGIN_MS = 5 * 60 * 1000;

/** A profile's settings from the shared config and credentials files. */
export interface AwsProfile {
  accessKeyId?: string | undefined;
  secretAccessKey?: string | undefined;
  sessionToken?: string | undefined;
  region?: string | undefined;
  endpointUrl?: string | undefined;
}

/**
 * Holds credentials and renews them from their provider before they expire. Concurrent
 * callers share one renewal.
 */
export class CredentialSource {
  readonly #provider: S3CredentialProvider;
  readonly #now: () => number;
  #current: S3Credentials | undefined;
  #pending: Promise<S3Credentials> | undefined;

  constructor(provider: S3CredentialProvider, now: () => number = Date.now) {
    this.#provider = provider;
    this.#now = now;
  }

  /** Current credentials, renewed first when absent or about to expire. */
  async get(): Promise<S3Credentials> {
    const current = this.#current;
    if (current && !this.#expiring(current)) return current;
    this.#pending ??= Promise.resolve()
      .then(() => this.#provider())
      .then((credentials) => {
        checkCredentials(credentials);
        this.#current = credentials;
        return credentials;
      })
      .finally(() => {
        this.#pending = undefined;
      });
    return this.#pending;
  }

  /** Forgets the current credentials so the next call asks the provider again. */
  invalidate(): void {
    this.#current = undefined;
  }

  #expiring(credentials: S3Credentials): boolean {
    const expiration = credentials.expiration?.getTime();
    return expiration !== undefined && this.#now() >= expiration - REFRESH_MARGIN_MS;
  }
}

function checkCredentials(credentials: S3Credentials): void {
  if (
    !credentials ||
    typeof credentials.accessKeyId !== "string" ||
    typeof credentials.secretAccessKey !== "string" ||
    credentials.accessKeyId === "" ||
    credentials.secretAccessKey === ""
  ) {
    throw configError(
      "the credential provider returned no accessKeyId/secretAccessKey; check the provider function",
    );
  }
}

/** Options that decide where credentials come from. */
export interface CredentialChainOptions {
  credentials?: S3Credentials | S3CredentialProvider | undefined;
  env?: Env | undefined;
  /** A profile name instead of `AWS_PROFILE`. */
  profile?: string | undefined;
}

/**
 * Resolves the credential chain to a provider: options, environment, then shared files.
 * Returns `undefined` when nothing is configured anywhere.
 */
export async function credentialProvider(
  options: CredentialChainOptions,
): Promise<S3CredentialProvider | undefined> {
  const given = options.credentials;
  if (typeof given === "function") return given;
  if (given !== undefined) {
    checkCredentials(given);
    return () => given;
  }
  const env = options.env ?? processEnv();
  if (env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) {
    const fromEnv: S3Credentials = {
      accessKeyId: env.AWS_ACCESS_KEY_ID,
      secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
      sessionToken: env.AWS_SESSION_TOKEN || undefined,
    };
    return () => fromEnv;
  }
  const profile = await readProfile(options.profile ?? env.AWS_PROFILE ?? "default", env);
  if (profile?.accessKeyId && profile.secretAccessKey) {
    const fromFiles: S3Credentials = {
      accessKeyId: profile.accessKeyId,
      secretAccessKey: profile.secretAccessKey,
      sessionToken: profile.sessionToken,
    };
    return () => fromFiles;
  }
  return undefined;
}

/**
 * Reads a profile from `~/.aws/credentials` (`[name]`) and `~/.aws/config` (`[profile name]`,
 * or `[default]`), honouring `AWS_SHARED_CREDENTIALS_FILE` and `AWS_CONFIG_FILE`. Returns
 * `undefined` where there is no file system or neither file names the profile.
 */
export async function readProfile(
  name: string,
  env: Env = processEnv(),
): Promise<AwsProfile | undefined> {
  const fs = nodeFs();
  const home = env.HOME ?? env.USERPROFILE;
  if (fs === undefined) return undefined;
  const credentialsFile =
    env.AWS_SHARED_CREDENTIALS_FILE ?? (home ? `${home}/.aws/credentials` : undefined);
  const configFile = env.AWS_CONFIG_FILE ?? (home ? `${home}/.aws/config` : undefined);
  const credentials = parseIni(await readText(fs, credentialsFile))[name];
  const config = parseIni(await readText(fs, configFile))[
    name === "default" ? "default" : `profile ${name}`
  ];
  if (credentials === undefined && config === undefined) return undefined;
  const pick = (key: string) => credentials?.[key] ?? config?.[key];
  return {
    accessKeyId: pick("aws_access_key_id"),
    secretAccessKey: pick("aws_secret_access_key"),
    sessionToken: pick("aws_session_token"),
    region: config?.region ?? credentials?.region,
    endpointUrl: config?.endpoint_url ?? credentials?.endpoint_url,
  };
}

/** Parses an INI file into sections of lower-cased keys (`#` and `;` start comments). */
export function parseIni(text: string): Record<string, Record<string, string>> {
  const sections: Record<string, Record<string, string>> = {};
  let current: Record<string, string> | undefined;
  for (const rawLine of text.split(/\r?\n/)) {
    const line = rawLine.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const section = /^\[\s*(.+?)\s*\]$/.exec(line);
    if (section) {
      const name = (section[1] as string).replace(/\s+/g, " ");
      current = sections[name] ??= {};
      continue;
    }
    const eq = line.indexOf("=");
    // Nested settings (indented `key = value` under `s3 =`) are not needed here and skipped.
    if (eq <= 0 || current === undefined || /^\s/.test(rawLine)) continue;
    current[line.slice(0, eq).trim().toLowerCase()] = line.slice(eq + 1).trim();
  }
  return sections;
}

interface FsPromises {
  readFile(path: string, encoding: "utf8"): Promise<string>;
}

// `process.getBuiltinModule` (Node ≥ 20.16, Deno, Bun) reaches the file system without a
// static `node:` import, so this module still loads in browsers and bundles.
function nodeFs(): FsPromises | undefined {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  return proc?.getBuiltinModule?.("node:fs/promises") as FsPromises | undefined;
}

async function readText(fs: FsPromises, path: string | undefined): Promise<string> {
  if (path === undefined) return "";
  try {
    return await fs.readFile(path, "utf8");
  } catch {
    return "";
  }
}

/** `process.env` where there is one, else an empty environment. */
export function processEnv(): Env {
  const proc = (globalThis as { process?: { env?: Env } }).process;
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
