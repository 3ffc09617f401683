import { CarWriter } from "@ipld/car";
import { CID } from "multiformats/cid";
import { sha256 } from "multiformats/hashes/sha2";
import { describe, expect, it } from "vitest";
import { isStoreError, type StoreErrorCode } from "../../src/errors.js";
import { textToBytes } from "../../src/helpers.js";
import { concat, sectionHead } from "../../src/stores/ipld/car.js";
import {
  type AnyCID,
  carHeader,
  cidKey,
  collectBytes,
  exportCar,
  IPLDStore,
  MappingCAStore,
  readCar,
} from "../../src/stores/ipld/index.js";

async function rejects(promise: Promise<unknown>, code: StoreErrorCode): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    if (isStoreError(error, code)) return error;
    throw error;
  }
  throw new Error(`expected a StoreError ${code}`);
}

async function readmeStore(): Promise<IPLDStore> {
  const store = new IPLDStore();
  await store.set("/.zgroup", textToBytes('{"zarr_format":2}'));
  await store.set("/.zattrs", textToBytes("{}"));
  await store.set(
    "/a/.zarray",
    textToBytes(
      '{"chunks":[3],"compressor":null,"dtype":"<i8","fill_value":null,"filters":null,"order":"C","shape":[3],"zarr_format":2}',
    ),
  );
  await store.set("/a/.zattrs", textToBytes('{"_ARRAY_DIMENSIONS":["a"]}'));
  await store.set("/a/0", new Uint8Array(BigInt64Array.of(1n, 2n, 3n).buffer));
  return store;
}

const RAW_A0 = "bafkreihc4ibtvz7btvualgou5mfbgwncwshmlovmoudgyml7x6crlhcu54";
const ROOT = "bafyreidn66mk3fktszrfwayonvpq6y3agtnb5e5o22ivof5tgikbxt7k6u";

function* chunks(bytes: Uint8Array, size: number): Generator<Uint8Array> {
  for (let i = 0; i < bytes.byteLength; i += size) yield bytes.slice(i, i + size);
}

async function* slowly(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (const chunk of chunks(bytes, size)) {
    await Promise.resolve();
    yield chunk;
  }
}

async function rawCid(bytes: Uint8Array): Promise<AnyCID> {
  return CID.createV1(0x55, await sha256.digest(bytes)) as AnyCID;
}

describe("CAR export", () => {
  it("streams the same bytes toCar returns, header first", async () => {
    const store = await readmeStore();
    const parts: Uint8Array[] = [];
    for await (const part of store.toCarStream()) parts.push(part);
    expect(parts.length).toBeGreaterThan(2);
    expect(concat(parts)).toEqual(await store.toCar());
    expect(parts[0]).toEqual(carHeader([CID.parse(ROOT) as AnyCID]));
  });

  it("writes root first, then depth-first in canonical key order, each block once", async () => {
    const store = new IPLDStore();
    const value = (s: string) => textToBytes(`value ${s}`);
    await store.set("/b/0", value("b0"));
    await store.set("/a/10", value("a10"));
    await store.set("/a/9", value("a9"));
    await store.set("/a/x/1", value("ax1"));
    await store.set("/b/dup", value("a9")); // the same bytes as /a/9: one block
    const car = await readCar(await store.toCar());
    const order: string[] = [];
    for await (const block of car.blocks) order.push(cidKey(block.cid));
    const expected = [
      cidKey(await store.freeze()),
      ...(await Promise.all(
        ["a9", "ax1", "a10", "b0"].map(async (s) => cidKey(await rawCid(value(s)))),
      )),
    ];
    expect(order).toEqual(expected);
  });

  it("equals the CAR @ipld/car writes for the same blocks, and imports it", async () => {
    const store = await readmeStore();
    const root = await store.freeze();
    const { writer, out } = CarWriter.create([root]);
    const written = collectBytes(out);
    await writer.put({ cid: root, bytes: (await store.castore.get(root)) as Uint8Array });
    const raw = CID.parse(RAW_A0);
    await writer.put({ cid: raw, bytes: (await store.castore.get(raw as AnyCID)) as Uint8Array });
    await writer.close();
    const theirs = await written;
    expect(theirs).toEqual(await store.toCar());
    expect((await (await IPLDStore.fromCar(theirs)).freeze()).toString()).toBe(ROOT);
  });

  it("names a block missing from the block store", async () => {
    const castore = new MappingCAStore();
    const store = new IPLDStore(castore);
    await store.set("/x", Uint8Array.of(1));
    const root = await store.freeze();
    const empty = new MappingCAStore();
    await empty.putBlock({ cid: root, bytes: (await castore.get(root)) as Uint8Array });
    const error = await rejects(collectBytes(exportCar(empty, root)), "Integrity");
    expect(error.message).toContain(cidKey(await rawCid(Uint8Array.of(1))));
  });
});

describe("CAR import", () => {
  it("streams: any chunking gives the same root and values", async () => {
    const car = await (await readmeStore()).toCar();
    for (const size of [1, 7, 64, 1000]) {
      const store = new IPLDStore();
      expect((await store.importCar(slowly(car, size))).toString()).toBe(ROOT);
      expect(await store.get("/a/0")).toEqual(new Uint8Array(BigInt64Array.of(1n, 2n, 3n).buffer));
    }
    const fromIterable = new IPLDStore();
    await fromIterable.importCar(chunks(car, 13));
    expect((await fromIterable.freeze()).toString()).toBe(ROOT);
  });

  it("carries empty values and a value at the end of every chunk boundary", async () => {
    const store = new IPLDStore();
    await store.set("/empty", new Uint8Array(0));
    await store.set("/one", Uint8Array.of(1));
    const car = await store.toCar();
    for (const size of [1, 2, 3, 37, 38, 39]) {
      const copy = new IPLDStore();
      await copy.importCar(slowly(car, size));
      expect(await copy.get("/empty")).toEqual(new Uint8Array(0));
      expect(await copy.get("/one")).toEqual(Uint8Array.of(1));
    }
  });

  it("rejects a block whose bytes do not match its CID, naming the CID", async () => {
    const car = await (await readmeStore()).toCar();
    const bad = car.slice();
    bad[bad.byteLength - 1] = (bad[bad.byteLength - 1] as number) ^ 0x01; // the last byte belongs to the raw block a/0
    const error = await rejects(new IPLDStore().importCar(bad), "Integrity");
    expect(error.message).toContain(RAW_A0);
    expect(error.message).toMatch(/does not match its hash/);
    expect((error as { key?: string }).key).toBe(RAW_A0);
  });

  it("rejects a file cut inside a block, naming the CID and the offset", async () => {
    const car = await (await readmeStore()).toCar();
    const error = await rejects(new IPLDStore().importCar(car.slice(0, 340)), "Integrity");
    expect(error.message).toContain(RAW_A0);
    expect(error.message).toMatch(/truncated at byte 340/);
    const early = await rejects(new IPLDStore().importCar(car.slice(0, 120)), "Integrity");
    expect(early.message).toContain(ROOT);
  });

  it("rejects a file cut between blocks: the tree links a block the CAR lacks", async () => {
    const car = await (await readmeStore()).toCar();
    const rootEnd = car.byteLength - (1 + 36 + 24); // the raw section is the last 61 bytes
    const error = await rejects(new IPLDStore().importCar(car.slice(0, rootEnd)), "Integrity");
    expect(error.message).toContain(RAW_A0);
    expect(error.message).toMatch(/incomplete/);
  });

  it("rejects CARv2 (its pragma) and other versions", async () => {
    // The CARv2 pragma: a CARv1-style header {version: 2}, then the v2 header and payload.
    const pragma = Uint8Array.from([0x0a, 0xa1, 0x67, ...textToBytes("version"), 0x02]);
    const v2 = concat([pragma, new Uint8Array(40), await (await readmeStore()).toCar()]);
    const error = await rejects(new IPLDStore().importCar(v2), "Integrity");
    expect(error.message).toMatch(/CARv2 is not supported/);
    const v3 = Uint8Array.from([0x0a, 0xa1, 0x67, ...textToBytes("version"), 0x03]);
    expect((await rejects(readCar(v3), "Integrity")).message).toMatch(/version 3/);
    await rejects(readCar(textToBytes("not a car at all")), "Integrity");
    await rejects(readCar(new Uint8Array(0)), "Integrity");
  });

  it("rejects a CAR with several (or no) roots for an IPLDStore before importing anything", async () => {
    const source = await readmeStore();
    const root = await source.freeze();
    const block = (await source.castore.get(root)) as Uint8Array;
    const raw = CID.parse(RAW_A0) as AnyCID;
    const body = concat([sectionHead(root, block.byteLength), block]);
    const castore = new MappingCAStore();
    const store = new IPLDStore(castore);
    const two = concat([carHeader([root, raw]), body]);
    expect((await rejects(store.importCar(two), "Integrity")).message).toMatch(
      /exactly one root; this one has 2/,
    );
    await rejects(store.importCar(concat([carHeader([]), body])), "Integrity");
    expect(castore.count).toBe(0);
  });

  it("leaves the store as it was when an import fails", async () => {
    const store = new IPLDStore();
    await store.set("/keep", Uint8Array.of(7));
    const before = (await store.freeze()).toString();
    const car = await (await readmeStore()).toCar();
    await rejects(store.importCar(car.slice(0, 340)), "Integrity");
    expect((await store.freeze()).toString()).toBe(before);
    expect(await store.get("/keep")).toEqual(Uint8Array.of(7));
    expect(await store.get("/a/0")).toBeUndefined();
  });

  // Regression: blocks were kept with `.slice()`, which on a Node Buffer is a view, not a copy.
  it("keeps its own copy of blocks imported from a Node Buffer", async () => {
    const car = Buffer.from(await (await readmeStore()).toCar());
    const store = await IPLDStore.fromCar(car);
    car.fill(0);
    expect(await store.get("/a/0")).toEqual(new Uint8Array(BigInt64Array.of(1n, 2n, 3n).buffer));
    expect((await store.toCar()).byteLength).toBe(356);
  });

  it("reads CIDv0 blocks and verifies them", async () => {
    const bytes = textToBytes("a dag-pb block, as far as the CAR cares");
    const v0 = CID.createV0(await sha256.digest(bytes)) as AnyCID;
    const car = concat([carHeader([v0]), sectionHead(v0, bytes.byteLength), bytes]);
    const reader = await readCar(car);
    expect(reader.roots[0]?.toString()).toBe(v0.toString());
    const blocks = [];
    for await (const block of reader.blocks) blocks.push(block);
    expect(blocks).toHaveLength(1);
    expect(blocks[0]?.cid.version).toBe(0);
    expect(blocks[0]?.payloadOffset).toBe(car.byteLength - bytes.byteLength);
    const bad = car.slice();
    bad[bad.byteLength - 1] = (bad[bad.byteLength - 1] as number) ^ 1;
    const badReader = await readCar(bad);
    await rejects(
      collectBytes(
        (async function* () {
          for await (const b of badReader.blocks) yield b.bytes;
        })(),
      ),
      "Integrity",
    );
    // An IPLDStore tree must be DAG-CBOR.
    await rejects(new IPLDStore().importCar(car), "Integrity");
  });
});
