import { describe, expect, it } from "vitest";
import { withConcurrency } from "../../src/adapters/concurrency.js";
import { ForwardingStore } from "../../src/adapters/forward.js";
import { listAll, textToBytes } from "../../src/helpers.js";
import type { AbsolutePath } from "../../src/keys.js";
import type { CallOptions, SetOptions, SetResult } from "../../src/store.js";
import { MemoryStore } from "../../src/stores/memory.js";
import { describeConformance } from "../../src/testing/vitest.js";

describeConformance("withConcurrency over MemoryStore", () =>
  withConcurrency(new MemoryStore(), { limit: 3 }),
);

/** Tracks how many calls are inside at once; each call takes a few milliseconds. */
class BusyStore extends ForwardingStore {
  inside = 0;
  peak = 0;
  readonly order: string[] = [];

  constructor() {
    super(new MemoryStore());
  }

  async #busy<T>(name: string, work: () => Promise<T>): Promise<T> {
    this.inside += 1;
    this.peak = Math.max(this.peak, this.inside);
    this.order.push(name);
    try {
      await new Promise((resolve) => setTimeout(resolve, 2));
      return await work();
    } finally {
      this.inside -= 1;
    }
  }

  override get(key: AbsolutePath, options?: CallOptions) {
    return this.#busy(key, () => this.inner.get(key, options));
  }

  override put(key: AbsolutePath, value: Uint8Array, options?: SetOptions): Promise<SetResult> {
    return this.#busy(key, () => this.inner.put(key, value, options));
  }
}

describe("withConcurrency", () => {
  it("never lets more than `limit` calls in, and serves them in arrival order", async () => {
    const inner = new BusyStore();
    const store = withConcurrency(inner, { limit: 4 });
    const keys = Array.from({ length: 40 }, (_, i) => `/k${i}` as AbsolutePath);
    await Promise.all(keys.map((key) => store.set(key, textToBytes(key))));
    expect(inner.peak).toBe(4);
    expect(inner.order).toEqual(keys);
    const values = await Promise.all(keys.map((key) => store.get(key)));
    expect(values).toEqual(keys.map((key) => textToBytes(key)));
    expect(inner.peak).toBe(4);
    expect(store.active).toBe(0);
    expect(store.waiting).toBe(0);
  });

  it("frees the slot of a failed call", async () => {
    const store = withConcurrency(new MemoryStore(), { limit: 1 });
    await expect(store.get("bad//key" as AbsolutePath)).rejects.toMatchObject({
      code: "InvalidKey",
    });
    await expect(store.get("/fine")).resolves.toBeUndefined();
    expect(store.active).toBe(0);
  });

  it("lets a waiting call leave the queue when its signal aborts", async () => {
    const inner = new BusyStore();
    const store = withConcurrency(inner, { limit: 1 });
    const first = store.get("/a");
    const controller = new AbortController();
    const second = store.get("/b", { signal: controller.signal });
    const third = store.get("/c");
    expect(store.waiting).toBe(2);
    controller.abort();
    await expect(second).rejects.toMatchObject({ code: "Aborted", operation: "get", key: "/b" });
    expect(store.waiting).toBe(1);
    await Promise.all([first, third]);
    expect(inner.order).toEqual(["/a", "/c"]);
  });

  it("holds a slot for a listing only while it fetches the next key", async () => {
    const inner = new MemoryStore();
    for (const name of ["/l/a", "/l/b", "/l/c"])
      await inner.set(name as AbsolutePath, textToBytes("x"));
    const store = withConcurrency(inner, { limit: 1 });
    const seen: string[] = [];
    for await (const key of store.list("/l/")) {
      // With the slot held here, this get would wait forever.
      expect(await store.get(key)).toEqual(textToBytes("x"));
      seen.push(key);
    }
    expect(seen).toEqual(["/l/a", "/l/b", "/l/c"]);
    expect(await listAll(store, "/l/")).toEqual(seen);
    expect(store.active).toBe(0);
  });

  it("rejects a limit that is not a whole number ≥ 1", () => {
    for (const limit of [0, -1, 1.5, Number.NaN]) {
      expect(() => withConcurrency(new MemoryStore(), { limit })).toThrow(/limit/);
    }
  });
});
