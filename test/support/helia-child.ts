/**
 * One Helia peer in its own process (spawned by helia-node.ts).
 * - `serve`: writes the dataset into an IPLDStore over its node, freezes it, prints
 *   `{"addresses": [...], "root": "bafy…"}`, and serves bitswap until its stdin closes.
 * - `read <address> <root>`: dials the server, opens the root over bitswap, reads every key
 *   and the array through zarrita, prints what it read, stops.
 */
import { createHash } from "node:crypto";
import * as zarr from "zarrita";
import { startHelia } from "../../src/stores/ipld/helia.node.js";
import { HeliaCAStore, IPLDStore } from "../../src/stores/ipld/index.js";
import { buildDataset } from "./helia-node.js";

const [role, ...args] = process.argv.slice(2);

async function serve(): Promise<void> {
  const node = await startHelia();
  const store = new IPLDStore(new HeliaCAStore(node));
  await buildDataset(store);
  const root = await store.freeze();
  process.stdout.write(
    `${JSON.stringify({ addresses: node.addresses(), root: root.toString() })}\n`,
  );
  process.stdin.resume();
  await new Promise<void>((resolve) => process.stdin.once("end", () => resolve()));
  await node.stop();
}

async function read(address: string, root: string): Promise<void> {
  const started = performance.now();
  const node = await startHelia({ peers: [address] });
  const store = await IPLDStore.fromRoot(root, new HeliaCAStore(node, { timeoutMs: 20_000 }));
  const keys: Record<string, string> = {};
  for await (const key of store.list()) {
    const bytes = await store.get(key);
    keys[key] = createHash("sha256")
      .update(bytes as Uint8Array)
      .digest("hex");
  }
  const arr = await zarr.open(zarr.root(store).resolve("temperature"), { kind: "array" });
  const data = (await zarr.get(arr)).data as Float32Array;
  const group = await zarr.open(zarr.root(store), { kind: "group" });
  process.stdout.write(
    `${JSON.stringify({
      root: (await store.freeze()).toString(),
      keys,
      values: Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString("base64"),
      attributes: group.attrs,
      ms: Math.round(performance.now() - started),
    })}\n`,
  );
  await node.stop();
}

try {
  if (role === "serve") await serve();
  else if (role === "read") await read(args[0] as string, args[1] as string);
  else throw new Error(`unknown role ${role}`);
  process.exit(0);
} catch (error) {
  process.stderr.write(`${(error as Error)?.stack ?? error}\n`);
  process.exit(1);
}
