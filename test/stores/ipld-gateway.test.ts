/**
 * GatewayCAStore against our trustless-gateway server (`createGatewayHandler`) on loopback,
 * with the server's CARs read by the independent `@ipld/car` reader.
 */
import { CarReader } from "@ipld/car";
import { CID } from "multiformats/cid";
import { afterAll, describe, expect, it } from "vitest";
import * as zarr from "zarrita";
import { isStoreError, type StoreErrorCode } from "../../src/errors.js";
import { textToBytes } from "../../src/helpers.js";
import { createGatewayHandler } from "../../src/ipfs/gateway.js";
import { serveHandler } from "../../src/ipfs/serve.node.js";
import type { CallOptions } from "../../src/store.js";
import {
  type AnyCID,
  type Block,
  type CAStore,
  cidKey,
  GatewayCAStore,
  IPLDStore,
  MappingCAStore,
} from "../../src/stores/ipld/index.js";
import { describeConformance } from "../../src/testing/vitest.js";

const blocks = new MappingCAStore();
const server = await serveHandler(createGatewayHandler(blocks));
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

const dataset = new IPLDStore(blocks);
await dataset.set("/.zgroup", textToBytes('{"zarr_format":2}'));
await dataset.set("/.zattrs", textToBytes("{}"));
await dataset.set(
  "/a/.zarray",
  textToBytes(
    '{"chunks":[3],"compressor":null,"dtype":"<i8","fill_value":null,"filters":null,"order":"C","shape":[3],"zarr_format":2}',
  ),
);
await dataset.set("/a/.zattrs", textToBytes('{"_ARRAY_DIMENSIONS":["a"]}'));
await dataset.set("/a/0", new Uint8Array(BigInt64Array.of(1n, 2n, 3n).buffer));
const root = await dataset.freeze();
const RAW_A0 = "bafkreihc4ibtvz7btvualgou5mfbgwncwshmlovmoudgyml7x6crlhcu54";
const MISSING = "bafkreigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi";

/** Reads through the gateway, writes into the gateway's block store: an IPLDStore whose every read crosses HTTP. */
class ThroughGateway implements CAStore {
  readonly name = "ThroughGateway";
  readonly writable = true;
  readonly #gateway = new GatewayCAStore(server.url);
  get(cid: AnyCID, options?: CallOptions) {
    return this.#gateway.get(cid, options);
  }
  size(cid: AnyCID, options?: CallOptions) {
    return this.#gateway.size(cid, options);
  }
  has(cid: AnyCID, options?: CallOptions) {
    return this.#gateway.has(cid, options);
  }
  put(bytes: Uint8Array, codec: number, options?: CallOptions) {
    return blocks.put(bytes, codec, options);
  }
  putBlock(block: Block, options?: CallOptions) {
    return blocks.putBlock(block, options);
  }
  async close() {}
}

describeConformance(
  "IPLDStore reading through GatewayCAStore",
  () => new IPLDStore(new ThroughGateway()),
);

describe("the trustless gateway server", () => {
  it("serves a raw block with the trustless headers", async () => {
    const response = await fetch(`${server.url}/ipfs/${RAW_A0}?format=raw`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("application/vnd.ipld.raw");
    expect(response.headers.get("content-disposition")).toBe(
      `attachment; filename="${RAW_A0}.bin"`,
    );
    expect(response.headers.get("etag")).toBe(`"${RAW_A0}.raw"`);
    expect(response.headers.get("cache-control")).toContain("immutable");
    expect(response.headers.get("access-control-allow-origin")).toBe("*");
    expect(new Uint8Array(await response.arrayBuffer())).toEqual(
      new Uint8Array(BigInt64Array.of(1n, 2n, 3n).buffer),
    );
    const byAccept = await fetch(`${server.url}/ipfs/${RAW_A0}`, {
      headers: { accept: "application/vnd.ipld.raw" },
    });
    expect(byAccept.status).toBe(200);
    const notModified = await fetch(`${server.url}/ipfs/${RAW_A0}?format=raw`, {
      headers: { "if-none-match": `"${RAW_A0}.raw"` },
    });
    expect(notModified.status).toBe(304);
  });

  it("answers HEAD with the length, and a Range with 206", async () => {
    const head = await fetch(`${server.url}/ipfs/${RAW_A0}?format=raw`, { method: "HEAD" });
    expect(head.headers.get("content-length")).toBe("24");
    const part = await fetch(`${server.url}/ipfs/${RAW_A0}?format=raw`, {
      headers: { range: "bytes=8-15" },
    });
    expect(part.status).toBe(206);
    expect(part.headers.get("content-range")).toBe("bytes 8-15/24");
    expect(new Uint8Array(await part.arrayBuffer())).toEqual(
      new Uint8Array(BigInt64Array.of(2n).buffer),
    );
  });

  it("streams a CAR (dag-scope all and block) that @ipld/car reads", async () => {
    const response = await fetch(`${server.url}/ipfs/${root}?format=car`);
    expect(response.headers.get("content-type")).toBe(
      "application/vnd.ipld.car; version=1; order=dfs; dups=n",
    );
    const bytes = new Uint8Array(await response.arrayBuffer());
    expect(bytes).toEqual(await dataset.toCar());
    const reader = await CarReader.fromBytes(bytes);
    expect((await reader.getRoots()).map(String)).toEqual([root.toString()]);
    const blockOnly = await fetch(`${server.url}/ipfs/${root}?format=car&dag-scope=block`);
    const single = await CarReader.fromBytes(new Uint8Array(await blockOnly.arrayBuffer()));
    const cids: string[] = [];
    for await (const block of single.blocks()) cids.push(block.cid.toString());
    expect(cids).toEqual([root.toString()]);
  });

  it("answers 404 for a missing block, 412 with only-if-cached, 400 for bad requests", async () => {
    expect((await fetch(`${server.url}/ipfs/${MISSING}?format=raw`)).status).toBe(404);
    expect((await fetch(`${server.url}/ipfs/${MISSING}?format=car`)).status).toBe(404);
    const cached = await fetch(`${server.url}/ipfs/${MISSING}?format=raw`, {
      headers: { "cache-control": "only-if-cached" },
    });
    expect(cached.status).toBe(412);
    expect((await fetch(`${server.url}/ipfs/not-a-cid?format=raw`)).status).toBe(400);
    expect((await fetch(`${server.url}/ipfs/${RAW_A0}`)).status).toBe(400);
    expect((await fetch(`${server.url}/ipfs/${RAW_A0}?format=html`)).status).toBe(400);
    expect(
      (await fetch(`${server.url}/ipfs/${RAW_A0}`, { method: "POST", body: "x" })).status,
    ).toBe(405);
    expect((await fetch(`${server.url}/ipfs/${RAW_A0}`, { method: "OPTIONS" })).status).toBe(204);
  });
});

describe("GatewayCAStore", () => {
  it("opens a dataset by root CID and zarrita reads it", async () => {
    const store = await IPLDStore.fromRoot(root.toString(), new GatewayCAStore(server.url));
    expect(store.capabilities.write).toBe(false);
    const arr = await zarr.open.v2(zarr.root(store).resolve("a"), { kind: "array" });
    expect(Array.from((await zarr.get(arr)).data as BigInt64Array)).toEqual([1n, 2n, 3n]);
    await rejects(store.set("/b", Uint8Array.of(1)), "ReadOnly");
    expect(await new GatewayCAStore(server.url).get(CID.parse(MISSING) as AnyCID)).toBeUndefined();
    expect(await new GatewayCAStore(`${server.url}/ipfs/`).size(CID.parse(RAW_A0) as AnyCID)).toBe(
      24,
    );
  });

  it("fetches a whole DAG in one CAR request into its cache, verified", async () => {
    const cache = new MappingCAStore();
    let requests = 0;
    const counting: typeof fetch = async (input, init) => {
      requests += 1;
      return fetch(input, init);
    };
    const gateway = new GatewayCAStore(server.url, { cache, fetch: counting });
    const fetched: string[] = [];
    for await (const block of gateway.fetchCar(root)) fetched.push(cidKey(block.cid));
    expect(fetched).toEqual([root.toString(), RAW_A0]);
    expect(requests).toBe(1);
    const store = await IPLDStore.fromRoot(root, gateway);
    expect(await store.get("/a/0")).toEqual(new Uint8Array(BigInt64Array.of(1n, 2n, 3n).buffer));
    expect(requests).toBe(1);
  });

  it("rejects a gateway that serves wrong bytes, naming the block", async () => {
    const liar = await serveHandler(async () => new Response(Uint8Array.of(1, 2, 3)));
    try {
      const error = await rejects(
        new GatewayCAStore(liar.url).get(CID.parse(RAW_A0) as AnyCID),
        "Integrity",
      );
      expect(error.message).toContain(RAW_A0);
    } finally {
      await liar.close();
    }
  });
});
