import { describe, expect, it } from "vitest";
import { withPrefix } from "../../src/adapters/prefix.js";
import { isStoreError } from "../../src/errors.js";
import { listAll, textToBytes } from "../../src/helpers.js";
import type { AbsolutePath } from "../../src/keys.js";
import { MemoryStore } from "../../src/stores/memory.js";
import { describeConformance } from "../../src/testing/vitest.js";

describeConformance("withPrefix over MemoryStore", () =>
  withPrefix(new MemoryStore(), "/sub/dir/"),
);

const value = textToBytes("v");

describe("withPrefix", () => {
  it("maps keys in and out of the folder", async () => {
    const inner = new MemoryStore();
    const store = withPrefix(inner, "/sub/");
    await store.set("/a/zarr.json", value);
    expect([...inner.map.keys()]).toEqual(["/sub/a/zarr.json"]);
    expect(await store.get("/a/zarr.json")).toEqual(value);
    expect(await store.getRange("/a/zarr.json", { suffixLength: 1 })).toEqual(value);
    expect((await store.stat("/a/zarr.json"))?.size).toBe(1);
    expect((await store.put("/b", value)).etag).toBeTypeOf("string");
    await store.delete("/b");
    expect(inner.map.has("/sub/b")).toBe(false);
  });

  it("normalises every spelling of the folder", async () => {
    for (const spelling of ["sub", "/sub", "sub/", "/sub/"]) {
      const inner = new MemoryStore();
      await withPrefix(inner, spelling).set("/k", value);
      expect([...inner.map.keys()]).toEqual(["/sub/k"]);
    }
    const root = new MemoryStore();
    await withPrefix(root, "/").set("/k", value);
    expect([...root.map.keys()]).toEqual(["/k"]);
  });

  it("strips the folder from listings and sees nothing outside it", async () => {
    const inner = new MemoryStore();
    for (const key of ["/sub/a/1", "/sub/a/b/2", "/sub/3", "/subway/x", "/other/y", "/sub"]) {
      await inner.set(key as AbsolutePath, value);
    }
    const store = withPrefix(inner, "/sub/");
    expect(await listAll(store)).toEqual(["/3", "/a/1", "/a/b/2"]);
    expect(await listAll(store, "a")).toEqual(["/a/1", "/a/b/2"]);
    expect(await store.listDir("/")).toEqual({ keys: ["/3"], prefixes: ["/a/"] });
    expect(await store.listDir("/a/")).toEqual({ keys: ["/a/1"], prefixes: ["/a/b/"] });
    await store.deletePrefix("/");
    expect([...inner.map.keys()].sort()).toEqual(["/other/y", "/sub", "/subway/x"]);
  });

  it("rejects keys that would leave the folder, before any I/O", async () => {
    const inner = new MemoryStore();
    await inner.set("/secret", value);
    const store = withPrefix(inner, "/sub/");
    for (const key of [
      "/../secret",
      "/a/../../secret",
      "..",
      "/./x",
      "//secret",
      "/a\\..\\x",
      "",
    ]) {
      const error = await store.get(key as AbsolutePath).catch((e: unknown) => e);
      expect(isStoreError(error, "InvalidKey"), key).toBe(true);
      expect((error as Error).message).toContain(JSON.stringify(key));
    }
    for (const folder of ["..", "/a/../..", "/.."]) {
      await expect(store.listDir(folder)).rejects.toMatchObject({ code: "InvalidKey" });
      await expect(listAll(store, folder)).rejects.toMatchObject({ code: "InvalidKey" });
      await expect(store.deletePrefix(folder)).rejects.toMatchObject({ code: "InvalidKey" });
    }
    await expect(store.set("/../secret" as AbsolutePath, value)).rejects.toMatchObject({
      code: "InvalidKey",
    });
    expect(inner.map.get("/secret")).toEqual(value);
  });

  it("rejects an invalid folder when it is made", () => {
    expect(() => withPrefix(new MemoryStore(), "/a/../b")).toThrow(/not allowed/);
  });

  it("keeps the inner store's capabilities", () => {
    const inner = new MemoryStore(new Map(), { readOnly: true });
    expect(withPrefix(inner, "/x/").capabilities).toEqual(inner.capabilities);
  });
});
