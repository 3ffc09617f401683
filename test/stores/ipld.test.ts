import { createHash } from "node:crypto";
import { CarReader } from "@ipld/car";
import * as dagCbor from "@ipld/dag-cbor";
import { CID } from "multiformats/cid";
import { describe, expect, it } from "vitest";
import * as zarr from "zarrita";
import { isStoreError, type StoreErrorCode } from "../../src/errors.js";
import { textToBytes } from "../../src/helpers.js";
import {
  cidKey,
  IPLDStore,
  MappingCAStore,
  parseJson,
  stringifyJson,
} from "../../src/stores/ipld/index.js";
import { MemoryStore } from "../../src/stores/memory.js";
import { describeConformance } from "../../src/testing/vitest.js";

describeConformance("IPLDStore (private memory)", () => new IPLDStore(), { tier: "heavy" });
describeConformance(
  "IPLDStore over MappingCAStore(MemoryStore)",
  () => new IPLDStore(new MappingCAStore(new MemoryStore(), { prefix: "blocks" })),
);
describeConformance(
  "IPLDStore with inlineZarrJson",
  () => new IPLDStore(undefined, { inlineZarrJson: true }),
);
describeConformance(
  "IPLDStore with maxBlockSize 8 KiB",
  () => new IPLDStore(undefined, { maxBlockSize: 8192 }),
);

const json = (text: string) => textToBytes(text);
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");
const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

async function rejects(promise: Promise<unknown>, code: StoreErrorCode): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    if (isStoreError(error, code)) return error;
    throw error;
  }
  throw new Error(`expected a StoreError ${code}`);
}

/** The writes of the README's `xr.Dataset({"a": ("a", [1, 2, 3])})` (compressor None). */
async function writeReadmeDataset(store: IPLDStore): Promise<void> {
  await store.set("/.zgroup", json('{"zarr_format":2}'));
  await store.set("/.zattrs", json("{}"));
  await store.set(
    "/a/.zarray",
    json(
      '{"chunks":[3],"compressor":null,"dtype":"<i8","fill_value":null,"filters":null,"order":"C","shape":[3],"zarr_format":2}',
    ),
  );
  await store.set("/a/.zattrs", json('{"_ARRAY_DIMENSIONS":["a"]}'));
  await store.set("/a/0", new Uint8Array(BigInt64Array.of(1n, 2n, 3n).buffer));
}

// The root block as the seed's README prints it (Python bytes repr, decoded by hand to hex).
const README_ROOT_BLOCK =
  "a36161a36130d82a58250001551220e2e2033ae7e19d680599d4eb0a1359a2b48ec5baac75066c317fbf85159c54ef" +
  "672e7a6172726179a8656474797065633c6938656f7264657261436573686170658103666368756e6b7381036766" +
  "696c74657273f66a636f6d70726573736f72f66a66696c6c5f76616c7565f66b7a6172725f666f726d617402672e" +
  "7a6174747273a1715f41525241595f44494d454e53494f4e53816161672e7a6174747273a0672e7a67726f7570a1" +
  "6b7a6172725f666f726d617402";

describe("IPLDStore: the README vector", () => {
  it("reproduces the raw CID, root CID, root block, backend keys and CAR", async () => {
    const backend = new MemoryStore();
    const store = new IPLDStore(new MappingCAStore(backend));
    await writeReadmeDataset(store);
    const root = await store.freeze();
    expect(root.toString()).toBe("bafyreidn66mk3fktszrfwayonvpq6y3agtnb5e5o22ivof5tgikbxt7k6u");
    expect([...backend.map.keys()].sort()).toEqual([
      "/bafkreihc4ibtvz7btvualgou5mfbgwncwshmlovmoudgyml7x6crlhcu54",
      "/bafyreidn66mk3fktszrfwayonvpq6y3agtnb5e5o22ivof5tgikbxt7k6u",
    ]);
    const block = backend.map.get(`/${root}`) as Uint8Array;
    expect(block.byteLength).toBe(198);
    expect(hex(block)).toBe(README_ROOT_BLOCK);
    const car = await store.toCar();
    expect(car.byteLength).toBe(356);
    expect(sha256(car)).toBe("3822e776b8f94ef214d53b568b533d6b4ec7112e6c9aa3b4ad8818f4dc3a00be");
  });

  it("names raw 00 01 02 03 04 as the README does", async () => {
    const store = new IPLDStore();
    await store.set("/x", Uint8Array.of(0, 1, 2, 3, 4));
    expect((await store.stat("/x"))?.etag).toBe(
      '"bafkreiaixnpf23vkyecj5xqispjq5ubcwgsntnnurw2bjby7khe4wnjihu"',
    );
  });

  it("imports its CAR into another store with the same root and values", async () => {
    const store = new IPLDStore();
    await writeReadmeDataset(store);
    const car = await store.toCar();
    const copyBackend = new MemoryStore();
    const copy = new IPLDStore(new MappingCAStore(copyBackend));
    expect(copyBackend.map.size).toBe(0);
    const root = await copy.importCar(car);
    expect(root.toString()).toBe("bafyreidn66mk3fktszrfwayonvpq6y3agtnb5e5o22ivof5tgikbxt7k6u");
    expect((await copy.freeze()).toString()).toBe(root.toString());
    expect(copyBackend.map.size).toBe(2);
    const arr = await zarr.open.v2(zarr.root(copy).resolve("a"), { kind: "array" });
    expect(Array.from((await zarr.get(arr)).data as BigInt64Array)).toEqual([1n, 2n, 3n]);
  });

  it("reads metadata back as the original does: json.dumps of the document", async () => {
    const store = new IPLDStore();
    await writeReadmeDataset(store);
    const text = new TextDecoder().decode(await store.get("/a/.zarray"));
    expect(text).toBe(
      '{"chunks": [3], "compressor": null, "dtype": "<i8", "fill_value": null, "filters": null, "order": "C", "shape": [3], "zarr_format": 2}',
    );
    // Read back from the CAR the order is the encoded (canonical) one, as in Python.
    const copy = await IPLDStore.fromCar(await store.toCar());
    expect(new TextDecoder().decode(await copy.get("/a/.zarray"))).toBe(
      '{"dtype": "<i8", "order": "C", "shape": [3], "chunks": [3], "filters": null, "compressor": null, "fill_value": null, "zarr_format": 2}',
    );
  });

  it("writes a CAR that @ipld/car reads with the same root and blocks", async () => {
    const store = new IPLDStore();
    await writeReadmeDataset(store);
    await store.set("/b/0", Uint8Array.of(9, 9, 9));
    const reader = await CarReader.fromBytes(await store.toCar());
    expect((await reader.getRoots()).map(String)).toEqual([(await store.freeze()).toString()]);
    const cids: string[] = [];
    for await (const block of reader.blocks()) cids.push(block.cid.toString());
    expect(cids).toHaveLength(3);
    expect(cids[0]).toBe((await store.freeze()).toString());
  });
});

describe("IPLDStore: JSON number fidelity", () => {
  async function rootOf(zattrs: string): Promise<string> {
    const store = new IPLDStore();
    await store.set("/.zattrs", json(zattrs));
    return (await store.freeze()).toString();
  }

  it("keeps 0.0 and 40.0 floats: they give other CIDs than 0 and 40", async () => {
    expect(await rootOf('{"v": 0.0}')).not.toBe(await rootOf('{"v": 0}'));
    expect(await rootOf('{"v": 40.0}')).not.toBe(await rootOf('{"v": 40}'));
    expect(await rootOf('{"v": 4e1}')).toBe(await rootOf('{"v": 40.0}'));
  });

  it("encodes floats as 64-bit CBOR floats and ints as ints", async () => {
    const store = new IPLDStore();
    await store.set("/.zattrs", json('{"f": 0.0, "i": 0, "h": 1.5, "n": -0.0}'));
    const root = await store.freeze();
    const block = (await store.castore.get(root)) as Uint8Array;
    // {".zattrs": {"f": 0.0, "h": 1.5, "i": 0, "n": -0.0}} in canonical order
    expect(hex(block)).toBe(
      "a1672e7a6174747273a46166fb00000000000000006168fb3ff80000000000006169006" +
        "16efb8000000000000000",
    );
  });

  it("keeps integers beyond 2^53 exact through freeze, CAR and get", async () => {
    const big = "18446744073709551615"; // 2^64 - 1
    const neg = "-9007199254740993"; // -(2^53 + 1)
    const store = new IPLDStore();
    await store.set("/.zattrs", json(`{"big": ${big}, "neg": ${neg}}`));
    const block = (await store.castore.get(await store.freeze())) as Uint8Array;
    const decoded = dagCbor.decode(block) as { ".zattrs": { big: bigint; neg: bigint } };
    expect(decoded[".zattrs"].big).toBe(2n ** 64n - 1n);
    expect(decoded[".zattrs"].neg).toBe(-(2n ** 53n) - 1n);
    const copy = await IPLDStore.fromCar(await store.toCar());
    expect(new TextDecoder().decode(await copy.get("/.zattrs"))).toBe(
      `{"big": ${big}, "neg": ${neg}}`,
    );
    expect((await copy.freeze()).toString()).toBe((await store.freeze()).toString());
  });

  it("fails at freeze() with a clear error for NaN and Infinity, naming the key", async () => {
    for (const token of ["NaN", "Infinity", "-Infinity", "1e400"]) {
      const store = new IPLDStore();
      await store.set("/g/.zattrs", json(`{"scale": ${token}}`));
      // Reading works (the value is kept as written) ...
      expect(new TextDecoder().decode(await store.get("/g/.zattrs"))).toContain('"scale"');
      // ... but the tree cannot be encoded.
      const error = await rejects(store.freeze(), "Unsupported");
      expect(error.message).toContain("/g/.zattrs");
      expect(error.message).toContain("$.scale");
      await store.set("/g/.zattrs", json('{"scale": "NaN"}'));
      await store.freeze();
    }
  });

  it("fails at freeze() for integers beyond 64 bits", async () => {
    const store = new IPLDStore();
    await store.set("/.zattrs", json('{"n": 18446744073709551616}'));
    expect((await rejects(store.freeze(), "Unsupported")).message).toContain("64 bits");
  });

  it("parses and writes JSON as Python's json.loads / json.dumps", () => {
    const cases: [string, string][] = [
      ['{"a":1.0,"b":1e-7,"c":1e16,"d":123456789012345678,"e":"é\\u2603😀"}', ""],
      ["[0.1, 100.0, 1e15, 1.5e300, -2.5e-5, 0.0001, 1E+2]", ""],
    ];
    expect(stringifyJson(parseJson(cases[0]?.[0] as string))).toBe(
      '{"a": 1.0, "b": 1e-07, "c": 1e+16, "d": 123456789012345678, "e": "\\u00e9\\u2603\\ud83d\\ude00"}',
    );
    expect(stringifyJson(parseJson(cases[1]?.[0] as string))).toBe(
      "[0.1, 100.0, 1000000000000000.0, 1.5e+300, -2.5e-05, 0.0001, 100.0]",
    );
    for (const bad of ["{", "[1,]", "01", '{"a" 1}', "nul", '"\u0001"', "1 2"]) {
      expect(() => parseJson(bad), bad).toThrow(/at line 1/);
    }
  });
});

describe("IPLDStore: tree behaviour", () => {
  it("caches the root until a change, deletes included", async () => {
    const store = new IPLDStore();
    await writeReadmeDataset(store);
    const first = await store.freeze();
    expect(await store.freeze()).toBe(first);
    await store.delete("/a/0");
    const second = await store.freeze();
    expect(second.toString()).not.toBe(first.toString());
    await store.set("/a/0", new Uint8Array(BigInt64Array.of(1n, 2n, 3n).buffer));
    expect((await store.freeze()).toString()).toBe(first.toString());
    await store.deletePrefix("/a/");
    expect((await store.freeze()).toString()).not.toBe(first.toString());
  });

  it("prunes folders left empty by deletes, so the root equals a store that never had them", async () => {
    const store = new IPLDStore();
    await store.set("/.zgroup", json('{"zarr_format": 2}'));
    const before = (await store.freeze()).toString();
    await store.set("/x/y/z", Uint8Array.of(1));
    await store.set("/x/w", Uint8Array.of(2));
    await store.delete("/x/y/z");
    expect(await store.listDir("/x")).toEqual({ keys: ["/x/w"], prefixes: [] });
    await store.delete("/x/w");
    expect(await store.listDir("/")).toEqual({ keys: ["/.zgroup"], prefixes: [] });
    expect((await store.freeze()).toString()).toBe(before);
  });

  it("setRoot takes a CID or its string and moves the tree", async () => {
    const castore = new MappingCAStore();
    const store = new IPLDStore(castore);
    await writeReadmeDataset(store);
    const root = await store.freeze();
    const other = new IPLDStore(castore);
    await other.setRoot(root.toString());
    expect(await other.get("/a/0")).toEqual(await store.get("/a/0"));
    await other.set("/b", Uint8Array.of(1));
    await other.setRoot(root);
    expect(await other.get("/b")).toBeUndefined();
    expect(await other.freeze()).toEqual(root);
    // A CIDv0 spelling of the same root is found too (normalised lookup).
    await rejects(
      other.setRoot("bafyreigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi"),
      "NotFound",
    );
    await rejects(other.setRoot("not a cid"), "Config");
  });

  it("rejects non-JSON under a metadata name with Unsupported and keeps the store as it was", async () => {
    const store = new IPLDStore();
    await store.set("/a/.zarray", json('{"zarr_format": 2}'));
    const error = await rejects(store.set("/a/.zarray", Uint8Array.of(0xff, 0x00)), "Unsupported");
    expect(error.message).toMatch(/must be JSON/);
    await rejects(store.set("/.zattrs", json("{'single': 1}")), "Unsupported");
    expect(new TextDecoder().decode(await store.get("/a/.zarray"))).toBe('{"zarr_format": 2}');
  });

  it("refuses a name that would be both a value and a folder, and metadata names as folders", async () => {
    const store = new IPLDStore();
    await store.set("/a/b", Uint8Array.of(1));
    await rejects(store.set("/a", Uint8Array.of(2)), "Conflict");
    await rejects(store.set("/a/b/c", Uint8Array.of(3)), "Conflict");
    await rejects(store.set("/g/.zattrs/x", Uint8Array.of(4)), "Unsupported");
    expect(await store.get("/a/b")).toEqual(Uint8Array.of(1));
  });

  it("inlines zarr.json only with inlineZarrJson, and reads inlined ones back either way", async () => {
    const doc = '{"zarr_format": 3, "node_type": "group", "attributes": {"x": 1.0}}';
    const plain = new IPLDStore();
    await plain.set("/zarr.json", json(doc));
    const plainRoot = dagCbor.decode(
      (await plain.castore.get(await plain.freeze())) as Uint8Array,
    ) as Record<string, unknown>;
    expect(CID.asCID(plainRoot["zarr.json"])?.code).toBe(0x55);

    const inlined = new IPLDStore(undefined, { inlineZarrJson: true });
    await inlined.set("/zarr.json", json(doc));
    const inlinedRoot = dagCbor.decode(
      (await inlined.castore.get(await inlined.freeze())) as Uint8Array,
    ) as Record<string, Record<string, unknown>>;
    expect(inlinedRoot["zarr.json"]?.node_type).toBe("group");
    const reader = await IPLDStore.fromCar(await inlined.toCar());
    expect(new TextDecoder().decode(await reader.get("/zarr.json"))).toBe(
      '{"node_type": "group", "attributes": {"x": 1.0}, "zarr_format": 3}',
    );
    expect(await reader.listDir("/")).toEqual({ keys: ["/zarr.json"], prefixes: [] });
  });

  // Regression: a zarr.json kept as a raw block read back as the JSON of its link after a CAR
  // round trip, because metadata names were taken as inline before links.
  it("reads a raw-block zarr.json back as its bytes after a CAR round trip", async () => {
    const doc = textToBytes('{\n  "zarr_format": 3,\n  "node_type": "group"\n}');
    const store = new IPLDStore();
    await store.set("/g/zarr.json", doc);
    const copy = await IPLDStore.fromCar(await store.toCar());
    expect(await copy.get("/g/zarr.json")).toEqual(doc);
  });

  it("etags are the raw CID of the bytes get returns, and honour ifMatch", async () => {
    const store = new IPLDStore();
    const { etag } = await store.put("/.zattrs", json('{"a":1}'));
    const bytes = (await store.get("/.zattrs")) as Uint8Array;
    expect(new TextDecoder().decode(bytes)).toBe('{"a": 1}');
    const raw = new IPLDStore();
    expect((await raw.put("/x", bytes)).etag).toBe(etag);
    await store.set("/.zattrs", json('{"a":2}'), { ifMatch: etag as string });
    await rejects(
      store.set("/.zattrs", json('{"a":3}'), { ifMatch: etag as string }),
      "ConditionFailed",
    );
  });
});

describe("MappingCAStore", () => {
  it("verifies every read from a backing store and names the corrupted block", async () => {
    const backend = new MemoryStore();
    const store = new IPLDStore(new MappingCAStore(backend));
    await store.set("/v", Uint8Array.of(1, 2, 3));
    const key = [...backend.map.keys()][0] as string;
    backend.map.set(key, Uint8Array.of(1, 2, 4));
    const error = await rejects(store.get("/v"), "Integrity");
    expect(error.message).toContain(key.slice(1));
  });

  it("finds a block under any spelling of its CID (CIDv0, base58, base32)", async () => {
    const castore = new MappingCAStore(new MemoryStore());
    const bytes = Uint8Array.of(10, 20, 30);
    const v1 = await castore.put(bytes, 0x70); // dag-pb, so a CIDv0 exists for it
    const v0 = v1.toV0();
    expect(v0.toString()).toMatch(/^Qm/);
    expect(await castore.get(v0)).toEqual(bytes);
    expect(await castore.get(CID.parse(v1.toString()))).toEqual(bytes);
    expect(cidKey(v0)).toBe(v1.toString());
    expect(await castore.has(v0)).toBe(true);
    expect(await castore.size(v0)).toBe(3);
  });

  it("keeps a private copy: changing the caller's buffer changes nothing", async () => {
    const castore = new MappingCAStore();
    const bytes = Uint8Array.of(1, 2, 3);
    const cid = await castore.put(bytes, 0x55);
    bytes[0] = 9;
    const got = (await castore.get(cid)) as Uint8Array;
    expect(got).toEqual(Uint8Array.of(1, 2, 3));
    got[1] = 9;
    expect(await castore.get(cid)).toEqual(Uint8Array.of(1, 2, 3));
  });
});

describe("IPLDStore with maxBlockSize (chunked layout)", () => {
  const MAX = 4096;

  async function blockSizes(store: IPLDStore): Promise<number[]> {
    const reader = await CarReader.fromBytes(await store.toCar());
    const sizes: number[] = [];
    for await (const block of reader.blocks()) sizes.push(block.bytes.byteLength);
    return sizes;
  }

  it("writes the original layout (same root CID) while everything fits", async () => {
    const chunked = new IPLDStore(undefined, { maxBlockSize: MAX });
    const original = new IPLDStore();
    await writeReadmeDataset(chunked);
    await writeReadmeDataset(original);
    expect((await chunked.freeze()).toString()).toBe((await original.freeze()).toString());
  });

  it("keeps every block under the limit: big values in pieces, big folders in blocks and parts", async () => {
    const store = new IPLDStore(undefined, { maxBlockSize: MAX });
    await store.set("/.zgroup", json('{"zarr_format": 2}'));
    const big = new Uint8Array(3 * MAX + 123).map((_, i) => (i * 31) & 0xff);
    await store.set("/big/0", big);
    for (let i = 0; i < 300; i++) await store.set(`/many/c/${i}`, textToBytes(`value ${i}`));
    for (let g = 0; g < 20; g++) {
      await store.set(
        `/groups/g${g}/.zattrs`,
        json(`{"index": ${g}, "pad": "${"x".repeat(150)}"}`),
      );
    }
    const sizes = await blockSizes(store);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(MAX);
    expect(sizes.length).toBeGreaterThan(300 + 4 + 2);

    const copy = await IPLDStore.fromCar(await store.toCar(), undefined, { maxBlockSize: MAX });
    expect(await copy.get("/big/0")).toEqual(big);
    expect((await copy.stat("/big/0"))?.size).toBe(big.byteLength);
    expect(await copy.get("/many/c/299")).toEqual(textToBytes("value 299"));
    expect((await copy.listDir("/many/c")).keys).toHaveLength(300);
    expect((await copy.listDir("/groups")).prefixes).toHaveLength(20);
    expect((await copy.freeze()).toString()).toBe((await store.freeze()).toString());
    // A reader without the option reads the same tree (the layout is in the data).
    const plainReader = await IPLDStore.fromCar(await store.toCar());
    expect(await plainReader.get("/big/0")).toEqual(big);
  });

  it("refuses a metadata document larger than the limit at freeze()", async () => {
    const store = new IPLDStore(undefined, { maxBlockSize: MAX });
    await store.set("/.zmetadata", json(`{"pad": "${"x".repeat(MAX)}"}`));
    await rejects(store.freeze(), "Unsupported");
  });

  it("rejects a limit that is too small", () => {
    expect(() => new IPLDStore(undefined, { maxBlockSize: 100 })).toThrow(/maxBlockSize/);
  });
});
