import type { Store } from "../store.js";
import type { Adapter } from "./forward.js";

/**
 * Stacks adapters over a store: the first adapter wraps the store, each next one wraps the
 * stack so far, and the last is what callers talk to. `compose(s, a, b)` is `b(a(s))`.
 *
 * The order matters. From the store outwards, the order that works:
 *
 * 1. `withPrefix`: inside everything, so logs, metrics and cache keys name keys as callers do.
 * 2. `withTimeout`: bounds each attempt on the wire, so a hung request becomes a retryable
 *    `Timeout`. Outside `withRetry` it would bound all attempts together instead.
 * 3. `withConcurrency`: inside the retry, so a call sleeping between attempts holds no slot;
 *    outside the timeout, so time spent queueing does not count against the deadline.
 * 4. `withRetry`: retries what the layers below report as retryable.
 * 5. `withMetrics`, `withLogging`: outside the retry they see calls as the application makes
 *    them (one event per call, its total latency); inside it, one per attempt.
 * 6. `withCache`: outside metrics and logging when hits should not count as store traffic;
 *    inside them when every read the application makes should.
 * 7. `withReadOnly`: outermost, so a rejected write touches nothing.
 *
 * @example
 * const store = compose(
 *   await openStore("swift://container/data.zarr"),
 *   (s) => withTimeout(s, { ms: 10_000 }),
 *   (s) => withConcurrency(s, { limit: 16 }),
 *   (s) => withRetry(s, { retries: 4 }),
 *   (s) => withMetrics(s),
 *   (s) => withCache(s, { maxBytes: 256 * 1024 * 1024 }),
 * );
 */
export function compose(store: Store): Store;
export function compose<S extends Store>(store: Store, ...adapters: [...Adapter[], Adapter<S>]): S;
export function compose(store: Store, ...adapters: Adapter[]): Store {
  let stack = store;
  for (const adapter of adapters) stack = adapter(stack);
  return stack;
}
