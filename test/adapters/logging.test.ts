import { describe, expect, it } from "vitest";
import * as zarr from "zarrita";
import { ForwardingStore } from "../../src/adapters/forward.js";
import { withLogging } from "../../src/adapters/logging.js";
import { type UsageEvent, withObserver } from "../../src/adapters/observe.js";
import { StoreError } from "../../src/errors.js";
import { listAll, textToBytes } from "../../src/helpers.js";
import type { AbsolutePath } from "../../src/keys.js";
import type { CallOptions } from "../../src/store.js";
import { MemoryStore } from "../../src/stores/memory.js";
import { describeConformance } from "../../src/testing/vitest.js";

describeConformance("withLogging over MemoryStore", () =>
  withLogging(new MemoryStore(), { log: () => {} }),
);
describeConformance("withLogging (json) over MemoryStore", () =>
  withLogging(new MemoryStore(), { log: () => {}, format: "json" }),
);

/** A clock that starts at 23:41:19.885 UTC and moves 0.25 ms each time it is read. */
function steppingClock(): () => number {
  let now = Date.UTC(2025, 0, 1, 23, 41, 19, 885);
  return () => {
    const t = now;
    now += 0.25;
    return t;
  };
}

/** Fails every get of `/broken` like a 503 whose message carries a secret. */
class BrokenStore extends ForwardingStore {
  override async get(key: AbsolutePath, options?: CallOptions) {
    if (key === "/broken") {
      throw new StoreError({
        code: "Unavailable",
        message: "503 from https://user:hunter2@example.org/?X-Amz-Signature=SECRETSIG",
        status: 503,
      });
    }
    return this.inner.get(key, options);
  }
}

describe("withLogging", () => {
  it("writes one zarrs-style line per call", async () => {
    const lines: string[] = [];
    const store = withLogging(new BrokenStore(new MemoryStore()), {
      log: (line) => lines.push(line),
      clock: steppingClock(),
    });
    await store.set("/g/a/c/1/0", new Uint8Array(140));
    await store.getRange("/g/a/c/1/0", { offset: 52, length: 52 });
    await store.getRange("/g/a/c/1/0", { suffixLength: 36 });
    await store.get("/g/a/c/1/0");
    await store.get("/g/zarr.json");
    await store.stat("/g/a/c/1/0");
    await store.put("/g/b", new Uint8Array(3), { ifNoneMatch: "*" });
    await store.listDir("/g/");
    await listAll(store, "/g/");
    await store.delete("/g/b");
    await store.deletePrefix("/g/a/");
    await expect(store.get("/broken")).rejects.toThrow();
    expect(lines).toEqual([
      "[23:41:19.885] set(/g/a/c/1/0, len=140) -> ok in 0.250ms",
      "[23:41:19.885] getRange(/g/a/c/1/0, [52..104]) -> len=52 in 0.250ms",
      "[23:41:19.886] getRange(/g/a/c/1/0, [-36..]) -> len=36 in 0.250ms",
      "[23:41:19.886] get(/g/a/c/1/0) -> len=140 in 0.250ms",
      "[23:41:19.887] get(/g/zarr.json) -> missing in 0.250ms",
      "[23:41:19.887] stat(/g/a/c/1/0) -> size=140 in 0.250ms",
      "[23:41:19.888] set(/g/b, len=3, ifNoneMatch) -> ok in 0.250ms",
      "[23:41:19.888] listDir(/g/) -> keys=1, prefixes=1 in 0.250ms",
      "[23:41:19.889] list(/g/) -> keys=2 in 0.250ms",
      "[23:41:19.889] delete(/g/b) -> ok in 0.250ms",
      "[23:41:19.890] deletePrefix(/g/a/) -> ok in 0.250ms",
      "[23:41:19.890] get(/broken) -> error=Unavailable status=503 in 0.250ms",
    ]);
  });

  it("writes JSON lines on request", async () => {
    const lines: string[] = [];
    const store = withLogging(new BrokenStore(new MemoryStore()), {
      log: (line) => lines.push(line),
      format: "json",
      clock: steppingClock(),
    });
    await store.set("/a", new Uint8Array(7), { ifMatch: undefined });
    await store.getRange("/a", { offset: 1, length: 2 });
    await store.get("/missing");
    await expect(store.get("/broken")).rejects.toThrow();
    expect(lines.map((line) => JSON.parse(line))).toEqual([
      {
        time: "2025-01-01T23:41:19.885Z",
        operation: "set",
        key: "/a",
        outcome: "ok",
        bytes: 7,
        ms: 0.25,
      },
      {
        time: "2025-01-01T23:41:19.885Z",
        operation: "getRange",
        key: "/a",
        range: { offset: 1, length: 2 },
        outcome: "ok",
        bytes: 2,
        ms: 0.25,
      },
      {
        time: "2025-01-01T23:41:19.886Z",
        operation: "get",
        key: "/missing",
        outcome: "missing",
        ms: 0.25,
      },
      {
        time: "2025-01-01T23:41:19.886Z",
        operation: "get",
        key: "/broken",
        outcome: "error",
        code: "Unavailable",
        status: 503,
        ms: 0.25,
      },
    ]);
  });

  it("never logs values, error messages or credentials", async () => {
    const lines: string[] = [];
    for (const format of ["text", "json"] as const) {
      const store = withLogging(new BrokenStore(new MemoryStore()), {
        log: (line) => lines.push(line),
        format,
      });
      await store.set("/k", textToBytes("SECRET-VALUE-BYTES"));
      await store.get("/k");
      await expect(store.get("/broken")).rejects.toThrow("hunter2");
    }
    const all = lines.join("\n");
    expect(lines).toHaveLength(6);
    for (const secret of ["SECRET-VALUE", "hunter2", "SECRETSIG", "example.org"]) {
      expect(all).not.toContain(secret);
    }
  });

  it("logs a listing the caller stops early, and a failed one", async () => {
    const lines: string[] = [];
    const inner = new MemoryStore();
    for (const key of ["/l/1", "/l/2", "/l/3"])
      await inner.set(key as AbsolutePath, textToBytes("x"));
    const store = withLogging(inner, { log: (line) => lines.push(line) });
    for await (const _ of store.list("/l/")) break;
    await expect(listAll(store, "/..")).rejects.toMatchObject({ code: "InvalidKey" });
    expect(lines[0]).toMatch(/ list\(\/l\/\) -> keys=1 in /);
    expect(lines[1]).toMatch(/ list\(\/\.\.\) -> error=InvalidKey in /);
  });

  it("never fails a call because the sink throws", async () => {
    const store = withLogging(new MemoryStore(), {
      log: () => {
        throw new Error("disk full");
      },
    });
    await store.set("/a", textToBytes("x"));
    expect(await store.get("/a")).toEqual(textToBytes("x"));
  });

  it("reveals zarrita's access pattern", async () => {
    const lines: string[] = [];
    const store = withLogging(new MemoryStore(), { log: (line) => lines.push(line) });
    const arr = await zarr.create(store, { shape: [4], chunkShape: [2], dtype: "int16" });
    await zarr.set(arr, null, { data: Int16Array.of(1, 2, 3, 4), shape: [4], stride: [1] });
    lines.length = 0;
    await zarr.get(await zarr.open(store, { kind: "array" }));
    const calls = lines.map((line) => line.replace(/^\[[\d:.]+\] /, "").replace(/ in .*$/, ""));
    const metadata = (await store.get("/zarr.json"))?.byteLength;
    expect(calls).toContain(`get(/zarr.json) -> len=${metadata}`);
    expect(calls.filter((c) => c.startsWith("get(/c/"))).toEqual([
      "get(/c/0) -> len=4",
      "get(/c/1) -> len=4",
    ]);
  });
});

describe("withObserver", () => {
  it("hands typed events to a hook", async () => {
    const events: UsageEvent[] = [];
    const store = withObserver(new MemoryStore(), (e) => events.push(e), steppingClock());
    await store.set("/a", new Uint8Array(5));
    await store.get("/a");
    expect(
      events.map(({ operation, key, outcome, bytes, durationMs }) => ({
        operation,
        key,
        outcome,
        bytes,
        durationMs,
      })),
    ).toEqual([
      { operation: "set", key: "/a", outcome: "ok", bytes: 5, durationMs: 0.25 },
      { operation: "get", key: "/a", outcome: "ok", bytes: 5, durationMs: 0.25 },
    ]);
  });
});
