/**
 * Azure Blob Storage against Azurite: write then read N × 16 KiB values (default 5,000),
 * 16 in flight. AzureBlobStore (undici transport; SAS, and Shared Key signing with WebCrypto)
 * against the floor: bare undici `request()` PUTs and GETs with a SAS, nothing else.
 *
 * Every contender overwrites the same N blobs of one container, after a warm-up round that
 * creates them: Azurite's cost per request grows with the number of blobs it holds, so
 * separate containers would make whoever runs later slower.
 *
 * Run: npm run bench azure            (or: node --import tsx bench/azure.bench.ts [N] [rounds])
 */
import { Agent, request } from "undici";
import { AzureBlobStore } from "../src/stores/azure/index.js";
import { undiciTransport } from "../src/stores/http-transport.node.js";
import { startAzurite } from "../test/support/azurite.js";
import { compare, pool, printTable } from "./lib.js";

const COUNT = Number(process.argv[2] ?? 5000);
const ROUNDS = Number(process.argv[3] ?? 3);
const SIZE = 16 * 1024;
// 16 in flight: the depth the Swift anchors were measured at (notes/performance-anchors.md).
const IN_FLIGHT = 16;
const VERSION = "2021-08-06";

const azurite = await startAzurite();
try {
  const { generateAccountSas } = await import("../src/stores/azure/index.js");
  const sas = await generateAccountSas({
    account: azurite.account,
    accountKey: azurite.key,
    expiresOn: new Date(Date.now() + 6 * 3600_000),
  });
  const value = new Uint8Array(SIZE).map((_, i) => (i * 31) % 251);
  const names = Array.from({ length: COUNT }, (_, i) => `c/${Math.floor(i / 100)}/${i % 100}`);

  const sasStore = new AzureBlobStore({
    container: "bench",
    endpoint: azurite.endpoint,
    credential: { sasToken: sas },
    transport: undiciTransport(),
    env: {},
  });
  const keyStore = new AzureBlobStore({
    container: "bench",
    endpoint: azurite.endpoint,
    credential: { accountKey: azurite.key },
    transport: undiciTransport(),
    env: {},
  });
  const agent = new Agent({ pipelining: 1, keepAliveTimeout: 10_000 });
  const bare = async (method: "PUT" | "GET", name: string, body?: Uint8Array) => {
    const headers: Record<string, string> = { "x-ms-version": VERSION };
    if (method === "PUT") {
      headers["x-ms-blob-type"] = "BlockBlob";
      headers["content-type"] = "application/octet-stream";
    }
    const response = await request(`${azurite.endpoint}/bench/${name}?${sas}`, {
      method,
      headers,
      dispatcher: agent,
      ...(body ? { body } : {}),
    });
    const bytes = new Uint8Array(await response.body.arrayBuffer());
    if (response.statusCode >= 300) throw new Error(`${method} ${name}: ${response.statusCode}`);
    return bytes;
  };

  // The container first (and warm connection pools), outside the timed rounds.
  await sasStore.set("/warm", value);
  await keyStore.set("/warm", value);

  const storeRun = (store: AzureBlobStore) => async () => {
    await pool(names, IN_FLIGHT, async (name) => store.set(`/${name}`, value));
    let bytes = 0;
    await pool(names, IN_FLIGHT, async (name) => {
      // Await first: `bytes += await …` would read `bytes` before the await and lose updates.
      const got = await store.get(`/${name}`);
      bytes += got?.byteLength ?? 0;
    });
    if (bytes !== COUNT * SIZE) throw new Error(`read ${bytes} bytes, expected ${COUNT * SIZE}`);
    return 2 * COUNT;
  };
  const results = await compare(
    [
      {
        name: "bare undici (SAS)",
        run: async () => {
          await pool(names, IN_FLIGHT, async (name) => {
            await bare("PUT", name, value);
          });
          let bytes = 0;
          await pool(names, IN_FLIGHT, async (name) => {
            const got = await bare("GET", name);
            bytes += got.byteLength;
          });
          if (bytes !== COUNT * SIZE) throw new Error(`read ${bytes} bytes`);
          return 2 * COUNT;
        },
      },
      { name: "AzureBlobStore (SAS)", run: storeRun(sasStore) },
      { name: "AzureBlobStore (Shared Key)", run: storeRun(keyStore) },
    ],
    ROUNDS,
    { warmup: 1 },
  );
  printTable(
    `Azurite: write then read ${COUNT} × 16 KiB, ${IN_FLIGHT} in flight (${ROUNDS} rounds)`,
    "ops/s",
    results,
    "bare undici (SAS)",
  );
  for (const r of results) console.log(`${r.name}: ${r.rates.map((x) => x.toFixed(0)).join(", ")}`);
  await sasStore.close();
  await keyStore.close();
  await agent.close();
} finally {
  await azurite.stop();
}
