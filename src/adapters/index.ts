/**
 * Adapters: stores that wrap a store to add one behaviour each. They run in every runtime;
 * the synchronous face `withSync` needs Node and lives in `zarrstore/sync`.
 */
export { type CacheOptions, type CacheStats, CacheStore, withCache } from "./cache.js";
export { compose } from "./compose.js";
export { type ConcurrencyOptions, ConcurrencyStore, withConcurrency } from "./concurrency.js";
export { type Adapter, CONTRACT_MEMBERS, ForwardingStore } from "./forward.js";
export {
  formatUsageJson,
  formatUsageText,
  type LoggingOptions,
  LoggingStore,
  withLogging,
} from "./logging.js";
export {
  LATENCY_BUCKETS,
  type LatencyHistogram,
  type MetricsOptions,
  type MetricsSnapshot,
  MetricsStore,
  withMetrics,
} from "./metrics.js";
export {
  type Clock,
  OBSERVED_OPERATIONS,
  type ObservedOperation,
  ObservingStore,
  preciseClock,
  type UsageEvent,
  type UsageHook,
  withObserver,
} from "./observe.js";
export { PrefixStore, withPrefix } from "./prefix.js";
export { ReadOnlyStore, withReadOnly } from "./read-only.js";
export { type RetryEvent, type RetryOptions, RetryStore, withRetry } from "./retry.js";
export { type TimeoutOptions, TimeoutStore, withTimeout } from "./timeout.js";
