import { describe, expect, it } from "vitest";
import { withCache } from "../../src/adapters/cache.js";
import { compose } from "../../src/adapters/compose.js";
import { withConcurrency } from "../../src/adapters/concurrency.js";
import { ForwardingStore } from "../../src/adapters/forward.js";
import { withLogging } from "../../src/adapters/logging.js";
import { type MetricsStore, withMetrics } from "../../src/adapters/metrics.js";
import { withPrefix } from "../../src/adapters/prefix.js";
import { withReadOnly } from "../../src/adapters/read-only.js";
import { withRetry } from "../../src/adapters/retry.js";
import { withTimeout } from "../../src/adapters/timeout.js";
import { abortError } from "../../src/errors.js";
import { textToBytes } from "../../src/helpers.js";
import type { AbsolutePath } from "../../src/keys.js";
import type { CallOptions, Store } from "../../src/store.js";
import { MemoryStore } from "../../src/stores/memory.js";
import { describeConformance } from "../../src/testing/vitest.js";
import { FaultStore } from "../support/faults.js";

/** Every in-process adapter, in the order compose's documentation gives. */
function fullStack(inner: Store, log: (line: string) => void = () => {}) {
  return compose(
    inner,
    (s) => withPrefix(s, "/stack/"),
    (s) => withTimeout(s, { ms: 10_000 }),
    (s) => withConcurrency(s, { limit: 8 }),
    (s) => withRetry(s, { retries: 10, baseDelayMs: 1, budget: Number.POSITIVE_INFINITY }),
    (s) => withMetrics(s),
    (s) => withLogging(s, { log }),
    (s) => withCache(s, { maxBytes: 8 << 20 }),
  );
}

describeConformance("every adapter stacked over MemoryStore", () => fullStack(new MemoryStore()), {
  tier: "heavy",
});
describeConformance("every adapter stacked over a FaultStore failing 10 % of calls", () =>
  fullStack(new FaultStore(new MemoryStore(), { seed: 5, rate: 0.1 })),
);
const shared = new Map<string, Uint8Array>();
describeConformance(
  "every adapter and withReadOnly stacked over MemoryStore",
  () => withReadOnly(fullStack(new MemoryStore(shared))),
  { writer: () => withPrefix(new MemoryStore(shared), "/stack/") },
);

/** Hangs its first `hangs` gets until aborted. */
class HangingStore extends ForwardingStore {
  calls = 0;
  constructor(public hangs: number) {
    super(new MemoryStore(new Map([["/k", textToBytes("v")]])));
  }
  override get(key: AbsolutePath, options?: CallOptions) {
    this.calls += 1;
    if (this.calls > this.hangs) return this.inner.get(key, options);
    return new Promise<undefined>((_, reject) => {
      options?.signal?.addEventListener("abort", () =>
        reject(abortError(options.signal as AbortSignal)),
      );
    });
  }
}

describe("compose", () => {
  it("applies adapters from the store outwards", async () => {
    const inner = new MemoryStore();
    const store = compose(
      inner,
      (s) => withPrefix(s, "/outer/"),
      (s) => withPrefix(s, "/inner/"),
    );
    await store.set("/k", textToBytes("x"));
    expect([...inner.map.keys()]).toEqual(["/outer/inner/k"]);
    expect(compose(inner)).toBe(inner);
  });

  it("returns the outermost adapter's type", async () => {
    const store: MetricsStore = compose(
      new MemoryStore(),
      (s) => withCache(s),
      (s) => withMetrics(s),
    );
    await store.get("/a");
    expect(store.snapshot().calls.get).toBe(1);
  });

  it("pins the order: timeout inside retry gives each attempt its own deadline", async () => {
    const inner = new HangingStore(2);
    const good = compose(
      inner,
      (s) => withTimeout(s, { ms: 20 }),
      (s) => withRetry(s, { baseDelayMs: 1 }),
    );
    expect(await good.get("/k")).toEqual(textToBytes("v"));
    expect(inner.calls).toBe(3);

    // The other way round, one deadline covers every attempt: the hung first attempt uses it up.
    const wrong = compose(
      new HangingStore(2),
      (s) => withRetry(s, { baseDelayMs: 1 }),
      (s) => withTimeout(s, { ms: 20 }),
    );
    await expect(wrong.get("/k")).rejects.toMatchObject({ code: "Timeout" });
  });

  it("pins the order: cache outside metrics keeps hits out of the counts", async () => {
    const data = new Map([["/k", textToBytes("12345")]]);
    let metrics: MetricsStore | undefined;
    const cacheOutside = compose(
      new MemoryStore(data),
      (s) => (metrics = withMetrics(s)),
      (s) => withCache(s),
    );
    for (let i = 0; i < 10; i++) await cacheOutside.get("/k");
    expect(metrics?.snapshot()).toMatchObject({ bytesRead: 5, calls: { get: 1 } });

    const cacheInside = compose(
      new MemoryStore(data),
      (s) => withCache(s),
      (s) => withMetrics(s),
    );
    for (let i = 0; i < 10; i++) await cacheInside.get("/k");
    expect(cacheInside.snapshot()).toMatchObject({ bytesRead: 50, calls: { get: 10 } });
  });

  it("logs keys as the caller names them when the prefix is innermost", async () => {
    const lines: string[] = [];
    const inner = new MemoryStore();
    const store = fullStack(inner, (line) => lines.push(line));
    await store.set("/a/zarr.json", textToBytes("{}"));
    expect([...inner.map.keys()]).toEqual(["/stack/a/zarr.json"]);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/\] set\(\/a\/zarr\.json, len=2\) -> ok in /);
  });

  it("derives capabilities through the whole stack", () => {
    const inner = new MemoryStore();
    expect(fullStack(inner).capabilities).toEqual(inner.capabilities);
    expect(withReadOnly(fullStack(inner)).capabilities.write).toBe(false);
  });
});
