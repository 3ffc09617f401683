import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as zarr from "zarrita";
import { isStoreError } from "../../src/errors.js";
import { textToBytes } from "../../src/helpers.js";
import { MemoryStore } from "../../src/stores/memory.js";
import {
  comparePaths,
  readConsolidated,
  readHierarchy,
  readNode,
  walkHierarchy,
} from "../../src/zarr/hierarchy.js";
import {
  type ArrayNode,
  chunkCount,
  chunkGridShape,
  chunkKey,
  type ZarrNode,
} from "../../src/zarr/metadata.js";
import { describeLive } from "../support/live.js";
import { pythonZarrAvailable, runPython } from "../support/python.js";
import {
  filesUnder,
  NoListStore,
  RecordingStore,
  SAMPLE_V2,
  SAMPLE_V3,
  storeFromDir,
} from "./fixtures.js";

const V2_PATHS = ["/", "/air", "/land", "/lat", "/lon", "/time"];
const V3_PATHS = ["/", "/grp", "/grp/counts", "/grp/sharded", "/temperature"];

const paths = (nodes: ZarrNode[]) => nodes.map((n) => n.path);
const arrays = (nodes: ZarrNode[]) => nodes.filter((n): n is ArrayNode => n.kind === "array");

/** Every chunk key of an array's grid, as `chunkKey` computes them. */
function allChunkKeys(array: ArrayNode): string[] {
  const grid = chunkGridShape(array);
  const keys: string[] = [];
  const visit = (coords: number[]) => {
    if (coords.length === grid.length) {
      keys.push(chunkKey(array, coords));
      return;
    }
    for (let i = 0; i < (grid[coords.length] as number); i++) visit([...coords, i]);
  };
  visit([]);
  return keys.sort();
}

/** The keys of an array's folder that are not metadata: the chunks a writer actually wrote. */
function writtenChunkKeys(files: Map<string, unknown>, array: ArrayNode): string[] {
  return [...files.keys()]
    .filter((k) => k.startsWith(array.prefix) && !/\/(\.z\w+|zarr\.json)$/.test(k))
    .sort();
}

describe("walkHierarchy over the v2 sample (Python xarray + zarr 2)", () => {
  const store = storeFromDir(SAMPLE_V2);

  it("lists a listable store and yields the root, then every array by name", async () => {
    const walk = walkHierarchy(store, "/");
    expect(walk.source).toBe("listing");
    const nodes: ZarrNode[] = [];
    for await (const node of walk) nodes.push(node);
    expect(paths(nodes)).toEqual(V2_PATHS);
    expect(nodes[0]).toMatchObject({
      kind: "group",
      zarrFormat: 2,
      attributes: { Conventions: "CF-1.6" },
    });
    const air = nodes.find((n) => n.path === "/air") as ArrayNode;
    expect(air).toMatchObject({
      shape: [20, 25, 53],
      chunks: [5, 10, 20],
      dimensionNames: ["time", "lat", "lon"],
    });
  });

  it("reads consolidated .zmetadata from a store that cannot list, with the same nodes", async () => {
    const noList = new NoListStore(store);
    const walk = walkHierarchy(noList, "/");
    expect(walk.source).toBe("consolidated");
    const { nodes } = await readHierarchy(noList, "/");
    const listed = await readHierarchy(store, "/");
    expect(nodes).toEqual(listed.nodes);
    expect(noList.requested.sort()).toEqual(["/.zmetadata", "/zarr.json"]);
  });

  it("maps chunk coordinates to exactly the keys Python wrote (. separator)", async () => {
    const files = filesUnder(SAMPLE_V2);
    const { nodes } = await readHierarchy(store);
    for (const array of arrays(nodes)) {
      expect(writtenChunkKeys(files, array), array.path).toEqual(allChunkKeys(array));
    }
    expect(chunkCount(arrays(nodes).find((a) => a.path === "/air") as ArrayNode)).toBe(36);
  });

  it("never lists inside an array's folder", async () => {
    const recording = new RecordingStore(store);
    await readHierarchy(recording);
    expect(recording.listed).toEqual(["/"]);
  });
});

describe("walkHierarchy over the v3 sample (zarrita)", () => {
  const store = storeFromDir(SAMPLE_V3);

  it("walks nested groups, sharded and .-separated arrays", async () => {
    const { source, nodes } = await readHierarchy(store);
    expect(source).toBe("listing");
    expect(paths(nodes)).toEqual(V3_PATHS);
    expect(nodes.find((n) => n.path === "/grp/sharded")).toMatchObject({
      kind: "array",
      prefix: "/grp/sharded/",
      chunks: [4, 10],
      innerChunks: [2, 5],
    });
  });

  it("reads v3 inline consolidated metadata from a store that cannot list", async () => {
    const noList = new NoListStore(store);
    const consolidated = await readHierarchy(noList);
    expect(consolidated.source).toBe("consolidated");
    const listed = await readHierarchy(store);
    expect(consolidated.nodes).toEqual(listed.nodes);
    expect(noList.requested.sort()).toEqual(["/.zmetadata", "/zarr.json"]);
  });

  it("maps chunk coordinates to exactly the keys zarrita wrote (default encoding, / and .)", async () => {
    const files = filesUnder(SAMPLE_V3);
    const { nodes } = await readHierarchy(store);
    expect(arrays(nodes)).toHaveLength(3);
    for (const array of arrays(nodes)) {
      expect(writtenChunkKeys(files, array), array.path).toEqual(allChunkKeys(array));
    }
  });

  it("lists only group folders", async () => {
    const recording = new RecordingStore(store);
    await readHierarchy(recording);
    expect(recording.listed).toEqual(["/", "/grp/"]);
  });
});

describe("the node model agrees with zarrita", () => {
  it.each([
    ["v2", SAMPLE_V2],
    ["v3", SAMPLE_V3],
  ])("on every array of the %s sample", async (_, dir) => {
    const store = storeFromDir(dir);
    const { nodes } = await readHierarchy(store);
    for (const node of arrays(nodes)) {
      const opened = await zarr.open(zarr.root(store).resolve(node.path), { kind: "array" });
      expect(opened.shape, node.path).toEqual(node.shape);
      expect(opened.chunks, node.path).toEqual(node.innerChunks);
      expect(opened.dtype, node.path).toBe(node.dtype.name);
      expect(opened.attrs, node.path).toEqual(node.attributes);
    }
  });
});

describe("walkHierarchy under a prefix and across datasets", () => {
  const store = new MemoryStore(
    new Map([
      ...filesUnder(SAMPLE_V2, "/data/air.zarr"),
      ...filesUnder(SAMPLE_V3, "/data/v3.zarr"),
    ]),
  );

  it("gives paths relative to the walk's root and prefixes in the store", async () => {
    const { nodes } = await readHierarchy(store, "data/air.zarr");
    expect(paths(nodes)).toEqual(V2_PATHS);
    expect(nodes[1]).toMatchObject({
      path: "/air",
      prefix: "/data/air.zarr/air/",
      metadataKey: "/data/air.zarr/air/.zarray",
    });
    expect(chunkKey(nodes[1] as ArrayNode, [3, 2, 2])).toBe("/data/air.zarr/air/3.2.2");
  });

  it("finds every dataset below folders that hold no metadata", async () => {
    const { nodes } = await readHierarchy(store, "/");
    expect(paths(nodes)).toEqual([
      ...V2_PATHS.map((p) => `/data/air.zarr${p === "/" ? "" : p}`),
      ...V3_PATHS.map((p) => `/data/v3.zarr${p === "/" ? "" : p}`),
    ]);
  });

  it("reads consolidated metadata under a prefix of a store that cannot list", async () => {
    const { source, nodes } = await readHierarchy(new NoListStore(store), "/data/v3.zarr/");
    expect(source).toBe("consolidated");
    expect(nodes.map((n) => n.prefix)).toEqual(
      V3_PATHS.map((p) => `/data/v3.zarr${p === "/" ? "" : p}/`),
    );
  });

  it("can be told to use consolidated metadata on a listable store", async () => {
    const recording = new RecordingStore(store);
    const { source, nodes } = await readHierarchy(recording, "/data/air.zarr", {
      use: "consolidated",
    });
    expect(source).toBe("consolidated");
    expect(paths(nodes)).toEqual(V2_PATHS);
    expect(recording.listed).toEqual([]);
  });

  it("yields nothing for a folder without Zarr data", async () => {
    expect((await readHierarchy(store, "/nothing/")).nodes).toEqual([]);
  });
});

describe("readNode and readConsolidated", () => {
  const store = storeFromDir(SAMPLE_V3, "/v3.zarr");

  it("reads one node, v2 or v3, and undefined where there is none", async () => {
    expect(await readNode(store, "/v3.zarr/grp/counts")).toMatchObject({
      kind: "array",
      path: "/",
      shape: [7, 9],
    });
    expect(await readNode(store, "/v3.zarr/grp/counts", { root: "/v3.zarr" })).toMatchObject({
      path: "/grp/counts",
    });
    expect(await readNode(storeFromDir(SAMPLE_V2), "/air")).toMatchObject({
      zarrFormat: 2,
      kind: "array",
    });
    expect(await readNode(store, "/v3.zarr/missing")).toBeUndefined();
  });

  it("says where consolidated metadata came from", async () => {
    const v3 = await readConsolidated(store, "/v3.zarr");
    expect(v3).toMatchObject({ zarrFormat: 3, key: "/v3.zarr/zarr.json" });
    expect(paths(v3?.nodes ?? [])).toEqual(V3_PATHS);
    const v2 = await readConsolidated(storeFromDir(SAMPLE_V2));
    expect(v2).toMatchObject({ zarrFormat: 2, key: "/.zmetadata" });
    const metadataFiles = [...filesUnder(SAMPLE_V2).keys()].filter((k) => /\/\.z\w+$/.test(k));
    expect(v2?.keys).toEqual(metadataFiles.sort());
    expect(v3?.keys).toEqual(V3_PATHS.map((p) => `/v3.zarr${p === "/" ? "" : p}/zarr.json`).sort());
    expect(await readConsolidated(store, "/v3.zarr/grp")).toBeUndefined();
  });

  it("fails with an actionable NotFound when a store can neither list nor has consolidated metadata", async () => {
    const store = new MemoryStore();
    await store.set("/.zgroup", textToBytes('{"zarr_format": 2}'));
    const error = await readHierarchy(new NoListStore(store)).catch((e: unknown) => e);
    expect(isStoreError(error, "NotFound"), String(error)).toBe(true);
    expect((error as Error).message).toMatch(
      /no consolidated metadata at \/ .*cannot list: consolidate/,
    );
  });

  it.each([
    ["JSON that does not parse", { "/.zgroup": "{zarr_format: 2" }, /\/\.zgroup is not valid JSON/],
    [
      "both .zarray and .zgroup",
      { "/.zgroup": '{"zarr_format":2}', "/.zarray": "{}" },
      /holds both .zarray and .zgroup/,
    ],
    [
      "a .zmetadata without metadata",
      { "/.zmetadata": '{"zarr_consolidated_format":1}' },
      /missing its metadata object/,
    ],
    [
      "a consolidated node with a bad name",
      { "/.zmetadata": '{"metadata":{"../x/.zgroup":{"zarr_format":2}}}' },
      /"\.\.\/x\/\.zgroup" is not a valid path/,
    ],
  ])("rejects %s with Integrity", async (_, files, message) => {
    const store = new MemoryStore(
      new Map(Object.entries(files).map(([k, v]) => [k, textToBytes(v)])),
    );
    const walk = /zmetadata/.test(Object.keys(files).join()) ? new NoListStore(store) : store;
    const error = await readHierarchy(walk).catch((e: unknown) => e);
    expect(isStoreError(error, "Integrity"), String(error)).toBe(true);
    expect((error as Error).message).toMatch(message);
  });

  it("stops with Aborted when the signal is aborted", async () => {
    const controller = new AbortController();
    controller.abort();
    const error = await readHierarchy(storeFromDir(SAMPLE_V2), "/", {
      signal: controller.signal,
    }).catch((e: unknown) => e);
    expect(isStoreError(error, "Aborted"), String(error)).toBe(true);
  });

  it("orders paths as a tree", () => {
    const sorted = ["/a-b", "/a/b", "/", "/a", "/b", "/a/b/c", "/A"].sort(comparePaths);
    expect(sorted).toEqual(["/", "/A", "/a", "/a/b", "/a/b/c", "/a-b", "/b"]);
  });
});

const PYTHON_NESTED = `
import sys, zarr, numpy as np
store = zarr.DirectoryStore(sys.argv[1], dimension_separator="/")
root = zarr.group(store=store, overwrite=True)
root.attrs["title"] = "nested"
g = root.create_group("outer").create_group("inner")
g.attrs["level"] = 2
a = g.create_dataset("t", shape=(7, 5, 3), chunks=(3, 2, 3), dtype="<i4", compressor=zarr.Zstd(level=1))
a[:] = np.arange(105, dtype="<i4").reshape(7, 5, 3)
b = root.create_dataset("flat", shape=(10,), chunks=(4,), dtype=">f8", filters=[zarr.Delta(dtype=">f8")])
b[:] = np.linspace(0, 1, 10)
root.create_dataset("scalar", shape=(), dtype="<u2", fill_value=7)
zarr.consolidate_metadata(store)
`;

describeLive(
  "walkHierarchy over Python zarr 2 with the / separator and nested groups",
  pythonZarrAvailable,
  () => {
    let dir: string;
    let files: Map<string, Uint8Array>;
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), "zs-hier-"));
      runPython(PYTHON_NESTED, [dir]);
      files = filesUnder(dir);
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it("finds nested groups and arrays, by listing and by .zmetadata alike", async () => {
      const store = new MemoryStore(files);
      const listed = await readHierarchy(store);
      expect(paths(listed.nodes)).toEqual([
        "/",
        "/flat",
        "/outer",
        "/outer/inner",
        "/outer/inner/t",
        "/scalar",
      ]);
      const consolidated = await readHierarchy(new NoListStore(store));
      expect(consolidated.nodes).toEqual(listed.nodes);
      expect(listed.nodes.find((n) => n.path === "/outer/inner")?.attributes).toEqual({ level: 2 });
      expect(listed.nodes.find((n) => n.path === "/flat")).toMatchObject({
        dtype: { name: "float64", endian: "big" },
        codecs: [{ name: "delta" }, { name: "blosc" }],
      });
    });

    it("maps chunk coordinates to the nested keys Python wrote, including 0-d arrays", async () => {
      const { nodes } = await readHierarchy(new MemoryStore(files));
      const t = nodes.find((n) => n.path === "/outer/inner/t") as ArrayNode;
      expect(t.chunkKeyEncoding).toEqual({ name: "v2", separator: "/" });
      expect(chunkKey(t, [2, 1, 0])).toBe("/outer/inner/t/2/1/0");
      for (const array of arrays(nodes).filter((a) => a.path !== "/scalar")) {
        expect(writtenChunkKeys(files, array), array.path).toEqual(allChunkKeys(array));
      }
      const scalar = nodes.find((n) => n.path === "/scalar") as ArrayNode;
      expect(chunkKey(scalar, [])).toBe("/scalar/0");
    });

    it("does not list the chunk folders of / separated arrays", async () => {
      const recording = new RecordingStore(new MemoryStore(files));
      await readHierarchy(recording);
      expect(recording.listed.sort()).toEqual(["/", "/outer/", "/outer/inner/"]);
    });
  },
);
