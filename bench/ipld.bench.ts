/**
 * IPLD benchmarks (`npm run bench ipld`), each contender run alternately in one process:
 *
 * 1. importCar of a CAR of 64 KiB raw blocks (every block verified, kept in memory) beside
 *    node:crypto's single-core sha-256 over the same block bytes (target ≥ 70 %).
 * 2. freeze() + toCarStream() of a store written in this process (target ≥ 1 GB/s), beside
 *    sha-256 of the same bytes (which a re-hashing export could not beat); a key changes before
 *    each round so freeze() really runs; the CAR's chunks are consumed, not copied.
 * 3. 10,000 set()s of 1 KiB into an IPLDStore over MappingCAStore (the original Python takes
 *    about 1.5 s; target < 75 ms), beside the bare floor: 10,000 sha-256 digests of 1 KiB.
 *
 * Data is generated in memory: each block is a fixed pattern with its index in its first
 * bytes, so blocks differ and cost nothing to make. ZARRSTORE_BENCH_IPLD_MIB sets the size
 * (default 1024 MiB); memory holds one copy of the data plus the store under test.
 */
import { createHash } from "node:crypto";
import { CID } from "multiformats/cid";
import { sha256 } from "multiformats/hashes/sha2";
import { carHeader, sectionHead } from "../src/stores/ipld/car.js";
import { encodeDagCbor, IPLDStore, MappingCAStore } from "../src/stores/ipld/index.js";
import { MemoryStore } from "../src/stores/memory.js";
import { type Contender, compare, median, printTable } from "./lib.js";

/**
 * CPU time per contender beside bench/lib's wall-clock rates: on this shared 2-core machine
 * the load average often exceeds 15, and a 100 ms contender is preempted many times, so wall
 * time says more about the neighbours than about the code. CPU time (user + system of this
 * process, which runs one contender at a time) is the steadier measure; both are printed.
 */
const cpuRates = new Map<string, number[]>();

function cpuTimed(name: string, run: () => Promise<number>): () => Promise<number> {
  return async () => {
    const start = process.cpuUsage();
    const units = await run();
    const used = process.cpuUsage(start);
    const seconds = (used.user + used.system) / 1e6;
    const rates = cpuRates.get(name) ?? [];
    rates.push(units / seconds);
    cpuRates.set(name, rates);
    return units;
  };
}

function withCpu(contenders: Contender[]): Contender[] {
  return contenders.map((c) => ({ ...c, run: cpuTimed(c.name, c.run) }));
}

function printCpuTable(title: string, unit: string, names: string[], baseline: string): void {
  const medians = new Map(names.map((n) => [n, median(cpuRates.get(n) ?? [])]));
  const base = medians.get(baseline) ?? Number.NaN;
  console.log(`\n## ${title} (per CPU second)`);
  const width = Math.max(...names.map((n) => n.length), 10);
  for (const n of names) {
    const rate = medians.get(n) ?? Number.NaN;
    console.log(
      `${n.padEnd(width)}  ${rate.toFixed(1).padStart(14)} ${unit}  ${(rate / base).toFixed(2).padStart(6)} × ${baseline}`,
    );
  }
}

const MIB = 1024 * 1024;
const BLOCK = 64 * 1024;
const TOTAL = Number(process.env.ZARRSTORE_BENCH_IPLD_MIB ?? 1024) * MIB;
const COUNT = TOTAL / BLOCK;
const ROUNDS = Number(process.env.ZARRSTORE_BENCH_ROUNDS ?? 5);

const pattern = new Uint8Array(BLOCK).map((_, i) => (i * 2654435761) >>> 24);

/** Block `i`: the pattern with `i` in its first 4 bytes (a fresh buffer each time). */
function block(i: number): Uint8Array {
  const bytes = pattern.slice();
  new DataView(bytes.buffer).setUint32(0, i);
  return bytes;
}

async function importBench(): Promise<void> {
  console.log(
    `\n# importCar: ${COUNT} blocks of 64 KiB (${TOTAL / MIB} MiB), every block verified`,
  );
  // The CAR is made once, outside the timing, and read back in chunks as from a file:
  // sections straddle chunks, as they do on disk. The anchor hashes the same block bytes.
  const cids: CID[] = [];
  for (let i = 0; i < COUNT; i++) cids.push(CID.createV1(0x55, sha256.digest(block(i)) as never));
  // The tree an IPLDStore writes for /data/0 … /data/N-1, so importCar checks a real tree.
  const tree = new Map([["data", new Map(cids.map((cid, i) => [String(i), cid]))]]);
  const rootBytes = encodeDagCbor(tree);
  const root = CID.createV1(0x71, sha256.digest(rootBytes) as never);
  const parts: Uint8Array[] = [
    carHeader([root as never]),
    sectionHead(root as never, rootBytes.byteLength),
    rootBytes,
  ];
  const payloads: [number, number][] = [];
  let size = parts.reduce((n, p) => n + p.byteLength, 0);
  for (let i = 0; i < COUNT; i++) {
    const head = sectionHead(cids[i] as never, BLOCK);
    parts.push(head, block(i));
    payloads.push([size + head.byteLength, BLOCK]);
    size += head.byteLength + BLOCK;
  }
  const car = new Uint8Array(size);
  let at = 0;
  for (const p of parts.splice(0)) {
    car.set(p, at);
    at += p.byteLength;
  }
  // 1 MiB chunks, as zarrstore reads CAR files (createReadStream, highWaterMark 1 MiB); such a
  // source never reuses its chunks, so importCar may adopt them (`adopt: true`, as for files).
  function* chunks(): Generator<Uint8Array> {
    for (let i = 0; i < car.byteLength; i += MIB) yield car.subarray(i, i + MIB);
  }
  const results = await compare(
    withCpu([
      {
        name: "node:crypto sha-256",
        run: async () => {
          for (const [offset, length] of payloads) {
            createHash("sha256")
              .update(car.subarray(offset, offset + length))
              .digest();
          }
          return TOTAL / 1e6;
        },
      },
      {
        name: "importCar (verified)",
        run: async () => {
          const castore = new MappingCAStore();
          const store = new IPLDStore(castore);
          const imported = await store.importCar(chunks(), { adopt: true });
          if (!imported.equals(root) || castore.count !== COUNT + 1) throw new Error("import");
          return TOTAL / 1e6;
        },
      },
    ]),
    ROUNDS,
  );
  printTable("importCar vs sha-256 of the same bytes", "MB/s", results, "node:crypto sha-256");
  printCpuTable(
    "importCar vs sha-256",
    "MB/s",
    results.map((r) => r.name),
    "node:crypto sha-256",
  );
}

async function exportBench(): Promise<void> {
  console.log(`\n# freeze() + toCarStream(): a store of ${COUNT} values of 64 KiB written here`);
  const store = new IPLDStore();
  await store.set("/.zgroup", new TextEncoder().encode('{"zarr_format": 2}'));
  const blocks = Array.from({ length: COUNT }, (_, i) => block(i));
  for (let i = 0; i < COUNT; i++) await store.set(`/data/${i}`, blocks[i] as Uint8Array);
  let round = 0;
  const results = await compare(
    withCpu([
      {
        name: "node:crypto sha-256",
        run: async () => {
          for (let i = 0; i < COUNT; i++)
            createHash("sha256")
              .update(blocks[i] as Uint8Array)
              .digest();
          return TOTAL / 1e6;
        },
      },
      {
        name: "freeze + toCarStream",
        run: async () => {
          await store.set("/round", Uint8Array.of(round++));
          let bytes = 0;
          for await (const chunk of store.toCarStream()) bytes += chunk.byteLength;
          if (bytes < TOTAL) throw new Error(`CAR of ${bytes} bytes`);
          return bytes / 1e6;
        },
      },
    ]),
    ROUNDS,
  );
  printTable("freeze() + toCarStream() throughput", "MB/s", results, "node:crypto sha-256");
  printCpuTable(
    "freeze() + toCarStream()",
    "MB/s",
    results.map((r) => r.name),
    "node:crypto sha-256",
  );
}

async function setBench(): Promise<void> {
  console.log("\n# 10,000 set() of 1 KiB values");
  const N = 10_000;
  const values = Array.from({ length: N }, (_, i) => {
    const v = new Uint8Array(1024).fill(i & 0xff);
    new DataView(v.buffer).setUint32(0, i);
    return v;
  });
  const keys = values.map((_, i) => `/v/c/${Math.floor(i / 100)}/${i % 100}` as const);
  const results = await compare(
    withCpu([
      {
        name: "sha-256 of each value (floor)",
        run: async () => {
          for (const v of values) createHash("sha256").update(v).digest();
          return N;
        },
      },
      {
        name: "IPLDStore (private memory)",
        run: async () => {
          const store = new IPLDStore();
          for (let i = 0; i < N; i++)
            await store.set(keys[i] as `/${string}`, values[i] as Uint8Array);
          return N;
        },
      },
      {
        name: "IPLDStore over MappingCAStore(MemoryStore)",
        run: async () => {
          const store = new IPLDStore(new MappingCAStore(new MemoryStore()));
          for (let i = 0; i < N; i++)
            await store.set(keys[i] as `/${string}`, values[i] as Uint8Array);
          return N;
        },
      },
    ]),
    Math.max(ROUNDS, 7),
  );
  printTable("10,000 sets of 1 KiB", "sets/s", results, "sha-256 of each value (floor)");
  printCpuTable(
    "10,000 sets of 1 KiB",
    "sets/s",
    results.map((r) => r.name),
    "sha-256 of each value (floor)",
  );
  for (const r of results) {
    const cpu = median(cpuRates.get(r.name) ?? []);
    console.log(
      `${r.name}: ${((N / r.median) * 1000).toFixed(1)} ms wall, ${((N / cpu) * 1000).toFixed(1)} ms CPU per 10,000 sets (medians)`,
    );
  }
}

await setBench();
await exportBench();
await importBench();
