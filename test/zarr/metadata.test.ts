import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { isStoreError } from "../../src/errors.js";
import {
  type ArrayNode,
  type ChunkKeyEncoding,
  chunkCount,
  chunkGridShape,
  chunkKey,
  chunkKeyName,
  isMetadataKey,
  parseChunkKeyName,
  parseV2Array,
  parseV2Group,
  parseV3Node,
  v2DataType,
} from "../../src/zarr/metadata.js";
import { SAMPLE_V2, SAMPLE_V3 } from "./fixtures.js";

const readJson = (...parts: string[]) => JSON.parse(readFileSync(join(...parts), "utf8"));
const at = (path: `/${string}`, prefix: `/${string}`) => ({ path, prefix });

function v2Array(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    zarr_format: 2,
    shape: [10, 7],
    chunks: [4, 3],
    dtype: "<f8",
    compressor: { id: "zlib", level: 1 },
    fill_value: 0,
    order: "C",
    filters: null,
    ...overrides,
  };
}

function v3Array(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    zarr_format: 3,
    node_type: "array",
    shape: [10, 7],
    data_type: "int32",
    chunk_grid: { name: "regular", configuration: { chunk_shape: [4, 3] } },
    chunk_key_encoding: { name: "default", configuration: { separator: "/" } },
    fill_value: 0,
    codecs: [{ name: "bytes", configuration: { endian: "big" } }],
    attributes: {},
    ...overrides,
  };
}

function expectIntegrity(run: () => unknown, text: string | RegExp): void {
  try {
    run();
  } catch (error) {
    expect(isStoreError(error, "Integrity"), String(error)).toBe(true);
    expect((error as Error).message).toMatch(text);
    return;
  }
  throw new Error("expected an Integrity error");
}

describe("v2 metadata", () => {
  it("reads the air array Python's xarray wrote, with its attributes", () => {
    const node = parseV2Array(
      readJson(SAMPLE_V2, "air", ".zarray"),
      readJson(SAMPLE_V2, "air", ".zattrs"),
      at("/air", "/air.zarr/air/"),
    );
    expect(node).toMatchObject({
      kind: "array",
      path: "/air",
      prefix: "/air.zarr/air/",
      zarrFormat: 2,
      metadataKey: "/air.zarr/air/.zarray",
      shape: [20, 25, 53],
      chunks: [5, 10, 20],
      innerChunks: [5, 10, 20],
      dtype: { native: "<f4", name: "float32", itemSize: 4, endian: "little" },
      fillValue: "NaN",
      order: "C",
      codecs: [{ name: "zlib", configuration: { level: 6 } }],
      compressor: { name: "zlib", configuration: { level: 6 } },
      filters: null,
      chunkKeyEncoding: { name: "v2", separator: "." },
      dimensionNames: ["time", "lat", "lon"],
    });
    expect(node.attributes.units).toBe("degK");
    expect(node.sharding).toBeUndefined();
  });

  it("lists filters before the compressor and keeps the / separator", () => {
    const node = parseV2Array(
      v2Array({
        filters: [{ id: "delta", dtype: "<f8" }],
        compressor: { id: "blosc", cname: "zstd", clevel: 3, shuffle: 2 },
        dimension_separator: "/",
        order: "F",
      }),
      undefined,
      at("/x", "/x/"),
    );
    expect(node.codecs.map((c) => c.name)).toEqual(["delta", "blosc"]);
    expect(node.codecs[1]?.configuration).toEqual({ cname: "zstd", clevel: 3, shuffle: 2 });
    expect(node.chunkKeyEncoding).toEqual({ name: "v2", separator: "/" });
    expect(node.order).toBe("F");
    expect(node.attributes).toEqual({});
    expect(node.dimensionNames).toBeUndefined();
  });

  it("reads a group and its attributes", () => {
    const node = parseV2Group(
      readJson(SAMPLE_V2, ".zgroup"),
      readJson(SAMPLE_V2, ".zattrs"),
      at("/", "/"),
    );
    expect(node).toMatchObject({
      kind: "group",
      path: "/",
      zarrFormat: 2,
      metadataKey: "/.zgroup",
    });
    expect(node.attributes.Conventions).toBe("CF-1.6");
  });

  it.each([
    ["<f4", { name: "float32", itemSize: 4, endian: "little" }],
    [">i2", { name: "int16", itemSize: 2, endian: "big" }],
    ["|u1", { name: "uint8", itemSize: 1, endian: "none" }],
    ["<u8", { name: "uint64", itemSize: 8, endian: "little" }],
    ["|b1", { name: "bool", itemSize: 1, endian: "none" }],
    ["<c16", { name: "complex128", itemSize: 16, endian: "little" }],
    ["<M8[ns]", { name: "datetime64[ns]", itemSize: 8, endian: "little" }],
    [">m8[s]", { name: "timedelta64[s]", itemSize: 8, endian: "big" }],
    ["|S10", { name: "S10", itemSize: 10, endian: "none" }],
    ["<U5", { name: "U5", itemSize: 20, endian: "little" }],
    ["|O", { name: "object" }],
  ])("normalises the dtype %s", (dtype, expected) => {
    expect(v2DataType(dtype)).toEqual({ native: dtype, ...expected });
  });

  it("names structured dtypes without failing", () => {
    const fields = [
      ["a", "<i4"],
      ["b", "<f8"],
    ];
    expect(v2DataType(fields)).toEqual({ native: fields, name: "structured" });
  });

  it.each([
    ["a wrong format", { zarr_format: 3 }, /zarr_format must be 2/],
    ["a missing shape", { shape: undefined }, /shape must be a list/],
    ["a negative dimension", { shape: [-1, 7] }, /shape must be a list of integers ≥ 0/],
    ["a zero chunk", { chunks: [0, 3] }, /chunks must be a list of integers ≥ 1/],
    ["mismatched ranks", { chunks: [4] }, /chunks has 1 dimensions but shape has 2/],
    ["an unknown order", { order: "X" }, /order must be "C" or "F"/],
    ["an unknown separator", { dimension_separator: "-" }, /dimension_separator/],
    ["a compressor without id", { compressor: { level: 1 } }, /needs an id/],
    ["an unknown dtype", { dtype: "<q7" }, /unrecognised dtype "<q7"/],
    ["filters that are not a list", { filters: { id: "x" } }, /filters must be a list/],
  ])("rejects %s with Integrity naming the key", (_, overrides, message) => {
    expectIntegrity(() => parseV2Array(v2Array(overrides), undefined, at("/x", "/d/x/")), message);
    expectIntegrity(
      () => parseV2Array(v2Array(overrides), undefined, at("/x", "/d/x/")),
      "/d/x/.zarray",
    );
  });

  it("rejects attributes that are not an object", () => {
    expectIntegrity(() => parseV2Array(v2Array(), [1, 2], at("/x", "/x/")), "/x/.zattrs");
  });
});

describe("v3 metadata", () => {
  it("reads the zstd array zarrita wrote, with dimension names", () => {
    const node = parseV3Node(
      readJson(SAMPLE_V3, "temperature", "zarr.json"),
      at("/temperature", "/temperature/"),
    );
    expect(node).toMatchObject({
      kind: "array",
      zarrFormat: 3,
      metadataKey: "/temperature/zarr.json",
      shape: [10, 15],
      chunks: [4, 6],
      innerChunks: [4, 6],
      dtype: { native: "float32", name: "float32", itemSize: 4, endian: "little" },
      fillValue: "NaN",
      order: "C",
      chunkKeyEncoding: { name: "default", separator: "/" },
      dimensionNames: ["y", "x"],
      attributes: { units: "degC", long_name: "Temperature" },
    });
    expect((node as ArrayNode).codecs.map((c) => c.name)).toEqual(["bytes", "zstd"]);
  });

  it("reads the . chunk key separator", () => {
    const node = parseV3Node(
      readJson(SAMPLE_V3, "grp", "counts", "zarr.json"),
      at("/grp/counts", "/grp/counts/"),
    );
    expect(node).toMatchObject({
      chunkKeyEncoding: { name: "default", separator: "." },
      fillValue: -1,
    });
  });

  it("reads sharding: the shard grid, the inner chunks and the index codecs", () => {
    const node = parseV3Node(
      readJson(SAMPLE_V3, "grp", "sharded", "zarr.json"),
      at("/grp/sharded", "/grp/sharded/"),
    );
    expect(node).toMatchObject({
      chunks: [4, 10],
      innerChunks: [2, 5],
      dtype: { name: "uint16", itemSize: 2, endian: "little" },
      sharding: {
        chunkShape: [2, 5],
        codecs: [{ name: "bytes", configuration: { endian: "little" } }],
        indexCodecs: [
          { name: "bytes", configuration: { endian: "little" } },
          { name: "crc32c", configuration: {} },
        ],
        indexLocation: "end",
      },
    });
  });

  it("reads a group with inline consolidated metadata as a group", () => {
    const node = parseV3Node(readJson(SAMPLE_V3, "zarr.json"), at("/", "/"));
    expect(node).toMatchObject({
      kind: "group",
      path: "/",
      attributes: { title: "zarrstore v3 sample" },
    });
  });

  it("takes the byte order from the bytes codec and F order from a reversing transpose", () => {
    const node = parseV3Node(
      v3Array({
        codecs: [
          { name: "transpose", configuration: { order: [1, 0] } },
          { name: "bytes", configuration: { endian: "big" } },
        ],
      }),
      at("/x", "/x/"),
    ) as ArrayNode;
    expect(node.order).toBe("F");
    expect(node.dtype.endian).toBe("big");
  });

  it("reads the v2 chunk key encoding inside v3 and extension data types", () => {
    const node = parseV3Node(
      v3Array({
        chunk_key_encoding: { name: "v2" },
        data_type: { name: "numpy.datetime64", configuration: { unit: "ns", scale_factor: 1 } },
      }),
      at("/x", "/x/"),
    ) as ArrayNode;
    expect(node.chunkKeyEncoding).toEqual({ name: "v2", separator: "." });
    expect(node.dtype).toMatchObject({ name: "datetime64[ns]", itemSize: 8 });
    expect(chunkKey(node, [2, 1])).toBe("/x/2.1");
  });

  it("rejects a chunk grid that is not regular with Unsupported", () => {
    const doc = v3Array({ chunk_grid: { name: "rectilinear", configuration: {} } });
    expect(() => parseV3Node(doc, at("/x", "/x/"))).toThrow(
      /chunk grid "rectilinear" is not supported/,
    );
  });

  it.each([
    ["an unknown node type", { node_type: "table" }, /node_type must be "group" or "array"/],
    ["a wrong format", { zarr_format: 2 }, /zarr_format must be 3/],
    [
      "dimension names of the wrong length",
      { dimension_names: ["a"] },
      /dimension_names must list 2/,
    ],
    ["a codec without a name", { codecs: [{ configuration: {} }] }, /every codec needs a name/],
    ["an unknown key encoding", { chunk_key_encoding: { name: "mine" } }, /chunk_key_encoding/],
    [
      "a chunk shape of another rank",
      { chunk_grid: { name: "regular", configuration: { chunk_shape: [1] } } },
      /1 dimensions but shape has 2/,
    ],
  ])("rejects %s with Integrity", (_, overrides, message) => {
    expectIntegrity(() => parseV3Node(v3Array(overrides), at("/x", "/x/")), message);
  });
});

describe("chunk keys", () => {
  const encodings: [ChunkKeyEncoding, number[], string][] = [
    [{ name: "default", separator: "/" }, [1, 0, 2], "c/1/0/2"],
    [{ name: "default", separator: "." }, [1, 0, 2], "c.1.0.2"],
    [{ name: "v2", separator: "." }, [1, 0, 2], "1.0.2"],
    [{ name: "v2", separator: "/" }, [1, 0, 2], "1/0/2"],
    [{ name: "default", separator: "/" }, [], "c"],
    [{ name: "v2", separator: "." }, [], "0"],
  ];

  it.each(encodings)("%j maps %j to %s and back", (encoding, coords, name) => {
    expect(chunkKeyName(encoding, coords)).toBe(name);
    const shape = coords.map(() => 10);
    const array = { shape, chunks: coords.map(() => 3), chunkKeyEncoding: encoding };
    expect(parseChunkKeyName(array, name)).toEqual(coords);
  });

  it("counts partial edge chunks as chunks", () => {
    const array = { shape: [20, 25, 53], chunks: [5, 10, 20] };
    expect(chunkGridShape(array)).toEqual([4, 3, 3]);
    expect(chunkCount(array)).toBe(36);
    expect(chunkCount({ shape: [], chunks: [] })).toBe(1);
    expect(chunkGridShape({ shape: [0, 4], chunks: [2, 2] })).toEqual([0, 2]);
  });

  it("rejects coordinates outside the grid with InvalidKey", () => {
    const array = {
      prefix: "/a/" as const,
      shape: [20, 25],
      chunks: [5, 10],
      chunkKeyEncoding: { name: "v2", separator: "." } as const,
    };
    expect(chunkKey(array, [3, 2])).toBe("/a/3.2");
    for (const bad of [[4, 0], [0, 3], [-1, 0], [0], [0.5, 0], [0, 0, 0]]) {
      expect(() => chunkKey(array, bad), JSON.stringify(bad)).toThrow(
        /outside the chunk grid \[4, 3\]/,
      );
    }
  });

  it.each([".zarray", "c/0", "c/0/0/0", "1.x", "01.0", "4.0", "c", "0.0", "c/-1/0", "c//0"])(
    "does not take %s for a chunk of a 2-d default-encoded array",
    (name) => {
      const array = {
        shape: [20, 25],
        chunks: [5, 10],
        chunkKeyEncoding: { name: "default", separator: "/" } as const,
      };
      expect(parseChunkKeyName(array, name)).toBeUndefined();
    },
  );

  it("tells metadata keys from chunk keys", () => {
    for (const key of ["/a/.zarray", "/.zgroup", "/x/zarr.json", ".zattrs", "/.zmetadata"]) {
      expect(isMetadataKey(key), key).toBe(true);
    }
    for (const key of ["/a/0.0", "/a/c/0/0", "/zarr.json.bak", "/a/.zarray/x"]) {
      expect(isMetadataKey(key), key).toBe(false);
    }
  });
});
