/**
 * Helia peers in child processes for the peer-to-peer tests: `spawnHeliaChild` runs
 * `helia-child.ts` (a private Helia node on 127.0.0.1, see `startHelia`), and `buildDataset`
 * writes the dataset both sides agree on.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import * as zarr from "zarrita";
import type { Store } from "../../src/store.js";

const require = createRequire(import.meta.url);
const CHILD = fileURLToPath(new URL("./helia-child.ts", import.meta.url));

/** True when Helia (an optional dependency) is installed, else why not. */
export function heliaAvailable(): true | string {
  for (const name of ["helia", "@helia/libp2p", "@helia/bitswap", "libp2p", "@libp2p/tcp"]) {
    try {
      require.resolve(name);
    } catch {
      return `${name} is not installed (Helia is an optional dependency: npm install)`;
    }
  }
  return true;
}

/** The shape and values of the dataset's array (deterministic, so both peers agree). */
export const SHAPE = [48, 40] as const;
export const CHUNKS = [16, 16] as const;
export function expectedValues(): Float32Array {
  return Float32Array.from(
    { length: SHAPE[0] * SHAPE[1] },
    (_, i) => Math.sin(i / 7) * 100 + i * 0.25,
  );
}

/** Writes the dataset: a v3 group with an attribute and a float32 array in 9 chunks. */
export async function buildDataset(store: Store): Promise<void> {
  const group = await zarr.create(store, { attributes: { title: "over bitswap", offset: 0.5 } });
  const arr = await zarr.create(group.resolve("temperature"), {
    shape: [...SHAPE],
    chunkShape: [...CHUNKS],
    dtype: "float32",
    fillValue: 0,
  });
  await zarr.set(arr, null, { data: expectedValues(), shape: [...SHAPE], stride: [SHAPE[1], 1] });
}

/** A child process running a Helia peer, with its first stdout line parsed as JSON. */
export interface HeliaChild {
  process: ChildProcess;
  /** The first JSON line the child printed. */
  ready: Promise<Record<string, unknown>>;
  /** Everything it printed on stderr (for failure messages). */
  stderr(): string;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
}

/** Starts `helia-child.ts <role> <args…>` under tsx. */
export function spawnHeliaChild(role: "serve" | "read", args: string[] = []): HeliaChild {
  const child = spawn(process.execPath, ["--import", "tsx", CHILD, role, ...args], {
    stdio: ["pipe", "pipe", "pipe"],
    env: { ...process.env, NODE_OPTIONS: "" },
  });
  let stdout = "";
  let stderr = "";
  const ready = new Promise<Record<string, unknown>>((resolve, reject) => {
    child.stdout?.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
      const newline = stdout.indexOf("\n");
      if (newline !== -1) {
        try {
          resolve(JSON.parse(stdout.slice(0, newline)) as Record<string, unknown>);
        } catch (error) {
          reject(error);
        }
      }
    });
    child.once("exit", (code) =>
      reject(new Error(`helia child (${role}) exited ${code} before answering: ${stderr}`)),
    );
  });
  ready.catch(() => {});
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) =>
    child.once("exit", (code) => resolve(code)),
  );
  return { process: child, ready, stderr: () => stderr, exited };
}

/** Stops a child: closes its stdin (it stops its node and exits), then kills it by PID if it lingers. */
export async function stopHeliaChild(child: HeliaChild, graceMs = 5000): Promise<void> {
  if (child.process.exitCode !== null || child.process.signalCode !== null) return;
  child.process.stdin?.end();
  const timer = setTimeout(() => {
    if (child.process.pid !== undefined) process.kill(child.process.pid, "SIGKILL");
  }, graceMs);
  await child.exited;
  clearTimeout(timer);
}
