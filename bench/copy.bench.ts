/**
 * The copy engine against the tools people copy Zarr data with, alternating in one run:
 *
 * - memory → memory: `copyStore` vs a bare 16-lane get/set loop (the engine's own overhead);
 * - fs → fs: `copyStore` over FileSystemStore vs `rclone copy --transfers 16`, `cp -r` and a
 *   bare 16-lane readFile/writeFile loop (the floor: no temp file, no rename);
 * - peak RSS of `zarrstore cp` (the CLI, in its own process under /usr/bin/time) while copying
 *   ZS_COPY_RSS_GIB GiB (default 2) of 16 KiB chunks fs → fs.
 *
 *   npm run bench copy
 *   ZS_COPY_N=5000 ZS_COPY_RSS_GIB=0.25 npm run bench copy   (a quick look)
 *
 * Every contender copies the same 20,000 × 16 KiB chunks (ZS_COPY_N) laid out as a v3 array
 * (`/data/c/i/j`), into a fresh destination each round.
 */
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { FileSystemStore } from "../src/stores/fs.js";
import { MemoryStore } from "../src/stores/memory.js";
import { copyStore } from "../src/zarr/copy.js";
import { type Contender, compare, pool, printTable } from "./lib.js";

const N = Number(process.env.ZS_COPY_N ?? 20_000);
const SIZE = 16 * 1024;
const LANES = 16;
const ROUNDS = Number(process.env.ZS_COPY_ROUNDS ?? 3);
const RSS_GIB = Number(process.env.ZS_COPY_RSS_GIB ?? 2);
const REPO = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");

const base = fs.mkdtempSync(path.join(os.tmpdir(), "zs-copy-bench-"));
process.on("exit", () => fs.rmSync(base, { recursive: true, force: true }));
let fresh = 0;
/** A new, not yet existing destination folder. */
const freshDir = (name: string) => path.join(base, `${name}-${fresh++}`);

/** Chunk keys of a v3 array, 100 per folder, plus its metadata. */
function datasetKeys(n: number): string[] {
  const keys = ["zarr.json", "data/zarr.json"];
  for (let i = 0; i < n; i++) keys.push(`data/c/${Math.floor(i / 100)}/${i % 100}`);
  return keys;
}

function chunkValue(i: number): Uint8Array {
  const value = new Uint8Array(SIZE);
  let x = (i + 1) * 2654435761;
  for (let j = 0; j < SIZE; j += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    value[j] = x & 0xff;
    value[j + 1] = (x >>> 8) & 0xff;
  }
  return value;
}

/** Writes the dataset as files under `dir` (16 writes in flight). */
async function writeDataset(dir: string, n: number): Promise<void> {
  const keys = datasetKeys(n);
  const folders = new Set(keys.map((k) => path.dirname(path.join(dir, k))));
  for (const folder of folders) fs.mkdirSync(folder, { recursive: true });
  await pool(
    keys.map((key, i) => [key, i] as const),
    LANES,
    async ([key, i]) => {
      const value = key.endsWith("zarr.json") ? new TextEncoder().encode("{}") : chunkValue(i);
      await fs.promises.writeFile(path.join(dir, key), value);
    },
  );
}

function hasCommand(command: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${command}`]).status === 0;
}

async function memorySection(): Promise<void> {
  const keys = datasetKeys(N).map((k) => `/${k}` as const);
  const source = new MemoryStore();
  for (const [i, key] of keys.entries()) source.map.set(key, chunkValue(i));
  const contenders: Contender[] = [
    {
      name: "zarrstore copyStore",
      run: async () => {
        const summary = await copyStore(source, new MemoryStore(), { concurrency: LANES });
        return summary.copied;
      },
    },
    {
      name: "bare get/set loop",
      run: async () => {
        const dst = new MemoryStore();
        await pool(keys, LANES, async (key) => {
          await dst.set(key, (await source.get(key)) as Uint8Array);
        });
        return keys.length;
      },
    },
  ];
  const results = await compare(contenders, ROUNDS);
  printTable(`memory → memory, ${N} × 16 KiB`, "keys/s", results, "bare get/set loop");
}

async function fsSection(src: string): Promise<void> {
  const keys = datasetKeys(N);
  const contenders: Contender[] = [
    {
      name: "zarrstore copyStore",
      run: async () => {
        const dst = new FileSystemStore(freshDir("zs"));
        const summary = await copyStore(new FileSystemStore(src, { readOnly: true }), dst, {
          concurrency: LANES,
        });
        if (!summary.ok) throw new Error(`copy failed: ${JSON.stringify(summary.failed[0])}`);
        return summary.copied;
      },
    },
    {
      name: "bare readFile/writeFile",
      run: async () => {
        const dst = freshDir("bare");
        for (const folder of new Set(keys.map((k) => path.dirname(path.join(dst, k))))) {
          fs.mkdirSync(folder, { recursive: true });
        }
        await pool(keys, LANES, async (key) => {
          await fs.promises.writeFile(
            path.join(dst, key),
            await fs.promises.readFile(path.join(src, key)),
          );
        });
        return keys.length;
      },
    },
    {
      name: "cp -r",
      run: async () => {
        execFileSync("cp", ["-r", src, freshDir("cp")]);
        return keys.length;
      },
    },
  ];
  if (hasCommand("rclone")) {
    contenders.push({
      name: "rclone copy --transfers 16",
      run: async () => {
        execFileSync("rclone", [
          "copy",
          src,
          freshDir("rclone"),
          "--transfers",
          "16",
          "--checkers",
          "16",
        ]);
        return keys.length;
      },
    });
  }
  const results = await compare(contenders, ROUNDS);
  printTable(`fs → fs, ${N} × 16 KiB, 16 in flight`, "keys/s", results, "bare readFile/writeFile");
  for (const r of results) {
    console.log(`  ${r.name}: ${((r.median * SIZE) / 2 ** 20).toFixed(1)} MiB/s`);
  }
}

/** Peak RSS (MiB) of a command, from /usr/bin/time's %M. */
function peakRss(command: string[]): number {
  const run = spawnSync("/usr/bin/time", ["-f", "%M", ...command], {
    cwd: REPO,
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  if (run.status !== 0) throw new Error(`${command.join(" ")} failed: ${run.stderr}`);
  const lines = run.stderr.trim().split("\n");
  return Number(lines[lines.length - 1]) / 1024;
}

async function rssSection(): Promise<void> {
  if (!fs.existsSync("/usr/bin/time")) {
    console.log("\n## peak RSS: skipped (/usr/bin/time missing)");
    return;
  }
  const n = Math.round((RSS_GIB * 2 ** 30) / SIZE);
  const src = freshDir("rss-src");
  console.log(`\n## peak RSS of zarrstore cp, fs → fs, ${n} × 16 KiB (${RSS_GIB} GiB)`);
  await writeDataset(src, n);
  const tsx = pathToFileURL(path.join(REPO, "node_modules/tsx/dist/loader.mjs")).href;
  const cli = [process.execPath, "--import", tsx, path.join(REPO, "src/cli/main.ts")];
  const idle = peakRss([...cli, "--help"]);
  const started = performance.now();
  const copying = peakRss([...cli, "cp", src, freshDir("rss-dst"), "-q", "--concurrency", "16"]);
  const seconds = (performance.now() - started) / 1000;
  console.log(`zarrstore --help (node + tsx, idle):  ${idle.toFixed(0)} MiB`);
  console.log(
    `zarrstore cp (${RSS_GIB} GiB):            ${copying.toFixed(0)} MiB peak RSS, ${seconds.toFixed(1)} s`,
  );
  fs.rmSync(src, { recursive: true, force: true });
}

console.log(
  `# copy benchmark: ${N} × 16 KiB, ${ROUNDS} rounds, medians (machine: ${os.cpus().length} cores)`,
);
await memorySection();
const fsSource = path.join(base, "src");
await writeDataset(fsSource, N);
await fsSection(fsSource);
await rssSection();
