import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compose } from "../../src/adapters/compose.js";
import { withConcurrency } from "../../src/adapters/concurrency.js";
import { withMetrics } from "../../src/adapters/metrics.js";
import { type RetryEvent, withRetry } from "../../src/adapters/retry.js";
import { withTimeout } from "../../src/adapters/timeout.js";
import type { Store } from "../../src/store.js";
import { HttpStore } from "../../src/stores/http.node.js";
import { describeConformance } from "../../src/testing/vitest.js";
import {
  bytesFor,
  copyKeys,
  type FaultHttpServer,
  inParallel,
  sameBytes,
  startFaultHttpServer,
} from "../support/faults.js";

const KEYS = copyKeys();

describe("the fault HTTP server with faults off", () => {
  let server: FaultHttpServer;
  beforeAll(async () => {
    server = await startFaultHttpServer();
    server.faults = false;
  });
  afterAll(() => server?.stop());
  // The server itself must be a correct object server before its faults mean anything.
  describeConformance(
    "HttpStore over the fault server (no faults)",
    () => new HttpStore(server.url, { writable: true, conditionalWrite: true }),
  );
});

describe("a 1,000-key copy through an HTTP server failing 10 % of requests", () => {
  let server: FaultHttpServer;
  beforeAll(async () => {
    server = await startFaultHttpServer({ seed: 42, rate: 0.1, retryAfterSeconds: 0, slowMs: 30 });
  });
  afterAll(() => server?.stop());

  it("completes with every value verified, retrying only what failed", async () => {
    const retries: RetryEvent[] = [];
    const http = new HttpStore(server.url, { writable: true, conditionalWrite: true });
    const store = compose(
      http as Store,
      (s) => withTimeout(s, { ms: 5_000 }),
      (s) => withConcurrency(s, { limit: 16 }),
      (s) =>
        withRetry(s, {
          retries: 8,
          baseDelayMs: 2,
          maxDelayMs: 50,
          budget: Number.POSITIVE_INFINITY,
          onRetry: (e) => retries.push(e),
        }),
      (s) => withMetrics(s),
    );
    // Write every key. Half are create-only: a reset after such a PUT landed leaves its outcome
    // unknown, and sending it again blindly would fail with 412 and end the copy; the retry
    // adapter re-checks instead.
    await inParallel(KEYS, 16, async (key, i) => {
      await store.set(key, bytesFor(i), i % 2 ? { ifNoneMatch: "*" } : {});
    });
    // …then read every key back through the same faults.
    const wrong: string[] = [];
    await inParallel(KEYS, 16, async (key, i) => {
      if (!sameBytes(await store.get(key), bytesFor(i))) wrong.push(key);
    });
    expect(wrong).toEqual([]);
    // What the server holds is exactly what was written.
    expect(server.objects.size).toBe(1000);
    const stored = KEYS.filter(
      (key, i) => !sameBytes(server.objects.get(key.slice(1)), bytesFor(i)),
    );
    expect(stored).toEqual([]);

    const { injected } = server.stats;
    expect(server.stats.requests).toBeGreaterThan(2000);
    for (const kind of ["unavailable", "rateLimited", "reset", "slow", "truncate"] as const) {
      expect(injected[kind], kind).toBeGreaterThan(10);
    }
    const codes = new Set(retries.map((e) => e.error.code));
    expect(codes).toEqual(new Set(["Unavailable", "RateLimited", "Integrity"]));
    const snapshot = store.snapshot();
    expect(snapshot.calls.set).toBe(1000);
    expect(snapshot.calls.get).toBe(1000);
    expect(snapshot.errors).toEqual({});
    expect(snapshot.bytesRead).toBe(KEYS.reduce((n, _, i) => n + bytesFor(i).byteLength, 0));
    await http.close();
  }, 60_000);
});

describe("withRetry over HttpStore", () => {
  let server: FaultHttpServer;
  beforeAll(async () => {
    // Every request is answered 429 with `Retry-After: 1` until faults are switched off.
    server = await startFaultHttpServer({ rate: 1, kinds: ["rateLimited"], retryAfterSeconds: 1 });
    server.objects.set("k", new Uint8Array([1, 2, 3]));
  });
  afterAll(() => server?.stop());

  it("waits the Retry-After the server sends before trying again", async () => {
    const retries: RetryEvent[] = [];
    const http = new HttpStore(server.url);
    const store = withRetry(http, { baseDelayMs: 1, onRetry: (e) => retries.push(e) });
    const started = performance.now();
    const pending = store.get("/k");
    await expect.poll(() => retries.length).toBe(1);
    server.faults = false;
    expect(await pending).toEqual(new Uint8Array([1, 2, 3]));
    expect(retries[0]?.error).toMatchObject({
      code: "RateLimited",
      status: 429,
      retryAfterMs: 1000,
    });
    expect(retries[0]?.delayMs).toBeGreaterThanOrEqual(1000);
    expect(performance.now() - started).toBeGreaterThanOrEqual(990);
    await http.close();
  });
});

describe("withTimeout over HttpStore", () => {
  let server: FaultHttpServer;
  beforeAll(async () => {
    server = await startFaultHttpServer({ rate: 1, kinds: ["slow"], slowMs: 1_000 });
    server.objects.set("slow", new Uint8Array(10));
  });
  afterAll(() => server?.stop());

  it("aborts the HTTP request when the deadline passes", async () => {
    const http = new HttpStore(server.url);
    const store = withTimeout(http, { ms: 100 });
    const started = performance.now();
    await expect(store.get("/slow")).rejects.toMatchObject({ code: "Timeout", retryable: true });
    expect(performance.now() - started).toBeLessThan(900);
    // The server saw its client leave before the answer: the request was cancelled, not abandoned.
    await expect.poll(() => server.stats.abandoned, { timeout: 2_000 }).toBe(1);
    await http.close();
  });
});
