import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import * as zarr from "zarrita";
import { isStoreError, type StoreErrorCode } from "../../src/errors.js";
import { bytesToText, textToBytes } from "../../src/helpers.js";
import { serveHandler } from "../../src/ipfs/serve.node.js";
import type { AbsolutePath } from "../../src/keys.js";
import { openStore } from "../../src/open.node.js";
import type {
  CallOptions,
  Capabilities,
  ListDirResult,
  RangeQuery,
  SetResult,
  StatResult,
  Store,
} from "../../src/store.js";
import { MemoryStore } from "../../src/stores/memory.js";
import {
  type Reference,
  ReferenceStore,
  type ReferencesV0,
  renderTemplate,
} from "../../src/stores/reference.js";
import { describeConformance } from "../../src/testing/vitest.js";

async function rejects(promise: Promise<unknown>, code: StoreErrorCode): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    if (isStoreError(error, code)) return error;
    throw error;
  }
  throw new Error(`expected a StoreError ${code}`);
}

/**
 * For the conformance suite: a writer that turns each value into a reference (inline text,
 * base64, a byte range of a shared blob, or a whole file, in turn), and a store under test that
 * is a ReferenceStore over the spec written so far.
 */
class ReferenceWriter {
  readonly files = new MemoryStore();
  readonly spec: ReferencesV0 = {};
  #blob = new Uint8Array(0);
  #n = 0;

  write(key: string, value: Uint8Array): void {
    const n = this.#n++;
    const name = key.slice(1);
    const text = bytesToText(value);
    if (
      n % 4 === 0 &&
      textToBytes(text).every((b, i) => b === value[i]) &&
      !text.startsWith("base64:")
    ) {
      this.spec[name] = text;
    } else if (n % 4 === 1) {
      this.spec[name] = `base64:${Buffer.from(value).toString("base64")}`;
    } else if (n % 4 === 2) {
      const offset = this.#blob.byteLength + 3;
      const blob = new Uint8Array(offset + value.byteLength + 5);
      blob.set(this.#blob);
      blob.set(value, offset);
      this.#blob = blob;
      this.files.map.set("/blob.bin", blob);
      this.spec[name] = ["memory://blob.bin", offset, value.byteLength];
    } else {
      this.files.map.set(`/file-${n}`, value.slice());
      this.spec[name] = [`memory://file-${n}`] as Reference;
    }
  }

  reader(): ReferenceStore {
    return new ReferenceStore(this.spec, {
      resolve: (url) => ({
        store: this.files,
        key: `/${url.slice("memory://".length)}` as AbsolutePath,
      }),
    });
  }
}

class WriterStore implements Store {
  readonly capabilities: Capabilities = Object.freeze({
    write: true,
    overwrite: true,
    delete: false,
    list: false,
    getRange: false,
    suffixRange: false,
    conditionalWrite: false,
    atomicWrite: true,
    etag: false,
  });
  constructor(readonly writer: ReferenceWriter) {}
  async get(key: AbsolutePath) {
    return this.writer.reader().get(key);
  }
  async getRange(key: AbsolutePath, range: RangeQuery) {
    return this.writer.reader().getRange(key, range);
  }
  async stat(key: AbsolutePath): Promise<StatResult | undefined> {
    return this.writer.reader().stat(key);
  }
  async set(key: AbsolutePath, value: Uint8Array) {
    this.writer.write(key, value);
  }
  async put(key: AbsolutePath, value: Uint8Array): Promise<SetResult> {
    this.writer.write(key, value);
    return {};
  }
  async delete() {}
  async deletePrefix() {}
  async *list(): AsyncIterable<AbsolutePath> {}
  async listDir(): Promise<ListDirResult> {
    return { keys: [], prefixes: [] };
  }
  async close() {}
}

/** The store under test: a ReferenceStore over the spec as it stands at each call. */
class LiveReferences implements Store {
  readonly capabilities = new ReferenceStore({}).capabilities;
  constructor(readonly writer: ReferenceWriter) {}
  get(key: AbsolutePath, options?: CallOptions) {
    return this.writer.reader().get(key, options);
  }
  getRange(key: AbsolutePath, range: RangeQuery, options?: CallOptions) {
    return this.writer.reader().getRange(key, range, options);
  }
  stat(key: AbsolutePath, options?: CallOptions) {
    return this.writer.reader().stat(key, options);
  }
  set(key: AbsolutePath, _value: Uint8Array) {
    return this.writer.reader().set(key);
  }
  put(key: AbsolutePath) {
    return this.writer.reader().put(key);
  }
  delete(key: AbsolutePath) {
    return this.writer.reader().delete(key);
  }
  deletePrefix(prefix: string) {
    return this.writer.reader().deletePrefix(prefix);
  }
  list(prefix?: string, options?: CallOptions) {
    return this.writer.reader().list(prefix, options);
  }
  listDir(prefix?: string, options?: CallOptions) {
    return this.writer.reader().listDir(prefix, options);
  }
  async close() {}
}

const shared = new ReferenceWriter();
describeConformance(
  "ReferenceStore (over the references a writer made)",
  () => new LiveReferences(shared),
  {
    writer: () => new WriterStore(shared),
  },
);

const tmp = mkdtempSync(join(tmpdir(), "zarrstore-ref-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("ReferenceStore", () => {
  const files = new MemoryStore();
  files.map.set("/data.bin", textToBytes("0123456789abcdefghij"));
  const resolve = (url: string) => ({
    store: files,
    key: `/${url.split("/").pop()}` as AbsolutePath,
  });

  it("reads v0: inline text, base64, byte ranges and whole files", async () => {
    const store = new ReferenceStore(
      {
        ".zgroup": '{"zarr_format": 2}',
        "a/0": "base64:AAECAw==",
        "a/1": ["file:///x/data.bin", 10, 5],
        "a/2": ["file:///x/data.bin"],
      },
      { resolve },
    );
    expect(bytesToText((await store.get("/.zgroup")) as Uint8Array)).toBe('{"zarr_format": 2}');
    expect(await store.get("/a/0")).toEqual(Uint8Array.of(0, 1, 2, 3));
    expect(bytesToText((await store.get("/a/1")) as Uint8Array)).toBe("abcde");
    expect(bytesToText((await store.get("/a/2")) as Uint8Array)).toBe("0123456789abcdefghij");
    expect(
      bytesToText((await store.getRange("/a/1", { offset: 1, length: 2 })) as Uint8Array),
    ).toBe("bc");
    expect(bytesToText((await store.getRange("/a/1", { suffixLength: 2 })) as Uint8Array)).toBe(
      "de",
    );
    await rejects(store.getRange("/a/1", { offset: 5, length: 1 }), "RangeNotSatisfiable");
    expect(await store.stat("/a/1")).toEqual({ size: 5 });
    expect(await store.stat("/a/2")).toEqual({ size: 20 });
    expect(await store.get("/missing")).toBeUndefined();
    expect(await store.listDir("/")).toEqual({ keys: ["/.zgroup"], prefixes: ["/a/"] });
  });

  it("reads v1: templates, gen with arithmetic, and JSON-object metadata", async () => {
    const store = new ReferenceStore(
      {
        version: 1,
        templates: { u: "file:///x/data.bin", both: "{{u}}" },
        gen: [
          {
            key: "g/{{i}}.{{j}}",
            url: "{{u}}",
            offset: "{{i * 4 + j * 2}}",
            length: "2",
            dimensions: { i: { stop: 3 }, j: [0, 1] },
          },
        ],
        refs: { ".zattrs": { title: "t" }, "w/0": ["{{both}}", 0, 3] },
      },
      { resolve },
    );
    expect(store.size).toBe(8);
    expect(bytesToText((await store.get("/g/2.1")) as Uint8Array)).toBe("ab");
    expect(bytesToText((await store.get("/g/0.0")) as Uint8Array)).toBe("01");
    expect(bytesToText((await store.get("/w/0")) as Uint8Array)).toBe("012");
    expect(bytesToText((await store.get("/.zattrs")) as Uint8Array)).toBe('{"title":"t"}');
    expect(renderTemplate("{{ (a + 1) ** 2 // 3 }}-{{b}}", { a: 4, b: "x" })).toBe("8-x");
  });

  it("refuses bad specs with Config and bad targets with Integrity", async () => {
    expect(() => new ReferenceStore({ version: 2, refs: {} } as never)).toThrow(/version 2/);
    expect(() => new ReferenceStore({ "a/../b": "x" })).toThrow(/not a valid store key/);
    expect(() => new ReferenceStore({ a: ["u", -1, 2] })).toThrow(/invalid byte range/);
    expect(() => new ReferenceStore("{not json")).toThrow(/not JSON/);
    expect(() => new ReferenceStore({ a: "{{x|upper}}" })).not.toThrow(); // v0 strings are data
    const short = new ReferenceStore(
      { a: ["file:///x/data.bin", 15, 10], b: ["file:///x/nothing"] },
      { resolve },
    );
    expect((await rejects(short.get("/a"), "Integrity")).message).toMatch(/only 5 of them exist/);
    await rejects(short.get("/b"), "Integrity");
    await rejects(short.set("/a", Uint8Array.of(1)), "ReadOnly");
    expect(
      () => new ReferenceStore({ version: 1, templates: { x: "u" }, refs: { a: ["{{x|upper}}"] } }),
    ).toThrow(/cannot render/);
  });

  it("reads http(s) targets with byte ranges by default", async () => {
    const blob = textToBytes("HELLO, reference world");
    let ranges = 0;
    const server = await serveHandler(async (request) => {
      const range = /bytes=(\d+)-(\d+)/.exec(request.headers.get("range") ?? "");
      if (!range) return new Response(blob as Uint8Array<ArrayBuffer>);
      ranges += 1;
      const [start, end] = [Number(range[1]), Number(range[2])];
      return new Response(blob.slice(start, end + 1), {
        status: 206,
        headers: { "content-range": `bytes ${start}-${end}/${blob.byteLength}` },
      });
    });
    try {
      const store = new ReferenceStore({ x: [`${server.url}/files/blob.txt`, 7, 9] });
      expect(bytesToText((await store.get("/x")) as Uint8Array)).toBe("reference");
      expect(ranges).toBe(1);
      await store.close();
    } finally {
      await server.close();
    }
  });

  it("opens reference://path.json through openStore, relative targets beside the JSON", async () => {
    writeFileSync(join(tmp, "data.bin"), "0123456789");
    writeFileSync(
      join(tmp, "refs.json"),
      JSON.stringify({
        ".zgroup": '{"zarr_format": 2}',
        "v/.zarray": JSON.stringify({
          zarr_format: 2,
          shape: [2],
          chunks: [2],
          dtype: "|u1",
          compressor: null,
          fill_value: 0,
          filters: null,
          order: "C",
        }),
        "v/0": ["data.bin", 3, 2],
      }),
    );
    const store = await openStore(`reference://${join(tmp, "refs.json")}`);
    const arr = await zarr.open.v2(zarr.root(store).resolve("v"), { kind: "array" });
    expect(Array.from((await zarr.get(arr)).data as Uint8Array)).toEqual([0x33, 0x34]);
    expect(store.capabilities.write).toBe(false);
    await store.close();
  });
});
