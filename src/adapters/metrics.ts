import type { StoreErrorCode } from "../errors.js";
import type { Store } from "../store.js";
import {
  type Clock,
  OBSERVED_OPERATIONS,
  type ObservedOperation,
  ObservingStore,
  preciseClock,
  type UsageEvent,
} from "./observe.js";

/**
 * Latency bucket bounds in seconds (upper, inclusive): 100 µs for in-memory calls up to 10 s
 * for slow object stores, about ×2.5 apart.
 */
export const LATENCY_BUCKETS: readonly number[] = Object.freeze([
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
]);

/** A latency histogram: `counts[i]` calls took at most `LATENCY_BUCKETS[i]` seconds and more than the bound before; the last count is over the last bound. */
export interface LatencyHistogram {
  counts: number[];
  count: number;
  sumSeconds: number;
}

/** Everything `withMetrics` has counted since it was made or last reset. */
export interface MetricsSnapshot {
  /** Bytes returned by `get` and `getRange`. */
  bytesRead: number;
  /** Bytes of values written by successful `set` and `put` calls. */
  bytesWritten: number;
  /** Reads (`get`, `getRange`, `stat`) that found no value. */
  misses: number;
  /** Keys returned by `list`. */
  keysListed: number;
  /** Calls per operation, finished ones (failed included). */
  calls: Record<ObservedOperation, number>;
  /** Failed calls by error code. */
  errors: Partial<Record<StoreErrorCode, number>>;
  /** Per-operation latency. */
  latency: Record<ObservedOperation, LatencyHistogram>;
}

/** Options for `withMetrics`. */
export interface MetricsOptions {
  /** Prefix of the Prometheus metric names (default `zarrstore`). */
  namespace?: string;
  /** Labels added to every Prometheus sample, e.g. `{store: "swift"}`. */
  labels?: Record<string, string>;
  /** Milliseconds, for latencies (default: performance.now based). */
  clock?: Clock;
}

/**
 * Counts what passes through: bytes read and written, calls per operation, misses, errors by
 * code and a latency histogram per operation. Read it with `snapshot()`, zero it with
 * `reset()`, or expose it with `prometheus()`.
 */
export class MetricsStore extends ObservingStore {
  #state: MetricsSnapshot = emptySnapshot();
  readonly #namespace: string;
  readonly #labels: string;

  constructor(inner: Store, options: MetricsOptions = {}) {
    let record: (event: UsageEvent) => void = () => {};
    super(inner, (event) => record(event), options.clock ?? preciseClock);
    record = (event) => this.#record(event);
    this.#namespace = options.namespace ?? "zarrstore";
    this.#labels = Object.entries(options.labels ?? {})
      .map(([name, value]) => `${name}="${escapeLabel(value)}"`)
      .join(",");
  }

  /** A copy of every counter now. */
  snapshot(): MetricsSnapshot {
    return structuredClone(this.#state);
  }

  /** Sets every counter back to zero. */
  reset(): void {
    this.#state = emptySnapshot();
  }

  /** The counters in the Prometheus text exposition format (version 0.0.4). */
  prometheus(): string {
    const s = this.#state;
    const n = this.#namespace;
    const out: string[] = [];
    const sample = (name: string, labels: string, value: number) => {
      const all = [this.#labels, labels].filter(Boolean).join(",");
      out.push(`${name}${all ? `{${all}}` : ""} ${value}`);
    };
    const header = (name: string, type: string, help: string) => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    };
    header(`${n}_bytes_read_total`, "counter", "Bytes returned by get and getRange.");
    sample(`${n}_bytes_read_total`, "", s.bytesRead);
    header(`${n}_bytes_written_total`, "counter", "Bytes of values written by set and put.");
    sample(`${n}_bytes_written_total`, "", s.bytesWritten);
    header(`${n}_misses_total`, "counter", "Reads that found no value.");
    sample(`${n}_misses_total`, "", s.misses);
    header(`${n}_keys_listed_total`, "counter", "Keys returned by list.");
    sample(`${n}_keys_listed_total`, "", s.keysListed);
    header(`${n}_calls_total`, "counter", "Store calls by operation.");
    for (const op of OBSERVED_OPERATIONS)
      sample(`${n}_calls_total`, `operation="${op}"`, s.calls[op]);
    header(`${n}_errors_total`, "counter", "Failed store calls by error code.");
    for (const [code, count] of Object.entries(s.errors)) {
      sample(`${n}_errors_total`, `code="${code}"`, count);
    }
    const hist = `${n}_call_duration_seconds`;
    header(hist, "histogram", "Store call latency by operation.");
    for (const op of OBSERVED_OPERATIONS) {
      const h = s.latency[op];
      let cumulative = 0;
      for (const [i, bound] of LATENCY_BUCKETS.entries()) {
        cumulative += h.counts[i] ?? 0;
        sample(`${hist}_bucket`, `operation="${op}",le="${bound}"`, cumulative);
      }
      sample(`${hist}_bucket`, `operation="${op}",le="+Inf"`, h.count);
      sample(`${hist}_sum`, `operation="${op}"`, h.sumSeconds);
      sample(`${hist}_count`, `operation="${op}"`, h.count);
    }
    return `${out.join("\n")}\n`;
  }

  #record(event: UsageEvent): void {
    const s = this.#state;
    const op = event.operation;
    s.calls[op] += 1;
    if (event.outcome === "error") {
      const code = event.code ?? "Unexpected";
      s.errors[code] = (s.errors[code] ?? 0) + 1;
    } else if (event.outcome === "missing") {
      s.misses += 1;
    } else if (op === "get" || op === "getRange") {
      s.bytesRead += event.bytes ?? 0;
    } else if (op === "set") {
      s.bytesWritten += event.bytes ?? 0;
    }
    if (op === "list") s.keysListed += event.keys ?? 0;
    const seconds = event.durationMs / 1000;
    const h = s.latency[op];
    h.count += 1;
    h.sumSeconds += seconds;
    const bucket = bucketOf(seconds);
    h.counts[bucket] = (h.counts[bucket] ?? 0) + 1;
  }
}

/**
 * Counts bytes, calls, misses, errors and latencies of the calls through it.
 *
 * @example
 * const store = withMetrics(inner);
 * await zarr.get(array);
 * console.log(store.snapshot().bytesRead);
 * response.end(store.prometheus());
 */
export function withMetrics(inner: Store, options: MetricsOptions = {}): MetricsStore {
  return new MetricsStore(inner, options);
}

function emptySnapshot(): MetricsSnapshot {
  const perOperation = <T>(make: () => T) =>
    Object.fromEntries(OBSERVED_OPERATIONS.map((op) => [op, make()])) as Record<
      ObservedOperation,
      T
    >;
  return {
    bytesRead: 0,
    bytesWritten: 0,
    misses: 0,
    keysListed: 0,
    calls: perOperation(() => 0),
    errors: {},
    latency: perOperation(() => ({
      counts: new Array<number>(LATENCY_BUCKETS.length + 1).fill(0),
      count: 0,
      sumSeconds: 0,
    })),
  };
}

function bucketOf(seconds: number): number {
  for (let i = 0; i < LATENCY_BUCKETS.length; i++) {
    if (seconds <= (LATENCY_BUCKETS[i] as number)) return i;
  }
  return LATENCY_BUCKETS.length;
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}
