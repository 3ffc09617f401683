import { describe, expect, it } from "vitest";
import * as zarr from "zarrita";
import { ForwardingStore } from "../../src/adapters/forward.js";
import { LATENCY_BUCKETS, type MetricsSnapshot, withMetrics } from "../../src/adapters/metrics.js";
import { StoreError } from "../../src/errors.js";
import { listAll } from "../../src/helpers.js";
import type { AbsolutePath } from "../../src/keys.js";
import type { CallOptions } from "../../src/store.js";
import { MemoryStore } from "../../src/stores/memory.js";
import { describeConformance } from "../../src/testing/vitest.js";

describeConformance("withMetrics over MemoryStore", () => withMetrics(new MemoryStore()));

/** Fails gets of `/503` and `/429` with those statuses. */
class FlakyStore extends ForwardingStore {
  override async get(key: AbsolutePath, options?: CallOptions) {
    if (key === "/503") throw new StoreError({ code: "Unavailable", message: "503", status: 503 });
    if (key === "/429") throw new StoreError({ code: "RateLimited", message: "429", status: 429 });
    if (key === "/bug") throw new TypeError("a bug");
    return this.inner.get(key, options);
  }
}

function sumSizes(map: Map<string, Uint8Array>, keys: Iterable<string>): number {
  let total = 0;
  for (const key of keys) total += map.get(key)?.byteLength ?? 0;
  return total;
}

describe("withMetrics", () => {
  it("counts bytes read and written exactly", async () => {
    const store = withMetrics(new MemoryStore());
    await store.set("/a", new Uint8Array(10));
    await store.set("/b", new Uint8Array(100));
    await store.put("/c", new Uint8Array(1000));
    await store.set("/empty", new Uint8Array(0));
    expect(store.snapshot().bytesWritten).toBe(1110);
    await store.get("/a");
    await store.get("/b");
    await store.get("/c");
    await store.getRange("/b", { offset: 5, length: 10 }); // 10
    await store.getRange("/b", { suffixLength: 4 }); // 4
    await store.getRange("/b", { offset: 95, length: 10 }); // 5: the bytes that exist
    await store.getRange("/b", { suffixLength: 500 }); // 100: the whole value
    await store.get("/missing");
    await store.getRange("/missing", { offset: 0, length: 3 });
    await store.stat("/missing");
    await store.stat("/c");
    const s = store.snapshot();
    expect(s.bytesRead).toBe(1110 + 10 + 4 + 5 + 100);
    expect(s.misses).toBe(3);
    expect(s.calls).toMatchObject({ set: 4, get: 4, getRange: 5, stat: 2 });
  });

  it("matches what zarrita moved, to the byte", async () => {
    const memory = new MemoryStore();
    const store = withMetrics(memory);
    const arr = await zarr.create(store, {
      shape: [50, 60],
      chunkShape: [16, 16],
      dtype: "float64",
    });
    const data = Float64Array.from({ length: 3000 }, (_, i) => Math.sin(i));
    await zarr.set(arr, null, { data, shape: [50, 60], stride: [60, 1] });
    const written = store.snapshot();
    // Every key was written once: the bytes written are the bytes stored.
    expect(written.bytesWritten).toBe(sumSizes(memory.map, memory.map.keys()));
    expect(written.calls.set).toBe(memory.map.size);

    store.reset();
    const reopened = await zarr.open(store, { kind: "array" });
    const got = await zarr.get(reopened);
    expect(Array.from(got.data as Float64Array)).toEqual(Array.from(data));
    const read = store.snapshot();
    const chunks = [...memory.map.keys()].filter((key) => key.startsWith("/c/"));
    expect(chunks).toHaveLength(4 * 4);
    expect(read.bytesRead).toBe(sumSizes(memory.map, memory.map.keys()));
    // zarrita read zarr.json and each chunk once (its probes for v2 metadata found nothing).
    expect(read.calls.get - read.misses).toBe(memory.map.size);
    expect(read.bytesWritten).toBe(0);
  });

  it("counts calls, errors by code and listed keys", async () => {
    const store = withMetrics(new FlakyStore(new MemoryStore()));
    await store.set("/l/1", new Uint8Array(1));
    await store.set("/l/2", new Uint8Array(1));
    await expect(store.get("/503")).rejects.toThrow();
    await expect(store.get("/503")).rejects.toThrow();
    await expect(store.get("/429")).rejects.toThrow();
    await expect(store.get("/bug")).rejects.toThrow();
    await expect(store.get("bad//key" as AbsolutePath)).rejects.toThrow();
    expect(await listAll(store, "/l/")).toHaveLength(2);
    await store.listDir("/l/");
    await store.delete("/l/1");
    await store.deletePrefix("/l/");
    const s = store.snapshot();
    expect(s.errors).toEqual({ Unavailable: 2, RateLimited: 1, Unexpected: 1, InvalidKey: 1 });
    expect(s.keysListed).toBe(2);
    expect(s.calls).toEqual({
      get: 5,
      getRange: 0,
      stat: 0,
      set: 2,
      delete: 1,
      deletePrefix: 1,
      list: 1,
      listDir: 1,
    });
    expect(s.bytesRead).toBe(0);
  });

  it("puts each call's latency in its bucket", async () => {
    // Durations of 0.05, 0.3, 3 and 20,000 ms, one after the other.
    const durations = [0.05, 0.3, 3, 20_000];
    const reads: number[] = [];
    let now = 1_000;
    const clock = () => {
      reads.push(now);
      if (reads.length % 2 === 1) return now;
      now += durations[reads.length / 2 - 1] as number;
      return now;
    };
    const store = withMetrics(new MemoryStore(), { clock });
    for (let i = 0; i < 4; i++) await store.get("/x");
    const h = store.snapshot().latency.get;
    expect(h.count).toBe(4);
    expect(h.sumSeconds).toBeCloseTo(20.00335, 9);
    const bucket = (seconds: number) => LATENCY_BUCKETS.findIndex((bound) => seconds <= bound);
    const expected = new Array(LATENCY_BUCKETS.length + 1).fill(0);
    for (const index of [bucket(0.00005), bucket(0.0003), bucket(0.003), LATENCY_BUCKETS.length]) {
      expected[index] += 1;
    }
    expect(h.counts).toEqual(expected);
  });

  it("reset() zeroes every counter", async () => {
    const store = withMetrics(new FlakyStore(new MemoryStore()));
    const fresh: MetricsSnapshot = store.snapshot();
    await store.set("/a", new Uint8Array(3));
    await store.get("/a");
    await store.get("/none");
    await store.getRange("/a", { offset: 0, length: 1 });
    await store.stat("/a");
    await listAll(store);
    await store.listDir("/");
    await store.delete("/a");
    await store.deletePrefix("/");
    await store.put("/b", new Uint8Array(1));
    await expect(store.get("/503")).rejects.toThrow();
    const busy = store.snapshot();
    expect(busy).not.toEqual(fresh);
    store.reset();
    expect(store.snapshot()).toEqual(fresh);
    expect(store.prometheus()).toBe(withMetrics(new MemoryStore()).prometheus());
  });

  it("snapshots are copies", async () => {
    const store = withMetrics(new MemoryStore());
    const before = store.snapshot();
    await store.get("/a");
    expect(before.calls.get).toBe(0);
    before.calls.get = 99;
    expect(store.snapshot().calls.get).toBe(1);
  });

  it("exposes the counters as Prometheus text", async () => {
    const store = withMetrics(new FlakyStore(new MemoryStore()), {
      labels: { store: 'swift "eu"' },
      clock: (() => {
        let t = 0;
        return () => (t += 0.002); // every call takes 0.002 ms
      })(),
    });
    await store.set("/a", new Uint8Array(42));
    await store.get("/a");
    await expect(store.get("/503")).rejects.toThrow();
    const text = store.prometheus();
    const lines = text.trimEnd().split("\n");
    // Every line is a comment or `name{labels} value`.
    for (const line of lines) {
      expect(line).toMatch(
        /^(# (HELP|TYPE) \w+ .+|\w+(\{[^}]*\})? [-+.\deE]+|\w+\{[^}]*\} \+Inf)$/,
      );
    }
    const label = 'store="swift \\"eu\\""';
    expect(lines).toContain(`zarrstore_bytes_read_total{${label}} 42`);
    expect(lines).toContain(`zarrstore_bytes_written_total{${label}} 42`);
    expect(lines).toContain(`zarrstore_calls_total{${label},operation="get"} 2`);
    expect(lines).toContain(`zarrstore_errors_total{${label},code="Unavailable"} 1`);
    expect(lines).toContain("# TYPE zarrstore_call_duration_seconds histogram");
    expect(lines).toContain(
      `zarrstore_call_duration_seconds_bucket{${label},operation="get",le="0.0001"} 2`,
    );
    expect(lines).toContain(
      `zarrstore_call_duration_seconds_bucket{${label},operation="get",le="+Inf"} 2`,
    );
    expect(lines).toContain(`zarrstore_call_duration_seconds_count{${label},operation="get"} 2`);
    // Buckets are cumulative: never decreasing.
    const getBuckets = lines
      .filter(
        (line) =>
          line.startsWith("zarrstore_call_duration_seconds_bucket") &&
          line.includes('operation="set"'),
      )
      .map((line) => Number(line.split(" ").pop()));
    expect(getBuckets).toEqual([...getBuckets].sort((a, b) => a - b));
    expect(text.endsWith("\n")).toBe(true);
    expect(withMetrics(new MemoryStore(), { namespace: "app_store" }).prometheus()).toContain(
      "app_store_bytes_read_total 0",
    );
  });
});
