import { describe, expect, it } from "vitest";
import { withReadOnly } from "../../src/adapters/read-only.js";
import { textToBytes } from "../../src/helpers.js";
import { MemoryStore } from "../../src/stores/memory.js";
import { describeConformance } from "../../src/testing/vitest.js";

const shared = new Map<string, Uint8Array>();
describeConformance("withReadOnly over MemoryStore", () => withReadOnly(new MemoryStore(shared)), {
  writer: () => new MemoryStore(shared),
});

describe("withReadOnly", () => {
  it("rejects every write and delete with ReadOnly, touching nothing", async () => {
    const inner = new MemoryStore();
    await inner.set("/a", textToBytes("kept"));
    const store = withReadOnly(inner);
    const attempts = [
      () => store.set("/a", textToBytes("x")),
      () => store.set("/b", textToBytes("x"), { ifNoneMatch: "*" }),
      () => store.put("/a", textToBytes("x")),
      () => store.delete("/a"),
      () => store.deletePrefix("/"),
    ];
    for (const attempt of attempts) {
      await expect(attempt()).rejects.toMatchObject({ code: "ReadOnly", backend: "withReadOnly" });
    }
    expect([...inner.map.entries()]).toEqual([["/a", textToBytes("kept")]]);
  });

  it("reads and lists through", async () => {
    const inner = new MemoryStore();
    await inner.set("/g/a", textToBytes("abc"));
    const store = withReadOnly(inner);
    expect(await store.get("/g/a")).toEqual(textToBytes("abc"));
    expect(await store.getRange("/g/a", { offset: 1, length: 1 })).toEqual(textToBytes("b"));
    expect((await store.stat("/g/a"))?.size).toBe(3);
    expect(await store.listDir("/g")).toEqual({ keys: ["/g/a"], prefixes: [] });
  });

  it("declares no writes in its capabilities and keeps the rest", () => {
    const inner = new MemoryStore();
    expect(withReadOnly(inner).capabilities).toEqual({
      ...inner.capabilities,
      write: false,
      overwrite: false,
      delete: false,
      conditionalWrite: false,
    });
  });
});
