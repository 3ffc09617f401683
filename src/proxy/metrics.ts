/**
 * `/metrics` in the Prometheus text format: requests by route kind and status, latency, bytes
 * served, and the caches' counters.
 */
import type { ProxyResponse } from "./http.js";

/** The counters the proxy's caches report at render time. */
/** One cache's counters. */
interface CacheCounters {
  hits: number;
  misses: number;
  joined: number;
  evictions: number;
  bytes: number;
  entries: number;
  maxBytes: number;
}

export interface MetricsSnapshot {
  chunks: CacheCounters;
  served: CacheCounters;
  metadata: { entries: number; reads: number; changes: number };
  inflight: number;
}

// Seconds; from a warm chunk (~1 ms) to a slow upstream.
const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Counts requests as they finish and renders everything for a scraper. */
export class MetricsRegistry {
  readonly #requests = new Map<string, number>();
  readonly #buckets = new Array<number>(BUCKETS.length).fill(0);
  #count = 0;
  #seconds = 0;
  #bytes = 0;

  /** A timestamp for `observe`, in milliseconds. */
  now(): number {
    return performance.now();
  }

  /** Records one finished request. */
  observe(kind: string, response: ProxyResponse, startedMs: number): void {
    const key = `${kind}|${response.status}`;
    this.#requests.set(key, (this.#requests.get(key) ?? 0) + 1);
    const seconds = (performance.now() - startedMs) / 1000;
    this.#count++;
    this.#seconds += seconds;
    for (let i = 0; i < BUCKETS.length; i++) {
      if (seconds <= (BUCKETS[i] as number)) this.#buckets[i] = (this.#buckets[i] as number) + 1;
    }
    this.#bytes += response.body?.byteLength ?? 0;
  }

  /** The Prometheus text exposition. */
  render(snapshot: MetricsSnapshot): string {
    const lines: string[] = [];
    const metric = (name: string, type: string, help: string) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    };
    metric(
      "zarrstore_proxy_requests_total",
      "counter",
      "Requests answered, by route kind and status.",
    );
    for (const [key, count] of [...this.#requests].sort()) {
      const [kind, status] = key.split("|");
      lines.push(`zarrstore_proxy_requests_total{kind="${kind}",status="${status}"} ${count}`);
    }
    metric("zarrstore_proxy_request_seconds", "histogram", "Time to answer a request.");
    for (let i = 0; i < BUCKETS.length; i++) {
      lines.push(`zarrstore_proxy_request_seconds_bucket{le="${BUCKETS[i]}"} ${this.#buckets[i]}`);
    }
    lines.push(`zarrstore_proxy_request_seconds_bucket{le="+Inf"} ${this.#count}`);
    lines.push(`zarrstore_proxy_request_seconds_sum ${this.#seconds}`);
    lines.push(`zarrstore_proxy_request_seconds_count ${this.#count}`);
    metric("zarrstore_proxy_response_bytes_total", "counter", "Body bytes sent.");
    lines.push(`zarrstore_proxy_response_bytes_total ${this.#bytes}`);
    metric("zarrstore_proxy_inflight_requests", "gauge", "Requests in progress.");
    lines.push(`zarrstore_proxy_inflight_requests ${snapshot.inflight}`);
    const c = snapshot.chunks;
    const s = snapshot.served;
    const counters: [string, number, string][] = [
      ["served_cache_hits_total", s.hits, "Served chunks answered from the assembled-chunk cache."],
      ["served_cache_misses_total", s.misses, "Served chunks assembled from source chunks."],
      ["source_cache_hits_total", c.hits, "Source chunks found in the cache."],
      ["source_cache_misses_total", c.misses, "Source chunks read and decoded upstream."],
      ["source_cache_joined_total", c.joined, "Requests that joined a read already in flight."],
      ["source_cache_evictions_total", c.evictions, "Source chunks evicted to stay in bounds."],
      ["metadata_reads_total", snapshot.metadata.reads, "Metadata documents read upstream."],
      [
        "metadata_changes_total",
        snapshot.metadata.changes,
        "Metadata found changed on revalidation.",
      ],
    ];
    for (const [name, value, help] of counters) {
      metric(`zarrstore_proxy_${name}`, "counter", help);
      lines.push(`zarrstore_proxy_${name} ${value}`);
    }
    const gauges: [string, number, string][] = [
      ["served_cache_bytes", s.bytes, "Bytes of assembled served chunks held."],
      ["source_cache_bytes", c.bytes, "Bytes of decoded source chunks held."],
      ["source_cache_max_bytes", c.maxBytes, "The source cache's bound."],
      ["source_cache_entries", c.entries, "Source chunks held."],
      ["metadata_cache_entries", snapshot.metadata.entries, "Metadata documents held."],
    ];
    for (const [name, value, help] of gauges) {
      metric(`zarrstore_proxy_${name}`, "gauge", help);
      lines.push(`zarrstore_proxy_${name} ${value}`);
    }
    return `${lines.join("\n")}\n`;
  }
}
