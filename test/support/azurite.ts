import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const BIN = fileURLToPath(
  new URL("../../node_modules/azurite/dist/src/blob/main.js", import.meta.url),
);

/** Azurite's well-known development account (public, documented by Microsoft; not a secret). */
export const AZURITE_ACCOUNT = "devstoreaccount1";
/** The development account's key, as published in Azurite's README. */
export const AZURITE_KEY =
  "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/** A running Azurite blob service on 127.0.0.1. */
export interface AzuriteServer {
  /** The blob endpoint including the account, e.g. `http://127.0.0.1:41234/devstoreaccount1`. */
  endpoint: string;
  port: number;
  account: string;
  key: string;
  /** A connection string for the development account on this port. */
  connectionString: string;
  pid: number;
  /** Stops the process by PID and removes its workspace. Idempotent. */
  stop(): Promise<void>;
}

/** `true` when Azurite is installed (npm devDependency `azurite@3.34.0`), else the reason. */
export function azuriteAvailable(): true | string {
  return existsSync(BIN)
    ? true
    : "azurite is not installed (npm install: devDependency azurite@3.34.0)";
}

/** A free loopback port (asked of the kernel, then released for the server to take). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === "object") resolve(address.port);
        else reject(new Error("no port"));
      });
    });
  });
}

/**
 * Starts Azurite's blob service on a free loopback port with in-memory persistence,
 * `--skipApiVersionCheck` and `--loose`, and waits until it answers (about 1–2 s).
 * Call `stop()` in `afterAll`; it kills the recorded PID only.
 *
 * @example
 * let azurite: AzuriteServer;
 * beforeAll(async () => { azurite = await startAzurite(); });
 * afterAll(() => azurite?.stop());
 */
export async function startAzurite(): Promise<AzuriteServer> {
  const workspace = await mkdtemp(join(tmpdir(), "zarrstore-azurite-"));
  for (let attempt = 0; ; attempt++) {
    const port = await freePort();
    const child = spawn(
      process.execPath,
      [
        // Azurite exits when our end of its stdin closes, so a killed test run leaves no server behind.
        "--import",
        "data:text/javascript,process.stdin.on('end',()=>process.exit(0));process.stdin.resume();",
        BIN,
        "--blobHost",
        "127.0.0.1",
        "--blobPort",
        String(port),
        // 5 s by default: idle keep-alive sockets of a busy test would be cut under our feet.
        "--blobKeepAliveTimeout",
        "600",
        "--inMemoryPersistence",
        "--skipApiVersionCheck",
        "--loose",
        "--silent",
        "--disableTelemetry",
      ],
      // In-memory persistence writes nothing; the workspace is its working folder all the same.
      { cwd: workspace, stdio: ["pipe", "ignore", "pipe"] },
    );
    let stderr = "";
    child.stderr?.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    try {
      await waitReady(port, child);
    } catch (error) {
      await kill(child);
      // Another process may have taken the port between our probe and Azurite's bind.
      if (attempt < 2 && /EADDRINUSE/.test(stderr)) continue;
      await rm(workspace, { recursive: true, force: true });
      throw new Error(`Azurite did not start: ${(error as Error).message}\n${stderr}`);
    }
    const endpoint = `http://127.0.0.1:${port}/${AZURITE_ACCOUNT}`;
    let stopped: Promise<void> | undefined;
    return {
      endpoint,
      port,
      account: AZURITE_ACCOUNT,
      key: AZURITE_KEY,
      connectionString: `DefaultEndpointsProtocol=http;AccountName=${AZURITE_ACCOUNT};AccountKey=${AZURITE_KEY};BlobEndpoint=${endpoint};`,
      pid: child.pid as number,
      stop() {
        stopped ??= kill(child).then(() => rm(workspace, { recursive: true, force: true }));
        return stopped;
      },
    };
  }
}

async function waitReady(port: number, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode}`);
    try {
      // Any HTTP answer (an auth error for an unsigned listing) means the service is up.
      const response = await fetch(`http://127.0.0.1:${port}/${AZURITE_ACCOUNT}?comp=list`);
      await response.body?.cancel();
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  throw new Error("timed out after 30 s");
}

async function kill(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  process.kill(child.pid, "SIGTERM");
  const timer = setTimeout(() => {
    if (child.exitCode === null && child.pid !== undefined) process.kill(child.pid, "SIGKILL");
  }, 5_000);
  await exited;
  clearTimeout(timer);
}
