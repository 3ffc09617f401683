import { getEventListeners } from "node:events";
import { describe, expect, it } from "vitest";
import { whenAborted } from "../../src/abort.js";
import { ForwardingStore } from "../../src/adapters/forward.js";
import { withRetry } from "../../src/adapters/retry.js";
import { withTimeout } from "../../src/adapters/timeout.js";
import { abortError } from "../../src/errors.js";
import { listAll, textToBytes } from "../../src/helpers.js";
import type { AbsolutePath } from "../../src/keys.js";
import type { CallOptions, SetOptions, SetResult } from "../../src/store.js";
import { MemoryStore } from "../../src/stores/memory.js";
import { describeConformance } from "../../src/testing/vitest.js";

describeConformance("withTimeout over MemoryStore", () =>
  withTimeout(new MemoryStore(), { ms: 5_000 }),
);

/**
 * Hangs the first `hangs` calls until their signal aborts (like a request on a dead
 * connection), recording each abort it sees; later calls go through.
 */
class HangingStore extends ForwardingStore {
  hangs = Number.POSITIVE_INFINITY;
  calls = 0;
  readonly aborts: unknown[] = [];
  /** Ignore signals altogether (a store that cannot cancel). */
  deaf = false;

  constructor() {
    super(new MemoryStore(new Map([["/k", textToBytes("v")]])));
  }

  #hang<T>(signal: AbortSignal | undefined, pass: () => Promise<T>): Promise<T> {
    this.calls += 1;
    if (this.calls > this.hangs) return pass();
    return new Promise<T>((_, reject) => {
      if (this.deaf) return;
      // Calls of one time slice share a signal: one listener for all, as the library's stores do.
      if (signal)
        whenAborted(signal, () => {
          this.aborts.push(signal.reason);
          reject(abortError(signal));
        });
    });
  }

  override get(key: AbsolutePath, options?: CallOptions) {
    return this.#hang(options?.signal, () => this.inner.get(key, options));
  }

  override put(key: AbsolutePath, value: Uint8Array, options?: SetOptions): Promise<SetResult> {
    return this.#hang(options?.signal, () => this.inner.put(key, value, options));
  }

  override async *list(_prefix?: string, options?: CallOptions): AsyncIterable<AbsolutePath> {
    yield "/first";
    await this.#hang(options?.signal, async () => undefined);
    yield "/second";
  }
}

describe("withTimeout", () => {
  it("rejects with Timeout and aborts the inner request", async () => {
    const inner = new HangingStore();
    const store = withTimeout(inner, { ms: 30 });
    const started = performance.now();
    await expect(store.get("/k")).rejects.toMatchObject({
      code: "Timeout",
      retryable: true,
      operation: "get",
      key: "/k",
    });
    expect(performance.now() - started).toBeGreaterThanOrEqual(25);
    expect(inner.aborts).toHaveLength(1);
    expect((inner.aborts[0] as Error).name).toBe("TimeoutError");
  });

  it("gives each of many concurrent calls at least its deadline, then aborts each", async () => {
    const inner = new HangingStore();
    const store = withTimeout(inner, { ms: 40 });
    const outcomes = Array.from({ length: 20 }, async (_, i) => {
      await new Promise((resolve) => setTimeout(resolve, i % 4)); // starts spread over 3 ms
      const started = performance.now();
      const error = await store.get("/k").catch((e: unknown) => e);
      return { error, waited: performance.now() - started };
    });
    for (const { error, waited } of await Promise.all(outcomes)) {
      expect(error).toMatchObject({ code: "Timeout" });
      expect(waited).toBeGreaterThanOrEqual(39);
    }
    expect(inner.aborts).toHaveLength(20);
  });

  it("keeps write conditions and aborts a hung write", async () => {
    const inner = new HangingStore();
    const store = withTimeout(inner, { ms: 20 });
    await expect(store.set("/w", textToBytes("x"), { ifNoneMatch: "*" })).rejects.toMatchObject({
      code: "Timeout",
      operation: "set",
    });
    expect(inner.aborts).toHaveLength(1);
    inner.hangs = 0;
    await store.set("/w", textToBytes("x"), { ifNoneMatch: "*" });
    await expect(store.set("/w", textToBytes("y"), { ifNoneMatch: "*" })).rejects.toMatchObject({
      code: "ConditionFailed",
    });
  });

  it("times out even when the inner store ignores the signal", async () => {
    const inner = new HangingStore();
    inner.deaf = true;
    await expect(withTimeout(inner, { ms: 20 }).get("/k")).rejects.toMatchObject({
      code: "Timeout",
    });
  });

  it("combines the caller's signal: the caller's abort is Aborted and reaches the inner store", async () => {
    const inner = new HangingStore();
    const store = withTimeout(inner, { ms: 10_000 });
    const controller = new AbortController();
    const pending = store.get("/k", { signal: controller.signal });
    setTimeout(() => controller.abort(), 10);
    await expect(pending).rejects.toMatchObject({ code: "Aborted" });
    expect(inner.aborts).toHaveLength(1);
    const already = AbortSignal.abort();
    await expect(store.get("/k", { signal: already })).rejects.toMatchObject({ code: "Aborted" });
    expect(inner.calls).toBe(1);
  });

  it("leaves no listener per call on a long-lived caller signal", async () => {
    // The adapter links the caller's signal through one shared listener instead of
    // AbortSignal.any (which keeps one entry per call on the caller's signal, nodejs/node#55351).
    const store = withTimeout(new MemoryStore(new Map([["/k", textToBytes("v")]])), { ms: 1_000 });
    const shutdown = new AbortController();
    for (let i = 0; i < 1_000; i++) await store.get("/k", { signal: shutdown.signal });
    await expect(store.get("/missing", { signal: shutdown.signal })).resolves.toBeUndefined();
    expect(getEventListeners(shutdown.signal, "abort")).toHaveLength(0);
  });

  it("lets calls that finish in time through, and clears its timers", async () => {
    const store = withTimeout(new MemoryStore(new Map([["/k", textToBytes("v")]])), { ms: 50 });
    for (let i = 0; i < 100; i++) expect(await store.get("/k")).toEqual(textToBytes("v"));
    // Had a timer survived, it would abort nothing but still fire: wait past the deadline.
    await new Promise((resolve) => setTimeout(resolve, 80));
  });

  it("bounds each step of a listing, not the whole listing", async () => {
    const inner = new HangingStore();
    const store = withTimeout(inner, { ms: 30 });
    const seen: string[] = [];
    const run = (async () => {
      for await (const key of store.list("/")) seen.push(key);
    })();
    await expect(run).rejects.toMatchObject({ code: "Timeout", operation: "list" });
    expect(seen).toEqual(["/first"]);
    expect(inner.aborts).toHaveLength(1);

    const slowConsumer = withTimeout(
      new MemoryStore(
        new Map([
          ["/a", textToBytes("1")],
          ["/b", textToBytes("2")],
        ]),
      ),
      { ms: 20 },
    );
    const keys: string[] = [];
    for await (const key of slowConsumer.list("/")) {
      keys.push(key);
      await new Promise((resolve) => setTimeout(resolve, 40)); // longer than the deadline
    }
    expect(keys).toEqual(["/a", "/b"]);
    expect(await listAll(slowConsumer)).toEqual(["/a", "/b"]);
  });

  it("inside withRetry, a hung attempt is retried with a fresh deadline", async () => {
    const inner = new HangingStore();
    inner.hangs = 2;
    const store = withRetry(withTimeout(inner, { ms: 20 }), { baseDelayMs: 1 });
    expect(await store.get("/k")).toEqual(textToBytes("v"));
    expect(inner.calls).toBe(3);
    expect(inner.aborts).toHaveLength(2);
  });

  it("rejects a deadline that is not a positive number", () => {
    for (const ms of [0, -1, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => withTimeout(new MemoryStore(), { ms })).toThrow(/positive/);
    }
  });
});
