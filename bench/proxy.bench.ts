/**
 * The rechunking proxy against the practical limit: a float32 1000×1000 array stored as
 * 100×100 zlib chunks, served as 256×256 chunks (the `chunks` header), side by side with a
 * Node static file server and Debian's nginx serving the same 256×256 chunks pre-rechunked on
 * disk. Every server runs in a process of its own (one process each, nginx with one worker);
 * the client (undici) runs here. 1 and 8 clients; requests/s and MB/s; warm and cold time to
 * first byte.
 *
 *   npm run bench proxy
 *
 * Targets (issue 6): ≥ 50 % of the static server's throughput warm; ≥ 10× the seed's proxy
 * (≈ 59 requests/s and 15 MB/s with one client here); warm time to first byte < 5 ms.
 */
import { type ChildProcess, fork, spawn } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import * as fs from "node:fs/promises";
import { createServer } from "node:http";
import { join } from "node:path";
import { deflateSync } from "node:zlib";
import { Pool } from "undici";
import { createRechunkProxy } from "../src/proxy/index.js";
import { nodeDecompressors, serve } from "../src/proxy/node.js";
import { FileSystemStore } from "../src/stores/fs.js";
import { PYTHON, pythonZarrAvailable } from "../test/support/python.js";
import {
  nginxAvailable,
  type RunningServer,
  startNginx,
  tempDir,
} from "../test/support/static-server.js";
import { compare, median, printTable } from "./lib.js";

const SHAPE = 1000;
const SOURCE = 100;
const TARGET = 256;
const GRID = Math.ceil(SHAPE / TARGET);
const CHUNK_BYTES = TARGET * TARGET * 4;
const SEED_REQUESTS_PER_SECOND = 59; // notes/performance-anchors.md, one client

// ---- child processes: the proxy and the Node static server ----

// ---- the benchmark ----

function cpuMicros(): number {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
}

interface Target {
  name: string;
  origin: string;
  /** The path of chunk (i, j). */
  path: (i: number, j: number) => string;
  headers: Record<string, string>;
  child?: ChildProcess;
  /** CPU time the server process has used so far, in microseconds. */
  cpu: () => Promise<number>;
  stop: () => Promise<void>;
}

async function main(): Promise<void> {
  const dir = tempDir("proxy-bench");
  const targets: Target[] = [];
  try {
    writeDatasets(dir);
    targets.push(await startChild("zarrstore proxy", "--serve-proxy", join(dir, "source.zarr")));
    targets.push(await startChild("node static", "--serve-static", join(dir, "static")));
    if (nginxAvailable() === true) {
      const nginx: RunningServer = await startNginx(join(dir, "static"));
      targets.push({
        name: "nginx static",
        origin: nginx.url.replace(/\/$/, ""),
        path: staticPath,
        headers: {},
        cpu: async () => procCpuMicros(nginx.pid as number),
        stop: () => nginx.stop(),
      });
    } else {
      console.log(`(nginx skipped: ${nginxAvailable()})`);
    }
    if (pythonZarrAvailable() === true) {
      targets.push(await startSeedLike(join(dir, "source.zarr")));
    } else {
      console.log(`(the seed-like Python proxy skipped: ${pythonZarrAvailable()})`);
    }
    const proxy = targets[0] as Target;
    proxy.path = (i, j) => `/ds/a/${i}.${j}`;
    proxy.headers = { chunks: `a=${TARGET},${TARGET}` };
    await checkSameBytes(targets);
    await run(targets);
  } finally {
    for (const t of targets) await t.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

function staticPath(i: number, j: number): string {
  return `/ds/a/${i}.${j}`;
}

async function run(targets: Target[]): Promise<void> {
  const proxy = targets[0] as Target;
  const names = targets.map((t) => t.name);
  const baseline = names.includes("nginx static") ? "nginx static" : "node static";
  for (const clients of [1, 8]) {
    const pools = new Map(
      targets.map((t) => [t.name, new Pool(t.origin, { connections: clients })]),
    );
    // Many short rounds, alternating: on a shared machine the load shifts within seconds.
    const roundMs = 1000;
    const cpu = new Map(targets.map((t) => [t.name, { micros: 0, requests: 0 }]));
    const results = await compare(
      targets.map((t) => ({
        name: t.name,
        setup: () => fetchAll(pools.get(t.name) as Pool, t, 64, clients).then(() => {}),
        run: async () => {
          const before = await t.cpu();
          const done = await fetchFor(pools.get(t.name) as Pool, t, roundMs, clients);
          const used = cpu.get(t.name) as { micros: number; requests: number };
          used.micros += (await t.cpu()) - before;
          used.requests += done;
          return done;
        },
      })),
      11,
    );
    const label = `${clients} client${clients > 1 ? "s" : ""}`;
    printTable(`${label}: requests/s (256×256 float32 chunks, warm)`, "req/s", results, baseline);
    if (baseline !== "node static") {
      printTable(`${label}: against the Node static server`, "req/s", results, "node static");
    }
    console.log("  MB/s and the server's CPU time per request (all rounds):");
    for (const r of results) {
      const used = cpu.get(r.name) as { micros: number; requests: number };
      const mbs = ((r.median * CHUNK_BYTES) / 1e6).toFixed(0).padStart(6);
      const micros = (used.micros / used.requests).toFixed(0).padStart(6);
      console.log(`  ${r.name.padEnd(16)} ${mbs} MB/s ${micros} µs CPU/request`);
    }
    if (names.includes("seed-like python")) {
      printTable(
        `${label}: against the seed-like Python proxy`,
        "req/s",
        results,
        "seed-like python",
      );
    }
    const ours = results.find((r) => r.name === proxy.name)?.median ?? 0;
    if (clients === 1) {
      const ratio = (ours / SEED_REQUESTS_PER_SECOND).toFixed(1);
      console.log(
        `  vs the seed's proxy (≈${SEED_REQUESTS_PER_SECOND} req/s, 15 MB/s here): ${ratio}× (target ≥ 10×)`,
      );
    }
    for (const pool of pools.values()) await pool.close();
  }
  await timeToFirstByte(targets, proxy);
}

async function timeToFirstByte(targets: Target[], proxy: Target): Promise<void> {
  console.log("\n## time to first byte (median ms, one request at a time)");
  for (const t of targets) {
    const pool = new Pool(t.origin, { connections: 1 });
    const warm: number[] = [];
    for (let n = 0; n < 200; n++) warm.push(await ttfb(pool, t, n));
    let cold = "";
    if (t === proxy) {
      const samples: number[] = [];
      for (let n = 0; n < 16; n++) {
        await clearProxy(t.child as ChildProcess);
        samples.push(await ttfb(pool, t, n));
      }
      cold = `  cold ${median(samples).toFixed(2)} ms (after clearing the source cache; 9–16 zlib chunks decoded)`;
    }
    console.log(`  ${t.name.padEnd(16)} warm ${median(warm).toFixed(2)} ms${cold}`);
    await pool.close();
  }
}

async function ttfb(pool: Pool, t: Target, n: number): Promise<number> {
  const i = n % GRID;
  const j = Math.floor(n / GRID) % GRID;
  const started = performance.now();
  const response = await pool.request({ method: "GET", path: t.path(i, j), headers: t.headers });
  const elapsed = performance.now() - started;
  await response.body.arrayBuffer();
  if (response.statusCode !== 200) throw new Error(`${t.name}: HTTP ${response.statusCode}`);
  return elapsed;
}

/** Fetches chunks with `clients` in flight for `ms` milliseconds; returns the requests done. */
async function fetchFor(pool: Pool, t: Target, ms: number, clients: number): Promise<number> {
  const deadline = performance.now() + ms;
  let done = 0;
  const lane = async () => {
    while (performance.now() < deadline) {
      await fetchAll(pool, t, 1, 1, done++);
    }
  };
  await Promise.all(Array.from({ length: clients }, lane));
  return done;
}

/** Fetches `count` chunks with `clients` in flight; returns the number of requests done. */
async function fetchAll(
  pool: Pool,
  t: Target,
  count: number,
  clients: number,
  first = 0,
): Promise<number> {
  let next = first;
  count += first;
  const lane = async () => {
    while (next < count) {
      const n = next++;
      const i = n % GRID;
      const j = Math.floor(n / GRID) % GRID;
      const response = await pool.request({
        method: "GET",
        path: t.path(i, j),
        headers: t.headers,
      });
      const body = await response.body.arrayBuffer();
      if (response.statusCode !== 200 || body.byteLength !== CHUNK_BYTES) {
        throw new Error(`${t.name}: HTTP ${response.statusCode}, ${body.byteLength} bytes`);
      }
    }
  };
  await Promise.all(Array.from({ length: clients }, lane));
  return count - first;
}

// The proxy must serve exactly the bytes that were rechunked on disk.
async function checkSameBytes(targets: Target[]): Promise<void> {
  for (let i = 0; i < GRID; i++) {
    for (let j = 0; j < GRID; j++) {
      const bodies: Buffer[] = [];
      for (const t of targets) {
        const response = await fetch(`${t.origin}${t.path(i, j)}`, { headers: t.headers });
        bodies.push(Buffer.from(await response.arrayBuffer()));
      }
      const [first, ...rest] = bodies;
      if (rest.some((b) => !b.equals(first as Buffer))) {
        throw new Error(`chunk ${i}.${j} differs between ${targets.map((t) => t.name).join(", ")}`);
      }
    }
  }
}

async function startChild(name: string, mode: string, root: string): Promise<Target> {
  const child = fork(new URL(import.meta.url).pathname, [mode, root], {
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const origin = await new Promise<string>((resolve, reject) => {
    child.once("message", (m) => resolve(String(m)));
    child.once("exit", (code) => reject(new Error(`${name} exited with ${code}`)));
  });
  return {
    name,
    origin,
    path: staticPath,
    headers: {},
    child,
    cpu: () => ask(child, "cpu").then(Number),
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    },
  };
}

/**
 * What the seed's zarr-proxy does per chunk request, in Python with Debian's zarr 2: open the
 * array (reading its metadata), read the region (decoding every overlapped source chunk), send
 * the bytes; no cache. It pads edge chunks (the seed truncates them) so the bytes compare equal.
 * A threaded http.server stands in for FastAPI + uvicorn, which are not installed here.
 */
const SEED_LIKE = `
import sys, numpy as np, zarr
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
root = sys.argv[1]
class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args): pass
    def do_GET(self):
        parts = self.path.strip("/").split("/")
        array = zarr.open_array(root + "/" + parts[-2], mode="r")
        spec = self.headers.get("chunks", "")
        chunks = [int(n) for n in spec.split("=", 1)[1].split(",")] if spec else list(array.chunks)
        index = [int(n) for n in parts[-1].split(".")]
        region = tuple(slice(i * c, (i + 1) * c) for i, c in zip(index, chunks))
        data = array[region]
        pad = [(0, c - n) for c, n in zip(chunks, data.shape)]
        body = np.pad(data, pad, constant_values=array.fill_value).astype(array.dtype).tobytes()
        self.send_response(200)
        self.send_header("content-type", "application/octet-stream")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
`;

async function startSeedLike(root: string): Promise<Target> {
  const child = spawn(PYTHON, ["-c", SEED_LIKE, root], { stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise<string>((resolve, reject) => {
    child.stdout?.once("data", (chunk: Buffer) => resolve(chunk.toString().trim()));
    child.once("exit", (code) => reject(new Error(`the seed-like proxy exited with ${code}`)));
  });
  return {
    name: "seed-like python",
    origin: `http://127.0.0.1:${port}`,
    path: (i, j) => `/ds/a/${i}.${j}`,
    headers: { chunks: `a=${TARGET},${TARGET}` },
    cpu: async () => procCpuMicros(child.pid as number),
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    },
  };
}

function ask(child: ChildProcess, message: string): Promise<unknown> {
  return new Promise((resolve) => {
    child.once("message", resolve);
    child.send(message);
  });
}

async function clearProxy(child: ChildProcess): Promise<void> {
  await ask(child, "clear");
}

// utime + stime of a process and all its descendants (nginx's master and worker, whatever
// wraps them) from /proc, in microseconds.
async function procCpuMicros(pid: number): Promise<number> {
  let ticks = 0;
  const pending = [pid];
  while (pending.length > 0) {
    const id = pending.pop() as number;
    const stat = await fs.readFile(`/proc/${id}/stat`, "utf8").catch(() => "");
    if (stat === "") continue;
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    ticks += Number(fields[11]) + Number(fields[12]);
    const children = await fs.readFile(`/proc/${id}/task/${id}/children`, "utf8").catch(() => "");
    pending.push(...children.split(" ").filter(Boolean).map(Number));
  }
  return ticks * 10_000; // clock ticks of 10 ms
}

// ---- datasets ----

function value(y: number, x: number): number {
  return Math.sin(y / 37) * 100 + Math.cos(x / 23) * 50 + (y * SHAPE + x) / 1e5;
}

/** The source (100×100 zlib) and the same data pre-rechunked to 256×256 raw chunks. */
function writeDatasets(dir: string): void {
  const source = join(dir, "source.zarr");
  const zarray = {
    zarr_format: 2,
    shape: [SHAPE, SHAPE],
    chunks: [SOURCE, SOURCE],
    dtype: "<f4",
    compressor: { id: "zlib", level: 1 },
    fill_value: "NaN",
    filters: null,
    order: "C",
  };
  mkdirSync(join(source, "a"), { recursive: true });
  writeFileSync(join(source, ".zgroup"), JSON.stringify({ zarr_format: 2 }));
  writeFileSync(join(source, "a", ".zarray"), JSON.stringify(zarray));
  for (let i = 0; i < SHAPE / SOURCE; i++) {
    for (let j = 0; j < SHAPE / SOURCE; j++) {
      const data = new Float32Array(SOURCE * SOURCE);
      for (let y = 0; y < SOURCE; y++) {
        for (let x = 0; x < SOURCE; x++)
          data[y * SOURCE + x] = value(i * SOURCE + y, j * SOURCE + x);
      }
      writeFileSync(
        join(source, "a", `${i}.${j}`),
        deflateSync(new Uint8Array(data.buffer), { level: 1 }),
      );
    }
  }
  const target = join(dir, "static", "ds", "a");
  mkdirSync(target, { recursive: true });
  writeFileSync(
    join(target, ".zarray"),
    JSON.stringify({ ...zarray, chunks: [TARGET, TARGET], compressor: null }),
  );
  for (let i = 0; i < GRID; i++) {
    for (let j = 0; j < GRID; j++) {
      const data = new Float32Array(TARGET * TARGET).fill(Number.NaN);
      for (let y = 0; y < TARGET && i * TARGET + y < SHAPE; y++) {
        for (let x = 0; x < TARGET && j * TARGET + x < SHAPE; x++) {
          data[y * TARGET + x] = value(i * TARGET + y, j * TARGET + x);
        }
      }
      writeFileSync(join(target, `${i}.${j}`), new Uint8Array(data.buffer));
    }
  }
}

// ---- entry: the benchmark, or one of its server processes ----

if (process.argv[2] === "--serve-proxy") {
  const store = new FileSystemStore(process.argv[3] as string, { readOnly: true });
  const proxy = createRechunkProxy({ mounts: { ds: store }, decompressors: nodeDecompressors });
  const server = await serve(proxy, { port: 0 });
  process.on("message", (message) => {
    if (message === "clear") proxy.clearCache();
    process.send?.(message === "cpu" ? cpuMicros() : "done");
  });
  process.send?.(server.url);
} else if (process.argv[2] === "--serve-static") {
  const root = process.argv[3] as string;
  // What a plain Node static server does: read the file, send it.
  const server = createServer((req, res) => {
    fs.readFile(join(root, (req.url ?? "/").split("?")[0] as string)).then(
      (body) => {
        res.writeHead(200, {
          "content-type": "application/octet-stream",
          "content-length": body.byteLength,
        });
        res.end(body);
      },
      () => {
        res.writeHead(404);
        res.end();
      },
    );
  });
  server.keepAliveTimeout = 65_000;
  process.on("message", () => process.send?.(cpuMicros()));
  server.listen(0, "127.0.0.1", () => {
    const address = server.address();
    if (address && typeof address === "object") {
      process.send?.(`http://127.0.0.1:${address.port}`);
    }
  });
} else {
  await main();
}
