import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as zarr from "zarrita";
import { isStoreError, StoreError } from "../../src/errors.js";
import type { AbsolutePath, Prefix } from "../../src/keys.js";
import { openStore } from "../../src/open.node.js";
import type { Store } from "../../src/store.js";
import { FileSystemStore } from "../../src/stores/fs.js";
import { IcechunkStore, parseIcechunkUrl } from "../../src/stores/icechunk/index.js";
import { MemoryStore } from "../../src/stores/memory.js";
import {
  CONFORMANCE_CASES,
  caseContext,
  patternBytes,
  randomRoot,
  skipReason,
} from "../../src/testing/index.js";

const enc = new TextEncoder();
const dec = new TextDecoder();

/**
 * Shared cases that cannot apply to Icechunk, which holds Zarr v3 keys only (`zarr.json`
 * documents and chunk keys of existing arrays): they write arbitrary keys (`/…/a`) or Zarr v2
 * keys. Each is covered below by a case of the same intent over Zarr v3 keys.
 */
const NEEDS_ARBITRARY_KEYS = new Set([
  "set then get returns the same bytes",
  "set replaces an existing value",
  "empty values and every byte value round-trip",
  "stat reports the size",
  "delete removes a key and deleting a missing key is no error",
  "getRange with offset and length",
  "getRange past the end returns the bytes that exist",
  "getRange at or past the end is RangeNotSatisfiable",
  "getRange with a suffix",
  "getRange reads a range of a larger binary value exactly",
  "list returns every key under a folder, at any depth",
  "the folder foo/ does not match foo-bar/ or foobar",
  "prefix spellings foo, /foo and /foo/ mean the same folder",
  "listDir returns full keys and full prefixes one level deep",
  "deletePrefix removes only that folder",
  "keys with spaces, punctuation and non-ASCII round-trip and list exactly",
  "concurrent writers to distinct keys all land",
  "zarrita reads a v2 array written as plain keys",
  "a 64 MiB value round-trips and its far end reads by range",
  "20,000 keys list completely",
]);

/** The shared conformance cases, run as the shared runner does, minus those named above. */
function describeIcechunkConformance(name: string, make: () => Promise<Store>): void {
  describe(`${name} conformance (quick)`, () => {
    let store: Store;
    const root = randomRoot();
    beforeAll(async () => {
      store = await make();
    }, 60_000);
    afterAll(() => store?.close());
    for (const [index, c] of CONFORMANCE_CASES.entries()) {
      if (c.tier === "heavy") continue;
      it(c.name, async (test) => {
        if (NEEDS_ARBITRARY_KEYS.has(c.name)) {
          test.skip("Icechunk holds Zarr v3 keys only; the Zarr-key version runs below");
          return;
        }
        const reason = skipReason(c, store, undefined, "quick");
        if (reason) {
          test.skip(reason);
          return;
        }
        await c.run(caseContext(store, undefined, root, index));
      });
    }
  });
}

function groupJson(attributes: Record<string, unknown> = {}): Uint8Array {
  return enc.encode(JSON.stringify({ zarr_format: 3, node_type: "group", attributes }));
}

function arrayJson(shape: number[], chunks: number[]): Uint8Array {
  return enc.encode(
    JSON.stringify({
      zarr_format: 3,
      node_type: "array",
      shape,
      data_type: "uint8",
      chunk_grid: { name: "regular", configuration: { chunk_shape: chunks } },
      chunk_key_encoding: { name: "default", configuration: { separator: "/" } },
      fill_value: 0,
      codecs: [{ name: "bytes" }],
      attributes: {},
    }),
  );
}

async function collect(iterable: AsyncIterable<AbsolutePath>): Promise<AbsolutePath[]> {
  const out: AbsolutePath[] = [];
  for await (const key of iterable) out.push(key);
  return out;
}

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<StoreError> {
  try {
    await promise;
  } catch (error) {
    expect(isStoreError(error), String(error)).toBe(true);
    expect((error as StoreError).code, (error as Error).message).toBe(code);
    return error as StoreError;
  }
  throw new Error(`expected a StoreError ${code}, but it resolved`);
}

/** Read, write and list cases of the shared suite, restated over Zarr v3 keys. */
function describeZarrKeyCases(name: string, make: () => Promise<IcechunkStore>): void {
  describe(`${name}: read, write and list over Zarr v3 keys`, () => {
    let store: IcechunkStore;
    let n = 0;
    // Each case gets its own array folder /t<n>/ with a 1-D grid of 1,000 chunks.
    const fresh = async (): Promise<Prefix> => {
      const folder = `/t${n++}/` as Prefix;
      await store.set(`${folder}zarr.json`, arrayJson([1_000_000], [1000]));
      return folder;
    };
    beforeAll(async () => {
      store = await make();
    }, 60_000);
    afterAll(() => store?.close());

    it("set then get, overwrite, every byte value, stat", async () => {
      const t = await fresh();
      const all = Uint8Array.from({ length: 256 }, (_, i) => i);
      await store.set(`${t}c/0`, all);
      expect(await store.get(`${t}c/0`)).toEqual(all);
      await store.set(`${t}c/0`, enc.encode("two"));
      expect(dec.decode(await store.get(`${t}c/0`))).toBe("two");
      expect(await store.stat(`${t}c/0`)).toEqual({ size: 3 });
      expect(await store.stat(`${t}c/9`)).toBeUndefined();
      expect(await store.get(`${t}c/9`)).toBeUndefined();
      expect(JSON.parse(dec.decode(await store.get(`${t}zarr.json`))).node_type).toBe("array");
    });

    it("missing keys, non-Zarr keys and chunks of missing arrays read as undefined", async () => {
      expect(await store.get("/nowhere/zarr.json")).toBeUndefined();
      expect(await store.get("/nowhere/c/0")).toBeUndefined();
      expect(await store.get("/not-a-zarr-key")).toBeUndefined();
      expect(await store.getRange("/not-a-zarr-key", { offset: 0, length: 1 })).toBeUndefined();
      expect(await store.stat("/nowhere/c/0")).toBeUndefined();
    });

    it("rejects what Icechunk cannot hold, with typed errors and no partial write", async () => {
      const t = await fresh();
      const bad = await rejectsWith(store.set("/a/plain/key", enc.encode("x")), "InvalidKey");
      expect(bad.message).toContain("Zarr v3 keys only");
      await rejectsWith(store.set("/nowhere/c/0", enc.encode("x")), "NotFound");
      await rejectsWith(store.set(`${t}zarr.json`, enc.encode("not json")), "Config");
      await rejectsWith(store.set(`${t}c/0`, new Uint8Array(0)), "Config");
      await rejectsWith(store.set(`${t}c/0`, enc.encode("x"), { ifNoneMatch: "*" }), "Unsupported");
      await rejectsWith(store.set("/a/../b/zarr.json", groupJson()), "InvalidKey");
      expect(JSON.parse(dec.decode(await store.get(`${t}zarr.json`))).node_type).toBe("array");
      expect(await store.get(`${t}c/0`)).toBeUndefined();
    });

    it("delete removes a key; deleting a missing or impossible key is no error", async () => {
      const t = await fresh();
      await store.set(`${t}c/1`, enc.encode("x"));
      await store.delete(`${t}c/1`);
      expect(await store.get(`${t}c/1`)).toBeUndefined();
      await store.delete(`${t}c/1`);
      await store.delete("/nowhere/c/1");
      await store.delete("/not-a-zarr-key");
    });

    it("getRange with HTTP semantics", async () => {
      const t = await fresh();
      const value = patternBytes(100_000, 3);
      await store.set(`${t}c/2`, value);
      expect(await store.getRange(`${t}c/2`, { offset: 10, length: 5 })).toEqual(
        value.subarray(10, 15),
      );
      expect(await store.getRange(`${t}c/2`, { offset: 99_990, length: 100 })).toEqual(
        value.subarray(99_990),
      );
      await rejectsWith(
        store.getRange(`${t}c/2`, { offset: 100_000, length: 1 }),
        "RangeNotSatisfiable",
      );
      expect(await store.getRange(`${t}c/2`, { suffixLength: 7 })).toEqual(
        value.subarray(100_000 - 7),
      );
      expect(await store.getRange(`${t}c/2`, { suffixLength: 200_000 })).toEqual(value);
      expect(await store.getRange(`${t}c/2`, { offset: 0, length: 0 })).toEqual(new Uint8Array(0));
      expect(await store.getRange(`${t}c/3`, { offset: 0, length: 1 })).toBeUndefined();
    });

    it("list, listDir and prefix spellings; foo/ does not match foo-bar/ or foobar", async () => {
      await store.set("/l/zarr.json", groupJson());
      await store.set("/l/foo/zarr.json", groupJson());
      await store.set("/l/foo/x/zarr.json", arrayJson([4, 4], [2, 2]));
      await store.set("/l/foo/x/c/0/1", enc.encode("a"));
      await store.set("/l/foo/x/c/1/1", enc.encode("b"));
      await store.set("/l/foo-bar/zarr.json", groupJson());
      await store.set("/l/foobar/zarr.json", groupJson());
      const expected = [
        "/l/foo/x/c/0/1",
        "/l/foo/x/c/1/1",
        "/l/foo/x/zarr.json",
        "/l/foo/zarr.json",
      ];
      for (const spelling of ["l/foo", "/l/foo", "/l/foo/"]) {
        expect(await collect(store.list(spelling))).toEqual(expected);
      }
      expect(await store.listDir("/l/")).toEqual({
        keys: ["/l/zarr.json"],
        prefixes: ["/l/foo-bar/", "/l/foo/", "/l/foobar/"],
      });
      expect(await store.listDir("/l/foo/x/c")).toEqual({
        keys: [],
        prefixes: ["/l/foo/x/c/0/", "/l/foo/x/c/1/"],
      });
      expect((await collect(store.list())).length).toBeGreaterThanOrEqual(7);
      await rejectsWith(store.listDir("/l/a/../.."), "InvalidKey");
    });

    it("deletePrefix removes only that folder", async () => {
      await store.set("/d/zarr.json", groupJson());
      await store.set("/d/foo/zarr.json", groupJson());
      await store.set("/d/foo-bar/zarr.json", groupJson());
      await store.set("/d/foobar/zarr.json", groupJson());
      await store.deletePrefix("/d/foo");
      expect(await collect(store.list("/d/"))).toEqual([
        "/d/foo-bar/zarr.json",
        "/d/foobar/zarr.json",
        "/d/zarr.json",
      ]);
      await store.deletePrefix("/d/never");
    });

    it("node names with spaces, punctuation and non-ASCII round-trip and list exactly", async () => {
      const names = ["a b", "x+y=z,!@$&'()~", "ü/日本語/€", "percent%20", "dots.../.hidden"];
      for (const name of names) await store.set(`/odd/${name}/zarr.json`, groupJson({ name }));
      for (const name of names) {
        const doc = JSON.parse(dec.decode(await store.get(`/odd/${name}/zarr.json`)));
        expect(doc.attributes.name).toBe(name);
      }
      const listed = await collect(store.list("/odd/"));
      for (const name of names) expect(listed).toContain(`/odd/${name}/zarr.json`);
    });

    // Regression: Icechunk hands putObject a view into its WASM memory, reused as soon as the
    // callback yields; MemoryStore kept that view (Buffer#slice does not copy) and about one
    // chunk in ten read back as another's bytes. Chunks above 512 bytes reach the storage.
    it("concurrent writers to distinct chunks all land, before and after a commit", async () => {
      const t = await fresh();
      const ids = Array.from({ length: 200 }, (_, i) => i);
      const value = (i: number) => patternBytes(600 + i, i + 1);
      await Promise.all(ids.map((i) => store.set(`${t}c/${i}`, value(i))));
      for (const i of ids) expect(await store.get(`${t}c/${i}`)).toEqual(value(i));
      await store.commit("200 chunks");
      const got = await Promise.all(ids.map((i) => store.get(`${t}c/${i}`)));
      for (const i of ids) expect(got[i]).toEqual(value(i));
    });

    it("zarrita writes and reads an array, and the data survives a commit", async () => {
      const arr = await zarr.create(zarr.root(store).resolve("zarrita/temperature"), {
        shape: [5, 7],
        chunkShape: [2, 3],
        dtype: "float32",
        fillValue: 0,
      });
      const values = Float32Array.from({ length: 35 }, (_, i) => i * 0.5 - 3);
      await zarr.set(arr, null, { data: values, shape: [5, 7], stride: [7, 1] });
      await store.commit("zarrita array");
      const reopened = await zarr.open(zarr.root(store).resolve("zarrita/temperature"), {
        kind: "array",
      });
      expect(Array.from((await zarr.get(reopened)).data as Float32Array)).toEqual(
        Array.from(values),
      );
    });

    // Regression: Icechunk's get returned Buffers over memory it reuses; zarrita decodes and
    // edits a chunk in place on a partial write, and the edit was lost (the old bytes were stored).
    it("a partial write through zarrita (read, edit in place, write) lands", async () => {
      const arr = await zarr.create(zarr.root(store).resolve("rmw"), {
        shape: [4],
        chunkShape: [4],
        dtype: "int32",
        fillValue: 0,
      });
      await zarr.set(arr, null, { data: Int32Array.of(1, 2, 3, 4), shape: [4], stride: [1] });
      await store.commit("rmw");
      await zarr.set(arr, [0], 1000);
      expect(Array.from((await zarr.get(arr)).data as Int32Array)).toEqual([1000, 2, 3, 4]);
      const first = await store.get("/rmw/c/0");
      first?.fill(0);
      expect(Array.from((await zarr.get(arr)).data as Int32Array)).toEqual([1000, 2, 3, 4]);
    });
  });
}

const tempDirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "zs-icechunk-"));
  tempDirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

const onMemory = () => IcechunkStore.open(new MemoryStore(), { create: true });
const onFiles = () => IcechunkStore.open(new FileSystemStore(tempDir()), { create: true });

describeIcechunkConformance("IcechunkStore on MemoryStore", onMemory);
describeIcechunkConformance("IcechunkStore on FileSystemStore", onFiles);
describeZarrKeyCases("IcechunkStore on MemoryStore", onMemory);
describeZarrKeyCases("IcechunkStore on FileSystemStore", onFiles);

describe("IcechunkStore versions", () => {
  it("commits, checks out snapshots, branches and tags, logs and diffs", async () => {
    const storage = new MemoryStore();
    const store = await IcechunkStore.open(storage, { create: true });
    expect(store.branch).toBe("main");
    await store.set("/zarr.json", groupJson({ v: 1 }));
    expect(store.hasUncommittedChanges).toBe(true);
    const first = await store.commit("first");
    expect(first).toMatch(/^[0-9A-Z]{20}$/);
    await store.set("/zarr.json", groupJson({ v: 2 }));
    await store.set("/a/zarr.json", groupJson());
    const second = await store.commit("second");

    const log = await store.log();
    expect(log.map((s) => s.message)).toEqual(["second", "first", "Repository initialized"]);
    expect(log[0]?.id).toBe(second);
    expect(log[0]?.parentId).toBe(first);
    expect(log[0]?.writtenAt).toBeInstanceOf(Date);

    const diff = await store.diff({ snapshot: first });
    expect(diff.newGroups).toEqual(["/a"]);
    expect(diff.updatedGroups).toEqual(["/"]);

    await store.createTag("v1", { snapshot: first });
    await store.createBranch("dev", { tag: "v1" });
    expect(await store.tags()).toEqual(["v1"]);
    expect(await store.branches()).toEqual(["dev", "main"]);
    await rejectsWith(store.createTag("v1"), "Conflict");

    await store.checkout({ tag: "v1" });
    expect(store.capabilities.write).toBe(false);
    expect(JSON.parse(dec.decode(await store.get("/zarr.json"))).attributes).toEqual({ v: 1 });
    await rejectsWith(store.set("/zarr.json", groupJson()), "ReadOnly");
    await rejectsWith(store.commit("nothing"), "ReadOnly");

    await store.checkout({ snapshot: second });
    expect(await store.get("/a/zarr.json")).toBeDefined();

    await store.checkout({ branch: "dev" });
    expect(store.capabilities.write).toBe(true);
    expect(await store.get("/a/zarr.json")).toBeUndefined();
    await store.set("/b/zarr.json", groupJson());
    await rejectsWith(store.checkout({ branch: "main" }), "Conflict");
    await store.commit("on dev");
    await store.checkout({ branch: "main" });
    expect(await store.get("/b/zarr.json")).toBeUndefined();
    expect((await store.log({ branch: "dev" })).map((s) => s.message)).toEqual([
      "on dev",
      "first",
      "Repository initialized",
    ]);

    // A fresh store over the same storage sees every commit.
    const again = await IcechunkStore.open(storage, { version: { branch: "dev" } });
    expect(await again.get("/b/zarr.json")).toBeDefined();
    await rejectsWith(again.checkout({ branch: "nope" }), "NotFound");
    await rejectsWith(again.checkout({ snapshot: "0000000000000000000A" }), "NotFound");
  });

  it("discard drops uncommitted changes; a missing repository is NotFound", async () => {
    const store = await IcechunkStore.open(new MemoryStore(), { create: true });
    await store.set("/zarr.json", groupJson());
    await store.discard();
    expect(await store.get("/zarr.json")).toBeUndefined();
    expect(store.hasUncommittedChanges).toBe(false);
    const missing = await rejectsWith(IcechunkStore.open(new MemoryStore()), "NotFound");
    expect(missing.message).toContain("doesn't exist");
  });

  it("a read-only open refuses writes and the shared read-only case holds", async () => {
    const storage = new MemoryStore();
    const writer = await IcechunkStore.open(storage, { create: true });
    await writer.set("/zarr.json", groupJson());
    await writer.commit("root");
    const reader = await IcechunkStore.open(storage, { readOnly: true });
    expect(reader.capabilities.write).toBe(false);
    await rejectsWith(reader.set("/zarr.json", groupJson()), "ReadOnly");
    await rejectsWith(reader.delete("/zarr.json"), "ReadOnly");
    const readOnlyCase = CONFORMANCE_CASES.find((c) => c.name.startsWith("a read-only store"));
    await readOnlyCase?.run(caseContext(reader, writer, "/ro/", 0));
  });
});

describe("IcechunkStore concurrency", () => {
  it("two writers on one branch: one wins, the other gets Conflict naming the branch, then rebases", async () => {
    const storage = new MemoryStore();
    const setup = await IcechunkStore.open(storage, { create: true });
    await setup.set("/zarr.json", groupJson());
    await setup.set("/x/zarr.json", arrayJson([10], [2]));
    await setup.commit("setup");

    const a = await IcechunkStore.open(storage);
    const b = await IcechunkStore.open(storage);
    await a.set("/x/c/0", enc.encode("from a"));
    await b.set("/x/c/1", enc.encode("from b"));
    await a.commit("a writes chunk 0");
    const conflict = await rejectsWith(b.commit("b writes chunk 1"), "Conflict");
    expect(conflict.message).toContain("branch 'main'");
    expect(conflict.message).toContain("rebase()");
    // The loser keeps its changes; rebase replays them on the winner's snapshot.
    expect(b.hasUncommittedChanges).toBe(true);
    await b.rebase();
    await b.commit("b writes chunk 1");

    const reader = await IcechunkStore.open(storage, { readOnly: true });
    expect(dec.decode(await reader.get("/x/c/0"))).toBe("from a");
    expect(dec.decode(await reader.get("/x/c/1"))).toBe("from b");
    expect((await reader.log()).map((s) => s.message)).toEqual([
      "b writes chunk 1",
      "a writes chunk 0",
      "setup",
      "Repository initialized",
    ]);
  });

  it("a rebase over the same chunk is a Conflict and loses nothing committed", async () => {
    const storage = new MemoryStore();
    const setup = await IcechunkStore.open(storage, { create: true });
    await setup.set("/x/zarr.json", arrayJson([10], [2]));
    await setup.commit("setup");
    const a = await IcechunkStore.open(storage);
    const b = await IcechunkStore.open(storage);
    await a.set("/x/c/0", enc.encode("from a"));
    await b.set("/x/c/0", enc.encode("from b"));
    await a.commit("a");
    await rejectsWith(b.commit("b"), "Conflict");
    await rejectsWith(b.rebase(), "Conflict");
    const reader = await IcechunkStore.open(storage, { readOnly: true });
    expect(dec.decode(await reader.get("/x/c/0"))).toBe("from a");
  });
});

describe("icechunk+ URLs", () => {
  it("opens and creates repositories through openStore, at a version", async () => {
    const dir = tempDir();
    const store = (await openStore(`icechunk+file://${dir}`, { create: true })) as IcechunkStore;
    expect(store).toBeInstanceOf(IcechunkStore);
    await store.set("/zarr.json", groupJson({ from: "url" }));
    const id = await store.commit("via URL");
    await store.createTag("t1");
    const tagged = (await openStore(`icechunk+file://${dir}#tag=t1`)) as IcechunkStore;
    expect(tagged.capabilities.write).toBe(false);
    expect(tagged.snapshotId).toBe(id);
    const memory = await openStore("icechunk+memory://", { create: true });
    expect(memory.capabilities.list).toBe(true);
    await rejectsWith(openStore(`icechunk+file://${tempDir()}`), "NotFound");
  });

  it("parses versions and rejects malformed URLs", () => {
    expect(parseIcechunkUrl("icechunk+s3://b/p#branch=dev")).toEqual({
      url: "s3://b/p",
      version: { branch: "dev" },
    });
    expect(parseIcechunkUrl("icechunk+swift://c/p#snapshot=ABC").version).toEqual({
      snapshot: "ABC",
    });
    expect(parseIcechunkUrl("icechunk+memory://").version).toEqual({ branch: "main" });
    expect(() => parseIcechunkUrl("file:///x")).toThrow(StoreError);
    expect(() => parseIcechunkUrl("icechunk+memory://#color=red")).toThrow(/branch=<name>/);
  });
});
