/**
 * KuboCAStore against our loopback Kubo-RPC server (no Kubo binary can be had here), with the
 * server's fidelity proven by the independent npm client `kubo-rpc-client` in the same tests.
 */
import { inspect } from "node:util";
import * as dagCbor from "@ipld/dag-cbor";
import { create as createKuboClient } from "kubo-rpc-client";
import { CID } from "multiformats/cid";
import { sha256 } from "multiformats/hashes/sha2";
import { afterAll, describe, expect, it } from "vitest";
import * as zarr from "zarrita";
import { isStoreError, type StoreErrorCode } from "../../src/errors.js";
import { textToBytes } from "../../src/helpers.js";
import { createKuboRpcHandler } from "../../src/ipfs/kubo-rpc.js";
import { serveHandler } from "../../src/ipfs/serve.node.js";
import {
  type AnyCID,
  cidKey,
  collectBytes,
  getIpfsMapper,
  IPLDStore,
  KuboCAStore,
  MappingCAStore,
  readCar,
} from "../../src/stores/ipld/index.js";
import { describeConformance } from "../../src/testing/vitest.js";

const blocks = new MappingCAStore();
const handler = createKuboRpcHandler(blocks);
let lastAuthorization: string | null = null;
const server = await serveHandler(async (request) => {
  lastAuthorization = request.headers.get("authorization");
  return handler(request);
});
const client = createKuboClient({ url: `${server.url}/api/v0` });
afterAll(() => server.close());

async function rejects(promise: Promise<unknown>, code: StoreErrorCode): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    if (isStoreError(error, code)) return error;
    throw error;
  }
  throw new Error(`expected a StoreError ${code}`);
}

async function readmeWrites(store: IPLDStore): Promise<void> {
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
}
const README_ROOT = "bafyreidn66mk3fktszrfwayonvpq6y3agtnb5e5o22ivof5tgikbxt7k6u";

describeConformance(
  "IPLDStore over KuboCAStore (loopback Kubo RPC)",
  () => new IPLDStore(new KuboCAStore(server.url)),
);

describe("the loopback Kubo RPC server, checked with kubo-rpc-client", () => {
  it("block.put / block.get / block.stat round-trip with the CIDs Kubo computes", async () => {
    const bytes = Uint8Array.of(0, 1, 2, 3, 4);
    const cid = await client.block.put(bytes, { format: "raw", mhtype: "sha2-256" });
    expect(cid.toString()).toBe("bafkreiaixnpf23vkyecj5xqispjq5ubcwgsntnnurw2bjby7khe4wnjihu");
    expect(await client.block.get(cid)).toEqual(bytes);
    expect(await client.block.stat(cid)).toEqual({ cid, size: 5 });
    const cbor = await client.block.put(dagCbor.encode({ x: 1 }), { format: "dag-cbor" });
    expect(cbor.code).toBe(0x71);
  });

  it("dag.put stores DAG-CBOR as given, with the CID @ipld/dag-cbor + sha2-256 give", async () => {
    const value = { hello: "world", n: [1, 2, 3] };
    const cid = await client.dag.put(value, { storeCodec: "dag-cbor", hashAlg: "sha2-256" });
    const expected = CID.createV1(0x71, await sha256.digest(dagCbor.encode(value)));
    expect(cid.toString()).toBe(expected.toString());
    expect((await client.dag.get(cid)).value).toEqual(value);
    // KuboCAStore reads what the other client wrote, verified.
    expect(await new KuboCAStore(server.url).get(cid as AnyCID)).toEqual(dagCbor.encode(value));
  });

  it("dag.import takes our CAR and dag.export gives back the same bytes", async () => {
    const store = new IPLDStore();
    await readmeWrites(store);
    const car = await store.toCar();
    const roots = [];
    for await (const result of client.dag.import([car], { pinRoots: true }))
      roots.push(result.root.cid.toString());
    expect(roots).toEqual([README_ROOT]);
    const exported = await collectBytes(client.dag.export(CID.parse(README_ROOT)));
    expect(exported).toEqual(car);
    // And an IPLDStore over KuboCAStore opens the imported root.
    const reader = await IPLDStore.fromRoot(README_ROOT, new KuboCAStore(server.url));
    const arr = await zarr.open.v2(zarr.root(reader).resolve("a"), { kind: "array" });
    expect(Array.from((await zarr.get(arr)).data as BigInt64Array)).toEqual([1n, 2n, 3n]);
  });

  it("answers a missing block as an offline Kubo does", async () => {
    const missing = CID.parse("bafkreigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi");
    await expect(client.block.get(missing)).rejects.toThrow(/not found locally/);
    expect(await new KuboCAStore(server.url).get(missing as AnyCID)).toBeUndefined();
    expect(await new KuboCAStore(server.url).has(missing as AnyCID)).toBe(false);
  });

  it("refuses blocks over 1 MiB unless allow-big-block, like Kubo", async () => {
    const big = new Uint8Array(1024 * 1024 + 1).fill(7);
    await expect(client.block.put(big, { format: "raw" })).rejects.toThrow(/over 1MiB/);
    const strict = new KuboCAStore(server.url, { allowBigBlocks: false });
    await rejects(strict.put(big, 0x55), "Unexpected");
    const cid = await new KuboCAStore(server.url).put(big, 0x55);
    expect((await client.block.stat(cid)).size).toBe(big.byteLength);
  });

  it("rejects GET like Kubo (every RPC call is a POST)", async () => {
    const response = await fetch(`${server.url}/api/v0/block/get?arg=${README_ROOT}`);
    expect(response.status).toBe(405);
  });
});

describe("KuboCAStore", () => {
  it("getIpfsMapper reproduces the README: the seed's root CID, blocks readable by kubo-rpc-client", async () => {
    const m = getIpfsMapper(server.url);
    await readmeWrites(m);
    const root = await m.freeze();
    expect(root.toString()).toBe(README_ROOT);
    const block = await client.block.get(root);
    expect(block.byteLength).toBe(198);
    const raw = await client.block.get(
      CID.parse("bafkreihc4ibtvz7btvualgou5mfbgwncwshmlovmoudgyml7x6crlhcu54"),
    );
    expect(raw).toEqual(new Uint8Array(BigInt64Array.of(1n, 2n, 3n).buffer));
  });

  it("imports a CAR in concurrent dag/import batches", async () => {
    const source = new IPLDStore();
    for (let i = 0; i < 200; i++)
      await source.set(`/v/${i}`, textToBytes(`value ${i} `.repeat(100)));
    const car = await source.toCar();
    const calls: string[] = [];
    const counting: typeof fetch = async (input, init) => {
      calls.push(new URL(String(input)).pathname);
      return fetch(input, init);
    };
    const kubo = new KuboCAStore(server.url, {
      fetch: counting,
      batchBytes: 16 * 1024,
      concurrency: 3,
    });
    const target = new IPLDStore(kubo);
    await target.importCar(car);
    const imports = calls.filter((p) => p.endsWith("/dag/import")).length;
    expect(imports).toBeGreaterThan(5);
    expect(await target.get("/v/199")).toEqual(textToBytes("value 199 ".repeat(100)));
    // Every block is on the server, as kubo-rpc-client sees it.
    const reader = await readCar(car);
    for await (const { cid } of reader.blocks)
      expect((await client.block.stat(cid)).cid.toString()).toBe(cid.toString());
  });

  it("verifies every block it reads", async () => {
    const store = new IPLDStore(new KuboCAStore(server.url));
    await store.set("/x", Uint8Array.of(1, 2, 3));
    const liar = await serveHandler(async (request) => {
      const response = await handler(request);
      if (!new URL(request.url).pathname.endsWith("/block/get")) return response;
      const bytes = new Uint8Array(await response.arrayBuffer());
      bytes[0] = (bytes[0] as number) ^ 0xff;
      return new Response(bytes);
    });
    try {
      const root = await store.freeze();
      const reader = new IPLDStore(new KuboCAStore(liar.url));
      const error = await rejects(reader.setRoot(root), "Integrity");
      expect(error.message).toContain(cidKey(root));
    } finally {
      await liar.close();
    }
  });

  it("maps an unreachable API to Unavailable and a silent one to Timeout", async () => {
    const nobody = new KuboCAStore("http://127.0.0.1:9");
    const error = await rejects(nobody.get(CID.parse(README_ROOT) as AnyCID), "Unavailable");
    expect(error.message).toContain("127.0.0.1:9");
    const silent = await serveHandler(() => new Promise<Response>(() => {}));
    try {
      const slow = new KuboCAStore(silent.url, { timeoutMs: 200 });
      await rejects(slow.get(CID.parse(README_ROOT) as AnyCID), "Timeout");
    } finally {
      await silent.close();
    }
  });

  it("keeps credentials out of messages, JSON and inspect, and sends them", async () => {
    const kubo = new KuboCAStore(`http://alice:s3cret@${server.url.slice("http://".length)}`);
    expect(await kubo.size(CID.parse(README_ROOT) as AnyCID)).toBe(198);
    expect(lastAuthorization).toBe(`Basic ${btoa("alice:s3cret")}`);
    expect(JSON.stringify(kubo)).not.toContain("s3cret");
    expect(inspect(kubo)).not.toContain("s3cret");
    expect(kubo.url).not.toContain("alice");
    const wrong = new KuboCAStore("http://alice:s3cret@127.0.0.1:9");
    const error = await rejects(wrong.get(CID.parse(README_ROOT) as AnyCID), "Unavailable");
    expect(error.message).not.toContain("s3cret");
    expect(JSON.stringify(error)).not.toContain("s3cret");
  });
});
