import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

/** Debian's interpreter, which has python3-zarr and python3-xarray (the first python3 on PATH may not). */
export const PYTHON = "/usr/bin/python3";

/** True when Debian's Python with zarr 2 and xarray is installed, else the reason it is not. */
export function pythonZarrAvailable(): true | string {
  if (!existsSync(PYTHON)) return `${PYTHON} not found (run scripts/install-deps.sh)`;
  const probe = spawnSync(PYTHON, ["-c", "import zarr, xarray, numcodecs"], { encoding: "utf8" });
  return probe.status === 0
    ? true
    : `python3-zarr/python3-xarray missing: ${probe.stderr.trim().split("\n").pop()}`;
}

/** Runs a Python script with arguments; returns stdout; throws with stderr on failure. */
export function runPython(
  script: string,
  args: string[] = [],
  env: Record<string, string> = {},
): string {
  return execFileSync(PYTHON, ["-c", script, ...args], {
    encoding: "utf8",
    env: { ...process.env, ...env },
    maxBuffer: 256 * 1024 * 1024,
    stdio: ["ignore", "pipe", "pipe"],
  });
}
