import { describe, expect, it } from "vitest";
import { ForwardingStore } from "../../src/adapters/forward.js";
import { type RetryEvent, withRetry } from "../../src/adapters/retry.js";
import { StoreError } from "../../src/errors.js";
import { listAll, textToBytes } from "../../src/helpers.js";
import type { AbsolutePath } from "../../src/keys.js";
import type { CallOptions, SetOptions, SetResult, Store } from "../../src/store.js";
import { MemoryStore } from "../../src/stores/memory.js";
import { patternBytes } from "../../src/testing/cases.js";
import { describeConformance } from "../../src/testing/vitest.js";
import { FaultStore } from "../support/faults.js";

describeConformance("withRetry over MemoryStore", () => withRetry(new MemoryStore()));
describeConformance("withRetry over a FaultStore failing 10 % of calls", () =>
  withRetry(new FaultStore(new MemoryStore(), { seed: 7, rate: 0.1 }), {
    retries: 10,
    baseDelayMs: 1,
    budget: Number.POSITIVE_INFINITY,
  }),
);

const unavailable = (retryAfterMs?: number) =>
  new StoreError({ code: "Unavailable", message: "503", status: 503, retryAfterMs });

/** Fails the next calls of one operation with the errors queued for it. */
class ScriptedStore extends ForwardingStore {
  readonly failGet: unknown[] = [];
  /** Errors for put; `landed` means the write happens, then the error is thrown. */
  readonly failPut: { error: unknown; landed: boolean; before?: () => Promise<void> }[] = [];
  gets = 0;
  puts = 0;

  constructor(inner: Store = new MemoryStore()) {
    super(inner);
  }

  override async get(key: AbsolutePath, options?: CallOptions) {
    this.gets += 1;
    const error = this.failGet.shift();
    if (error !== undefined) throw error;
    return this.inner.get(key, options);
  }

  override async put(
    key: AbsolutePath,
    value: Uint8Array,
    options?: SetOptions,
  ): Promise<SetResult> {
    this.puts += 1;
    const script = this.failPut.shift();
    if (script === undefined) return this.inner.put(key, value, options);
    await script.before?.();
    if (script.landed) await this.inner.put(key, value, options);
    throw script.error;
  }
}

function recorder() {
  const delays: number[] = [];
  const events: RetryEvent[] = [];
  return {
    delays,
    events,
    sleep: async (ms: number) => {
      delays.push(ms);
    },
    onRetry: (e: RetryEvent) => events.push(e),
  };
}

describe("withRetry", () => {
  it("retries retryable errors and succeeds", async () => {
    const inner = new ScriptedStore();
    await inner.set("/k", textToBytes("v"));
    inner.failGet.push(unavailable(), unavailable());
    const r = recorder();
    const store = withRetry(inner, { sleep: r.sleep, onRetry: r.onRetry, random: () => 0.5 });
    expect(await store.get("/k")).toEqual(textToBytes("v"));
    expect(inner.gets).toBe(3);
    expect(r.events.map((e) => [e.operation, e.key, e.attempt, e.error.code])).toEqual([
      ["get", "/k", 1, "Unavailable"],
      ["get", "/k", 2, "Unavailable"],
    ]);
  });

  it("does not retry errors that are not retryable", async () => {
    for (const error of [
      new StoreError({ code: "PermissionDenied", message: "403" }),
      new StoreError({ code: "Unavailable", message: "marked final", retryable: false }),
      new TypeError("a bug"),
    ]) {
      const inner = new ScriptedStore();
      inner.failGet.push(error);
      const r = recorder();
      await expect(withRetry(inner, { sleep: r.sleep }).get("/k")).rejects.toBe(error);
      expect(inner.gets).toBe(1);
      expect(r.delays).toEqual([]);
    }
  });

  it("backs off with full jitter, capped, and gives up after `retries`", async () => {
    const inner = new ScriptedStore();
    const errors = Array.from({ length: 6 }, () => unavailable());
    inner.failGet.push(...errors);
    const r = recorder();
    const store = withRetry(inner, {
      retries: 5,
      baseDelayMs: 100,
      maxDelayMs: 1000,
      random: () => 0.5,
      sleep: r.sleep,
    });
    await expect(store.get("/k")).rejects.toBe(errors[5]);
    expect(inner.gets).toBe(6);
    expect(r.delays).toEqual([50, 100, 200, 400, 500]);
  });

  it("draws each delay uniformly below the ceiling", async () => {
    const inner = new ScriptedStore();
    inner.failGet.push(unavailable(), unavailable(), unavailable());
    const randoms = [0, 0.999, 0.25];
    const r = recorder();
    const store = withRetry(inner, {
      baseDelayMs: 100,
      random: () => randoms.shift() ?? 0,
      sleep: r.sleep,
    });
    await store.get("/k");
    expect(r.delays.map(Math.round)).toEqual([0, 200, 100]);
  });

  it("honours retryAfterMs when it is longer than the backoff", async () => {
    const inner = new ScriptedStore();
    inner.failGet.push(
      new StoreError({ code: "RateLimited", message: "429", status: 429, retryAfterMs: 750 }),
      unavailable(3),
    );
    const r = recorder();
    await withRetry(inner, { baseDelayMs: 10, random: () => 0.5, sleep: r.sleep }).get("/k");
    expect(r.delays).toEqual([750, 10]);
  });

  it("waits the real time the server asked for", async () => {
    const inner = new ScriptedStore();
    inner.failGet.push(unavailable(120));
    const started = performance.now();
    await withRetry(inner, { random: () => 0 }).get("/k");
    expect(performance.now() - started).toBeGreaterThanOrEqual(115);
  });

  it("gives up at once when the server asks for more than maxRetryAfterMs", async () => {
    const inner = new ScriptedStore();
    const error = unavailable(120_000);
    inner.failGet.push(error);
    const r = recorder();
    await expect(withRetry(inner, { sleep: r.sleep }).get("/k")).rejects.toBe(error);
    expect(r.delays).toEqual([]);
  });

  it("spends a shared budget that successes earn back", async () => {
    const inner = new ScriptedStore();
    await inner.set("/k", textToBytes("v"));
    const r = recorder();
    const store = withRetry(inner, { budget: 2, budgetRefill: 0.5, sleep: r.sleep });
    inner.failGet.push(unavailable(), unavailable());
    await store.get("/k");
    expect(store.budgetLeft).toBe(0.5);
    inner.failGet.push(unavailable());
    await expect(store.get("/k")).rejects.toMatchObject({ code: "Unavailable" });
    expect(r.delays.length).toBe(2);
    await store.get("/k"); // a success earns half a retry: one retry is possible again
    inner.failGet.push(unavailable());
    expect(await store.get("/k")).toEqual(textToBytes("v"));
    expect(r.delays.length).toBe(3);
  });

  it("stops retrying when the caller aborts during the wait", async () => {
    const inner = new ScriptedStore();
    inner.failGet.push(unavailable(), unavailable());
    const controller = new AbortController();
    const store = withRetry(inner, { baseDelayMs: 10_000, random: () => 1 });
    const pending = store.get("/k", { signal: controller.signal });
    setTimeout(() => controller.abort(), 20);
    const started = performance.now();
    await expect(pending).rejects.toMatchObject({ code: "Aborted" });
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(inner.gets).toBe(1);
  });

  describe("conditional writes", () => {
    const value = textToBytes("mine");

    it("ifNoneMatch: a write that landed before its reply was lost succeeds without being re-sent", async () => {
      const inner = new ScriptedStore();
      inner.failPut.push({ error: unavailable(), landed: true });
      const store = withRetry(inner, { sleep: async () => {} });
      const result = await store.put("/k", value, { ifNoneMatch: "*" });
      expect(inner.puts).toBe(1);
      expect(result.etag).toBe((await inner.stat("/k"))?.etag);
      expect(await inner.get("/k")).toEqual(value);
    });

    it("ifNoneMatch: a write that did not land is sent again", async () => {
      const inner = new ScriptedStore();
      inner.failPut.push({ error: unavailable(), landed: false });
      await withRetry(inner, { sleep: async () => {} }).set("/k", value, { ifNoneMatch: "*" });
      expect(inner.puts).toBe(2);
      expect(await inner.get("/k")).toEqual(value);
    });

    it("ifNoneMatch: another writer's value found on re-check is ConditionFailed", async () => {
      const data = new MemoryStore();
      const inner = new ScriptedStore(data);
      inner.failPut.push({
        error: unavailable(),
        landed: false,
        before: () => data.set("/k", textToBytes("theirs")),
      });
      await expect(
        withRetry(inner, { sleep: async () => {} }).set("/k", value, { ifNoneMatch: "*" }),
      ).rejects.toMatchObject({ code: "ConditionFailed" });
      expect(await inner.get("/k")).toEqual(textToBytes("theirs"));
    });

    it("ifMatch: a write that landed succeeds with the new etag, without being re-sent", async () => {
      const inner = new ScriptedStore();
      const { etag } = await inner.put("/k", textToBytes("old"));
      inner.failPut.push({ error: unavailable(), landed: true });
      const result = await withRetry(inner, { sleep: async () => {} }).put("/k", value, {
        ifMatch: etag,
      });
      expect(inner.puts).toBe(2); // the first put above, and the one that landed
      expect(result.etag).toBe((await inner.stat("/k"))?.etag);
      expect(result.etag).not.toBe(etag);
    });

    it("ifMatch: a write that did not land is sent again with the same condition", async () => {
      const inner = new ScriptedStore();
      const { etag } = await inner.put("/k", textToBytes("old"));
      inner.failPut.push({ error: unavailable(), landed: false });
      await withRetry(inner, { sleep: async () => {} }).set("/k", value, { ifMatch: etag });
      expect(inner.puts).toBe(3);
      expect(await inner.get("/k")).toEqual(value);
    });

    it("ifMatch: another writer's change found on re-check is ConditionFailed", async () => {
      const data = new MemoryStore();
      const inner = new ScriptedStore(data);
      const { etag } = await inner.put("/k", textToBytes("old"));
      inner.failPut.push({
        error: unavailable(),
        landed: false,
        before: () => data.set("/k", textToBytes("theirs")),
      });
      await expect(
        withRetry(inner, { sleep: async () => {} }).set("/k", value, { ifMatch: etag }),
      ).rejects.toMatchObject({ code: "ConditionFailed" });
      expect(await inner.get("/k")).toEqual(textToBytes("theirs"));
    });

    it("ifMatch: a key deleted meanwhile is ConditionFailed", async () => {
      const inner = new ScriptedStore();
      const { etag } = await inner.put("/k", textToBytes("old"));
      inner.failPut.push({
        error: unavailable(),
        landed: false,
        before: () => inner.delete("/k"),
      });
      await expect(
        withRetry(inner, { sleep: async () => {} }).set("/k", value, { ifMatch: etag }),
      ).rejects.toMatchObject({ code: "ConditionFailed" });
    });

    it("retries an unconditional write by sending it again", async () => {
      const inner = new ScriptedStore();
      inner.failPut.push({ error: unavailable(), landed: true });
      await withRetry(inner, { sleep: async () => {} }).set("/k", value);
      expect(inner.puts).toBe(2);
    });
  });

  it("restarts a failed listing and yields every key once", async () => {
    const inner = new MemoryStore();
    const names = Array.from(
      { length: 50 },
      (_, i) => `/l/${String(i).padStart(2, "0")}` as AbsolutePath,
    );
    for (const key of names) await inner.set(key, textToBytes("x"));
    // 60 % of listings fail part-way: most runs need a restart or two.
    const faulty = new FaultStore(inner, { seed: 3, rate: 0.6, kinds: ["unavailable"] });
    const store = withRetry(faulty, { retries: 20, sleep: async () => {} });
    for (let run = 0; run < 10; run++) {
      const keys: string[] = [];
      for await (const key of store.list("/l/")) keys.push(key);
      expect(keys.sort()).toEqual(names);
    }
    expect(faulty.injected.unavailable).toBeGreaterThan(3);
  });

  it("copies 1,000 keys through stores failing 10 % of calls, every value verified", async () => {
    const sourceData = new MemoryStore();
    const keys = Array.from(
      { length: 1000 },
      (_, i) => `/copy/c/${Math.floor(i / 100)}/${i % 100}` as AbsolutePath,
    );
    for (const [i, key] of keys.entries())
      await sourceData.set(key, patternBytes(100 + (i % 50) * 37, i + 1));
    const target = new MemoryStore();
    const faultySource = new FaultStore(sourceData, { seed: 11, rate: 0.1 });
    const faultyTarget = new FaultStore(target, { seed: 12, rate: 0.1 });
    const options = {
      retries: 8,
      baseDelayMs: 1,
      maxDelayMs: 20,
      budget: Number.POSITIVE_INFINITY,
    };
    const source = withRetry(faultySource, options);
    const sink = withRetry(faultyTarget, options);
    const listed = await listAll(source, "/copy/");
    expect(listed).toEqual([...keys].sort());
    let next = 0;
    const lane = async () => {
      while (next < listed.length) {
        const key = listed[next++] as AbsolutePath;
        const value = await source.get(key);
        if (value === undefined) throw new Error(`${key} vanished`);
        // Half the keys are created conditionally, exercising the re-check after lost replies.
        await sink.set(key, value, next % 2 ? { ifNoneMatch: "*" } : {});
      }
    };
    await Promise.all(Array.from({ length: 16 }, lane));
    expect(target.map.size).toBe(1000);
    const wrong = keys.filter((key, i) => {
      const copied = target.map.get(key);
      return (
        copied === undefined ||
        !Buffer.from(copied).equals(patternBytes(100 + (i % 50) * 37, i + 1))
      );
    });
    expect(wrong).toEqual([]);
    expect(faultySource.faults + faultyTarget.faults).toBeGreaterThan(150);
    expect(faultyTarget.injected.reset).toBeGreaterThan(10);
  });
});
