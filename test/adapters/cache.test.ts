import { describe, expect, it } from "vitest";
import { withCache } from "../../src/adapters/cache.js";
import { ForwardingStore } from "../../src/adapters/forward.js";
import { textToBytes } from "../../src/helpers.js";
import type { AbsolutePath } from "../../src/keys.js";
import type { CallOptions, RangeQuery, Store } from "../../src/store.js";
import { MemoryStore } from "../../src/stores/memory.js";
import { describeConformance } from "../../src/testing/vitest.js";

describeConformance("withCache over MemoryStore", () =>
  withCache(new MemoryStore(), { maxBytes: 1 << 20 }),
);
describeConformance("withCache (negative) over MemoryStore", () =>
  withCache(new MemoryStore(), { maxBytes: 1 << 20, negative: true }),
);

/** Counts the reads that reach the store, and lets a test hold them until it says so. */
class CountingStore extends ForwardingStore {
  gets = 0;
  ranges = 0;
  stats = 0;
  aborted = 0;
  gate: Promise<void> | undefined;

  constructor(inner: Store = new MemoryStore()) {
    super(inner);
  }

  override async get(key: AbsolutePath, options?: CallOptions) {
    this.gets += 1;
    options?.signal?.addEventListener("abort", () => {
      this.aborted += 1;
    });
    // Like a network read, the answer is what the store held when the request arrived.
    const value = await this.inner.get(key, options);
    await this.gate;
    options?.signal?.throwIfAborted();
    return value;
  }

  override async getRange(key: AbsolutePath, range: RangeQuery, options?: CallOptions) {
    this.ranges += 1;
    return this.inner.getRange(key, range, options);
  }

  override async stat(key: AbsolutePath, options?: CallOptions) {
    this.stats += 1;
    return this.inner.stat(key, options);
  }
}

function release(): { gate: Promise<void>; open: () => void } {
  let open = () => {};
  const gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { gate, open };
}

const bytes = (n: number, fill = 1) => new Uint8Array(n).fill(fill);

describe("withCache", () => {
  it("serves repeated reads from memory", async () => {
    const inner = new CountingStore();
    await inner.set("/a", textToBytes("hello"));
    const cache = withCache(inner);
    expect(await cache.get("/a")).toEqual(textToBytes("hello"));
    expect(await cache.get("/a")).toEqual(textToBytes("hello"));
    expect(await cache.get("a" as AbsolutePath)).toEqual(textToBytes("hello"));
    expect(inner.gets).toBe(1);
    expect(cache.stats()).toMatchObject({ hits: 2, misses: 1, entries: 1, bytes: 5 });
  });

  it("is single-flight: 100 concurrent gets of one key make 1 inner get", async () => {
    const inner = new CountingStore();
    await inner.set("/k", textToBytes("shared"));
    const { gate, open } = release();
    inner.gate = gate;
    const cache = withCache(inner);
    const reads = Array.from({ length: 100 }, () => cache.get("/k"));
    open();
    const values = await Promise.all(reads);
    expect(inner.gets).toBe(1);
    for (const value of values) expect(value).toEqual(textToBytes("shared"));
    expect(cache.stats()).toMatchObject({ misses: 100, hits: 0 });
  });

  it("lets one waiter abort without failing the others, and aborts the fetch when all leave", async () => {
    const inner = new CountingStore();
    await inner.set("/k", textToBytes("v"));
    const first = release();
    inner.gate = first.gate;
    const cache = withCache(inner);
    const quitter = new AbortController();
    const leaving = cache.get("/k", { signal: quitter.signal });
    const staying = cache.get("/k");
    quitter.abort();
    await expect(leaving).rejects.toMatchObject({ code: "Aborted" });
    first.open();
    expect(await staying).toEqual(textToBytes("v"));
    expect(inner.aborted).toBe(0);

    cache.clear();
    const second = release();
    inner.gate = second.gate;
    const a = new AbortController();
    const b = new AbortController();
    const pa = cache.get("/k", { signal: a.signal });
    const pb = cache.get("/k", { signal: b.signal });
    a.abort();
    b.abort();
    await expect(pa).rejects.toMatchObject({ code: "Aborted" });
    await expect(pb).rejects.toMatchObject({ code: "Aborted" });
    expect(inner.aborted).toBe(1);
    second.open();
    // The aborted fetch is not kept, and a new get starts afresh.
    expect(await cache.get("/k")).toEqual(textToBytes("v"));
    expect(inner.gets).toBe(3);
  });

  it("evicts the least recently used values to stay within maxBytes", async () => {
    const inner = new CountingStore();
    for (const name of ["a", "b", "c", "d"]) await inner.set(`/${name}`, bytes(400));
    const cache = withCache(inner, { maxBytes: 1000 });
    await cache.get("/a");
    await cache.get("/b");
    await cache.get("/a"); // a is now more recent than b
    await cache.get("/c"); // 1200 bytes > 1000: b goes
    expect(cache.stats()).toMatchObject({ entries: 2, bytes: 800, evictions: 1 });
    inner.gets = 0;
    await cache.get("/a");
    await cache.get("/c");
    expect(inner.gets).toBe(0);
    await cache.get("/b");
    expect(inner.gets).toBe(1);
    // A value larger than the whole cache passes through without evicting anything.
    await inner.set("/huge", bytes(5000));
    await cache.get("/huge");
    await cache.get("/huge");
    expect(inner.gets).toBe(3);
    expect(cache.stats().bytes).toBeLessThanOrEqual(1000);
  });

  it("bounds the number of entries", async () => {
    const inner = new MemoryStore();
    for (let i = 0; i < 10; i++) await inner.set(`/e/${i}`, new Uint8Array(0));
    const cache = withCache(inner, { maxEntries: 4 });
    for (let i = 0; i < 10; i++) await cache.get(`/e/${i}`);
    expect(cache.stats()).toMatchObject({ entries: 4, evictions: 6 });
  });

  it("serves ranges from a cached whole value and passes range misses through uncached", async () => {
    const inner = new CountingStore();
    await inner.set("/a", textToBytes("0123456789"));
    const cache = withCache(inner);
    expect(await cache.getRange("/a", { offset: 2, length: 3 })).toEqual(textToBytes("234"));
    expect(await cache.getRange("/a", { offset: 2, length: 3 })).toEqual(textToBytes("234"));
    expect(inner.ranges).toBe(2);
    expect(inner.gets).toBe(0);
    await cache.get("/a");
    expect(await cache.getRange("/a", { suffixLength: 4 })).toEqual(textToBytes("6789"));
    await expect(cache.getRange("/a", { offset: 10, length: 1 })).rejects.toMatchObject({
      code: "RangeNotSatisfiable",
    });
    expect(inner.ranges).toBe(2);
  });

  it("serves a range from a whole-value fetch already in flight", async () => {
    const inner = new CountingStore();
    await inner.set("/a", textToBytes("0123456789"));
    const { gate, open } = release();
    inner.gate = gate;
    const cache = withCache(inner);
    const whole = cache.get("/a");
    const part = cache.getRange("/a", { offset: 8, length: 5 });
    open();
    expect(await part).toEqual(textToBytes("89"));
    expect(await whole).toEqual(textToBytes("0123456789"));
    expect(inner.ranges).toBe(0);
  });

  it("forgets a key it writes or deletes, and a folder it deletes", async () => {
    const inner = new MemoryStore();
    const cache = withCache(inner);
    await cache.set("/a/1", textToBytes("one"));
    await cache.set("/a/2", textToBytes("two"));
    expect(await cache.get("/a/1")).toEqual(textToBytes("one"));
    await cache.set("/a/1", textToBytes("uno"));
    expect(await cache.get("/a/1")).toEqual(textToBytes("uno"));
    await cache.put("a/1" as AbsolutePath, textToBytes("eins")); // another spelling of the same key
    expect(await cache.get("/a/1")).toEqual(textToBytes("eins"));
    await cache.delete("/a/1");
    expect(await cache.get("/a/1")).toBeUndefined();
    await cache.get("/a/2");
    await cache.deletePrefix("/a");
    expect(await cache.get("/a/2")).toBeUndefined();
  });

  it("does not keep a read that a write overtook", async () => {
    const inner = new CountingStore();
    await inner.set("/k", textToBytes("old"));
    const { gate, open } = release();
    inner.gate = gate;
    const cache = withCache(inner);
    const stale = cache.get("/k");
    const write = cache.set("/k", textToBytes("new"));
    await write;
    open();
    expect(await stale).toEqual(textToBytes("old")); // it was read before the write landed
    inner.gate = undefined;
    expect(await cache.get("/k")).toEqual(textToBytes("new"));
  });

  it("does not keep a read that started before a concurrent write finished", async () => {
    const inner = new MemoryStore();
    await inner.set("/k", textToBytes("old"));
    const cache = withCache(inner);
    // The read starts and resolves with "old" while the write is in flight; afterwards the
    // cache must not answer "old".
    const read = cache.get("/k");
    const write = cache.set("/k", textToBytes("new"));
    await Promise.all([read, write]);
    expect(await cache.get("/k")).toEqual(textToBytes("new"));
  });

  it("remembers misses only when asked to", async () => {
    const plain = new CountingStore();
    const cache = withCache(plain);
    await cache.get("/none");
    await cache.get("/none");
    expect(plain.gets).toBe(2);

    const inner = new CountingStore();
    const negative = withCache(inner, { negative: true });
    expect(await negative.get("/none")).toBeUndefined();
    expect(await negative.get("/none")).toBeUndefined();
    expect(await negative.getRange("/none", { suffixLength: 1 })).toBeUndefined();
    expect(await negative.stat("/none")).toBeUndefined();
    expect(inner.gets + inner.ranges + inner.stats).toBe(1);
    await negative.set("/none", textToBytes("now here"));
    expect(await negative.get("/none")).toEqual(textToBytes("now here"));
  });

  it("passes failures through without caching them", async () => {
    let fail = true;
    const inner = new (class extends ForwardingStore {
      override async get(key: AbsolutePath, options?: CallOptions) {
        if (fail) throw new Error("boom");
        return this.inner.get(key, options);
      }
    })(new MemoryStore(new Map([["/k", textToBytes("v")]])));
    const cache = withCache(inner);
    await expect(cache.get("/k")).rejects.toThrow("boom");
    fail = false;
    expect(await cache.get("/k")).toEqual(textToBytes("v"));
  });

  it("keeps the inner store's capabilities", () => {
    const inner = new MemoryStore();
    expect(withCache(inner).capabilities).toEqual(inner.capabilities);
  });
});
