import { describe, expect, it } from "vitest";
import * as zarr from "zarrita";
import { ForwardingStore } from "../../src/adapters/forward.js";
import { isStoreError } from "../../src/errors.js";
import { bytesToText, textToBytes } from "../../src/helpers.js";
import type { CallOptions, ListDirResult } from "../../src/store.js";
import { MemoryStore } from "../../src/stores/memory.js";
import {
  consolidate,
  consolidatedV3,
  parseMetadataJson,
  parsePythonJson,
  pythonJsonDumps,
} from "../../src/zarr/consolidate.js";
import { describeLive } from "../support/live.js";
import { PYTHON, pythonZarrAvailable, runPython } from "../support/python.js";

/** Records the folders listed, to show that array folders (and their chunks) are never listed. */
class ListingLog extends ForwardingStore {
  readonly listed: string[] = [];
  override listDir(prefix?: string, options?: CallOptions): Promise<ListDirResult> {
    this.listed.push(prefix ?? "/");
    return this.inner.listDir(prefix, options);
  }
}

const json = (value: unknown) => textToBytes(JSON.stringify(value));

/** A v2 hierarchy: root group, array `a`, group `g` with array `b` (nested chunk keys). */
function v2Store(): MemoryStore {
  return new MemoryStore(
    new Map([
      ["/.zgroup", json({ zarr_format: 2 })],
      ["/.zattrs", json({ title: "t" })],
      ["/a/.zarray", json({ zarr_format: 2, shape: [4], chunks: [2], dtype: "<i2" })],
      ["/a/.zattrs", json({ _ARRAY_DIMENSIONS: ["x"] })],
      ["/a/0", Uint8Array.of(1, 2, 3, 4)],
      ["/a/1", Uint8Array.of(5, 6, 7, 8)],
      ["/g/.zgroup", json({ zarr_format: 2 })],
      ["/g/b/.zarray", json({ zarr_format: 2, shape: [2, 2], chunks: [1, 1], dtype: "|u1" })],
      ["/g/b/0/0", Uint8Array.of(9)],
      ["/g/b/0/1", Uint8Array.of(9)],
      ["/g/empty/keep", Uint8Array.of(0)],
    ]),
  );
}

describe("consolidate v2", () => {
  it("writes .zmetadata with every .zgroup, .zarray and .zattrs keyed relative to the group", async () => {
    const store = v2Store();
    const result = await consolidate(store);
    expect(result.written).toEqual(["/.zmetadata"]);
    const doc = JSON.parse(bytesToText(store.map.get("/.zmetadata") as Uint8Array));
    expect(doc.zarr_consolidated_format).toBe(1);
    expect(Object.keys(doc.metadata)).toEqual([
      ".zattrs",
      ".zgroup",
      "a/.zarray",
      "a/.zattrs",
      "g/.zgroup",
      "g/b/.zarray",
    ]);
    expect(doc.metadata["a/.zarray"]).toEqual({
      zarr_format: 2,
      shape: [4],
      chunks: [2],
      dtype: "<i2",
    });
    expect(result.documents).toBe(6);
  });

  it("never lists array folders, so chunks are not enumerated", async () => {
    const log = new ListingLog(v2Store());
    await consolidate(log);
    expect(log.listed.sort()).toEqual(["/", "/g/", "/g/empty/"]);
  });

  it("consolidates a sub-group with keys relative to it", async () => {
    const store = v2Store();
    await consolidate(store, { prefix: "g" });
    const doc = JSON.parse(bytesToText(store.map.get("/g/.zmetadata") as Uint8Array));
    expect(Object.keys(doc.metadata)).toEqual([".zgroup", "b/.zarray"]);
  });

  it("zarrita opens the result with withConsolidatedMetadata, without listing", async () => {
    const store = v2Store();
    await consolidate(store);
    const consolidated = await zarr.withConsolidatedMetadata(store, { format: "v2" });
    expect(consolidated.contents().sort((a, b) => (a.path < b.path ? -1 : 1))).toEqual([
      { path: "/", kind: "group" },
      { path: "/a", kind: "array" },
      { path: "/g", kind: "group" },
      { path: "/g/b", kind: "array" },
    ]);
  });

  it("keeps Python's bare NaN and Infinity in attributes", async () => {
    const store = v2Store();
    await store.set("/a/.zattrs", textToBytes('{"missing": NaN, "max": Infinity, "s": "NaN"}'));
    await consolidate(store);
    const text = bytesToText(store.map.get("/.zmetadata") as Uint8Array);
    expect(text).toContain('"max": Infinity');
    expect(text).toContain('"missing": NaN');
    expect(text).toContain('"s": "NaN"');
  });
});

describe("consolidate v3", () => {
  async function v3Store(): Promise<MemoryStore> {
    const store = new MemoryStore();
    const root = await zarr.create(store, { attributes: { title: "v3" } });
    const temp = await zarr.create(root.resolve("temp"), {
      shape: [4, 4],
      chunkShape: [2, 2],
      dtype: "float32",
      attributes: { units: "K" },
    });
    await zarr.set(temp, null, {
      data: Float32Array.from({ length: 16 }, (_, i) => i / 2),
      shape: [4, 4],
      stride: [4, 1],
    });
    const group = await zarr.create(root.resolve("g"), { attributes: { kind: "child" } });
    const deep = await zarr.create(group.resolve("deep"), {
      shape: [3],
      chunkShape: [3],
      dtype: "int16",
    });
    await zarr.set(deep, null, { data: Int16Array.of(-1, 0, 1), shape: [3], stride: [1] });
    return store;
  }

  it("adds consolidated_metadata to the root zarr.json as zarr-python writes it", async () => {
    const store = await v3Store();
    const before = JSON.parse(bytesToText(store.map.get("/zarr.json") as Uint8Array));
    const result = await consolidate(store);
    expect(result.written).toEqual(["/zarr.json"]);
    const doc = JSON.parse(bytesToText(store.map.get("/zarr.json") as Uint8Array));
    expect(doc).toMatchObject({
      ...before,
      consolidated_metadata: { kind: "inline", must_understand: false },
    });
    expect(Object.keys(doc.consolidated_metadata.metadata)).toEqual(["g", "temp", "g/deep"]);
    expect(doc.consolidated_metadata.metadata.g.consolidated_metadata).toEqual({
      kind: "inline",
      must_understand: false,
      metadata: {},
    });
    expect(doc.consolidated_metadata.metadata.temp.attributes).toEqual({ units: "K" });
  });

  it("zarrita reads every array through withConsolidatedMetadata", async () => {
    const store = await v3Store();
    await consolidate(store);
    const consolidated = await zarr.withConsolidatedMetadata(store, { format: "v3" });
    expect(
      consolidated
        .contents()
        .map((c) => `${c.kind} ${c.path}`)
        .sort(),
    ).toEqual(["array /g/deep", "array /temp", "group /", "group /g"]);
    const deep = await zarr.open.v3(zarr.root(consolidated).resolve("g/deep"), { kind: "array" });
    expect(Array.from((await zarr.get(deep)).data as Int16Array)).toEqual([-1, 0, 1]);
    const temp = await zarr.open.v3(zarr.root(consolidated).resolve("temp"), { kind: "array" });
    expect((await zarr.get(temp)).data).toEqual(Float32Array.from({ length: 16 }, (_, i) => i / 2));
  });

  it("re-consolidating replaces the old block instead of nesting it", async () => {
    const store = await v3Store();
    await consolidate(store);
    const first = store.map.get("/zarr.json");
    await consolidate(store);
    expect(store.map.get("/zarr.json")).toEqual(first);
  });

  it("refuses a v3 array as the root: consolidated metadata lives in a group", () => {
    expect(() =>
      consolidatedV3([{ path: "", zarrJson: { zarr_format: 3, node_type: "array" } }]),
    ).toThrow(/group/);
  });
});

describe("consolidate errors", () => {
  it("says when there is no group", async () => {
    const error = await consolidate(new MemoryStore()).catch((e) => e);
    expect(isStoreError(error, "NotFound")).toBe(true);
    expect(error.message).toMatch(/no Zarr group at \/: found neither .zgroup nor zarr.json/);
  });

  it("says when the asked format is missing", async () => {
    await expect(consolidate(v2Store(), { format: 3 })).rejects.toMatchObject({
      code: "NotFound",
      message: expect.stringMatching(/no v3 metadata/),
    });
  });

  it("reports metadata that is not JSON as Integrity, naming the key", async () => {
    const store = v2Store();
    await store.set("/g/b/.zarray", textToBytes("{not json"));
    await expect(consolidate(store)).rejects.toMatchObject({
      code: "Integrity",
      key: "/g/b/.zarray",
    });
  });
});

describe("Python-style JSON", () => {
  it("parses bare NaN and ±Infinity outside strings only", () => {
    const value = parsePythonJson(
      '{"a": NaN, "b": [-Infinity, Infinity], "c": "NaN Infinity", "d": "x\\"NaN"}',
    );
    expect(value).toEqual({
      a: Number.NaN,
      b: [-Infinity, Infinity],
      c: "NaN Infinity",
      d: 'x"NaN',
    });
  });

  it("writes numbers back as they were spelled: floats stay floats, int64 keeps every digit", () => {
    const text =
      '{"fill_value": 0.0, "big": 9007199254740993, "tiny": 1e-05, "neg": -0, "list": [1.50]}';
    const raw = parseMetadataJson(text);
    expect(pythonJsonDumps(raw, { indent: 0 }).replace(/\n/g, "")).toBe(
      '{"fill_value": 0.0,"big": 9007199254740993,"tiny": 1e-05,"neg": -0,"list": [1.50]}',
    );
  });

  it("keeps __proto__ as a plain key, never a prototype", () => {
    const value = parsePythonJson('{"__proto__": {"polluted": true}, "a": 1}') as Record<
      string,
      unknown
    >;
    expect(Object.keys(value)).toEqual(["__proto__", "a"]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(value)).toBe(Object.prototype);
  });

  it("rejects what is not JSON with Integrity, saying where", () => {
    for (const text of ["{", '{"a" 1}', "[1,]", '{"a": 1} x', "nan", '"\\u12"', "01"]) {
      expect(() => parseMetadataJson(text, "/x/.zarray")).toThrow(
        /\/x\/.zarray is not valid JSON: .* at offset \d+/,
      );
    }
  });

  describeLive(
    "matches json.dumps(indent=4, sort_keys=True, ensure_ascii=True)",
    pythonZarrAvailable,
    () => {
      it("byte for byte, for unicode, nesting, empties and non-finite numbers", () => {
        const doc = {
          z: [1, 2.5, -0.125, 1e21, 123456789012],
          a: { é: "naïve ☃ 😀", empty: {}, list: [], nested: [{ b: null, a: true }] },
          nan: Number.NaN,
          inf: [Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY],
          tab: 'a\tb\n"q"\\',
        };
        const ours = pythonJsonDumps(doc, { indent: 4, sortKeys: true });
        const script = `
import json, sys
doc = json.loads(sys.argv[1])
sys.stdout.write(json.dumps(doc, indent=4, sort_keys=True, ensure_ascii=True, separators=(",", ": ")))
`;
        const theirs = runPython(script, [pythonJsonDumps(doc, { indent: 0 })]);
        expect(PYTHON).toBe("/usr/bin/python3");
        expect(ours).toBe(theirs);
      });
    },
  );
});
