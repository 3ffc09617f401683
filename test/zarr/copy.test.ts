import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import * as zarr from "zarrita";
import { isStoreError, StoreError } from "../../src/errors.js";
import type { AbsolutePath } from "../../src/keys.js";
import type {
  CallOptions,
  Capabilities,
  ListDirResult,
  RangeQuery,
  SetOptions,
  SetResult,
  StatResult,
  Store,
} from "../../src/store.js";
import { MemoryStore } from "../../src/stores/memory.js";
import { patternBytes } from "../../src/testing/cases.js";
import { describeConformance } from "../../src/testing/vitest.js";
import { consolidate } from "../../src/zarr/consolidate.js";
import {
  type CopyOptions,
  type CopyProgress,
  chunkKeysOf,
  copyStore,
  deleteTree,
  md5Hex,
  md5OfEtag,
  md5Portable,
  metadataDeleteWaves,
  metadataWriteWaves,
  partitionOf,
} from "../../src/zarr/copy.js";
import { isMetadataKey, METADATA_NAMES } from "../../src/zarr/metadata.js";
import { FaultStore } from "../support/faults.js";

// The fault-injecting wrapper the tests below use must itself be a faithful store.
describeConformance("copy test wrapper (no faults)", () => new TestStore(new MemoryStore()));

describe("copyStore: order", () => {
  it("writes every chunk before any metadata, and metadata deepest first, root last", async () => {
    const source = zarrDataset(40);
    const dst = new TestStore(new MemoryStore());
    const summary = await copyStore(new MemoryStore(source), dst, { concurrency: 8 });
    expect(summary.ok).toBe(true);
    expect(summary.metadata).toBe("written");
    expect(contents((dst.inner as MemoryStore).map)).toEqual(contents(source));
    const firstMeta = dst.writes.findIndex(isMetadataKey);
    expect(dst.writes.slice(firstMeta).every(isMetadataKey)).toBe(true);
    expect(firstMeta).toBe(source.size - DATASET_METADATA_ORDER.length);
    expect(dst.writes.slice(firstMeta)).toEqual(DATASET_METADATA_ORDER);
  });

  it("orders metadata waves by depth, then attributes before documents before .zmetadata", () => {
    const keys = [
      "/.zmetadata",
      "/zarr.json",
      "/a/.zarray",
      "/a/.zattrs",
      "/b/c/zarr.json",
      "/b/zarr.json",
      "/.zgroup",
    ];
    expect(metadataWriteWaves(keys)).toEqual([
      ["/b/c/zarr.json"],
      ["/a/.zattrs"],
      ["/a/.zarray"],
      ["/b/zarr.json"],
      ["/.zgroup"],
      ["/zarr.json"],
      ["/.zmetadata"],
    ]);
    expect(metadataDeleteWaves(keys)).toEqual([
      ["/.zmetadata"],
      ["/zarr.json"],
      ["/.zgroup"],
      ["/b/zarr.json"],
      ["/a/.zarray"],
      ["/a/.zattrs"],
      ["/b/c/zarr.json"],
    ]);
  });

  it("gives every metadata name its own place in the order, and chunks none", () => {
    const waves = metadataWriteWaves(METADATA_NAMES.map((name) => `/a/${name}`));
    expect(waves.flat()).toEqual([
      "/a/.zattrs",
      "/a/.zarray",
      "/a/.zgroup",
      "/a/zarr.json",
      "/a/.zmetadata",
    ]);
    expect(waves.map((w) => w.length)).toEqual([1, 2, 1, 1]);
  });

  it("withholds all metadata when a chunk fails, so no reader sees a partial array as complete", async () => {
    const source = zarrDataset(20);
    const dst = new TestStore(new MemoryStore(), {
      refuse: (op, key) =>
        op === "put" && key === "/temp/7"
          ? new StoreError({ code: "Unexpected", message: "disk said no", key })
          : undefined,
    });
    const summary = await copyStore(new MemoryStore(source), dst, { retries: 2, retryDelayMs: 1 });
    expect(summary.ok).toBe(false);
    expect(summary.metadata).toBe("withheld");
    expect(summary.failed).toEqual([
      { key: "/temp/7", code: "Unexpected", message: "disk said no" },
    ]);
    expect(summary.failedCount).toBe(1);
    expect(summary.retries).toBe(0); // Unexpected is not retryable
    expect(dst.writes.filter(isMetadataKey)).toEqual([]);
    expect(summary.resumeHint).toMatch(/resume/);
  });
});

describe("copyStore: faults and verification", () => {
  it("completes through 10 % injected faults (503s, resets, lost responses, corrupt writes) with every value verified", async () => {
    const source = zarrDataset(200, 2048);
    const src = new TestStore(new MemoryStore(source), { faultRate: 0.1, seed: 7 });
    const dst = new TestStore(new MemoryStore(), {
      faultRate: 0.1,
      lostResponseRate: 0.03,
      corruptRate: 0.03,
      seed: 11,
    });
    const summary = await copyStore(src, dst, { verify: true, retries: 8, retryDelayMs: 1 });
    expect(summary.failed).toEqual([]);
    expect(summary.ok).toBe(true);
    expect(summary.verified).toBe(source.size);
    expect(summary.copied).toBe(source.size);
    expect(src.faults + dst.faults).toBeGreaterThan(40);
    expect(summary.retries).toBeGreaterThanOrEqual(src.faults + dst.faults - 5);
    expect(contents((dst.inner as MemoryStore).map)).toEqual(contents(source));
  });

  it("completes through the shared FaultStore's 10 % faults on both sides, listing included", async () => {
    const source = zarrDataset(150, 1024);
    const src = new FaultStore(new MemoryStore(source), { rate: 0.1, seed: 21 });
    const target = new MemoryStore();
    const dst = new FaultStore(target, { rate: 0.1, seed: 22 });
    const summary = await copyStore(src, dst, { verify: true, retries: 8, retryDelayMs: 1 });
    expect(summary.failed).toEqual([]);
    expect(summary.ok).toBe(true);
    expect(summary.verified).toBe(source.size);
    expect(src.faults + dst.faults).toBeGreaterThan(30);
    expect(contents(target.map)).toEqual(contents(source));
  });

  it("restarts a failed sorted listing without losing or repeating keys", async () => {
    const source = zarrDataset(30);
    let failures = 0;
    const src = new TestStore(new MemoryStore(source));
    const inner = src.inner;
    src.list = async function* (prefix, options) {
      let n = 0;
      for await (const key of inner.list(prefix, options)) {
        if (++n === 10 * (failures + 1) && failures < 3) {
          failures += 1;
          throw new StoreError({ code: "Unavailable", message: "503 while listing", status: 503 });
        }
        yield key;
      }
    };
    const dst = new TestStore(new MemoryStore());
    const summary = await copyStore(src, dst, { retryDelayMs: 1 });
    expect(failures).toBe(3);
    expect(summary.ok).toBe(true);
    expect(summary.keysTotal).toBe(source.size);
    expect(dst.writes.length).toBe(source.size);
    expect(contents((dst.inner as MemoryStore).map)).toEqual(contents(source));
  });

  it("without verify, a corrupted write goes unnoticed (the fault store really corrupts)", async () => {
    const source = zarrDataset(100);
    const dst = new TestStore(new MemoryStore(), { corruptRate: 0.2, seed: 3 });
    const summary = await copyStore(new MemoryStore(source), dst, {});
    expect(summary.ok).toBe(true);
    expect(contents((dst.inner as MemoryStore).map)).not.toEqual(contents(source));
  });

  it("verifies by MD5 etag without reading back where the destination reports MD5 etags", async () => {
    const source = zarrDataset(60);
    const inner = new Md5EtagStore();
    const dst = new TestStore(inner, { corruptRate: 0.1, seed: 5 });
    const summary = await copyStore(new MemoryStore(source), dst, {
      verify: true,
      retryDelayMs: 1,
    });
    expect(summary.ok).toBe(true);
    expect(summary.verified).toBe(source.size);
    expect(summary.retries).toBeGreaterThan(0); // corrupted writes were caught and re-sent
    // Reads back only until one etag has proved to be the value's MD5 (here the first write may
    // have been corrupted); from then on the etags alone prove every value.
    expect(dst.counts.get).toBeLessThanOrEqual(2);
    expect(contents(inner.map)).toEqual(contents(source));
  });

  it("falls back to reading back when etags look like MD5 but are not", async () => {
    const source = zarrDataset(30);
    const inner = new Md5EtagStore(undefined, { lyingEtags: true });
    const dst = new TestStore(inner);
    const summary = await copyStore(new MemoryStore(source), dst, { verify: true });
    expect(summary.ok).toBe(true);
    expect(summary.verified).toBe(source.size);
    expect(dst.counts.get).toBe(source.size);
    expect(summary.retries).toBe(0);
  });

  it("verify: 'read' always reads back, even with MD5 etags", async () => {
    const source = zarrDataset(10);
    const dst = new TestStore(new Md5EtagStore());
    await copyStore(new MemoryStore(source), dst, { verify: "read" });
    expect(dst.counts.get).toBe(source.size);
  });

  it("gives up on a key after the retries and reports it", async () => {
    const source = zarrDataset(10);
    const dst = new TestStore(new MemoryStore(), {
      refuse: (op, key) =>
        op === "put" && key === "/temp/3"
          ? new StoreError({ code: "Unavailable", message: "503 forever", key, status: 503 })
          : undefined,
    });
    const summary = await copyStore(new MemoryStore(source), dst, { retries: 3, retryDelayMs: 1 });
    expect(summary.failed.map((f) => [f.key, f.code])).toEqual([["/temp/3", "Unavailable"]]);
    expect(summary.retries).toBe(3);
    expect(summary.metadata).toBe("withheld");
  });

  it("honours Retry-After over its own backoff", async () => {
    let refusals = 0;
    const dst = new TestStore(new MemoryStore(), {
      refuse: (op, key) =>
        op === "put" && key === "/a" && refusals++ === 0
          ? new StoreError({
              code: "RateLimited",
              message: "slow down",
              status: 429,
              retryAfterMs: 300,
            })
          : undefined,
    });
    const started = performance.now();
    const summary = await copyStore(new MemoryStore(new Map([["/a", Uint8Array.of(1)]])), dst, {
      retryDelayMs: 1,
    });
    expect(summary.ok).toBe(true);
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
  });
});

describe("copyStore: resume", () => {
  it("an interrupted copy re-run with resume ends identical and sends nothing twice", async () => {
    const source = zarrDataset(150);
    const target = new MemoryStore();
    const controller = new AbortController();
    const first = await copyStore(new MemoryStore(source), target, {
      concurrency: 4,
      signal: controller.signal,
      progressIntervalMs: 0,
      onProgress: (p) => {
        if (p.keysCopied >= 120) controller.abort();
      },
    });
    expect(first.aborted).toBe(true);
    expect(first.ok).toBe(false);
    expect(first.failedCount).toBe(0);
    expect(first.metadata).toBe("withheld");
    expect(first.resumeHint).toMatch(/resume/);
    const already = new Map([...target.map].filter(([k, v]) => equalValue(source.get(k), v)));
    expect(already.size).toBeGreaterThanOrEqual(120);

    const dst = new TestStore(target);
    const second = await copyStore(new MemoryStore(source), dst, { resume: true });
    expect(second.ok).toBe(true);
    expect(contents(target.map)).toEqual(contents(source));
    const resent = dst.writes.filter((key) => already.has(key));
    expect(resent).toEqual([]);
    expect(second.skipped).toBe(already.size);
    expect(second.copied).toBe(source.size - already.size);
  });

  it("re-sends keys whose size or bytes differ, and skips identical ones", async () => {
    const source = zarrDataset(10);
    const target = new MemoryStore(new Map(source));
    await target.set("/temp/1", patternBytes(100, 99)); // other size
    const same = source.get("/temp/2") as Uint8Array;
    await target.set("/temp/2", flipFirstByte(same)); // same size, other bytes
    await target.delete("/temp/3"); // missing
    const dst = new TestStore(target);
    const summary = await copyStore(new MemoryStore(source), dst, { resume: true });
    expect(summary.ok).toBe(true);
    expect(dst.writes.sort()).toEqual(["/temp/1", "/temp/2", "/temp/3"]);
    expect(contents(target.map)).toEqual(contents(source));
  });

  it("compares MD5 etags instead of bytes when both sides report them", async () => {
    const source = zarrDataset(30);
    const src = new TestStore(new Md5EtagStore(new Map(source)));
    const dst = new TestStore(new Md5EtagStore(new Map(source)));
    await (dst.inner as Md5EtagStore).set(
      "/temp/5",
      flipFirstByte(source.get("/temp/5") as Uint8Array),
    );
    const summary = await copyStore(src, dst, { resume: true });
    expect(summary.ok).toBe(true);
    expect(dst.writes).toEqual(["/temp/5"]);
    expect(dst.counts.get).toBe(0);
    expect(src.counts.get).toBe(1); // only the one value that differed
  });
});

describe("copyStore: partitions", () => {
  it("splits keys deterministically and evenly", () => {
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 4000; i++) counts[partitionOf(`/a/c/${i % 50}/${i}`, 4)]! += 1;
    for (const count of counts) expect(count).toBeGreaterThan(850);
    // FNV-1a 32-bit reference values: the split must be the same on every machine.
    expect(partitionOf("a", 0xffffffff)).toBe(0xe40c292c);
    expect(partitionOf("/temp/0.0", 16)).toBe(partitionOf("/temp/0.0", 16));
    expect(partitionOf("/temp/0.0", 1)).toBe(0);
  });

  it("partitions 0..N-1 together produce exactly the source, each key written once", async () => {
    const source = zarrDataset(120);
    const dst = new TestStore(new MemoryStore());
    const count = 5;
    const summaries = [];
    // Partitions 1..N-1 first (in any order, here at once), partition 0 last: it writes the metadata.
    summaries.push(
      ...(await Promise.all(
        [3, 1, 4, 2].map((index) =>
          copyStore(new MemoryStore(source), dst, { partition: { index, count } }),
        ),
      )),
    );
    expect(dst.writes.filter(isMetadataKey)).toEqual([]);
    for (const s of summaries) expect(s.metadata).toBe("skipped");
    summaries.push(
      await copyStore(new MemoryStore(source), dst, { partition: { index: 0, count } }),
    );
    expect(summaries.every((s) => s.ok)).toBe(true);
    expect(summaries.reduce((n, s) => n + s.copied, 0)).toBe(source.size);
    expect(new Set(dst.writes).size).toBe(dst.writes.length);
    expect(contents((dst.inner as MemoryStore).map)).toEqual(contents(source));
    expect(dst.writes.slice(-DATASET_METADATA_ORDER.length)).toEqual(DATASET_METADATA_ORDER);
  });

  it("lets every partition skip metadata and a final metadata-only run write it", async () => {
    const source = zarrDataset(30);
    const target = new MemoryStore();
    for (let index = 0; index < 3; index++) {
      await copyStore(new MemoryStore(source), target, {
        partition: { index, count: 3 },
        metadata: "skip",
      });
    }
    expect([...target.map.keys()].filter(isMetadataKey)).toEqual([]);
    const last = await copyStore(new MemoryStore(source), target, { metadata: "only" });
    expect(last.copied).toBe(DATASET_METADATA_ORDER.length);
    expect(contents(target.map)).toEqual(contents(source));
  });
});

describe("copyStore: destination checks", () => {
  it("fails before copying anything when the destination is read-only", async () => {
    const src = new TestStore(new MemoryStore(zarrDataset(5)));
    const backing = new Map<string, Uint8Array>();
    const error = await copyStore(src, new MemoryStore(backing, { readOnly: true })).catch(
      (e) => e,
    );
    expect(isStoreError(error, "ReadOnly")).toBe(true);
    expect(error.message).toMatch(/read-only.*nothing was changed/);
    expect(src.counts.list + src.counts.get).toBe(0);
    expect(backing.size).toBe(0);
  });

  it("fails before copying anything when the destination refuses the credentials", async () => {
    const src = new TestStore(new MemoryStore(zarrDataset(5)));
    const target = new MemoryStore();
    const dst = new TestStore(target, {
      refuse: (op) =>
        op === "put"
          ? new StoreError({ code: "Unauthenticated", message: "401 from the server", status: 401 })
          : undefined,
    });
    const error = await copyStore(src, dst).catch((e) => e);
    expect(isStoreError(error, "Unauthenticated")).toBe(true);
    expect(error.message).toMatch(
      /cannot write to the destination: 401 from the server \(check the credentials/,
    );
    expect(src.counts.list + src.counts.get).toBe(0);
    expect(target.map.size).toBe(0);
  });

  it("leaves no probe key behind", async () => {
    const target = new MemoryStore();
    await copyStore(new MemoryStore(new Map([["/a", Uint8Array.of(1)]])), target);
    expect([...target.map.keys()]).toEqual(["/a"]);
  });

  it("stops the whole copy at the first error no retry can cure", async () => {
    const source = zarrDataset(200);
    let puts = 0;
    const dst = new TestStore(new MemoryStore(), {
      refuse: (op) =>
        op === "put" && ++puts > 21 // the probe, then 20 keys
          ? new StoreError({ code: "PermissionDenied", message: "403 quota", status: 403 })
          : undefined,
    });
    const summary = await copyStore(new MemoryStore(source), dst, { concurrency: 4 });
    expect(summary.ok).toBe(false);
    expect(summary.aborted).toBe(false);
    expect(summary.error).toMatchObject({ code: "PermissionDenied", message: "403 quota" });
    expect(summary.metadata).toBe("withheld");
    expect(dst.counts.put).toBeLessThan(30);
  });

  it("rejects a source that can neither list nor show consolidated metadata", async () => {
    const data = zarrDataset(3);
    data.delete("/.zmetadata");
    const src = unlistable(new MemoryStore(data));
    await expect(copyStore(src, new MemoryStore())).rejects.toMatchObject({
      code: "Unsupported",
      message: expect.stringMatching(/cannot list its keys and has no consolidated metadata/),
    });
  });
});

describe("copyStore: scope, sync and bounds", () => {
  it("copies only the prefix and what the filter lets through", async () => {
    const source = zarrDataset(20);
    const target = new MemoryStore();
    const summary = await copyStore(new MemoryStore(source), target, {
      prefix: "g",
      filter: (key) => !key.endsWith("/0"),
    });
    const expected = [...source.keys()].filter((k) => k.startsWith("/g/") && !k.endsWith("/0"));
    expect([...target.map.keys()].sort()).toEqual(expected.sort());
    expect(summary.keysTotal).toBe(expected.length);
  });

  it("deleteExtra removes what the source lacks, metadata first and root first", async () => {
    const source = zarrDataset(10);
    const target = new MemoryStore(new Map(source));
    await target.set("/old/.zarray", Uint8Array.of(1));
    await target.set("/old/.zattrs", Uint8Array.of(1));
    await target.set("/old/0", Uint8Array.of(2));
    await target.set("/zarr.json", Uint8Array.of(3));
    await target.set("/temp/.keep", Uint8Array.of(4)); // excluded by the filter: kept
    const dst = new TestStore(target);
    const summary = await copyStore(new MemoryStore(source), dst, {
      resume: true,
      deleteExtra: true,
      filter: (key) => !key.endsWith(".keep"),
    });
    expect(summary.ok).toBe(true);
    expect(summary.deleted).toBe(4);
    expect(summary.skipped).toBe(source.size);
    expect(dst.deletes).toEqual(["/zarr.json", "/old/.zarray", "/old/.zattrs", "/old/0"]);
    expect(contents(target.map)).toEqual(
      contents(new Map([...source, ["/temp/.keep", Uint8Array.of(4)]])),
    );
  });

  it("keeps at most `concurrency` calls in flight and values in memory", async () => {
    const source = zarrDataset(60);
    const src = new TestStore(new MemoryStore(source), { delayMs: 2 });
    let held = 0;
    const dst = new TestStore(new MemoryStore(), {
      delayMs: 2,
      refuse: (op) => {
        if (op === "put") held = Math.max(held, src.done.get - dst.done.put);
        return undefined;
      },
    });
    await copyStore(src, dst, { concurrency: 6 });
    expect(src.maxInFlight).toBeLessThanOrEqual(6);
    expect(dst.maxInFlight).toBeLessThanOrEqual(6);
    expect(dst.maxInFlight).toBeGreaterThanOrEqual(4); // it does run in parallel
    expect(held).toBeLessThanOrEqual(6);
  });

  it("counts keys deleted from the source after listing as vanished, not failed", async () => {
    const source = new MemoryStore(zarrDataset(5));
    const src = new TestStore(source, {
      refuse: (op, key) => {
        if (op === "get" && key === "/temp/2") source.map.delete(key);
        return undefined;
      },
    });
    const summary = await copyStore(src, new MemoryStore());
    expect(summary.ok).toBe(true);
    expect(summary.vanished).toBe(1);
  });

  it("reports progress: phases in order, totals, rates and a final ETA of zero", async () => {
    const source = zarrDataset(50);
    const events: CopyProgress[] = [];
    await copyStore(new MemoryStore(source), new MemoryStore(), {
      progressIntervalMs: 0,
      onProgress: (p) => events.push(p),
    });
    const phases = events.map((e) => e.phase).filter((p, i, all) => all[i - 1] !== p);
    expect(phases).toEqual(["copying", "metadata", "done"]);
    const last = events[events.length - 1] as CopyProgress;
    expect(last).toMatchObject({
      keysTotal: source.size,
      keysDone: source.size,
      keysCopied: source.size,
      etaSeconds: 0,
    });
    expect(last.bytesCopied).toBe([...source.values()].reduce((n, v) => n + v.byteLength, 0));
    for (let i = 1; i < events.length; i++) {
      expect((events[i] as CopyProgress).keysDone).toBeGreaterThanOrEqual(
        (events[i - 1] as CopyProgress).keysDone,
      );
    }
  });

  it("rejects bad options with Config before any I/O", async () => {
    const bad: CopyOptions[] = [
      { concurrency: 0 },
      { concurrency: 1.5 },
      { retries: -1 },
      { partition: { index: 4, count: 4 } },
      { partition: { index: 0, count: 0 } },
      { verify: "sometimes" as never },
      { metadata: "first" as never },
      { deleteExtra: true, partition: { index: 0, count: 2 } },
      { prefix: "../up" },
    ];
    for (const options of bad) {
      const src = new TestStore(new MemoryStore());
      const error = await copyStore(src, new MemoryStore(), options).catch((e) => e);
      expect([JSON.stringify(options), isStoreError(error) && error.code]).toEqual([
        JSON.stringify(options),
        options.prefix ? "InvalidKey" : "Config",
      ]);
      expect(src.counts.list).toBe(0);
    }
  });
});

describe("copyStore: sources that cannot list", () => {
  async function v3Dataset(): Promise<MemoryStore> {
    const store = new MemoryStore();
    const root = await zarr.create(store, { attributes: { title: "unlistable" } });
    const temp = await zarr.create(root.resolve("g/temp"), {
      shape: [6, 4],
      chunkShape: [2, 2],
      dtype: "int16",
    });
    // Only the top row of chunks is written: the rest are fill value and absent.
    await zarr.set(temp, [zarr.slice(0, 2), null], {
      data: Int16Array.from({ length: 8 }, (_, i) => i),
      shape: [2, 4],
      stride: [4, 1],
    });
    await zarr.create(root.resolve("scalar"), { shape: [], chunkShape: [], dtype: "float32" });
    await consolidate(store);
    return store;
  }

  it("enumerates keys from consolidated metadata: documents and every chunk of the grid", async () => {
    const source = await v3Dataset();
    const target = new MemoryStore();
    const summary = await copyStore(unlistable(source), target, { verify: true });
    expect(summary.ok).toBe(true);
    // 3 documents; g/temp has a 3 × 2 grid (2 written), scalar one chunk (not written).
    expect(summary.keysTotal).toBe(3 + 6 + 1);
    expect(summary.copied).toBe(3 + 2);
    expect(summary.vanished).toBe(5);
    expect(contents(target.map)).toEqual(contents(source.map));
    const temp = await zarr.open.v3(zarr.root(target).resolve("g/temp"), { kind: "array" });
    expect(Array.from((await zarr.get(temp, [zarr.slice(0, 2), null])).data as Int16Array)).toEqual(
      [0, 1, 2, 3, 4, 5, 6, 7],
    );
  });

  it("keeps to the prefix, finding consolidated metadata at the root", async () => {
    const source = await v3Dataset();
    const target = new MemoryStore();
    const summary = await copyStore(unlistable(source), target, { prefix: "g" });
    expect(summary.ok).toBe(true);
    expect([...target.map.keys()].sort()).toEqual([
      "/g/temp/c/0/0",
      "/g/temp/c/0/1",
      "/g/temp/zarr.json",
    ]);
  });

  it("lists chunk keys in C order for v2 and v3 encodings, 0-d and empty arrays", () => {
    const v2 = {
      prefix: "/a/" as const,
      shape: [3, 2],
      chunks: [2, 1],
      chunkKeyEncoding: { name: "v2", separator: "." } as const,
    };
    expect([...chunkKeysOf(v2)]).toEqual(["/a/0.0", "/a/0.1", "/a/1.0", "/a/1.1"]);
    const v3 = { ...v2, chunkKeyEncoding: { name: "default", separator: "/" } as const };
    expect([...chunkKeysOf(v3)].slice(0, 2)).toEqual(["/a/c/0/0", "/a/c/0/1"]);
    expect([...chunkKeysOf({ ...v3, shape: [], chunks: [] })]).toEqual(["/a/c"]);
    expect([...chunkKeysOf({ ...v2, shape: [], chunks: [] })]).toEqual(["/a/0"]);
    expect([...chunkKeysOf({ ...v2, shape: [0, 5] })]).toEqual([]);
  });
});

describe("deleteTree", () => {
  it("deletes metadata first, root first, then the rest in bulk", async () => {
    const inner = new MemoryStore(zarrDataset(10));
    await inner.set("/keep/a", Uint8Array.of(1));
    const store = new TestStore(inner);
    const result = await deleteTree(store, "/");
    expect(result).toEqual({ deleted: 28, metadata: 7 });
    expect(store.deletes).toEqual([...DATASET_METADATA_ORDER].reverse());
    expect(inner.map.size).toBe(0);
  });

  it("deletes only under the folder, and refuses read-only stores", async () => {
    const inner = new MemoryStore(zarrDataset(4));
    expect(await deleteTree(inner, "g")).toEqual({ deleted: 6, metadata: 2 });
    expect([...inner.map.keys()].some((k) => k.startsWith("/g/"))).toBe(false);
    expect(inner.map.has("/temp/.zarray")).toBe(true);
    const readOnly = new MemoryStore(new Map(inner.map), { readOnly: true });
    await expect(deleteTree(readOnly, "/")).rejects.toMatchObject({ code: "ReadOnly" });
  });
});

describe("checksums", () => {
  it("the portable MD5 matches node:crypto across block boundaries", () => {
    for (const size of [0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 128, 1000, 100_003]) {
      const bytes = patternBytes(size, size + 1);
      const expected = createHash("md5").update(bytes).digest("hex");
      expect([size, md5Portable(bytes)]).toEqual([size, expected]);
      expect(md5Hex(bytes)).toBe(expected);
    }
    // RFC 1321 test suite
    expect(md5Portable(new TextEncoder().encode("abc"))).toBe("900150983cd24fb0d6963f7d28e17f72");
  });

  it("reads MD5 out of Swift and S3 etags and nothing else", () => {
    const md5 = "9e107d9d372bb6826bd81d3542a419d6";
    expect(md5OfEtag(md5)).toBe(md5);
    expect(md5OfEtag(`"${md5}"`)).toBe(md5);
    expect(md5OfEtag(md5.toUpperCase())).toBe(md5);
    expect(md5OfEtag(`"${md5}-3"`)).toBeUndefined(); // multipart
    expect(md5OfEtag(`W/"${md5}"`)).toBeUndefined(); // weak
    expect(md5OfEtag('"m12"')).toBeUndefined();
    expect(md5OfEtag(undefined)).toBeUndefined();
  });
});

function equalValue(a: Uint8Array | undefined, b: Uint8Array): boolean {
  return a !== undefined && Buffer.compare(a, b) === 0;
}

// Test doubles: a store that wraps a real store, counts and records calls, tracks calls in flight
// and injects faults (503s, connection resets, lost responses after a write, corrupted writes)
// from a seeded generator; and a store with MD5 etags, as Swift and S3 report them.

type Operation = "get" | "getRange" | "stat" | "put" | "delete" | "list";

/** What the wrapper injects. Rates are probabilities per call (0–1). */
interface FaultOptions {
  /** Calls that fail before reaching the inner store: half 503, half connection resets. */
  faultRate?: number;
  /** Writes that reach the inner store and then lose their response (a 503 after the fact). */
  lostResponseRate?: number;
  /** Writes that store other bytes than sent (flipped first byte) and succeed. */
  corruptRate?: number;
  /** Seed of the fault generator (runs reproduce). */
  seed?: number;
  /** Milliseconds each call waits before going on (to make concurrency visible). */
  delayMs?: number;
  /** Makes an error for a call, or undefined to let it through. Checked before faults. */
  refuse?: (operation: Operation, key: string) => StoreError | undefined;
}

/** A store that wraps another one, counts and records calls, and injects faults. */
class TestStore implements Store {
  readonly inner: Store;
  readonly counts: Record<Operation, number> = {
    get: 0,
    getRange: 0,
    stat: 0,
    put: 0,
    delete: 0,
    list: 0,
  };
  /** Calls that completed, by operation. */
  readonly done: Record<Operation, number> = {
    get: 0,
    getRange: 0,
    stat: 0,
    put: 0,
    delete: 0,
    list: 0,
  };
  /** Keys in the order their writes completed. */
  readonly writes: string[] = [];
  /** Keys in the order their deletes completed. */
  readonly deletes: string[] = [];
  /** Calls running now, and the most seen at once. */
  inFlight = 0;
  maxInFlight = 0;
  faults = 0;
  options: FaultOptions;
  #random: () => number;

  constructor(inner: Store = new MemoryStore(), options: FaultOptions = {}) {
    this.inner = inner;
    this.options = options;
    this.#random = seeded(options.seed ?? 1);
  }

  get capabilities(): Capabilities {
    return this.inner.capabilities;
  }

  async get(key: AbsolutePath, options?: CallOptions): Promise<Uint8Array | undefined> {
    await this.#enter("get", key);
    const value = await this.#track(() => this.inner.get(key, options));
    this.done.get += 1;
    return value;
  }

  async getRange(
    key: AbsolutePath,
    range: RangeQuery,
    options?: CallOptions,
  ): Promise<Uint8Array | undefined> {
    await this.#enter("getRange", key);
    return this.#track(() => this.inner.getRange(key, range, options));
  }

  async stat(key: AbsolutePath, options?: CallOptions): Promise<StatResult | undefined> {
    await this.#enter("stat", key);
    return this.#track(() => this.inner.stat(key, options));
  }

  async set(key: AbsolutePath, value: Uint8Array, options?: SetOptions): Promise<void> {
    await this.put(key, value, options);
  }

  async put(key: AbsolutePath, value: Uint8Array, options?: SetOptions): Promise<SetResult> {
    await this.#enter("put", key);
    const corrupt = value.byteLength > 0 && this.#roll(this.options.corruptRate);
    const stored = corrupt ? flipFirstByte(value) : value;
    const result = await this.#track(() => this.inner.put(key, stored, options));
    if (this.#roll(this.options.lostResponseRate)) {
      this.faults += 1;
      throw unavailable("put", key, "the response was lost after the write");
    }
    if (!isProbe(key)) {
      this.writes.push(key);
      this.done.put += 1;
    }
    return result;
  }

  async delete(key: AbsolutePath, options?: CallOptions): Promise<void> {
    await this.#enter("delete", key);
    await this.#track(() => this.inner.delete(key, options));
    if (!isProbe(key)) this.deletes.push(key);
  }

  async deletePrefix(prefix: string, options?: CallOptions): Promise<void> {
    await this.inner.deletePrefix(prefix, options);
  }

  async *list(prefix?: string, options?: CallOptions): AsyncIterable<AbsolutePath> {
    await this.#enter("list", prefix ?? "/");
    yield* this.inner.list(prefix, options);
  }

  listDir(prefix?: string, options?: CallOptions): Promise<ListDirResult> {
    return this.inner.listDir(prefix, options);
  }

  async close(): Promise<void> {
    await this.inner.close();
  }

  async #enter(operation: Operation, key: string): Promise<void> {
    if (!isProbe(key)) this.counts[operation] += 1;
    const refused = this.options.refuse?.(operation, key);
    if (refused) throw refused;
    if (operation !== "list" && this.#roll(this.options.faultRate)) {
      this.faults += 1;
      throw this.#random() < 0.5
        ? unavailable(operation, key, "503 Service Unavailable")
        : new StoreError({
            code: "Unavailable",
            message: `connection reset during ${operation} ${key}`,
            operation,
            key,
            cause: Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" }),
          });
    }
  }

  async #track<T>(call: () => Promise<T>): Promise<T> {
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      if (this.options.delayMs) await new Promise((r) => setTimeout(r, this.options.delayMs));
      return await call();
    } finally {
      this.inFlight -= 1;
    }
  }

  #roll(rate: number | undefined): boolean {
    return rate !== undefined && rate > 0 && this.#random() < rate;
  }
}

/**
 * A MemoryStore whose etags are the MD5 of the value, unquoted, as Swift reports them (S3
 * quotes them). With `lyingEtags` its etags look like MD5 but are not.
 */
class Md5EtagStore extends MemoryStore {
  readonly #lying: boolean;
  constructor(map?: Map<string, Uint8Array>, options: { lyingEtags?: boolean } = {}) {
    super(map);
    this.#lying = options.lyingEtags ?? false;
  }
  override async put(
    key: AbsolutePath,
    value: Uint8Array,
    options?: SetOptions,
  ): Promise<SetResult> {
    await super.put(key, value, options);
    return { etag: this.#etagOf(value) };
  }
  override async stat(key: AbsolutePath, options?: CallOptions): Promise<StatResult | undefined> {
    const stat = await super.stat(key, options);
    const value = this.map.get(key);
    return stat && value && { ...stat, etag: this.#etagOf(value) };
  }
  #etagOf(value: Uint8Array): string {
    const hex = createHash("md5").update(value).digest("hex");
    return this.#lying ? createHash("md5").update(hex).digest("hex") : hex;
  }
}

/**
 * A Zarr-shaped dataset: a v2 root group with an array of `chunks` chunks, and a v3 group `g`
 * holding an array `b` with nested chunk keys, plus consolidated metadata at the root.
 */
function zarrDataset(chunks = 40, chunkSize = 512): Map<string, Uint8Array> {
  const text = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
  const data = new Map<string, Uint8Array>();
  data.set("/.zgroup", text({ zarr_format: 2 }));
  data.set("/.zattrs", text({ title: "test" }));
  data.set("/.zmetadata", text({ metadata: {}, zarr_consolidated_format: 1 }));
  data.set("/temp/.zarray", text({ zarr_format: 2, shape: [chunks], chunks: [1] }));
  data.set("/temp/.zattrs", text({ units: "K" }));
  data.set("/g/zarr.json", text({ zarr_format: 3, node_type: "group", attributes: {} }));
  data.set("/g/b/zarr.json", text({ zarr_format: 3, node_type: "array" }));
  for (let i = 0; i < chunks; i++) {
    data.set(`/temp/${i}`, patternBytes(chunkSize, i + 1));
    data.set(`/g/b/c/${i % 4}/${Math.floor(i / 4)}`, patternBytes(chunkSize + i, i + 1000));
  }
  return data;
}

/** The metadata keys of `zarrDataset`, in the order the copy must write them. */
const DATASET_METADATA_ORDER = [
  "/g/b/zarr.json",
  "/temp/.zattrs",
  "/temp/.zarray",
  "/g/zarr.json",
  "/.zattrs",
  "/.zgroup",
  "/.zmetadata",
];

/** Sorted [key, hex] pairs of a map, for whole-store comparisons with readable diffs. */
function contents(map: Map<string, Uint8Array>): [string, string][] {
  return [...map.entries()]
    .map(([key, value]): [string, string] => [
      key,
      createHash("sha256").update(value).digest("hex"),
    ])
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

function unavailable(operation: string, key: string, why: string): StoreError {
  return new StoreError({
    code: "Unavailable",
    message: `${why} (${operation} ${key})`,
    operation,
    key,
    status: 503,
  });
}

/** The store as a source that declares it cannot list (as plain HTTP stores do). */
function unlistable(store: MemoryStore): Store {
  const view = new TestStore(store);
  Object.defineProperty(view, "capabilities", { value: { ...store.capabilities, list: false } });
  return view;
}

/** The destination check's probe key: left out of counts and records. */
function isProbe(key: string): boolean {
  return key.startsWith("/.zarrstore-probe-");
}

function flipFirstByte(value: Uint8Array): Uint8Array {
  const copy = value.slice();
  copy[0] = (copy[0] as number) ^ 0xff;
  return copy;
}

function seeded(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x1_0000_0000;
  };
}
