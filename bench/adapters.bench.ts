/**
 * Per-call overhead of each adapter over MemoryStore, and of the full stack: `get` of a 1 KiB
 * value, awaited one after the other, every contender alternating in the same run. The added
 * cost is the median time per call minus the bare MemoryStore's median.
 *
 * Run: `npm run bench adapters` (or `node --import tsx bench/adapters.bench.ts`).
 */
import { withCache } from "../src/adapters/cache.js";
import { compose } from "../src/adapters/compose.js";
import { withConcurrency } from "../src/adapters/concurrency.js";
import { ForwardingStore } from "../src/adapters/forward.js";
import { withLogging } from "../src/adapters/logging.js";
import { withMetrics } from "../src/adapters/metrics.js";
import { withPrefix } from "../src/adapters/prefix.js";
import { withReadOnly } from "../src/adapters/read-only.js";
import { withRetry } from "../src/adapters/retry.js";
import { withSync } from "../src/adapters/sync.js";
import { withTimeout } from "../src/adapters/timeout.js";
import type { AbsolutePath } from "../src/keys.js";
import type { Store } from "../src/store.js";
import { MemoryStore } from "../src/stores/memory.js";
import { type Contender, compare, printTable, type Result } from "./lib.js";

const CALLS = 50_000;
const ROUNDS = 7;
const KEY: AbsolutePath = "/a/c/0/0";
const VALUE = new Uint8Array(1024).fill(7);

function memory(): MemoryStore {
  return new MemoryStore(
    new Map([
      [KEY, VALUE],
      [`/sub${KEY}`, VALUE],
    ]),
  );
}

/** A contender doing CALLS awaited gets of one key. */
function getLoop(name: string, store: Store, key: AbsolutePath = KEY): Contender {
  return {
    name,
    run: async () => {
      for (let i = 0; i < CALLS; i++) await store.get(key);
      return CALLS;
    },
  };
}

const noop = () => {};

function fullStack(inner: Store): Store {
  return compose(
    inner,
    (s) => withPrefix(s, "/sub/"),
    (s) => withTimeout(s, { ms: 10_000 }),
    (s) => withConcurrency(s, { limit: 16 }),
    (s) => withRetry(s),
    (s) => withMetrics(s),
    (s) => withLogging(s, { log: noop }),
    (s) => withCache(s, { maxBytes: 1 << 20 }),
  );
}

function fullStackUncached(inner: Store): Store {
  return compose(
    inner,
    (s) => withPrefix(s, "/sub/"),
    (s) => withTimeout(s, { ms: 10_000 }),
    (s) => withConcurrency(s, { limit: 16 }),
    (s) => withRetry(s),
    (s) => withMetrics(s),
    (s) => withLogging(s, { log: noop }),
  );
}

// A cache that holds one entry, read with two alternating keys: every get misses, fetches,
// inserts and evicts.
function cacheMissLoop(): Contender {
  const inner = new MemoryStore(
    new Map([
      ["/x", VALUE],
      ["/y", VALUE],
    ]),
  );
  const cache = withCache(inner, { maxEntries: 1 });
  return {
    name: "withCache miss",
    run: async () => {
      for (let i = 0; i < CALLS; i += 2) {
        await cache.get("/x");
        await cache.get("/y");
      }
      return CALLS;
    },
  };
}

function overheadTable(results: Result[], baseline: string): void {
  const base = results.find((r) => r.name === baseline)?.median ?? Number.NaN;
  const baseUs = 1e6 / base;
  const width = Math.max(...results.map((r) => r.name.length), 10);
  console.log(`\n## time per get (median of ${ROUNDS} rounds × ${CALLS} calls)`);
  console.log(`${"contender".padEnd(width)}  ${"µs/call".padStart(9)}  ${"added µs".padStart(9)}`);
  for (const r of results) {
    const us = 1e6 / r.median;
    const added = r.name === baseline ? "" : (us - baseUs).toFixed(3);
    console.log(`${r.name.padEnd(width)}  ${us.toFixed(3).padStart(9)}  ${added.padStart(9)}`);
  }
}

async function inProcess(): Promise<void> {
  const cached = withCache(memory());
  await cached.get(KEY);
  const stack = fullStack(memory());
  await stack.get(KEY);
  const contenders: Contender[] = [
    getLoop("MemoryStore", memory()),
    getLoop("ForwardingStore", new ForwardingStore(memory())),
    getLoop("withPrefix", withPrefix(memory(), "/sub/")),
    getLoop("withReadOnly", withReadOnly(memory())),
    getLoop("withMetrics", withMetrics(memory())),
    getLoop("withLogging text, no-op", withLogging(memory(), { log: noop })),
    getLoop("withLogging json, no-op", withLogging(memory(), { log: noop, format: "json" })),
    getLoop("withCache hit", cached),
    cacheMissLoop(),
    getLoop("withRetry (no failure)", withRetry(memory())),
    getLoop("withConcurrency 16", withConcurrency(memory(), { limit: 16 })),
    getLoop("withTimeout", withTimeout(memory(), { ms: 10_000 })),
    getLoop("withTimeout + caller signal", withTimeoutSignalled()),
    getLoop("full stack, cache hit", stack),
    getLoop("full stack without cache", fullStackUncached(memory())),
  ];
  const results = await compare(contenders, ROUNDS);
  printTable(
    "adapter get throughput over MemoryStore (1 KiB value)",
    "gets/s",
    results,
    "MemoryStore",
  );
  overheadTable(results, "MemoryStore");
}

// withTimeout where the caller passes its own signal too (AbortSignal.any per call).
function withTimeoutSignalled(): Store {
  const store = withTimeout(memory(), { ms: 10_000 });
  const signal = new AbortController().signal;
  return new (class extends ForwardingStore {
    override get(key: AbsolutePath) {
      return this.inner.get(key, { signal });
    }
  })(store);
}

// The synchronous face crosses a thread per call: measured apart, against the in-thread
// synchronous face MemoryStore offers natively.
async function synchronous(): Promise<void> {
  const native = memory().sync();
  const worker = withSync("memory://");
  worker.set(KEY, VALUE);
  const calls = 5_000;
  const loop = (name: string, get: (key: AbsolutePath) => unknown): Contender => ({
    name,
    run: async () => {
      for (let i = 0; i < calls; i++) get(KEY);
      return calls;
    },
  });
  const results = await compare(
    [
      loop("MemoryStore.sync()", (k) => native.get(k)),
      loop("withSync(memory://)", (k) => worker.get(k)),
    ],
    ROUNDS,
  );
  printTable("synchronous get (1 KiB value)", "gets/s", results, "MemoryStore.sync()");
  for (const r of results) console.log(`${r.name}: ${(1e6 / r.median).toFixed(2)} µs/call`);
  worker.close();
}

await inProcess();
await synchronous();
