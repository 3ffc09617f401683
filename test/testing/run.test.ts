import { describe, expect, it } from "vitest";
import type { AbsolutePath } from "../../src/keys.js";
import type { RangeQuery } from "../../src/store.js";
import { MemoryStore } from "../../src/stores/memory.js";
import { runConformance } from "../../src/testing/run.js";

/** A store with the classic bugs: suffix ranges read from the start, and a prefix matching foo-bar. */
class BrokenStore extends MemoryStore {
  override async getRange(key: AbsolutePath, range: RangeQuery) {
    const value = await this.get(key);
    if (value === undefined) return undefined;
    if ("suffixLength" in range) return value.subarray(0, range.suffixLength);
    return value.subarray(range.offset, range.offset + range.length);
  }
  override async *list(prefix?: string) {
    const bare = (prefix ?? "/").replace(/\/$/, "");
    for (const key of this.map.keys()) if (key.startsWith(bare)) yield key as AbsolutePath;
  }
}

describe("runConformance", () => {
  it("passes a correct store and reports every case", async () => {
    const report = await runConformance(new MemoryStore());
    expect(report.failed).toBe(0);
    expect(report.passed).toBeGreaterThan(20);
    expect(report.results.length).toBe(report.passed + report.skipped);
  });

  it("catches a store with broken ranges and prefix matching", async () => {
    const report = await runConformance(new BrokenStore());
    const failed = report.results.filter((r) => r.status === "failed").map((r) => r.name);
    expect(failed).toContain("getRange with a suffix");
    expect(failed).toContain("getRange at or past the end is RangeNotSatisfiable");
    expect(failed).toContain("the folder foo/ does not match foo-bar/ or foobar");
  });

  it("skips write cases for a read-only store without a writer, and says why", async () => {
    const report = await runConformance(new MemoryStore(new Map(), { readOnly: true }));
    expect(report.failed).toBe(0);
    const skipped = report.results.find((r) => r.name === "set then get returns the same bytes");
    expect(skipped).toMatchObject({ status: "skipped", reason: "needs write" });
    const ro = report.results.find(
      (r) => r.name === "a read-only store rejects writes with ReadOnly",
    );
    expect(ro?.status).toBe("passed");
  });

  it("leaves nothing behind in a store it may clean", async () => {
    const store = new MemoryStore();
    await runConformance(store);
    expect(store.map.size).toBe(0);
  });
});
