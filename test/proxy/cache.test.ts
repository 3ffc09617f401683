import { describe, expect, it } from "vitest";
import { ByteLruCache, MetadataCache } from "../../src/proxy/cache.js";

const value = (size: number, tag = "") => ({ size, tag });

describe("ByteLruCache", () => {
  it("stays within its byte bound, dropping the least recently used first", async () => {
    const cache = new ByteLruCache<{ size: number; tag: string }>(100);
    for (const key of ["a", "b", "c"]) await cache.load(key, async () => value(30, key));
    expect(cache.stats()).toMatchObject({ bytes: 90, entries: 3, misses: 3 });
    cache.get("a"); // a is used again: b is now the oldest unused
    await cache.load("d", async () => value(30, "d"));
    expect(cache.stats().bytes).toBeLessThanOrEqual(100);
    expect(cache.get("b")).toBeUndefined();
    expect(cache.get("a")?.tag).toBe("a");
    expect(cache.get("c")?.tag).toBe("c");
    expect(cache.get("d")?.tag).toBe("d");
    expect(cache.stats().evictions).toBe(1);
  });

  it("never holds more than its bound, whatever the order of loads", async () => {
    const cache = new ByteLruCache<{ size: number; tag: string }>(1000);
    for (let i = 0; i < 500; i++) {
      await cache.load(`k${i % 70}`, async () => value(17 + (i % 13), `k${i % 70}`));
      if (i % 3 === 0) cache.get(`k${(i * 7) % 70}`);
      expect(cache.stats().bytes).toBeLessThanOrEqual(1000);
    }
  });

  it("loads a key once for concurrent callers (single flight)", async () => {
    const cache = new ByteLruCache<{ size: number; tag: string }>(100);
    let loads = 0;
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const loader = async () => {
      loads++;
      await gate;
      return value(10, "x");
    };
    const waiting = Array.from({ length: 5 }, () => cache.load("x", loader));
    release();
    const results = await Promise.all(waiting);
    expect(loads).toBe(1);
    expect(new Set(results).size).toBe(1);
    expect(cache.stats()).toMatchObject({ misses: 1, joined: 4 });
    expect(cache.load("x", loader)).toBe(results[0]); // a hit is returned synchronously
  });

  it("does not cache failures, and the next load tries again", async () => {
    const cache = new ByteLruCache<{ size: number; tag: string }>(100);
    await expect(
      cache.load("x", async () => {
        throw new Error("upstream down");
      }),
    ).rejects.toThrow("upstream down");
    expect(await cache.load("x", async () => value(1, "ok"))).toMatchObject({ tag: "ok" });
  });

  it("returns but does not keep a value larger than the whole cache", async () => {
    const cache = new ByteLruCache<{ size: number; tag: string }>(10);
    expect(await cache.load("big", async () => value(11, "big"))).toMatchObject({ tag: "big" });
    expect(cache.get("big")).toBeUndefined();
    expect(cache.stats().bytes).toBe(0);
  });

  it("forgets everything on clear, including loads still in flight", async () => {
    const cache = new ByteLruCache<{ size: number; tag: string }>(100);
    await cache.load("a", async () => value(10));
    const pending = cache.load("b", async () => value(10));
    cache.clear();
    await pending;
    expect(cache.get("a")).toBeUndefined();
    expect(cache.get("b")).toBeUndefined();
  });
});

describe("MetadataCache", () => {
  const bytes = (text: string) => new TextEncoder().encode(text);

  it("serves a document for its TTL, then revalidates, keeping identity when unchanged", async () => {
    let now = 0;
    let reads = 0;
    let content = "v1";
    const cache = new MetadataCache({ ttlMs: 1000, maxEntries: 10, now: () => now });
    const read = async () => {
      reads++;
      return bytes(content);
    };
    const first = await cache.get("k", read);
    first.memo.set("derived", 42);
    now = 999;
    expect(await cache.get("k", read)).toBe(first);
    expect(reads).toBe(1);
    now = 1000;
    const same = await cache.get("k", read);
    expect(reads).toBe(2);
    expect(same).toBe(first); // unchanged bytes: what was derived stays
    expect(same.memo.get("derived")).toBe(42);
    content = "v2";
    now = 2500;
    const changed = await cache.get("k", read);
    expect(changed).not.toBe(first);
    expect(new TextDecoder().decode(changed.bytes)).toBe("v2");
    expect(changed.memo.size).toBe(0);
    expect(cache.stats()).toMatchObject({ reads: 3, changes: 1 });
  });

  it("caches missing documents too, and notices when they appear", async () => {
    let now = 0;
    let content: Uint8Array | undefined;
    const cache = new MetadataCache({ ttlMs: 10, maxEntries: 10, now: () => now });
    expect((await cache.get("k", async () => content)).bytes).toBeUndefined();
    content = bytes("{}");
    expect((await cache.get("k", async () => content)).bytes).toBeUndefined();
    now = 10;
    expect((await cache.get("k", async () => content)).bytes).toEqual(bytes("{}"));
  });

  it("reads once for concurrent callers and forgets failed first reads", async () => {
    const cache = new MetadataCache({ ttlMs: 1000, maxEntries: 10 });
    let reads = 0;
    const docs = await Promise.all(
      Array.from({ length: 4 }, () =>
        cache.get("k", async () => {
          reads++;
          return bytes("x");
        }),
      ),
    );
    expect(reads).toBe(1);
    expect(new Set(docs).size).toBe(1);
    await expect(
      cache.get("bad", async () => {
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
    expect((await cache.get("bad", async () => bytes("ok"))).bytes).toEqual(bytes("ok"));
  });

  it("keeps at most maxEntries documents", async () => {
    const cache = new MetadataCache({ ttlMs: 1000, maxEntries: 3 });
    for (const k of ["a", "b", "c", "d", "e"]) await cache.get(k, async () => bytes(k));
    expect(cache.stats().entries).toBe(3);
  });
});
