import { describe, expect, it } from "vitest";
import { isStoreError } from "../../src/errors.js";
import {
  DEFAULT_PAYLOAD_LIMIT,
  PAYLOAD_LIMIT_ENV,
  parseByteSize,
  resolveLimits,
  Semaphore,
} from "../../src/proxy/limits.js";

describe("parseByteSize", () => {
  it.each([
    ["2000000", 2_000_000],
    ["2 mb", 2_000_000],
    ["2MB", 2_000_000],
    ["10kib", 10_240],
    ["10 KiB", 10_240],
    ["1GB", 1_000_000_000],
    ["1 gib", 1024 ** 3],
    ["1.5 mb", 1_500_000],
    ["512 b", 512],
    ["3 bytes", 3],
    ["2k", 2000],
    ["2m", 2_000_000],
    ["1 tb", 1e12],
    [" 7 ", 7],
  ])("reads %j as %d bytes", (text, bytes) => {
    expect(parseByteSize(text)).toBe(bytes);
  });

  it.each(["", "mb", "-1", "2 xb", "1e6", "2 m b", "ten"])("rejects %j with Config", (text) => {
    let error: unknown;
    try {
      parseByteSize(text, "payload limit");
    } catch (e) {
      error = e;
    }
    expect(isStoreError(error, "Config")).toBe(true);
    expect(String((error as Error).message)).toMatch(/payload limit .*2 mb/);
  });

  it("passes whole numbers through and rejects others", () => {
    expect(parseByteSize(1234)).toBe(1234);
    expect(() => parseByteSize(1.5)).toThrow(/whole number/);
    expect(() => parseByteSize(-1)).toThrow(/whole number/);
  });
});

describe("resolveLimits", () => {
  it("defaults to the seed's 2,000,000-byte payload limit", () => {
    expect(resolveLimits().payloadBytes).toBe(DEFAULT_PAYLOAD_LIMIT);
    expect(DEFAULT_PAYLOAD_LIMIT).toBe(2_000_000);
  });

  it("reads ZARR_PROXY_PAYLOAD_SIZE_LIMIT with units; options win over it", () => {
    expect(resolveLimits({}, { [PAYLOAD_LIMIT_ENV]: "10kib" }).payloadBytes).toBe(10_240);
    expect(resolveLimits({}, { [PAYLOAD_LIMIT_ENV]: " " }).payloadBytes).toBe(2_000_000);
    expect(
      resolveLimits({ payloadBytes: "1 mb" }, { [PAYLOAD_LIMIT_ENV]: "10kib" }).payloadBytes,
    ).toBe(1_000_000);
  });

  it("rejects a bad environment value and nonsense limits", () => {
    expect(() => resolveLimits({}, { [PAYLOAD_LIMIT_ENV]: "lots" })).toThrow(/payload limit/);
    expect(() => resolveLimits({ maxSourceChunks: 0 })).toThrow(/maxSourceChunks/);
    expect(() => resolveLimits({ requestTimeoutMs: 1.5 })).toThrow(/requestTimeoutMs/);
  });
});

describe("Semaphore", () => {
  it("runs at most `limit` tasks at once and all of them in the end", async () => {
    const semaphore = new Semaphore(2);
    let running = 0;
    let most = 0;
    const task = async (n: number) => {
      running++;
      most = Math.max(most, running);
      await new Promise((resolve) => setTimeout(resolve, 5));
      running--;
      if (n === 3) throw new Error("task 3 fails");
      return n;
    };
    const results = await Promise.allSettled(
      [1, 2, 3, 4, 5].map((n) => semaphore.run(() => task(n))),
    );
    expect(most).toBe(2);
    expect(results.map((r) => r.status)).toEqual([
      "fulfilled",
      "fulfilled",
      "rejected",
      "fulfilled",
      "fulfilled",
    ]);
    // A failed task frees its slot: the semaphore still runs two at a time.
    expect(await Promise.all([semaphore.run(async () => 1), semaphore.run(async () => 2)])).toEqual(
      [1, 2],
    );
  });
});
