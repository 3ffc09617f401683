import { getEventListeners } from "node:events";
import { describe, expect, it } from "vitest";
import { whenAborted } from "../src/abort.js";
import { withCache } from "../src/adapters/cache.js";
import { withConcurrency } from "../src/adapters/concurrency.js";
import { withRetry } from "../src/adapters/retry.js";
import { withTimeout } from "../src/adapters/timeout.js";
import { isStoreError } from "../src/errors.js";
import type { Store } from "../src/store.js";
import { MemoryStore } from "../src/stores/memory.js";

describe("whenAborted", () => {
  it("puts one listener on a signal for any number of waiters and runs those still waiting", () => {
    const controller = new AbortController();
    const ran: number[] = [];
    const cancels = Array.from({ length: 50 }, (_, i) =>
      whenAborted(controller.signal, () => ran.push(i)),
    );
    expect(getEventListeners(controller.signal, "abort")).toHaveLength(1);
    for (const cancel of cancels.slice(0, 45)) cancel();
    controller.abort();
    expect(ran).toEqual([45, 46, 47, 48, 49]);
  });

  it("removes its listener when the last waiting call is done, and adds it again for the next", () => {
    const controller = new AbortController();
    const first = whenAborted(controller.signal, () => {});
    const second = whenAborted(controller.signal, () => {});
    first();
    expect(getEventListeners(controller.signal, "abort")).toHaveLength(1);
    second();
    second(); // a second call changes nothing
    expect(getEventListeners(controller.signal, "abort")).toHaveLength(0);
    let ran = false;
    whenAborted(controller.signal, () => {
      ran = true;
    });
    expect(getEventListeners(controller.signal, "abort")).toHaveLength(1);
    controller.abort();
    expect(ran).toBe(true);
  });

  it("runs the same callback once per registration, and nothing for a signal already aborted", () => {
    const controller = new AbortController();
    let count = 0;
    const callback = () => count++;
    whenAborted(controller.signal, callback);
    whenAborted(controller.signal, callback);
    controller.abort();
    expect(count).toBe(2);
    whenAborted(controller.signal, callback)();
    expect(count).toBe(2);
  });
});

/** A MemoryStore whose reads take a few milliseconds, so that calls overlap. */
class SlowStore extends MemoryStore {
  override async get(...args: Parameters<MemoryStore["get"]>) {
    await new Promise((resolve) => setTimeout(resolve, 3));
    return super.get(...args);
  }
}

describe("adapters under one caller signal shared by many calls (as zarrita passes it)", () => {
  it.each([
    ["withTimeout", (s: Store) => withTimeout(s, { ms: 5_000 })],
    ["withConcurrency", (s: Store) => withConcurrency(s, { limit: 4 })],
    ["withCache", (s: Store) => withCache(s, { maxBytes: 1 << 20 })],
    ["withRetry", (s: Store) => withRetry(s, { retries: 2 })],
  ] as const)("%s: no leak warning, and an abort still stops every call", async (_, wrap) => {
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.name);
    process.on("warning", onWarning);
    try {
      const inner = new SlowStore();
      await inner.set("/a", Uint8Array.of(1, 2, 3));
      const store = wrap(inner);
      const controller = new AbortController();
      const { signal } = controller;
      const keys = Array.from(
        { length: 60 },
        (_, i) => (i % 2 ? "/a" : `/missing/${i}`) as `/${string}`,
      );
      const values = await Promise.all(keys.map((key) => store.get(key, { signal })));
      expect(values.filter((v) => v !== undefined)).toHaveLength(30);
      expect(getEventListeners(signal, "abort")).toHaveLength(0);
      const pending = keys.map((key) =>
        store.get(key, { signal }).then(
          () => "done",
          (e) => e,
        ),
      );
      controller.abort(new Error("stop"));
      const outcomes = await Promise.all(pending);
      // Calls already inside the plain store may finish; the others stop with Aborted.
      for (const outcome of outcomes) {
        if (outcome !== "done") expect(isStoreError(outcome) && outcome.code).toBe("Aborted");
      }
      expect(outcomes.some((o) => o !== "done")).toBe(true);
    } finally {
      process.off("warning", onWarning);
    }
    expect(warnings).not.toContain("MaxListenersExceededWarning");
  });
});
