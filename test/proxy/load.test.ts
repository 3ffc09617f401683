/**
 * Load from a second process: for a bounded time, 16 connections ask for random chunks of a
 * 1000×1000 float32 array (100×100 zlib chunks) in several chunkings (header, path form,
 * native), with HEAD, Range and conditional requests mixed in, and check every response's
 * status and every byte. The source cache is kept small so that loads, single flight and
 * eviction all happen under that load.
 */
import { spawn } from "node:child_process";
import { deflateSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MemoryStore } from "../../src/stores/memory.js";
import { REPO_ROOT } from "../support/cli.js";
import { type ProxyServer, startProxy } from "./fixtures.js";

const SHAPE = 1000;
const SOURCE = 100;
const DURATION_MS = 8_000;
const CACHE_BYTES = 1_500_000; // 37 of the 100 decoded source chunks

// The element at (y, x), as the client computes it too.
const VALUE =
  "(y, x) => Math.fround(Math.sin(y / 37) * 100 + Math.cos(x / 23) * 50 + (y * 1000 + x) / 1e5)";
const value = new Function(`return ${VALUE}`)() as (y: number, x: number) => number;

// The client: plain undici, in its own process, checking each answer against the formula.
const CLIENT = `
import { Pool } from "undici";
const [origin, durationMs] = [process.argv[1], Number(process.argv[2])];
const value = ${VALUE};
const variants = [
  { chunks: [256, 256], headers: { chunks: "a=256,256" }, prefix: "/ds" },
  { chunks: [333, 77], headers: {}, prefix: "/ds/@chunks=a=333,77" },
  { chunks: [100, 100], headers: {}, prefix: "/ds" },
  { chunks: [512, 40], headers: { chunks: "a=512,40" }, prefix: "/ds" },
];
const pool = new Pool(origin, { connections: 16 });
const stats = { requests: 0, bytes: 0, byStatus: {}, problems: [] };
const etags = new Map();
const problem = (text) => { if (stats.problems.length < 10) stats.problems.push(text); };
function check(variant, i, j, body) {
  const [cy, cx] = variant.chunks;
  const values = new Float32Array(body.buffer, body.byteOffset, body.byteLength / 4);
  if (values.length !== cy * cx) return "length " + values.length;
  for (let r = 0; r < cy; r++) {
    for (let c = 0; c < cx; c++) {
      const y = i * cy + r, x = j * cx + c;
      const got = values[r * cx + c];
      const want = y < 1000 && x < 1000 ? value(y, x) : NaN;
      if (!(got === want || (Number.isNaN(got) && Number.isNaN(want)))) return "(" + y + "," + x + ") " + got + " != " + want;
    }
  }
  return undefined;
}
async function lane() {
  const deadline = Date.now() + durationMs;
  while (Date.now() < deadline) {
    const variant = variants[Math.floor(Math.random() * variants.length)];
    const i = Math.floor(Math.random() * Math.ceil(1000 / variant.chunks[0]));
    const j = Math.floor(Math.random() * Math.ceil(1000 / variant.chunks[1]));
    const path = variant.prefix + "/a/" + i + "." + j;
    const id = path + "|" + (variant.headers.chunks ?? "");
    const roll = Math.random();
    const headers = { ...variant.headers };
    let method = "GET";
    let range;
    if (roll < 0.1 && etags.has(id)) headers["if-none-match"] = etags.get(id);
    else if (roll < 0.2) method = "HEAD";
    else if (roll < 0.3) { range = [4 * Math.floor(Math.random() * 100), 4 * (100 + Math.floor(Math.random() * 100))]; headers.range = "bytes=" + range[0] + "-" + (range[1] - 1); }
    const response = await pool.request({ method, path, headers });
    const body = new Uint8Array(await response.body.arrayBuffer());
    stats.requests++;
    stats.bytes += body.byteLength;
    stats.byStatus[response.statusCode] = (stats.byStatus[response.statusCode] ?? 0) + 1;
    const expectStatus = headers["if-none-match"] ? 304 : range ? 206 : 200;
    if (response.statusCode !== expectStatus) { problem(method + " " + path + ": " + response.statusCode + " " + new TextDecoder().decode(body).slice(0, 200)); continue; }
    const etag = response.headers.etag;
    if (etags.has(id) && etags.get(id) !== etag) problem(path + ": the ETag changed");
    etags.set(id, etag);
    if (method === "HEAD") {
      if (body.byteLength !== 0 || Number(response.headers["content-length"]) !== variant.chunks[0] * variant.chunks[1] * 4) problem("HEAD " + path);
    } else if (range) {
      if (response.headers["content-range"] !== "bytes " + range[0] + "-" + (range[1] - 1) + "/" + variant.chunks[0] * variant.chunks[1] * 4 || body.byteLength !== range[1] - range[0]) problem("Range " + path);
    } else if (expectStatus === 200) {
      const wrong = check(variant, i, j, body);
      if (wrong) problem(path + " " + (variant.headers.chunks ?? variant.prefix) + ": " + wrong);
    }
  }
}
const started = Date.now();
await Promise.all(Array.from({ length: 16 }, lane));
stats.elapsedMs = Date.now() - started;
await pool.close();
console.log(JSON.stringify(stats));
`;

interface LoadStats {
  requests: number;
  bytes: number;
  byStatus: Record<string, number>;
  problems: string[];
  elapsedMs: number;
}

function runClient(origin: string): Promise<LoadStats> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ["--input-type=module", "-e", CLIENT, origin, String(DURATION_MS)],
      { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"] },
    );
    let out = "";
    let err = "";
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      err += chunk.toString();
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), DURATION_MS + 30_000);
    child.once("close", (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(JSON.parse(out) as LoadStats);
      else reject(new Error(`load client exited with ${code}: ${err}`));
    });
  });
}

async function sourceStore(): Promise<MemoryStore> {
  const store = new MemoryStore();
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
  await store.set("/.zgroup", new TextEncoder().encode('{"zarr_format":2}'));
  await store.set("/a/.zarray", new TextEncoder().encode(JSON.stringify(zarray)));
  for (let i = 0; i < SHAPE / SOURCE; i++) {
    for (let j = 0; j < SHAPE / SOURCE; j++) {
      const data = new Float32Array(SOURCE * SOURCE);
      for (let y = 0; y < SOURCE; y++) {
        for (let x = 0; x < SOURCE; x++)
          data[y * SOURCE + x] = value(i * SOURCE + y, j * SOURCE + x);
      }
      await store.set(`/a/${i}.${j}`, deflateSync(new Uint8Array(data.buffer), { level: 1 }));
    }
  }
  return store;
}

describe("the proxy under load from another process", () => {
  let running: ProxyServer;
  beforeAll(async () => {
    running = await startProxy({ mounts: { ds: await sourceStore() }, cacheBytes: CACHE_BYTES });
  });
  afterAll(() => running?.stop());

  it(
    `answers every request correctly for ${DURATION_MS / 1000} s`,
    async () => {
      const stats = await runClient(running.url);
      expect(stats.problems).toEqual([]);
      expect(Object.keys(stats.byStatus).sort()).toEqual(["200", "206", "304"]);
      expect(stats.requests).toBeGreaterThan(30); // bounded in time, so the count depends on the machine
      const proxy = running.proxy.stats();
      expect(proxy.inflight).toBe(0);
      // Source chunks and assembled chunks share the bound.
      expect(proxy.chunks.bytes + proxy.served.bytes).toBeLessThanOrEqual(CACHE_BYTES);
      expect(proxy.chunks.maxBytes + proxy.served.maxBytes).toBe(CACHE_BYTES);
      expect(proxy.chunks.evictions).toBeGreaterThan(0);
      console.log(
        `load: ${stats.requests} requests in ${stats.elapsedMs} ms (${((stats.requests * 1000) / stats.elapsedMs).toFixed(0)}/s, ${(stats.bytes / 1e6).toFixed(0)} MB), statuses ${JSON.stringify(stats.byStatus)}, source cache ${JSON.stringify(proxy.chunks)}, served cache ${JSON.stringify(proxy.served)}`,
      );
    },
    DURATION_MS + 60_000,
  );
});
