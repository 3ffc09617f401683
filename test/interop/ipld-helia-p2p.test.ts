/**
 * Peer to peer for real: two Helia nodes in separate processes on 127.0.0.1 (TCP, no discovery,
 * no bootstrap peers, no routers, no gateways). One writes a dataset into an IPLDStore over its
 * node and freezes it; only the root CID and its address are handed over; the other dials it,
 * fetches the tree and every chunk over bitswap, and zarrita reads the array bit-exactly.
 */
import { createHash } from "node:crypto";
import { afterAll, expect, it } from "vitest";
import { IPLDStore } from "../../src/stores/ipld/index.js";
import {
  buildDataset,
  expectedValues,
  type HeliaChild,
  heliaAvailable,
  spawnHeliaChild,
  stopHeliaChild,
} from "../support/helia-node.js";
import { describeLive } from "../support/live.js";

const children: HeliaChild[] = [];
afterAll(async () => {
  await Promise.all(children.map((child) => stopHeliaChild(child)));
});

describeLive("IPLDStore between two Helia processes over bitswap", heliaAvailable, () => {
  it("a dataset frozen on one node reads bit-exactly on the other by its root CID", async () => {
    // What both sides must agree on, computed here without any network.
    const local = new IPLDStore();
    await buildDataset(local);
    const expectedRoot = (await local.freeze()).toString();
    const expectedKeys: Record<string, string> = {};
    for await (const key of local.list()) {
      expectedKeys[key] = createHash("sha256")
        .update((await local.get(key)) as Uint8Array)
        .digest("hex");
    }

    const server = spawnHeliaChild("serve");
    children.push(server);
    const served = await server.ready;
    expect(served.root).toBe(expectedRoot);
    const addresses = served.addresses as string[];
    expect(addresses.length).toBeGreaterThan(0);
    for (const address of addresses)
      expect(address).toMatch(/^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\//);

    const reader = spawnHeliaChild("read", [addresses[0] as string, served.root as string]);
    children.push(reader);
    const read = await reader.ready.catch((error: Error) => {
      throw new Error(
        `${error.message}\nreader stderr: ${reader.stderr()}\nserver stderr: ${server.stderr()}`,
      );
    });
    expect(await reader.exited).toBe(0);
    expect(read.root).toBe(expectedRoot);
    expect(read.keys).toEqual(expectedKeys);
    expect(Object.keys(read.keys as object).length).toBeGreaterThan(9);
    const values = new Float32Array(
      new Uint8Array(Buffer.from(read.values as string, "base64")).buffer,
    );
    expect(Buffer.from(values.buffer)).toEqual(Buffer.from(expectedValues().buffer));
    expect(read.attributes).toEqual({ title: "over bitswap", offset: 0.5 });
  }, 90_000);
});
