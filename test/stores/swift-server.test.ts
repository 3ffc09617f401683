import { execFile, spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { expect, it } from "vitest";
import { describeLive } from "../support/live.js";
import { swiftAvailable } from "../support/swift.js";

const run = promisify(execFile);
const SCRIPT = fileURLToPath(new URL("../../scripts/swift-server.sh", import.meta.url));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describeLive("scripts/swift-server.sh --watch", swiftAvailable, () => {
  it("stops the servers by itself once the watched process has died", async () => {
    // Stands for a test run killed before its afterAll could stop the servers.
    const owner = spawn("sleep", ["600"], { stdio: "ignore" });
    const { stdout } = await run("bash", [SCRIPT, "start", "--watch", String(owner.pid)], {
      timeout: 120_000,
    });
    const stateDir = /^SWIFT_STATE_DIR=(.+)$/m.exec(stdout)?.[1] as string;
    const pids = readFileSync(`${stateDir}/pids`, "utf8")
      .split("\n")
      .map((line) => Number(line.split(" ")[1]))
      .filter((pid) => pid > 0);
    try {
      expect(pids.length).toBeGreaterThanOrEqual(5);
      expect(pids.every(alive)).toBe(true);
      owner.kill("SIGKILL");
      const deadline = Date.now() + 20_000;
      while ((pids.some(alive) || existsSync(stateDir)) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      expect(pids.filter(alive)).toEqual([]);
      expect(existsSync(stateDir)).toBe(false);
    } finally {
      owner.kill("SIGKILL");
      await run("bash", [SCRIPT, "stop", stateDir]);
    }
  }, 150_000);
});
