/** HeliaCAStore over a real embedded Helia node (loopback TCP, no discovery). */
import { CID } from "multiformats/cid";
import { sha256 } from "multiformats/hashes/sha2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isStoreError, type StoreErrorCode } from "../../src/errors.js";
import { textToBytes } from "../../src/helpers.js";
import { type HeliaNode, startHelia } from "../../src/stores/ipld/helia.node.js";
import { type AnyCID, HeliaCAStore, IPLDStore } from "../../src/stores/ipld/index.js";
import { describeConformance } from "../../src/testing/vitest.js";
import { heliaAvailable } from "../support/helia-node.js";
import { describeLive } from "../support/live.js";

async function rejects(promise: Promise<unknown>, code: StoreErrorCode): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    if (isStoreError(error, code)) return error;
    throw error;
  }
  throw new Error(`expected a StoreError ${code}`);
}

describeLive("HeliaCAStore", heliaAvailable, () => {
  let node: HeliaNode;
  beforeAll(async () => {
    node = await startHelia();
  }, 60_000);
  afterAll(async () => {
    await node?.stop();
  });

  describeConformance("IPLDStore over HeliaCAStore", () => new IPLDStore(new HeliaCAStore(node)));

  describe("behaviour", () => {
    it("listens on loopback only", () => {
      for (const address of node.addresses())
        expect(address).toMatch(/^\/ip4\/127\.0\.0\.1\/tcp\//);
    });

    it("reproduces the README root CID in the node's blockstore", async () => {
      const store = new IPLDStore(new HeliaCAStore(node));
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
      const root = await store.freeze();
      expect(root.toString()).toBe("bafyreidn66mk3fktszrfwayonvpq6y3agtnb5e5o22ivof5tgikbxt7k6u");
      expect(await node.blockstore.has(root)).toBe(true);
    });

    it("times out on a block no peer has, and answers undefined when offline", async () => {
      const bytes = textToBytes(`nobody has this ${Math.random()}`);
      const cid = CID.createV1(0x55, await sha256.digest(bytes)) as AnyCID;
      const error = await rejects(new HeliaCAStore(node, { timeoutMs: 300 }).get(cid), "Timeout");
      expect(error.message).toContain(cid.toString());
      expect(await new HeliaCAStore(node, { offline: true }).get(cid)).toBeUndefined();
      expect(await new HeliaCAStore(node).has(cid)).toBe(false);
    });
  });
});
