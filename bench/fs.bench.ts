/**
 * FileSystemStore vs zarrita's FileSystemStore (non-atomic), Python zarr 2's DirectoryStore
 * (atomic, run as /usr/bin/python3 timing its own loop) and a bare `node:fs` sync loop:
 * get and set of N × 64 KiB values, sequential and 32 in flight.
 *
 *   npm run bench fs            (ZS_BENCH_N=2000 npm run bench fs for a quick look)
 *
 * Writes create new files each round (the root is emptied, untimed, before it); reads are warm
 * (page cache), all from the same files.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import ZarritaFileSystemStore from "@zarrita/storage/fs";
import { FileSystemStore } from "../src/stores/fs.js";
import { type Contender, compare, pool, printTable } from "./lib.js";

const N = Number(process.env.ZS_BENCH_N ?? 10_000);
const SIZE = 64 * 1024;
const IN_FLIGHT = 32;
const DURABLE_N = Math.min(N, 1000);
const WRITE_ROUNDS = Number(process.env.ZS_BENCH_WRITE_ROUNDS ?? 3);
const READ_ROUNDS = Number(process.env.ZS_BENCH_READ_ROUNDS ?? 5);
const PYTHON = "/usr/bin/python3";

// Chunk-like keys, 100 per folder, as a 2-D zarr array lays them out.
const keys = Array.from(
  { length: N },
  (_, i) => `/data/c/${Math.floor(i / 100)}/${i % 100}` as const,
);
const value = new Uint8Array(SIZE).map((_, i) => (i * 31 + 7) & 0xff);

const base = fs.mkdtempSync(path.join(os.tmpdir(), "zs-fs-bench-"));
const dirOf = (name: string) => path.join(base, name);
process.on("exit", () => fs.rmSync(base, { recursive: true, force: true }));

const PY_SCRIPT = `
import sys, time, zarr
mode, root, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
store = zarr.DirectoryStore(root)
keys = ["data/c/%d/%d" % (i // 100, i % 100) for i in range(n)]
value = bytes((i * 31 + 7) & 0xff for i in range(${SIZE}))
t = time.perf_counter()
if mode == "set":
    for k in keys:
        store[k] = value
else:
    for k in keys:
        v = store[k]
        assert len(v) == ${SIZE}
print(n / (time.perf_counter() - t))
`;

/** Runs Python's own timed loop; returns units so that compare() reports Python's rate. */
function pythonContender(mode: "get" | "set", root: string): Contender {
  return {
    name: `python DirectoryStore ${mode} (seq)`,
    run: async () => {
      const started = performance.now();
      const rate = Number(execFileSync(PYTHON, ["-c", PY_SCRIPT, mode, root, String(N)]));
      // compare() divides by the wall time, which includes interpreter start-up: scale the units
      // so the quotient is the rate Python measured over its own loop.
      return (rate * (performance.now() - started)) / 1000;
    },
  };
}

async function sequential(work: (key: (typeof keys)[number]) => Promise<unknown>): Promise<number> {
  for (const key of keys) await work(key);
  return N;
}

async function parallel(work: (key: (typeof keys)[number]) => Promise<unknown>): Promise<number> {
  await pool(keys, IN_FLIGHT, async (key) => {
    await work(key);
  });
  return N;
}

function fillDir(root: string): void {
  for (const key of keys) {
    const file = path.join(root, key);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, value);
  }
}

function checkValue(bytes: Uint8Array | undefined): void {
  if (bytes?.byteLength !== SIZE) throw new Error("a read returned the wrong size");
}

/**
 * A write contender: each round writes every key into an emptied root (new files, as when an
 * array is first written: file creation is what bounds every writer here). Emptying the root
 * is not timed: `run` times the writes itself and scales its units so that compare(), which
 * divides by the whole call, reports the rate of the writes alone.
 */
function writer(name: string, root: string, write: () => Promise<void>, units = N): Contender {
  return {
    name,
    run: async () => {
      const called = performance.now();
      fs.rmSync(root, { recursive: true, force: true });
      fs.mkdirSync(root, { recursive: true });
      const started = performance.now();
      await write();
      const ended = performance.now();
      return (units * (ended - called)) / (ended - started);
    },
  };
}

async function writes(): Promise<void> {
  const ours = new FileSystemStore(dirOf("w-ours"));
  const oursPar = new FileSystemStore(dirOf("w-ours-32"));
  const durable = new FileSystemStore(dirOf("w-durable"), { durable: true });
  const zarrita = new ZarritaFileSystemStore(dirOf("w-zarrita"));
  const zarritaPar = new ZarritaFileSystemStore(dirOf("w-zarrita-32"));
  const python = pythonContender("set", dirOf("w-python"));
  const contenders: Contender[] = [
    writer("FileSystemStore set (seq)", dirOf("w-ours"), async () => {
      await sequential((k) => ours.set(k, value));
    }),
    writer("FileSystemStore set (32)", dirOf("w-ours-32"), async () => {
      await parallel((k) => oursPar.set(k, value));
    }),
    // fsync per file (and folder) costs several times more: 1,000 keys are enough to show it.
    writer(
      `FileSystemStore durable set (32, ${DURABLE_N} keys)`,
      dirOf("w-durable"),
      async () => {
        await pool(keys.slice(0, DURABLE_N), IN_FLIGHT, async (k) => {
          await durable.set(k, value);
        });
      },
      DURABLE_N,
    ),
    writer("zarrita FileSystemStore set (seq)", dirOf("w-zarrita"), async () => {
      await sequential((k) => zarrita.set(k, value));
    }),
    writer("zarrita FileSystemStore set (32)", dirOf("w-zarrita-32"), async () => {
      await parallel((k) => zarritaPar.set(k, value));
    }),
    writer("node:fs writeFileSync loop", dirOf("w-sync"), async () => {
      let folder = "";
      for (const key of keys) {
        const file = dirOf("w-sync") + key;
        const parent = path.dirname(file);
        if (parent !== folder) {
          fs.mkdirSync(parent, { recursive: true });
          folder = parent;
        }
        fs.writeFileSync(file, value);
      }
    }),
    {
      ...python,
      run: async () => {
        fs.rmSync(dirOf("w-python"), { recursive: true, force: true });
        return python.run();
      },
    },
  ];
  const results = await compare(contenders, WRITE_ROUNDS);
  printTable(
    `set ${N} × 64 KiB, new keys (ours atomic: temp file + rename)`,
    "ops/s",
    results,
    "zarrita FileSystemStore set (32)",
  );
  for (const name of [
    "w-ours",
    "w-ours-32",
    "w-durable",
    "w-zarrita",
    "w-zarrita-32",
    "w-sync",
    "w-python",
  ]) {
    fs.rmSync(dirOf(name), { recursive: true, force: true });
  }
}

async function reads(): Promise<void> {
  const root = dirOf("r");
  fillDir(root);
  const ours = new FileSystemStore(root, { readOnly: true });
  const sync = ours.sync();
  const zarrita = new ZarritaFileSystemStore(root);
  const contenders: Contender[] = [
    {
      name: "FileSystemStore get (seq)",
      run: () => sequential(async (k) => checkValue(await ours.get(k))),
    },
    {
      name: "FileSystemStore get (32)",
      run: () => parallel(async (k) => checkValue(await ours.get(k))),
    },
    {
      name: "FileSystemStore sync().get",
      run: async () => {
        for (const key of keys) checkValue(sync.get(key));
        return N;
      },
    },
    {
      name: "zarrita FileSystemStore get (seq)",
      run: () => sequential(async (k) => checkValue(await zarrita.get(k))),
    },
    {
      name: "zarrita FileSystemStore get (32)",
      run: () => parallel(async (k) => checkValue(await zarrita.get(k))),
    },
    {
      name: "node:fs readFileSync loop",
      run: async () => {
        for (const key of keys) checkValue(fs.readFileSync(root + key));
        return N;
      },
    },
    pythonContender("get", root),
  ];
  const results = await compare(contenders, READ_ROUNDS);
  printTable(`get ${N} × 64 KiB (warm)`, "ops/s", results, "python DirectoryStore get (seq)");
}

const started = performance.now();
await reads();
await writes();
console.log(`\n(${((performance.now() - started) / 1000).toFixed(0)} s, temp dir on ${base})`);
