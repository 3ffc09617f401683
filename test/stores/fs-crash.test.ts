import { type ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { listAll } from "../../src/helpers.js";
import { FileSystemStore } from "../../src/stores/fs.js";
import { CRASH_KEYS, crashValue } from "../support/fs-crash-child.js";

const CHILD = fileURLToPath(new URL("../support/fs-crash-child.ts", import.meta.url));
// 16 MiB: a write takes long enough (several ms) that a kill lands inside it most times.
const SIZE = 16 * 1024 * 1024;
const KILLS = 6;

const root = fs.mkdtempSync(path.join(os.tmpdir(), "zs-fs-crash-"));
const children = new Set<ChildProcess>();
afterAll(() => {
  for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
  fs.rmSync(root, { recursive: true, force: true });
});

interface Log {
  begun: Map<string, number>;
  ended: Map<string, number>;
  lastLine: string;
}

/** Starts the writer, waits until it has begun `minWrites` writes, then SIGKILLs it mid-write. */
function runAndKill(minWrites: number, delayMs: number): Promise<Log> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", CHILD, root, String(SIZE)], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.add(child);
    const log: Log = { begun: new Map(), ended: new Map(), lastLine: "" };
    let pending = "";
    let writes = 0;
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
    });
    child.stdout.on("data", (d: Buffer) => {
      pending += d.toString();
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) {
        const [what, key, generation] = line.split(" ");
        (what === "begin" ? log.begun : log.ended).set(key as string, Number(generation));
        log.lastLine = line;
        if (what === "begin" && ++writes === minWrites) {
          setTimeout(() => child.kill("SIGKILL"), delayMs);
        }
      }
    });
    child.on("exit", (code, signal) => {
      children.delete(child);
      if (signal === "SIGKILL") resolve(log);
      else reject(new Error(`writer exited by itself (${code}): ${stderr}`));
    });
  });
}

function leftoverTempFiles(): string[] {
  const found: string[] = [];
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      if (entry.isDirectory()) walk(path.join(dir, entry.name));
      else if (entry.name.startsWith(".zstmp.")) found.push(entry.name);
    }
  };
  walk(root);
  return found;
}

describe("FileSystemStore under SIGKILL", () => {
  it("leaves each key holding its old or its new value whole, and lists no temp file", async () => {
    const reader = new FileSystemStore(root, { readOnly: true });
    let killedMidWrite = 0;
    for (let round = 0; round < KILLS; round++) {
      const log = await runAndKill(3, round % 3);
      if (log.lastLine.startsWith("begin")) killedMidWrite += 1;
      for (const key of CRASH_KEYS) {
        const value = await reader.get(key);
        const ended = log.ended.get(key);
        const begun = log.begun.get(key);
        if (value === undefined) {
          // Only possible when this key's first write in this run never finished and no
          // earlier run wrote it.
          expect(ended).toBeUndefined();
          continue;
        }
        expect(value.byteLength).toBe(SIZE);
        const generation = new DataView(value.buffer, value.byteOffset).getUint32(0, true);
        // The new value (the write that was cut) or the old one (the last that finished, in
        // this run or an earlier one): nothing else, and whole.
        if (ended !== undefined) expect([ended, begun]).toContain(generation);
        expect(Buffer.compare(Buffer.from(value), Buffer.from(crashValue(generation, SIZE)))).toBe(
          0,
        );
      }
      expect(await listAll(reader)).toEqual([...CRASH_KEYS].filter((k) => fs.existsSync(root + k)));
    }
    // The kills did land inside writes: the child had announced a write it never finished,
    // and cut writes left their temp files behind (which list() never shows).
    expect(killedMidWrite).toBeGreaterThan(0);
    expect(leftoverTempFiles().length).toBeGreaterThan(0);
    // A new writer is not disturbed by the leftovers.
    const writer = new FileSystemStore(root);
    await writer.set(CRASH_KEYS[0], crashValue(999, SIZE));
    expect((await reader.get(CRASH_KEYS[0]))?.byteLength).toBe(SIZE);
  }, 120_000);
});
