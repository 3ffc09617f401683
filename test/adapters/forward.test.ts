import { describe, expect, it } from "vitest";
import { CONTRACT_MEMBERS, ForwardingStore } from "../../src/adapters/forward.js";
import { listAll } from "../../src/helpers.js";
import type { Store } from "../../src/store.js";
import { MemoryStore } from "../../src/stores/memory.js";
import { describeConformance } from "../../src/testing/vitest.js";

describeConformance(
  "ForwardingStore over MemoryStore",
  () => new ForwardingStore(new MemoryStore()),
);

type Method = Exclude<keyof Store, "capabilities">;

// The type test: this table must name every method of the contract and nothing else. A method
// added to `Store` without a line here fails `tsc`; a line here for a method the base does not
// forward fails the test below.
const CALLS = {
  get: (s) => s.get("/k"),
  getRange: (s) => s.getRange("/k", { offset: 0, length: 1 }),
  stat: (s) => s.stat("/k"),
  set: (s) => s.set("/k", Uint8Array.of(1)),
  put: (s) => s.put("/k", Uint8Array.of(1)),
  delete: (s) => s.delete("/k"),
  deletePrefix: (s) => s.deletePrefix("/p/"),
  list: (s) => listAll(s, "/p/"),
  listDir: (s) => s.listDir("/p/"),
  close: (s) => s.close(),
} satisfies Record<Method, (s: Store) => Promise<unknown>>;

/** A store that records which of its methods were called. */
class RecordingStore extends MemoryStore {
  readonly seen: string[] = [];
  override async get(...a: Parameters<Store["get"]>) {
    this.seen.push("get");
    return super.get(...a);
  }
  override async getRange(...a: Parameters<Store["getRange"]>) {
    this.seen.push("getRange");
    return super.getRange(...a);
  }
  override async stat(...a: Parameters<Store["stat"]>) {
    this.seen.push("stat");
    return super.stat(...a);
  }
  override async set(...a: Parameters<Store["set"]>) {
    this.seen.push("set");
    return super.set(...a);
  }
  override async put(...a: Parameters<Store["put"]>) {
    this.seen.push("put");
    return super.put(...a);
  }
  override async delete(...a: Parameters<Store["delete"]>) {
    this.seen.push("delete");
    return super.delete(...a);
  }
  override async deletePrefix(...a: Parameters<Store["deletePrefix"]>) {
    this.seen.push("deletePrefix");
    return super.deletePrefix(...a);
  }
  override list(...a: Parameters<Store["list"]>) {
    this.seen.push("list");
    return super.list(...a);
  }
  override async listDir(...a: Parameters<Store["listDir"]>) {
    this.seen.push("listDir");
    return super.listDir(...a);
  }
  override async close() {
    this.seen.push("close");
    return super.close();
  }
}

describe("ForwardingStore", () => {
  it("lists exactly the contract's members", () => {
    const methods = Object.keys(CONTRACT_MEMBERS).filter((m) => m !== "capabilities");
    expect(methods.sort()).toEqual(Object.keys(CALLS).sort());
  });

  for (const [method, call] of Object.entries(CALLS)) {
    it(`forwards ${method} to the inner store`, async () => {
      const inner = new RecordingStore();
      await call(new ForwardingStore(inner));
      // `set` reaches the inner store as `put` (the base routes writes through `put`).
      expect(inner.seen).toEqual([method === "set" ? "put" : method]);
    });
  }

  it("derives its capabilities from the inner store, with changes on top", () => {
    const inner = new MemoryStore();
    expect(new ForwardingStore(inner).capabilities).toEqual(inner.capabilities);
    const changed = new ForwardingStore(inner, { write: false });
    expect(changed.capabilities).toEqual({ ...inner.capabilities, write: false });
    expect(Object.isFrozen(changed.capabilities)).toBe(true);
  });
});
