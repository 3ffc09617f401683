import { describe, expect, it } from "vitest";
import { StoreError } from "../../src/errors.js";
import { inParallel } from "../../src/lanes.js";
import { MemoryStore } from "../../src/stores/memory.js";
import {
  type ListedEntry,
  ObjectNames,
  objectNamesOf,
  rangeBySize,
} from "../../src/stores/object-store.js";

async function* page(...entries: ListedEntry[]): AsyncIterable<ListedEntry> {
  yield* entries;
}

const object = (name: string): ListedEntry => ({ kind: "object", name });
const folder = (name: string): ListedEntry => ({ kind: "prefix", name });

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}

describe("ObjectNames: keys and object names under a store prefix", () => {
  const names = new ObjectNames("data/air.zarr/");

  it("maps keys to names and back", () => {
    expect(names.nameOf("/a/zarr.json")).toBe("data/air.zarr/a/zarr.json");
    expect(names.keyOf("data/air.zarr/a/zarr.json")).toBe("/a/zarr.json");
    expect(new ObjectNames("").nameOf("/x")).toBe("x");
  });

  it.each([
    ["outside the prefix", "data/other/x"],
    ["a sibling sharing the prefix's first letters", "data/air.zarrx/y"],
    ["a folder marker ending in '/'", "data/air.zarr/a/"],
    ["an empty segment", "data/air.zarr/a//b"],
    ["a '..' segment", "data/air.zarr/../x"],
  ])("leaves out a name %s", (_, name) => {
    expect(names.keyOf(name)).toBeUndefined();
  });

  it("lists the keys of objects only, in the listing's order", async () => {
    const keys = await collect(
      names.keys(
        page(
          object("data/air.zarr/b"),
          folder("data/air.zarr/c/"),
          object("data/air.zarr/a/"),
          object("data/air.zarr/a"),
        ),
      ),
    );
    expect(keys).toEqual(["/b", "/a"]);
  });

  it("builds a one-level listing sorted by code point", async () => {
    const dir = await names.dir(
      page(
        object("data/air.zarr/z"),
        folder("data/air.zarr/b/"),
        object("data/air.zarr/A"),
        folder("data/air.zarr/a/"),
        folder("data/air.zarr/bad//"),
      ),
    );
    expect(dir).toEqual({ keys: ["/A", "/z"], prefixes: ["/a/", "/b/"] });
  });

  it("collects object names for deleting, folders left out", async () => {
    expect(await objectNamesOf(page(object("p/x"), folder("p/d/"), object("p/y")))).toEqual([
      "p/x",
      "p/y",
    ]);
  });
});

describe("rangeBySize: a range as stat then a plain range", () => {
  const store = new MemoryStore();
  const value = Uint8Array.from({ length: 10 }, (_, i) => i);

  it("reads suffixes, clamps past the end, and answers undefined for a missing key", async () => {
    await store.set("/v", value);
    expect(await rangeBySize(store, "/v", { suffixLength: 3 })).toEqual(Uint8Array.of(7, 8, 9));
    expect(await rangeBySize(store, "/v", { suffixLength: 50 })).toEqual(value);
    expect(await rangeBySize(store, "/v", { offset: 8, length: 5 })).toEqual(Uint8Array.of(8, 9));
    expect(await rangeBySize(store, "/v", { offset: 4, length: 0 })).toEqual(new Uint8Array(0));
    expect(await rangeBySize(store, "/missing", { suffixLength: 1 })).toBeUndefined();
  });

  it("rejects a negative range with a StoreError", async () => {
    await expect(rangeBySize(store, "/v", { offset: -1, length: 2 })).rejects.toBeInstanceOf(
      StoreError,
    );
  });
});

describe("inParallel", () => {
  it("never runs more than the limit at once and does every item", async () => {
    let running = 0;
    let most = 0;
    const done: number[] = [];
    await inParallel([1, 2, 3, 4, 5, 6, 7], 3, async (n) => {
      running++;
      most = Math.max(most, running);
      await new Promise((resolve) => setTimeout(resolve, 5));
      done.push(n);
      running--;
    });
    expect(most).toBe(3);
    expect(done.sort()).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });

  it("rejects with the first failure and starts no item after it", async () => {
    const started: number[] = [];
    await expect(
      inParallel([1, 2, 3, 4, 5, 6], 2, async (n) => {
        started.push(n);
        await new Promise((resolve) => setTimeout(resolve, n === 2 ? 1 : 20));
        if (n === 2) throw new Error("two failed");
      }),
    ).rejects.toThrow("two failed");
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(started).toEqual([1, 2]);
  });
});
