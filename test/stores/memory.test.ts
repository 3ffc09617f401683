import { describe, expect, it } from "vitest";
import * as zarr from "zarrita";
import { MemoryStore } from "../../src/stores/memory.js";
import { describeConformance } from "../../src/testing/vitest.js";

describeConformance("MemoryStore", () => new MemoryStore(), { tier: "heavy" });

const backing = new Map<string, Uint8Array>();
describeConformance("MemoryStore read-only", () => new MemoryStore(backing, { readOnly: true }), {
  writer: () => new MemoryStore(backing),
});

describe("MemoryStore", () => {
  it("works over a caller's Map", async () => {
    const map = new Map<string, Uint8Array>([["/a", Uint8Array.of(1)]]);
    const store = new MemoryStore(map);
    expect(await store.get("/a")).toEqual(Uint8Array.of(1));
    await store.set("/b", Uint8Array.of(2));
    expect(map.get("/b")).toEqual(Uint8Array.of(2));
  });

  it("offers a synchronous face that zarrita's sync API reads", async () => {
    const store = new MemoryStore();
    const arr = await zarr.create(store, { shape: [4], chunkShape: [2], dtype: "int16" });
    await zarr.set(arr, null, { data: Int16Array.of(1, 2, 3, 4), shape: [4], stride: [1] });
    const sync = store.sync();
    const reopened = await zarr.open(sync, { kind: "array" });
    expect(Array.from((await zarr.get(reopened)).data as Int16Array)).toEqual([1, 2, 3, 4]);
  });
});
