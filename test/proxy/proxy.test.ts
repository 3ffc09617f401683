import { rmSync } from "node:fs";
import { resolve } from "node:path";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as zarr from "zarrita";
import { StoreError } from "../../src/errors.js";
import { openStore } from "../../src/open.node.js";
import type { AbsolutePath, CallOptions, Store } from "../../src/store.js";
import { FileSystemStore } from "../../src/stores/fs.js";
import { HttpStore } from "../../src/stores/http.node.js";
import { MemoryStore } from "../../src/stores/memory.js";
import { describeConformance } from "../../src/testing/vitest.js";
import { REPO_ROOT } from "../support/cli.js";
import { type FileServer, startFileServer, tempDir } from "../support/static-server.js";
import {
  datasetStore,
  type ProxyServer,
  proxyStore,
  readArray,
  startProxy,
  V2_ARRAYS,
  valueAt,
  writeDataset,
} from "./fixtures.js";

const SAMPLE_AIR = resolve(REPO_ROOT, "sample/air.zarr");
const SAMPLE_V3 = resolve(REPO_ROOT, "sample/v3.zarr");

async function json(response: Response): Promise<Record<string, unknown>> {
  return (await response.json()) as Record<string, unknown>;
}

// ---- conformance: keys that are not Zarr pass through as a faithful read-only HTTP store

describe("keys that are not Zarr chunks pass through", () => {
  const dir = tempDir("proxy-raw");
  let running: ProxyServer;
  beforeAll(async () => {
    running = await startProxy({ mounts: { raw: new FileSystemStore(dir) } });
  });
  afterAll(async () => {
    await running?.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  describeConformance(
    "HttpStore over the proxy (raw keys)",
    () => new HttpStore(`${running.url}/raw/`),
    {
      writer: () => new FileSystemStore(dir),
      teardown: (store) => store.close(),
    },
  );
});

// ---- the dataset through real clients

describe("the proxy serves the v2 dataset to zarrita", () => {
  let source: MemoryStore;
  let running: ProxyServer;
  beforeAll(async () => {
    source = await datasetStore();
    running = await startProxy({ mounts: { ds: source } });
  });
  afterAll(() => running?.stop());

  const overrides: Record<string, string> = {
    air: "7,11,30",
    forder: "5,2",
    slash: "5,5,5",
    "grp/sub/t": "3,7",
    big: "4,6",
    holes: "3,5",
    delta: "6,5",
    small: "11",
  };

  for (const spec of V2_ARRAYS) {
    it(`reads ${spec.path} identically without and with an override (${overrides[spec.path]})`, async () => {
      const want = await readArray(source, spec.path);
      const native = await readArray(proxyStore(`${running.url}/ds`), spec.path);
      expect(native.shape).toEqual(spec.shape);
      expect(native.chunks).toEqual(spec.chunks);
      expect(native.values).toEqual(want.values);
      const name = spec.path;
      const header = await readArray(
        proxyStore(`${running.url}/ds`, { chunks: `${name}=${overrides[name]}` }),
        spec.path,
      );
      expect(header.chunks.join(",")).toBe(overrides[name]);
      expect(header.values).toEqual(want.values);
      // In the path form a name's "/" is written %2F.
      const segment = `${encodeURIComponent(name)}=${overrides[name]}`;
      const path = await readArray(proxyStore(`${running.url}/ds/@chunks=${segment}`), spec.path);
      expect(path.values).toEqual(want.values);
    });
  }

  it("passes an array it cannot rechunk through untouched (object dtype)", async () => {
    const got = await readArray(proxyStore(`${running.url}/ds`), "names");
    expect(got.values).toEqual(["ab", "cde", "f"]);
    const response = await fetch(`${running.url}/ds/names/.zarray`);
    expect((await json(response)).filters).toEqual([{ id: "vlen-utf8" }]);
    const refused = await fetch(`${running.url}/ds/.zmetadata`, { headers: { chunks: "names=1" } });
    expect(refused.status).toBe(400);
    expect((await json(refused)).message).toMatch(
      /cannot rechunk "names": its data type object has no fixed size/,
    );
  });

  it("rewrites every .zmetadata entry and .zarray alike: chunks, compressor null, filters null", async () => {
    const spec = "air=7,11,30,delta=6,5";
    const zmetadata = await json(
      await fetch(`${running.url}/ds/.zmetadata`, { headers: { chunks: spec } }),
    );
    const metadata = zmetadata.metadata as Record<string, Record<string, unknown>>;
    for (const array of V2_ARRAYS) {
      const entry = metadata[`${array.path}/.zarray`] as Record<string, unknown>;
      expect(entry.compressor).toBeNull();
      // The seed kept stale filters here while serving unfiltered bytes.
      expect(entry.filters).toBeNull();
      const zarray = await json(
        await fetch(`${running.url}/ds/${array.path}/.zarray`, { headers: { chunks: spec } }),
      );
      expect(zarray).toEqual(entry);
    }
    expect(metadata["air/.zarray"]?.chunks).toEqual([7, 11, 30]);
    expect(metadata["air/.zattrs"]).toEqual({ _ARRAY_DIMENSIONS: ["time", "lat", "lon"] });
    expect(metadata["forder/.zarray"]?.order).toBe("F");
    expect(metadata["big/.zarray"]?.dtype).toBe(">i4");
    expect(metadata["slash/.zarray"]?.dimension_separator).toBe("/");
    expect(await (await fetch(`${running.url}/ds/.zattrs`)).json()).toEqual({
      title: "proxy fixtures",
    });
  });

  it("serves F-order arrays as F-order bytes and big-endian dtypes as big-endian bytes", async () => {
    // forder is [7, 9] in [3, 4] chunks, element (r, c) = valueAt(flat r*9+c): chunk 0.0 in F order.
    const forder = new Int32Array(
      await (await fetch(`${running.url}/ds/forder/0.0`)).arrayBuffer(),
    );
    // Elements (0,0), (1,0), (2,0), (0,1) of the [7, 9] array: flat C indexes 0, 9, 18, 1.
    const at = (flat: number) => valueAt("forder", flat, "<i4");
    expect(Array.from(forder.slice(0, 4))).toEqual([at(0), at(9), at(18), at(1)]);
    const big = new DataView(await (await fetch(`${running.url}/ds/big/0.0`)).arrayBuffer());
    expect(big.getInt32(0, false)).toBe(valueAt("big", 0, ">i4"));
    expect(big.getInt32(4, false)).toBe(valueAt("big", 1, ">i4"));
  });

  it("pads edge chunks to the full chunk shape with the fill value", async () => {
    // holes: [10, 10] served as [4, 6]: chunk 2.1 covers rows 8–9 (of 12) and columns 6–9 (of 12).
    const response = await fetch(`${running.url}/ds/holes/2.1`, {
      headers: { chunks: "holes=4,6" },
    });
    const chunk = new Float32Array(await response.arrayBuffer());
    expect(chunk.length).toBe(24);
    const rows = Array.from({ length: 4 }, (_, r) => Array.from(chunk.slice(r * 6, r * 6 + 6)));
    expect(rows[2]).toEqual([7.5, 7.5, 7.5, 7.5, 7.5, 7.5]);
    expect(rows[0]?.slice(4)).toEqual([7.5, 7.5]);
    // Missing source chunks read as the fill value too (1.0 covers rows 4–7, columns 0–3).
    const inner = new Float32Array(
      await (
        await fetch(`${running.url}/ds/holes/1.0`, { headers: { chunks: "holes=4,6" } })
      ).arrayBuffer(),
    );
    expect(Array.from(inner.slice(0, 4))).toEqual([7.5, 7.5, 7.5, 7.5]);
  });

  it("re-encodes served chunks with @codec=zstd and says so in the metadata", async () => {
    const base = `${running.url}/ds/@chunks=air=10,10,10/@codec=zstd`;
    const zarray = await json(await fetch(`${base}/air/.zarray`));
    expect(zarray.compressor).toEqual({ id: "zstd", level: 1 });
    expect(zarray.filters).toBeNull();
    const got = await readArray(new zarr.FetchStore(base), "air");
    expect(got.values).toEqual((await readArray(source, "air")).values);
    const raw = await fetch(`${base}/air/0.0.0`);
    expect(Number(raw.headers.get("content-length"))).toBeLessThan(4000);
  });

  it("answers 304 to a matching If-None-Match, and HEAD and Range like a static server", async () => {
    const url = `${running.url}/ds/air/1.1.1`;
    const first = await fetch(url, { headers: { chunks: "air=10,10,10" } });
    const body = new Uint8Array(await first.arrayBuffer());
    const tag = first.headers.get("etag") as string;
    expect(tag).toMatch(/^"c[0-9a-f]{16}"$/);
    expect(first.headers.get("cache-control")).toBe("public, max-age=300");
    expect(first.headers.get("vary")).toBe("chunks");
    expect(first.headers.get("accept-ranges")).toBe("bytes");
    const again = await fetch(url, { headers: { chunks: "air=10,10,10", "if-none-match": tag } });
    expect(again.status).toBe(304);
    // Another override is another variant: another ETag.
    const other = await fetch(url, { headers: { chunks: "air=10,10,20" } });
    expect(other.headers.get("etag")).not.toBe(tag);
    const head = await fetch(url, { method: "HEAD", headers: { chunks: "air=10,10,10" } });
    expect(head.status).toBe(200);
    expect(head.headers.get("content-length")).toBe(String(body.byteLength));
    expect((await head.arrayBuffer()).byteLength).toBe(0);
    const range = await fetch(url, { headers: { chunks: "air=10,10,10", range: "bytes=100-199" } });
    expect(range.status).toBe(206);
    expect(range.headers.get("content-range")).toBe(`bytes 100-199/${body.byteLength}`);
    expect(new Uint8Array(await range.arrayBuffer())).toEqual(body.subarray(100, 200));
    const suffix = await fetch(url, { headers: { chunks: "air=10,10,10", range: "bytes=-8" } });
    expect(new Uint8Array(await suffix.arrayBuffer())).toEqual(body.subarray(body.byteLength - 8));
    const past = await fetch(url, { headers: { chunks: "air=10,10,10", range: "bytes=4000-" } });
    expect(past.status).toBe(416);
    expect(past.headers.get("content-range")).toBe(`bytes */${body.byteLength}`);
  });

  it("lets browsers send the chunks header: CORS preflight and exposed headers", async () => {
    const preflight = await fetch(`${running.url}/ds/air/0.0.0`, {
      method: "OPTIONS",
      headers: {
        origin: "http://example.org",
        "access-control-request-method": "GET",
        "access-control-request-headers": "chunks",
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-origin")).toBe("*");
    expect(preflight.headers.get("access-control-allow-headers")).toMatch(/\bchunks\b/);
    expect(preflight.headers.get("access-control-allow-methods")).toMatch(/GET/);
    const get = await fetch(`${running.url}/ds/air/0.0.0`, {
      headers: { origin: "http://example.org" },
    });
    expect(get.headers.get("access-control-allow-origin")).toBe("*");
    expect(get.headers.get("access-control-expose-headers")).toMatch(/etag/);
  });
});

describe("client mistakes are 4xx with a JSON message, never a bare 500", () => {
  let running: ProxyServer;
  let reads = 0;
  beforeAll(async () => {
    const source = await datasetStore();
    running = await startProxy({
      mounts: { ds: counting(source, (key) => (/\/air\/\d/.test(key) ? reads++ : 0)) },
    });
  });
  afterAll(() => running?.stop());

  it.each([
    [
      "a malformed chunks header",
      "/ds/.zmetadata",
      { chunks: "air=1,,2" },
      400,
      /number 2 is empty/,
    ],
    ["a zero chunk size", "/ds/air/.zarray", { chunks: "air=0,1,1" }, 400, /≥ 1, got 0/],
    [
      "an unknown variable",
      "/ds/.zmetadata",
      { chunks: "air=5,5,5,nope=1" },
      400,
      /"nope".*known arrays: air, big, delta, forder, grp\/sub\/t, holes, names, slash, small/,
    ],
    [
      "an override of the wrong rank",
      "/ds/air/.zarray",
      { chunks: "air=5,5" },
      400,
      /2 sizes but the array "air" has 3 dimensions/,
    ],
    [
      "both the header and @chunks=",
      "/ds/@chunks=air=5,5,5/air/.zarray",
      { chunks: "air=5,5,5" },
      400,
      /use one/,
    ],
    ["a non-numeric chunk key", "/ds/air/a.b.c", {}, 400, /not a chunk index/],
    ["a chunk key of the wrong rank", "/ds/air/0.0", {}, 400, /expected 3 indexes/],
    ["a chunk index off the grid", "/ds/air/4.0.0", {}, 400, /outside the grid/],
    ["the '/' layout on a '.' array", "/ds/air/0/0/0", {}, 400, /expected 3 indexes, got 1/],
    ["a missing key", "/ds/nothing/here", {}, 404, /no value at \/nothing\/here/],
    ["a missing .zarray", "/ds/nothing/.zarray", {}, 404, /no .zarray/],
    ["the store address alone", "/ds", {}, 404, /request a key under it/],
    ["a host not on the allow-list", "/evil.example.com/x/.zmetadata", {}, 403, /allow-list/],
    [
      "an over-limit override (at metadata time)",
      "/ds/.zmetadata",
      { chunks: "air=20,25,1001" },
      413,
      /2,000,000 bytes: ask for smaller chunks, e\.g\. chunks: air=/,
    ],
    ["an over-limit chunk", "/ds/air/0.0.0", { chunks: "air=20,25,1001" }, 413, /payload limit/],
  ])("%s", async (_, path, headers, status, message) => {
    const before = reads;
    const response = await fetch(`${running.url}${path}`, { headers });
    expect(response.status).toBe(status);
    expect(response.headers.get("content-type")).toBe("application/json");
    expect(response.headers.get("cache-control")).toBe("no-store");
    expect(String((await json(response)).message)).toMatch(message);
    if (status === 413 && path.endsWith("0.0.0")) {
      // The limit is checked from metadata before any chunk is read.
      expect(reads - before).toBe(0);
    }
  });

  it("answers 405 to writes and names the methods it allows", async () => {
    const response = await fetch(`${running.url}/ds/air/0.0.0`, { method: "PUT", body: "x" });
    expect(response.status).toBe(405);
    expect(response.headers.get("allow")).toBe("GET, HEAD, OPTIONS");
  });

  it("serves /health, /metrics and an index", async () => {
    expect(await (await fetch(`${running.url}/health`)).json()).toEqual({ status: "ok" });
    await fetch(`${running.url}/ds/air/0.0.0`, { headers: { chunks: "air=10,10,10" } });
    const metrics = await (await fetch(`${running.url}/metrics`)).text();
    expect(metrics).toMatch(/zarrstore_proxy_requests_total\{kind="chunk",status="200"\} \d+/);
    expect(metrics).toMatch(/zarrstore_proxy_source_cache_misses_total [1-9]/);
    expect(metrics).toMatch(/zarrstore_proxy_source_cache_bytes \d+/);
    const index = await json(await fetch(`${running.url}/`));
    expect(index.mounts).toEqual(["ds"]);
  });
});

describe("limits and caching", () => {
  it("checks ZARR_PROXY_PAYLOAD_SIZE_LIMIT (with units) before reading any chunk", async () => {
    let reads = 0;
    const source = await datasetStore();
    const running = await startProxy({
      mounts: { ds: counting(source, (key) => (/\/air\/\d/.test(key) ? reads++ : 0)) },
      env: { ZARR_PROXY_PAYLOAD_SIZE_LIMIT: "3kib" },
    });
    try {
      // air's native chunks are 5×10×20×4 = 4,000 bytes: over 3 KiB, so opening fails loudly.
      const opened = await fetch(`${running.url}/ds/.zmetadata`);
      expect(opened.status).toBe(413);
      expect((await json(opened)).message).toMatch(/4,000 bytes .* 3,072 bytes/);
      const fits = await fetch(`${running.url}/ds/.zmetadata`, {
        headers: { chunks: "air=5,10,10" },
      });
      expect(fits.status).toBe(200);
      const before = reads;
      expect((await fetch(`${running.url}/ds/air/0.0.0`)).status).toBe(413);
      expect(reads).toBe(before);
    } finally {
      await running.stop();
    }
  });

  it("reads each source chunk once for concurrent requests (single flight) and stays in its bound", async () => {
    const seen = new Map<string, number>();
    const source = await datasetStore();
    const slow = delayed(
      counting(source, (key) => seen.set(key, (seen.get(key) ?? 0) + 1)),
      20,
    );
    const running = await startProxy({ mounts: { ds: slow }, cacheBytes: 40_000 });
    try {
      const headers = { chunks: "air=20,25,10" };
      await fetch(`${running.url}/ds/air/.zarray`, { headers });
      const urls = Array.from({ length: 6 }, (_, j) => `${running.url}/ds/air/0.0.${j}`);
      const responses = await Promise.all([...urls, ...urls].map((u) => fetch(u, { headers })));
      expect(responses.every((r) => r.status === 200)).toBe(true);
      const chunkReads = [...seen].filter(([key]) => /\/air\/\d/.test(key));
      // 4 × 3 × 3 = 36 source chunks, each read once although 12 requests overlapped them.
      expect(chunkReads.length).toBe(36);
      expect(chunkReads.every(([, n]) => n === 1)).toBe(true);
      // 36 decoded chunks of 4,000 bytes do not fit in the 30,000 bytes (¾ of 40,000) for
      // source chunks: the cache evicted to stay in bounds.
      const stats = running.proxy.stats();
      expect(stats.chunks.maxBytes).toBe(30_000);
      expect(stats.chunks.bytes + stats.served.bytes).toBeLessThanOrEqual(40_000);
      expect(stats.chunks.evictions).toBeGreaterThan(0);
    } finally {
      await running.stop();
    }
  });

  it("answers a repeated chunk from the assembled-chunk cache, and a changed source anew", async () => {
    let now = 0;
    const source = await datasetStore();
    const running = await startProxy({
      mounts: { ds: source },
      metadataTtlMs: 1000,
      now: () => now,
    });
    try {
      const url = `${running.url}/ds/small/1`;
      const headers = { chunks: "small=8" };
      const first = await fetch(url, { headers });
      const body = new Uint8Array(await first.arrayBuffer());
      const again = await fetch(url, { headers });
      expect(new Uint8Array(await again.arrayBuffer())).toEqual(body);
      expect(again.headers.get("etag")).toBe(first.headers.get("etag"));
      expect(running.proxy.stats().served).toMatchObject({ hits: 1, misses: 1 });
      // New content under the same key (and new metadata): a new ETag, assembled anew.
      const { writeV2Array } = await import("./fixtures.js");
      await writeV2Array(source, {
        path: "small",
        shape: [30],
        chunks: [6],
        dtype: "|u1",
        fill_value: 0,
      });
      now = 1000;
      const changed = await fetch(url, { headers });
      expect(changed.headers.get("etag")).not.toBe(first.headers.get("etag"));
      const got = await readArray(proxyStore(`${running.url}/ds`, headers), "small");
      expect(got.values).toEqual((await readArray(source, "small")).values);
    } finally {
      await running.stop();
    }
  });

  it("revalidates metadata after its TTL and serves a rewritten array", async () => {
    let now = 0;
    const source = await datasetStore();
    const running = await startProxy({
      mounts: { ds: source },
      metadataTtlMs: 1000,
      now: () => now,
    });
    try {
      const before = await json(await fetch(`${running.url}/ds/small/.zarray`));
      expect(before.shape).toEqual([30]);
      const { writeV2Array } = await import("./fixtures.js");
      await writeV2Array(source, {
        path: "small",
        shape: [12],
        chunks: [5],
        dtype: "|u1",
        fill_value: 0,
      });
      expect((await json(await fetch(`${running.url}/ds/small/.zarray`))).shape).toEqual([30]);
      now = 1000;
      expect((await json(await fetch(`${running.url}/ds/small/.zarray`))).shape).toEqual([12]);
      const got = await readArray(proxyStore(`${running.url}/ds`, { chunks: "small=4" }), "small");
      expect(got.values).toEqual((await readArray(source, "small")).values);
      expect(running.proxy.stats().metadata.changes).toBeGreaterThan(0);
    } finally {
      await running.stop();
    }
  });

  it("answers 504 when upstream is too slow and 502 when it fails", async () => {
    const source = await datasetStore();
    const failing = counting(source, (key) => {
      if (key.endsWith("/air/0.0.1")) {
        throw new StoreError({ code: "Unavailable", message: "upstream is down", status: 503 });
      }
    });
    const running = await startProxy({
      mounts: { slow: delayed(source, 400), bad: failing },
      limits: { requestTimeoutMs: 150 },
    });
    try {
      const slow = await fetch(`${running.url}/slow/air/.zarray`);
      expect(slow.status).toBe(504);
      expect((await json(slow)).message).toMatch(/longer than 150 ms/);
      const bad = await fetch(`${running.url}/bad/air/0.0.1`);
      expect(bad.status).toBe(502);
      expect((await json(bad)).message).toMatch(
        /upstream failure \[Unavailable\].*upstream is down/,
      );
    } finally {
      await running.stop();
    }
  });

  it("requires the bearer token everywhere but /health and preflights", async () => {
    const running = await startProxy({
      mounts: { ds: await datasetStore() },
      token: "s3cret-token",
    });
    try {
      const none = await fetch(`${running.url}/ds/.zmetadata`);
      expect(none.status).toBe(401);
      expect(none.headers.get("www-authenticate")).toMatch(/Bearer/);
      const wrong = await fetch(`${running.url}/ds/.zmetadata`, {
        headers: { authorization: "Bearer nope" },
      });
      expect(wrong.status).toBe(401);
      expect(await wrong.text()).not.toContain("s3cret");
      const right = await fetch(`${running.url}/ds/.zmetadata`, {
        headers: { authorization: "Bearer s3cret-token" },
      });
      expect(right.status).toBe(200);
      expect((await fetch(`${running.url}/health`)).status).toBe(200);
      expect((await fetch(`${running.url}/metrics`)).status).toBe(401);
      expect((await fetch(`${running.url}/ds/x`, { method: "OPTIONS" })).status).toBe(204);
    } finally {
      await running.stop();
    }
  });
});

describe("Zarr v3 and the sample datasets", () => {
  let running: ProxyServer;
  beforeAll(async () => {
    running = await startProxy({
      mounts: { v3: new FileSystemStore(SAMPLE_V3, { readOnly: true }), air: SAMPLE_AIR },
      openStore,
    });
  });
  afterAll(() => running?.stop());

  it.each([
    ["temperature", "3,4"],
    ["grp/counts", "2,9"],
    ["grp/sharded", "4,3"],
  ])("reads v3 %s identically, natively and as %s", async (path, chunks) => {
    const want = await readArray(new FileSystemStore(SAMPLE_V3, { readOnly: true }), path);
    const native = await readArray(proxyStore(`${running.url}/v3`), path);
    expect(native.values).toEqual(want.values);
    const over = await readArray(
      proxyStore(`${running.url}/v3`, { chunks: `${path}=${chunks}` }),
      path,
    );
    expect(over.chunks.join(",")).toBe(chunks);
    expect(over.values).toEqual(want.values);
  });

  it("serves v3 arrays stored transposed or big-endian as little-endian C order", async () => {
    const store = new MemoryStore();
    const shape = [5, 7];
    const chunks = [2, 3];
    const value = (y: number, x: number) => y * 100 + x - 250;
    const layouts = {
      transposed: [
        { name: "transpose", configuration: { order: [1, 0] } },
        { name: "bytes", configuration: { endian: "little" } },
      ],
      bigendian: [
        { name: "bytes", configuration: { endian: "big" } },
        { name: "gzip", configuration: { level: 1 } },
      ],
    };
    for (const [name, codecs] of Object.entries(layouts)) {
      const doc = {
        zarr_format: 3,
        node_type: "array",
        shape,
        data_type: "int32",
        chunk_grid: { name: "regular", configuration: { chunk_shape: chunks } },
        chunk_key_encoding: { name: "default", configuration: { separator: "/" } },
        codecs,
        fill_value: -9,
        attributes: {},
      };
      await store.set(
        `/${name}/zarr.json` as AbsolutePath,
        new TextEncoder().encode(JSON.stringify(doc)),
      );
      for (let i = 0; i < 3; i++) {
        for (let j = 0; j < 3; j++) {
          const bytes = new Uint8Array(24);
          const view = new DataView(bytes.buffer);
          for (let y = 0; y < 2; y++) {
            for (let x = 0; x < 3; x++) {
              // Transposed: x varies slowest; big-endian: C order, bytes reversed.
              const at = name === "transposed" ? x * 2 + y : y * 3 + x;
              view.setInt32(at * 4, value(i * 2 + y, j * 3 + x), name === "transposed");
            }
          }
          const stored = name === "bigendian" ? gzipSync(bytes) : bytes;
          await store.set(`/${name}/c/${i}/${j}` as AbsolutePath, stored);
        }
      }
    }
    const local = await startProxy({ mounts: { s: store } });
    try {
      for (const name of Object.keys(layouts)) {
        const want = Array.from({ length: 35 }, (_, k) => value(Math.floor(k / 7), k % 7));
        const zarrJson = await json(
          await fetch(`${local.url}/s/${name}/zarr.json`, { headers: { chunks: `${name}=4,4` } }),
        );
        expect(zarrJson.codecs).toEqual([{ name: "bytes", configuration: { endian: "little" } }]);
        const got = await readArray(proxyStore(`${local.url}/s`, { chunks: `${name}=4,4` }), name);
        expect(got.values, name).toEqual(want);
        // The raw served bytes: C order, little-endian, padded with -9.
        const raw = new Int32Array(
          await (
            await fetch(`${local.url}/s/${name}/c/1/1`, { headers: { chunks: `${name}=4,4` } })
          ).arrayBuffer(),
        );
        expect(Array.from(raw), name).toEqual([
          value(4, 4),
          value(4, 5),
          value(4, 6),
          -9,
          ...new Array(12).fill(-9),
        ]);
      }
    } finally {
      await local.stop();
    }
  });

  it("serves a sharded array in its inner chunks, decoded, and rewrites consolidated zarr.json", async () => {
    const sharded = await json(await fetch(`${running.url}/v3/grp/sharded/zarr.json`));
    expect(sharded.chunk_grid).toEqual({ name: "regular", configuration: { chunk_shape: [2, 5] } });
    expect(sharded.codecs).toEqual([{ name: "bytes", configuration: { endian: "little" } }]);
    const root = await json(
      await fetch(`${running.url}/v3/zarr.json`, { headers: { chunks: "temperature=5,5" } }),
    );
    const inner = (
      root.consolidated_metadata as { metadata: Record<string, Record<string, unknown>> }
    ).metadata;
    expect(inner.temperature?.chunk_grid).toEqual({
      name: "regular",
      configuration: { chunk_shape: [5, 5] },
    });
    expect(inner.temperature?.codecs).toEqual([
      { name: "bytes", configuration: { endian: "little" } },
    ]);
    expect(inner["grp/sharded"]?.chunk_grid).toEqual({
      name: "regular",
      configuration: { chunk_shape: [2, 5] },
    });
    const unknown = await fetch(`${running.url}/v3/zarr.json`, { headers: { chunks: "nope=1" } });
    expect(unknown.status).toBe(400);
  });

  it("serves the shipped air sample (opened through openStore) with non-dividing chunks", async () => {
    const source = new FileSystemStore(SAMPLE_AIR, { readOnly: true });
    for (const path of ["air", "lat", "lon", "time", "land"]) {
      const want = await readArray(source, path);
      const got = await readArray(
        proxyStore(`${running.url}/air`, { chunks: "air=7,11,30,lat=10,lon=40" }),
        path,
      );
      expect(got.values, path).toEqual(want.values);
    }
  });
});

describe("allow-listed upstream hosts", () => {
  const dir = tempDir("proxy-upstream");
  let upstream: FileServer;
  let running: ProxyServer;
  beforeAll(async () => {
    await writeDataset(new FileSystemStore(resolve(dir, "data/ds.zarr")));
    upstream = await startFileServer(dir);
    running = await startProxy({ allow: [`http://127.0.0.1:${upstream.port}`], openStore });
  });
  afterAll(async () => {
    await running?.stop();
    await upstream?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("reads a store under /{host}/{path} with the chunks header, as the seed does", async () => {
    const base = `${running.url}/127.0.0.1:${upstream.port}/data/ds.zarr`;
    const want = await readArray(new FileSystemStore(resolve(dir, "data/ds.zarr")), "air");
    const got = await readArray(proxyStore(base, { chunks: "air=7,11,30" }), "air");
    expect(got.chunks).toEqual([7, 11, 30]);
    expect(got.values).toEqual(want.values);
    const nested = await readArray(
      proxyStore(
        `${running.url}/127.0.0.1:${upstream.port}/data/ds.zarr/@chunks=grp%2Fsub%2Ft=3,3`,
      ),
      "grp/sub/t",
    );
    expect(nested.chunks).toEqual([3, 3]);
  });

  it("refuses other ports of the same host", async () => {
    const other = await fetch(
      `${running.url}/127.0.0.1:${upstream.port + 1}/data/ds.zarr/.zmetadata`,
    );
    expect(other.status).toBe(403);
    expect(upstream.stats.requests.some((r) => r.url.includes("favicon"))).toBe(false);
  });
});

// ---- instruments: stores that count or slow down reads (the thing under test is the proxy)

function counting(inner: Store, onRead: (key: string) => void): Store {
  return wrap(inner, async (key) => {
    onRead(key);
  });
}

function delayed(inner: Store, ms: number): Store {
  return wrap(inner, (_key, options) => sleep(ms, options?.signal));
}

function wrap(
  inner: Store,
  before: (key: string, options?: CallOptions) => Promise<void> | void,
): Store {
  return {
    capabilities: inner.capabilities,
    get: async (key: AbsolutePath, options?: CallOptions) => {
      await before(key, options);
      return inner.get(key, options);
    },
    getRange: async (key, range, options) => {
      await before(key, options);
      return inner.getRange(key, range, options);
    },
    stat: (key, options) => inner.stat(key, options),
    set: (key, value, options) => inner.set(key, value, options),
    put: (key, value, options) => inner.put(key, value, options),
    delete: (key, options) => inner.delete(key, options),
    deletePrefix: (prefix, options) => inner.deletePrefix(prefix, options),
    list: (prefix, options) => inner.list(prefix, options),
    listDir: (prefix, options) => inner.listDir(prefix, options),
    close: () => inner.close(),
  };
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(resolvePromise, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(signal.reason);
    });
  });
}
