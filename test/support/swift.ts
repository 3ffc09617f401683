import { execFile, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);
const SCRIPT = fileURLToPath(new URL("../../scripts/swift-server.sh", import.meta.url));

/** Options for `startSwift`. */
export interface StartSwiftOptions {
  /** Seconds a tempauth token lives (default one day); a few seconds exercise re-authentication. */
  tokenLife?: number;
  /** Proxy worker processes (default 1). */
  workers?: number;
  /** Swift's log level (default INFO; WARNING for benchmarks). */
  logLevel?: "DEBUG" | "INFO" | "WARNING" | "ERROR";
  /**
   * Also run a real Keystone (SQLite) whose tokens the proxy accepts. The first start on a
   * machine builds its template (about a minute); later starts add about ten seconds.
   */
  keystone?: boolean;
}

/** The Keystone beside the Swift, when started with `keystone: true`. */
export interface KeystoneInfo {
  /** Keystone's v3 URL, e.g. `http://127.0.0.1:41235/v3`. */
  url: string;
  /** The storage URL of the demo project's account (`…/v1/KEY_<project id>`). */
  storageUrl: string;
  user: string;
  password: string;
  project: string;
  domain: string;
  applicationCredentialId: string;
  applicationCredentialSecret: string;
}

/** A running single-node Swift on 127.0.0.1, started by scripts/swift-server.sh. */
export interface SwiftServer {
  /** TempAuth v1 endpoint, e.g. `http://127.0.0.1:41234/auth/v1.0`. */
  authUrl: string;
  /** The storage URL of the `test` account, e.g. `http://127.0.0.1:41234/v1/AUTH_test`. */
  storageUrl: string;
  /** S3 API endpoint (path style, region us-east-1; access key = user, secret = key). */
  s3Endpoint: string;
  /** The proxy's port (everything above goes through it). */
  port: number;
  /** The storage servers' and memcached's ports (for fault tests and fixtures). */
  ports: { account: number; container: number; object: number; memcached: number };
  /** `test:tester`, admin of the account. */
  user: string;
  /** `testing`. */
  key: string;
  /** `AUTH_test`. */
  account: string;
  /** A member of the same account without rights: 403 on private containers. */
  reader: { user: string; key: string };
  /** Admin of another account (`AUTH_test2`). */
  other: { user: string; key: string; storageUrl: string };
  /** The Keystone, when asked for. */
  keystone: KeystoneInfo | undefined;
  /** The state folder (configs, logs in `log/`, PIDs in `pids`). */
  stateDir: string;
  /** The PIDs of the server processes (memcached, account, container, object, proxy). */
  pids: number[];
  /** Stops every process by PID and removes the state folder. Idempotent. */
  stop(): Promise<void>;
}

/** `true` when Swift can be started here, else the reason (for `describeLive`). */
export function swiftAvailable(): true | string {
  if (!existsSync("/usr/bin/swift-proxy-server")) {
    const root = spawnSync("id", ["-u"], { encoding: "utf8" }).stdout.trim() === "0";
    // As root the script installs the packages itself.
    return root ? true : "Debian's swift packages are missing (run scripts/install-deps.sh)";
  }
  return true;
}

/**
 * Starts a Swift with its S3 API on free loopback ports and waits until a PUT/GET/DELETE works
 * (about 3–5 s). Call `stop()` in `afterAll`; it kills the recorded PIDs only.
 *
 * @example
 * let swift: SwiftServer;
 * beforeAll(async () => { swift = await startSwift({ tokenLife: 3 }); }, 60_000);
 * afterAll(() => swift?.stop());
 */
export async function startSwift(options: StartSwiftOptions = {}): Promise<SwiftServer> {
  const args = ["start"];
  if (options.tokenLife !== undefined) args.push("--token-life", String(options.tokenLife));
  if (options.workers !== undefined) args.push("--workers", String(options.workers));
  if (options.logLevel !== undefined) args.push("--log-level", options.logLevel);
  if (options.keystone) args.push("--keystone");
  // Should this process die before its afterAll, the servers stop by themselves.
  args.push("--watch", String(process.pid));
  const { stdout } = await run("bash", [SCRIPT, ...args], {
    encoding: "utf8",
    // The first Keystone start on a machine builds its template.
    timeout: options.keystone ? 600_000 : 120_000,
    maxBuffer: 1024 * 1024,
  });
  const env = parseEnv(stdout);
  const stateDir = required(env, "SWIFT_STATE_DIR");
  const port = Number(required(env, "SWIFT_PROXY_PORT"));
  const base = `http://127.0.0.1:${port}`;
  const pids = await readPids(stateDir);
  let stopped: Promise<void> | undefined;
  return {
    authUrl: required(env, "SWIFT_AUTH_URL"),
    storageUrl: required(env, "SWIFT_STORAGE_URL"),
    s3Endpoint: required(env, "SWIFT_S3_ENDPOINT"),
    port,
    ports: {
      account: Number(required(env, "SWIFT_ACCOUNT_PORT")),
      container: Number(required(env, "SWIFT_CONTAINER_PORT")),
      object: Number(required(env, "SWIFT_OBJECT_PORT")),
      memcached: Number(required(env, "SWIFT_MEMCACHED_PORT")),
    },
    user: required(env, "SWIFT_USER"),
    key: required(env, "SWIFT_KEY"),
    account: required(env, "SWIFT_ACCOUNT"),
    reader: { user: "test:tester3", key: "testing3" },
    other: { user: "test2:tester2", key: "testing2", storageUrl: `${base}/v1/AUTH_test2` },
    keystone: env.has("SWIFT_KEYSTONE_URL")
      ? {
          url: required(env, "SWIFT_KEYSTONE_URL"),
          storageUrl: required(env, "SWIFT_KEYSTONE_STORAGE_URL"),
          user: "demo",
          password: "demopw",
          project: "demo",
          domain: "Default",
          applicationCredentialId: required(env, "SWIFT_KEYSTONE_APP_CRED_ID"),
          applicationCredentialSecret: "zarrstore-app-secret",
        }
      : undefined,
    stateDir,
    pids,
    stop() {
      stopped ??= run("bash", [SCRIPT, "stop", stateDir], { timeout: 60_000 }).then(() => {});
      return stopped;
    },
  };
}

function parseEnv(text: string): Map<string, string> {
  const env = new Map<string, string>();
  for (const line of text.split("\n")) {
    const eq = line.indexOf("=");
    if (eq > 0) env.set(line.slice(0, eq), line.slice(eq + 1).trim());
  }
  return env;
}

function required(env: Map<string, string>, name: string): string {
  const value = env.get(name);
  if (value === undefined) throw new Error(`swift-server.sh did not report ${name}`);
  return value;
}

async function readPids(stateDir: string): Promise<number[]> {
  const text = await readFile(`${stateDir}/pids`, "utf8");
  return text
    .split("\n")
    .map((line) => Number(line.split(" ")[1]))
    .filter((pid) => Number.isInteger(pid) && pid > 0);
}

/** Authenticates as `user` (default the admin) and returns the token and storage URL. */
export async function swiftToken(
  swift: SwiftServer,
  user = swift.user,
  key = swift.key,
): Promise<{ token: string; storageUrl: string }> {
  const response = await fetch(swift.authUrl, {
    headers: { "X-Auth-User": user, "X-Auth-Key": key },
  });
  await response.body?.cancel();
  const token = response.headers.get("x-auth-token");
  const storageUrl = response.headers.get("x-storage-url");
  if (response.status !== 200 || !token || !storageUrl) {
    throw new Error(`auth as ${user} failed: HTTP ${response.status}`);
  }
  return { token, storageUrl };
}

/**
 * Adds listing rows to a container without writing object data: Swift's own ContainerBroker
 * merges them into the container's database, as the container server does with the updates
 * object servers send after each PUT. A real Swift listing then pages over them exactly as over
 * real objects (GETs of these names are 404). Ten thousand real PUTs take minutes on a busy
 * two-core machine; this takes about a second.
 */
export async function seedListingRows(
  swift: SwiftServer,
  container: string,
  names: string[],
): Promise<void> {
  const { token, storageUrl } = await swiftToken(swift);
  const made = await fetch(`${storageUrl}/${encodeURIComponent(container)}`, {
    method: "PUT",
    headers: { "X-Auth-Token": token },
  });
  await made.body?.cancel();
  if (made.status !== 201 && made.status !== 202) {
    throw new Error(`cannot create container ${container}: HTTP ${made.status}`);
  }
  const script = `import os, sys
from swift.common.ring import Ring
from swift.common.utils import hash_path, Timestamp
from swift.container.backend import ContainerBroker
etc, devices, account, container = sys.argv[1:5]
part = Ring(etc, ring_name="container").get_part(account, container)
h = hash_path(account, container)
broker = ContainerBroker(os.path.join(devices, "d1", "containers", str(part), h[-3:], h, h + ".db"),
                         account=account, container=container)
now = Timestamp.now().internal
names = sys.stdin.read().split("\\n")
broker.merge_items([{"name": n, "created_at": now, "size": 1, "deleted": 0,
                     "content_type": "application/octet-stream", "storage_policy_index": 0,
                     "etag": "d41d8cd98f00b204e9800998ecf8427e"} for n in names if n])
`;
  const result = spawnSync(
    "/usr/bin/python3",
    ["-c", script, `${swift.stateDir}/etc`, `${swift.stateDir}/srv`, swift.account, container],
    { encoding: "utf8", input: names.join("\n") },
  );
  if (result.status !== 0) throw new Error(`seeding listing rows failed: ${result.stderr}`);
}
