import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as zarr from "zarrita";
import {
  type SyncSetOptions,
  type SyncStore,
  type WorkerSyncStore,
  withSync,
} from "../../src/adapters/sync.js";
import { throwIfAborted } from "../../src/errors.js";
import { textToBytes } from "../../src/helpers.js";
import type { AbsolutePath } from "../../src/keys.js";
import type { CallOptions, Capabilities, RangeQuery, SetOptions, Store } from "../../src/store.js";
import { FileSystemStore } from "../../src/stores/fs.js";
import { HttpStore } from "../../src/stores/http.node.js";
import { describeConformance } from "../../src/testing/vitest.js";
import { type FaultHttpServerThread, startFaultHttpServerInThread } from "../support/faults.js";

/** Plain synchronous code: no promise anywhere, as a zarrita SyncReadable consumer sees it. */
function copyAllSync(from: SyncStore, to: SyncStore, keys: AbsolutePath[]): number {
  let bytes = 0;
  for (const key of keys) {
    const value = from.get(key);
    if (value === undefined) throw new Error(`${key} is missing`);
    to.set(key, value);
    bytes += value.byteLength;
  }
  return bytes;
}

/**
 * The synchronous face turned back into an async Store, so that the conformance suite can drive
 * every call through the worker.
 */
class ThroughSync implements Store {
  readonly capabilities: Capabilities;
  constructor(readonly face: WorkerSyncStore) {
    this.capabilities = face.capabilities;
  }
  async get(key: AbsolutePath, options?: CallOptions) {
    throwIfAborted(options?.signal, "get", key);
    return this.face.get(key);
  }
  async getRange(key: AbsolutePath, range: RangeQuery, options?: CallOptions) {
    throwIfAborted(options?.signal, "getRange", key);
    return this.face.getRange(key, range);
  }
  async stat(key: AbsolutePath) {
    return this.face.stat(key);
  }
  async set(key: AbsolutePath, value: Uint8Array, options?: SetOptions) {
    this.face.set(key, value, conditions(options));
  }
  async put(key: AbsolutePath, value: Uint8Array, options?: SetOptions) {
    return this.face.put(key, value, conditions(options));
  }
  async delete(key: AbsolutePath) {
    this.face.delete(key);
  }
  async deletePrefix(prefix: string) {
    this.face.deletePrefix(prefix);
  }
  async *list(prefix?: string) {
    yield* this.face.list(prefix);
  }
  async listDir(prefix?: string) {
    return this.face.listDir(prefix);
  }
  async close() {
    this.face.close();
  }
}

function conditions(options: SetOptions | undefined): SyncSetOptions | undefined {
  if (options === undefined) return undefined;
  return { ifNoneMatch: options.ifNoneMatch, ifMatch: options.ifMatch };
}

describeConformance(
  "withSync(memory://), driven through its synchronous face",
  () => new ThroughSync(withSync("memory://")),
  {
    teardown: (store) => store.close(),
  },
);

describe("withSync over memory://", () => {
  const store = withSync("memory://");
  afterAll(() => store.close());

  it("answers every call synchronously", () => {
    expect(store.capabilities.write).toBe(true);
    store.set("/a/b", textToBytes("0123456789"));
    expect(store.get("/a/b")).toEqual(textToBytes("0123456789"));
    expect(store.get("/a/none")).toBeUndefined();
    expect(store.getRange("/a/b", { offset: 2, length: 3 })).toEqual(textToBytes("234"));
    expect(store.getRange("/a/b", { suffixLength: 2 })).toEqual(textToBytes("89"));
    expect(store.stat("/a/b")?.size).toBe(10);
    const { etag } = store.put("/a/c", textToBytes("x"), { ifNoneMatch: "*" });
    expect(etag).toBe(store.stat("/a/c")?.etag);
    expect(store.list("/a/")).toEqual(["/a/b", "/a/c"]);
    expect(store.listDir("/")).toEqual({ keys: [], prefixes: ["/a/"] });
    store.delete("/a/c");
    expect(store.get("/a/c")).toBeUndefined();
    store.deletePrefix("/a/");
    expect(store.list()).toEqual([]);
  });

  it("throws the store's errors as StoreErrors", () => {
    store.set("/once", textToBytes("1"));
    expect(() => store.set("/once", textToBytes("2"), { ifNoneMatch: "*" })).toThrow(
      expect.objectContaining({ name: "StoreError", code: "ConditionFailed", operation: "set" }),
    );
    expect(() => store.get("/a//b" as AbsolutePath)).toThrow(
      expect.objectContaining({ code: "InvalidKey" }),
    );
    expect(() => store.getRange("/once", { offset: 5, length: 1 })).toThrow(
      expect.objectContaining({ code: "RangeNotSatisfiable" }),
    );
  });

  it("serves zarrita's synchronous store interface", async () => {
    const arr = await zarr.create(zarr.root(store).resolve("z"), {
      shape: [6],
      chunkShape: [4],
      dtype: "int32",
    });
    await zarr.set(arr, null, { data: Int32Array.of(1, 2, 3, 4, 5, 6), shape: [6], stride: [1] });
    expect(store.list("/z/")).toEqual(["/z/c/0", "/z/c/1", "/z/zarr.json"]);
    const reopened = await zarr.open(zarr.root(store).resolve("z"), { kind: "array" });
    expect(Array.from((await zarr.get(reopened)).data as Int32Array)).toEqual([1, 2, 3, 4, 5, 6]);
  });
});

describe("withSync over a module export", () => {
  it("constructs a class export", () => {
    const store = withSync({
      module: new URL("../../src/stores/memory.ts", import.meta.url),
      export: "MemoryStore",
    });
    store.set("/k", textToBytes("v"));
    expect(store.get("/k")).toEqual(textToBytes("v"));
    store.close();
  });

  it("calls a factory export with its arguments", () => {
    const store = withSync({
      module: new URL("../../src/open.node.ts", import.meta.url),
      export: "openStore",
      args: ["memory://"],
    });
    expect(store.capabilities.list).toBe(true);
    store.close();
  });

  it("reports a bad source when it is made", () => {
    expect(() => withSync("nope://x")).toThrow(expect.objectContaining({ code: "Config" }));
    expect(() =>
      withSync({ module: new URL("../../src/keys.ts", import.meta.url), export: "nothing" }),
    ).toThrow(/no export "nothing"/);
  });
});

describe("withSync over a file URL", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), "zarrstore-sync-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("writes files the async FileSystemStore reads, and reads what it writes", async () => {
    const store = withSync(pathToFileURL(dir).href);
    store.set("/g/zarr.json", textToBytes('{"zarr_format":3}'));
    const fs = new FileSystemStore(dir);
    expect(await fs.get("/g/zarr.json")).toEqual(textToBytes('{"zarr_format":3}'));
    await fs.set("/g/c/0", textToBytes("chunk"));
    expect(store.get("/g/c/0")).toEqual(textToBytes("chunk"));
    expect(store.listDir("/g/")).toEqual({ keys: ["/g/zarr.json"], prefixes: ["/g/c/"] });
    store.close();
    await fs.close();
  });
});

describe("withSync over HttpStore", () => {
  // The server runs in a thread of its own: this thread blocks in every synchronous call.
  let server: FaultHttpServerThread;
  let http: HttpStore;
  beforeAll(async () => {
    server = await startFaultHttpServerInThread({ rate: 1, kinds: ["slow"], slowMs: 1_500 });
    server.faults = false;
    http = new HttpStore(server.url, { writable: true });
  });
  afterAll(async () => {
    await http?.close();
    await server?.stop();
  });

  it("reads and writes through HTTP from synchronous code", async () => {
    const store = withSync(server.url, { open: { writable: true, conditionalWrite: true } });
    expect(store.capabilities).toMatchObject({ write: true, list: false, conditionalWrite: true });
    const source = withSync("memory://");
    const keys: AbsolutePath[] = ["/d/zarr.json", "/d/c/0", "/d/c/1"];
    for (const [i, key] of keys.entries())
      source.set(key, textToBytes(`value ${i} `.repeat(i + 1)));

    const copied = copyAllSync(source, store, keys);
    expect(copied).toBe(8 + 16 + 24);
    expect(await http.get("/d/c/1")).toEqual(textToBytes("value 2 value 2 value 2 "));
    expect(store.get("/d/c/2")).toBeUndefined();
    expect(store.getRange("/d/c/1", { suffixLength: 8 })).toEqual(textToBytes("value 2 "));
    expect(store.stat("/d/c/0")?.size).toBe(16);
    expect(() => store.set("/d/c/0", textToBytes("again"), { ifNoneMatch: "*" })).toThrow(
      expect.objectContaining({ code: "ConditionFailed" }),
    );
    store.delete("/d/c/0");
    expect(await http.get("/d/c/0")).toBeUndefined();
    expect(() => store.list("/")).toThrow(expect.objectContaining({ code: "Unsupported" }));
    source.close();
    store.close();
  });

  it("lets zarrita write and read an array over HTTP through the synchronous face", async () => {
    const store = withSync(server.url, { open: { writable: true } });
    const arr = await zarr.create(zarr.root(store).resolve("temperature"), {
      shape: [4, 5],
      chunkShape: [2, 3],
      dtype: "float32",
    });
    const values = Float32Array.from({ length: 20 }, (_, i) => i / 4);
    await zarr.set(arr, null, { data: values, shape: [4, 5], stride: [5, 1] });
    expect(await http.stat("/temperature/c/1/1")).toBeDefined();
    // An ordinary async HttpStore sees what the synchronous face wrote.
    const reopened = await zarr.open(zarr.root(http).resolve("temperature"), { kind: "array" });
    expect(Array.from((await zarr.get(reopened)).data as Float32Array)).toEqual(Array.from(values));
    store.close();
  });

  it("fails a call that outlasts timeoutMs, and drops its late answer", async () => {
    await http.set("/slow", textToBytes("late"));
    await http.set("/fast", textToBytes("quick"));
    const store = withSync(server.url, { timeoutMs: 300 });
    server.faults = true; // every answer now takes 1.5 s
    const started = performance.now();
    expect(() => store.get("/slow")).toThrow(
      expect.objectContaining({ code: "Timeout", backend: "withSync" }),
    );
    expect(performance.now() - started).toBeLessThan(1_200);
    server.faults = false;
    // Let the late answer to /slow arrive first: it must not be taken for /fast's.
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1_600);
    expect(store.get("/fast")).toEqual(textToBytes("quick"));
    store.close();
  });

  it("refuses calls once closed; close is idempotent", () => {
    const store = withSync("memory://");
    store.close();
    store.close();
    expect(() => store.get("/k")).toThrow(/closed/);
  });
});
