/**
 * Icechunk over SwiftStore vs a plain SwiftStore, on a local single-node Swift
 * (scripts/swift-server.sh, two proxy workers, quiet logs), alternating in one run:
 *
 *   write   1,000 chunks of 16 KiB into one array, 16 writes in flight: through IcechunkStore
 *           (session writes, then `commit`: chunk objects, manifest, snapshot, transaction log,
 *           the repo object) vs straight into SwiftStore. Overhead ratio = plain rate / Icechunk rate.
 *   open    a fresh IcechunkStore at a tag (repo object, snapshot) and one chunk read through it
 *           (manifest, chunk), vs one chunk read from a fresh SwiftStore.
 *
 * Icechunk runs in its WASM build here (glibc 2.36): its storage calls cross into JavaScript.
 *
 * Run: npm run bench icechunk   (or: node --import tsx bench/icechunk.bench.ts [rounds] [chunks])
 */
import { disposeIcechunk, IcechunkStore } from "../src/stores/icechunk/index.js";
import { SwiftStore } from "../src/stores/swift/index.node.js";
import { patternBytes } from "../src/testing/index.js";
import { type SwiftServer, startSwift } from "../test/support/swift.js";
import { median, pool, printTable, type Result } from "./lib.js";

const ROUNDS = Number(process.argv[2] ?? 5);
const COUNT = Number(process.argv[3] ?? 1000);
const SIZE = 16 * 1024;
const CONCURRENCY = 16;
const READS = 10;

const enc = new TextEncoder();
const chunk = patternBytes(SIZE, 7);
const arrayJson = enc.encode(
  JSON.stringify({
    zarr_format: 3,
    node_type: "array",
    shape: [COUNT * 4096],
    data_type: "float32",
    chunk_grid: { name: "regular", configuration: { chunk_shape: [4096] } },
    chunk_key_encoding: { name: "default", configuration: { separator: "/" } },
    fill_value: 0,
    codecs: [{ name: "bytes", configuration: { endian: "little" } }],
    attributes: {},
  }),
);
const ids = Array.from({ length: COUNT }, (_, i) => i);

async function main(): Promise<void> {
  const swift = await startSwift({ workers: 2, logLevel: "WARNING" });
  try {
    await run(swift);
  } finally {
    await swift.stop();
    await disposeIcechunk();
  }
}

async function run(swift: SwiftServer): Promise<void> {
  const swiftAt = (prefix: string) =>
    new SwiftStore({
      container: "icechunk-bench",
      prefix,
      storageOptions: { authurl: swift.authUrl, user: swift.user, key: swift.key },
    });
  const writes: Record<string, number[]> = {
    "SwiftStore (plain)": [],
    "IcechunkStore + commit": [],
  };
  const commitShare: number[] = [];
  let lastRepo = "";
  let lastPlain = "";
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 ? ["icechunk", "plain"] : ["plain", "icechunk"];
    for (const who of order) {
      const prefix = `${who}-${round}`;
      const started = performance.now();
      if (who === "plain") {
        const store = swiftAt(prefix);
        await store.set("/a/zarr.json", arrayJson);
        await pool(ids, CONCURRENCY, (i) => store.set(`/a/c/${i}`, chunk));
        writes["SwiftStore (plain)"]?.push(COUNT / ((performance.now() - started) / 1000));
        lastPlain = prefix;
      } else {
        const store = await IcechunkStore.open(swiftAt(prefix), { create: true });
        await store.set("/a/zarr.json", arrayJson);
        await pool(ids, CONCURRENCY, (i) => store.set(`/a/c/${i}`, chunk));
        const committing = performance.now();
        await store.commit(`${COUNT} chunks`);
        await store.createTag("bench");
        const total = performance.now() - started;
        commitShare.push((performance.now() - committing) / total);
        writes["IcechunkStore + commit"]?.push(COUNT / (total / 1000));
        lastRepo = prefix;
      }
    }
  }
  const writeResults: Result[] = Object.entries(writes).map(([name, rates]) => ({
    name,
    rates,
    median: median(rates),
  }));
  printTable(
    `write ${COUNT} × 16 KiB chunks (${CONCURRENCY} in flight), Icechunk including its commit`,
    "chunks/s",
    writeResults,
    "SwiftStore (plain)",
  );
  const [plain, ice] = writeResults.map((r) => r.median) as [number, number];
  console.log(
    `overhead: Icechunk takes ${(plain / ice).toFixed(2)}× the time of plain writes; ` +
      `the commit is ${(median(commitShare) * 100).toFixed(0)} % of Icechunk's time`,
  );

  const openTimes: number[] = [];
  const plainTimes: number[] = [];
  for (let round = 0; round < READS; round++) {
    const which = (round * 37) % COUNT;
    let started = performance.now();
    const store = await IcechunkStore.open(swiftAt(lastRepo), { version: { tag: "bench" } });
    const got = await store.get(`/a/c/${which}`);
    openTimes.push(performance.now() - started);
    started = performance.now();
    const direct = await swiftAt(lastPlain).get(`/a/c/${which}`);
    plainTimes.push(performance.now() - started);
    if (got?.byteLength !== SIZE || direct?.byteLength !== SIZE) throw new Error("bad read");
  }
  console.log(
    `\n## open a snapshot (tag) and read one chunk, fresh client each time (${READS} runs)`,
  );
  console.log(`IcechunkStore open + get  median ${median(openTimes).toFixed(1)} ms`);
  console.log(`SwiftStore get            median ${median(plainTimes).toFixed(1)} ms`);
  console.log(`ratio                     ${(median(openTimes) / median(plainTimes)).toFixed(2)}×`);
}

await main();
