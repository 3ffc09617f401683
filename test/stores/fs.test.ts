import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import * as zarr from "zarrita";
import { listAll } from "../../src/helpers.js";
import { FileSystemStore } from "../../src/stores/fs.js";
import { describeConformance } from "../../src/testing/vitest.js";

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), "zs-fs-test-"));
afterAll(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));

let counter = 0;
function freshDir(name: string): string {
  counter += 1;
  return path.join(tmpRoot, `${name}-${counter}`);
}

const enc = new TextEncoder();
const bytes = (text: string) => enc.encode(text);

describeConformance("FileSystemStore", () => new FileSystemStore(freshDir("conf")), {
  tier: "heavy",
});

const shared = freshDir("shared");
describeConformance(
  "FileSystemStore read-only",
  () => {
    fs.mkdirSync(shared, { recursive: true });
    return new FileSystemStore(shared, { readOnly: true });
  },
  { writer: () => new FileSystemStore(shared) },
);

describeConformance(
  "FileSystemStore durable",
  () => new FileSystemStore(freshDir("durable"), { durable: true }),
);

describe("FileSystemStore", () => {
  it("stores keys as files under the root", async () => {
    const dir = freshDir("layout");
    const store = new FileSystemStore(dir);
    await store.set("/a/c/0/0", bytes("x"));
    expect(fs.readFileSync(path.join(dir, "a/c/0/0"), "utf8")).toBe("x");
  });
});

describe("FileSystemStore keys stay inside the root", () => {
  const outside = freshDir("outside");
  fs.mkdirSync(outside, { recursive: true });
  fs.writeFileSync(path.join(outside, "secret"), "secret");

  it.each([
    ["/../outside/secret"],
    ["/a/../../secret"],
    ["/./a"],
    ["/a//b"],
    ["/a\\..\\b"],
    ["/.zstmp.x.1"],
    ["/a/.zstmp.reserved"],
  ])("rejects %s with InvalidKey before any I/O", async (key) => {
    const dir = freshDir("trav");
    const store = new FileSystemStore(dir);
    for (const call of [
      () => store.get(key as `/${string}`),
      () => store.set(key as `/${string}`, bytes("x")),
      () => store.delete(key as `/${string}`),
      () => store.stat(key as `/${string}`),
    ]) {
      await expect(call()).rejects.toMatchObject({ code: "InvalidKey" });
    }
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it("refuses a folder symlink that leads outside for reads, writes, deletes and listing", async () => {
    const dir = freshDir("symdir");
    const store = new FileSystemStore(dir);
    fs.symlinkSync(outside, path.join(dir, "link"));
    await expect(store.get("/link/secret")).rejects.toMatchObject({ code: "PermissionDenied" });
    await expect(store.getRange("/link/secret", { offset: 0, length: 2 })).rejects.toMatchObject({
      code: "PermissionDenied",
    });
    await expect(store.stat("/link/secret")).rejects.toMatchObject({ code: "PermissionDenied" });
    await expect(store.set("/link/new", bytes("x"))).rejects.toMatchObject({
      code: "PermissionDenied",
    });
    await expect(store.set("/link/sub/new", bytes("x"))).rejects.toMatchObject({
      code: "PermissionDenied",
    });
    await expect(store.delete("/link/secret")).rejects.toMatchObject({ code: "PermissionDenied" });
    await expect(listAll(store, "/link/")).rejects.toMatchObject({ code: "PermissionDenied" });
    await expect(store.listDir("/link/")).rejects.toMatchObject({ code: "PermissionDenied" });
    expect(await listAll(store)).toEqual([]);
    const sync = store.sync();
    expect(() => sync.get("/link/secret")).toThrow(/outside/);
    expect(() => sync.set("/link/new2", bytes("x"))).toThrow(/outside/);
    expect(() => sync.delete("/link/secret")).toThrow(/outside/);
    // deletePrefix removes the link itself (it lies inside the root), never what it points to.
    await store.deletePrefix("/link/");
    expect(fs.existsSync(path.join(dir, "link"))).toBe(false);
    // Nothing outside changed: no new files, the secret is intact.
    expect(fs.readdirSync(outside).sort()).toEqual(["secret"]);
    expect(fs.readFileSync(path.join(outside, "secret"), "utf8")).toBe("secret");
  });

  it("refuses a file symlink that leads outside and follows one that stays inside", async () => {
    const dir = freshDir("symfile");
    const store = new FileSystemStore(dir);
    await store.set("/real/value", bytes("inside"));
    fs.symlinkSync(path.join(outside, "secret"), path.join(dir, "escape"));
    fs.symlinkSync(path.join(dir, "real/value"), path.join(dir, "alias"));
    await expect(store.get("/escape")).rejects.toMatchObject({ code: "PermissionDenied" });
    expect(await store.get("/alias")).toEqual(bytes("inside"));
    expect(await listAll(store)).toEqual(["/alias", "/real/value"]);
    // Writing over a symlink replaces the link itself (rename), never the file it points to.
    await store.set("/escape", bytes("replaced"));
    expect(fs.readFileSync(path.join(outside, "secret"), "utf8")).toBe("secret");
    expect(fs.lstatSync(path.join(dir, "escape")).isFile()).toBe(true);
  });

  it("refuses a root-level symlink swap after the store opened", async () => {
    const dir = freshDir("swap");
    const store = new FileSystemStore(dir);
    await store.set("/g/value", bytes("v"));
    fs.rmSync(path.join(dir, "g"), { recursive: true });
    fs.symlinkSync(outside, path.join(dir, "g"));
    await expect(store.get("/g/secret")).rejects.toMatchObject({ code: "PermissionDenied" });
  });
});

describe("FileSystemStore behaviour", () => {
  it("treats a folder as no value and a file in the way as a Conflict", async () => {
    const store = new FileSystemStore(freshDir("dirs"));
    await store.set("/group/array/c/0", bytes("x"));
    expect(await store.get("/group")).toBeUndefined();
    expect(await store.getRange("/group", { suffixLength: 2 })).toBeUndefined();
    expect(await store.stat("/group/array")).toBeUndefined();
    expect(await store.get("/group/array/c/0/deeper")).toBeUndefined();
    await expect(store.set("/group", bytes("x"))).rejects.toMatchObject({ code: "Conflict" });
    await expect(store.set("/group/array/c/0/deeper", bytes("x"))).rejects.toMatchObject({
      code: "Conflict",
    });
    await store.delete("/group"); // a folder is not a key: nothing happens
    expect(await store.get("/group/array/c/0")).toEqual(bytes("x"));
  });

  it("prunes folders that deletes leave empty, and keeps the root", async () => {
    const dir = freshDir("prune");
    const store = new FileSystemStore(dir);
    await store.set("/a/b/c/d", bytes("1"));
    await store.set("/a/keep", bytes("2"));
    await store.delete("/a/b/c/d");
    expect(fs.readdirSync(path.join(dir, "a"))).toEqual(["keep"]);
    expect(await store.listDir("/a")).toEqual({ keys: ["/a/keep"], prefixes: [] });
    await store.deletePrefix("/a/");
    expect(fs.readdirSync(dir)).toEqual([]);
    await store.set("/x/y", bytes("3"));
    await store.deletePrefix("/");
    expect(fs.existsSync(dir)).toBe(true);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it("never lists temp files, even ones a crashed writer left behind", async () => {
    const dir = freshDir("temps");
    const store = new FileSystemStore(dir);
    await store.set("/a/x", bytes("1"));
    fs.writeFileSync(path.join(dir, "a", ".zstmp.dead.1"), "partial");
    expect(await listAll(store)).toEqual(["/a/x"]);
    expect(await store.listDir("/a/")).toEqual({ keys: ["/a/x"], prefixes: [] });
  });

  it("keeps concurrent writers of one key whole: the last rename wins", async () => {
    const store = new FileSystemStore(freshDir("race"));
    const values = Array.from({ length: 16 }, (_, i) => new Uint8Array(100_000).fill(i + 1));
    await Promise.all(values.map((v) => store.set("/k", v)));
    const got = (await store.get("/k")) as Uint8Array;
    expect(got.byteLength).toBe(100_000);
    expect(new Set(got).size).toBe(1);
    expect(await listAll(store)).toEqual(["/k"]);
  });

  it("etags change on every write and match stat", async () => {
    const store = new FileSystemStore(freshDir("etag"));
    const seen = new Set<string>();
    for (let i = 0; i < 5; i++) {
      const { etag } = await store.put("/k", bytes("same"));
      expect((await store.stat("/k"))?.etag).toBe(etag);
      seen.add(etag as string);
    }
    expect(seen.size).toBe(5);
  });

  it("serialises compare-and-swap in one process: only one of many ifMatch writers wins", async () => {
    const store = new FileSystemStore(freshDir("cas"));
    const { etag } = await store.put("/counter", bytes("0"));
    const outcomes = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) =>
        store.put("/counter", bytes(String(i + 1)), { ifMatch: etag as string }),
      ),
    );
    expect(outcomes.filter((o) => o.status === "fulfilled")).toHaveLength(1);
    for (const o of outcomes) {
      if (o.status === "rejected") expect(o.reason).toMatchObject({ code: "ConditionFailed" });
    }
    expect(await listAll(store)).toEqual(["/counter"]);
  });

  it("ifNoneMatch lets exactly one of many concurrent creators win", async () => {
    const store = new FileSystemStore(freshDir("create"));
    const outcomes = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) =>
        store.set("/lock", bytes(String(i)), { ifNoneMatch: "*" }),
      ),
    );
    expect(outcomes.filter((o) => o.status === "fulfilled")).toHaveLength(1);
    expect(await listAll(store)).toEqual(["/lock"]);
  });

  it("a read-only store needs an existing root and never creates one", () => {
    const dir = freshDir("absent");
    expect(() => new FileSystemStore(dir, { readOnly: true })).toThrow(/does not exist/);
    expect(fs.existsSync(dir)).toBe(false);
  });

  it.skipIf(process.getuid?.() === 0)("maps EACCES to PermissionDenied", async () => {
    const dir = freshDir("eacces");
    const store = new FileSystemStore(dir);
    await store.set("/locked/x", bytes("1"));
    fs.chmodSync(path.join(dir, "locked/x"), 0);
    try {
      await expect(store.get("/locked/x")).rejects.toMatchObject({ code: "PermissionDenied" });
    } finally {
      fs.chmodSync(path.join(dir, "locked/x"), 0o644);
    }
  });

  it("offers a synchronous face that zarrita's sync API reads and writes", async () => {
    const dir = freshDir("sync");
    const store = new FileSystemStore(dir);
    const sync = store.sync();
    const arr = await zarr.create(sync, { shape: [4], chunkShape: [2], dtype: "int16" });
    await zarr.set(arr, null, { data: Int16Array.of(1, 2, 3, 4), shape: [4], stride: [1] });
    const reopened = await zarr.open(store, { kind: "array" });
    expect(Array.from((await zarr.get(reopened)).data as Int16Array)).toEqual([1, 2, 3, 4]);
    expect(sync.getRange("/c/1", { suffixLength: 2 })?.byteLength).toBe(2);
    expect(sync.get("/missing")).toBeUndefined();
    sync.delete("/c/1");
    sync.delete("/c/1");
    expect(sync.get("/c/1")).toBeUndefined();
    expect(() => sync.get("/a/../b")).toThrow(/invalid key/);
  });
});

describe("openStore on Node", () => {
  it("opens bare paths and file:// URLs as FileSystemStore", async () => {
    const { openStore } = await import("../../src/open.node.js");
    const dir = freshDir("open");
    const store = await openStore(dir);
    expect(store).toBeInstanceOf(FileSystemStore);
    await store.set("/k", bytes("v"));
    const viaUrl = await openStore(`file://${dir}`, { readOnly: true });
    expect(viaUrl).toBeInstanceOf(FileSystemStore);
    expect(await viaUrl.get("/k")).toEqual(bytes("v"));
    expect(viaUrl.capabilities.write).toBe(false);
  });
});

describe("openStore on Node, archives", () => {
  it("opens *.zip paths and zip:// URLs as ZipStore, writing with mode w", async () => {
    const { openStore } = await import("../../src/open.node.js");
    const { ZipStore } = await import("../../src/stores/zip.js");
    const file = path.join(freshDir("open-zip"), "data.zip");
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const writer = await openStore(file, { mode: "w" });
    expect(writer).toBeInstanceOf(ZipStore);
    await writer.set("/k", bytes("v"));
    await writer.close();
    const reader = await openStore(`zip://${file}`);
    expect(reader).toBeInstanceOf(ZipStore);
    expect(await reader.get("/k")).toEqual(bytes("v"));
    expect(reader.capabilities.write).toBe(false);
    await reader.close();
  });
});
