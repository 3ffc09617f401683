/**
 * Writing then reading 5,000 × 16 KiB values on a local single-node Swift (scripts/swift-server.sh,
 * two proxy workers, quiet logs), 16 requests in flight for everyone, alternating in one run:
 *
 *   SwiftStore                vs `swift upload/download --object-threads 16` (python-swiftclient),
 *                                rclone (swift remote, --transfers 16), and a bare undici 7
 *                                `request()` loop with the token (the floor: no listing, no HEADs)
 *   S3Store (Swift's s3api)   vs `aws s3 cp --recursive` (16 concurrent requests) and rclone (s3
 *                                remote; AWS_CA_BUNDLE unset, rclone 1.60 fails with it)
 *
 * Downloads start from a listing, as the tools do (the floor reads known names). Every upload
 * run goes to a fresh container (a container's database slows down as it grows). Rounds alternate contenders (rotating who goes first); medians and
 * ratios to the floor are printed, with the client's CPU per object for in-process contenders.
 *
 * Targets (notes/performance-anchors.md): uploads ≥ 0.95× the bare-client floor, downloads
 * ≥ 0.95× the server's ceiling (the floor's download rate).
 *
 * SwiftStore and S3Store are the Node entry's (undici `request()` underneath).
 *
 * Run: npm run bench swift   (or: node --import tsx bench/swift.bench.ts [rounds] [count])
 */
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { AwsV4Signer } from "aws4fetch";
import { Agent, request } from "undici";
import { withRetry } from "../src/adapters/retry.js";
import type { Store } from "../src/store.js";
import { S3Store } from "../src/stores/s3/index.node.js";
import { SwiftStore } from "../src/stores/swift/index.node.js";
import { type SwiftServer, startSwift, swiftToken } from "../test/support/swift.js";
import { median, pool, printTable, type Result } from "./lib.js";

const run = promisify(execFile);
const ROUNDS = Number(process.argv[2] ?? 3);
const COUNT = Number(process.argv[3] ?? 5000);
const SIZE = 16 * 1024;
const CONCURRENCY = 16;
const CONTAINER = "bench";

type Key = `/${string}`;
const retries = new Map<string, number>();
/** Bare undici requests signed with SigV4 (aws4fetch's signer): what any S3 client must do. */
const S3_FLOOR = "undici floor (S3 SigV4)";
const names = Array.from({ length: COUNT }, (_, i) => `c/${Math.floor(i / 100)}/${i % 100}`);

/** Where a run writes or reads: a container (an S3 bucket) and a folder in it. */
interface Target {
  container: string;
  prefix: string;
}

interface Contender {
  name: string;
  upload(target: Target): Promise<void>;
  download(target: Target): Promise<void>;
  /** Client CPU is measured only for contenders running in this process. */
  inProcess: boolean;
}

async function main(): Promise<void> {
  const swift = await startSwift({ workers: 2, logLevel: "WARNING" });
  const work = mkdtempSync(path.join(tmpdir(), "zs-swift-bench-"));
  // Ctrl-C or a kill must not leave the Swift servers running.
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => {
      void swift.stop().finally(() => {
        rmSync(work, { recursive: true, force: true });
        process.exit(130);
      });
    });
  }
  try {
    const source = path.join(work, "source");
    writeFixture(source);
    const { token, storageUrl } = await swiftToken(swift);
    const made = await fetch(`${storageUrl}/${CONTAINER}`, {
      method: "PUT",
      headers: { "X-Auth-Token": token },
    });
    await made.body?.cancel();
    // BENCH_ONLY="S3" (names containing any of the comma-separated words) runs a subset.
    const only = process.env.BENCH_ONLY?.split(",").filter(Boolean);
    const contenders = makeContenders(swift, work, source, token, storageUrl).filter(
      (c) => !only || only.some((word) => c.name.includes(word)),
    );
    const value = new Uint8Array(SIZE).fill(7);
    // Everyone downloads the same prefix, written once beforehand.
    const readPrefix = "read-set";
    const agent = new Agent({ connections: CONCURRENCY });
    await pool(names, CONCURRENCY, async (name) => {
      const response = await request(`${storageUrl}/${CONTAINER}/${readPrefix}/${name}`, {
        method: "PUT",
        body: value,
        headers: { "x-auth-token": token },
        dispatcher: agent,
      });
      await response.body.dump();
    });
    await agent.close();

    // Warm-up (JIT, sockets) so that no contender pays it inside a measured round.
    await warmUp(swift, token, storageUrl, value);
    console.log(
      `# Swift ${COUNT} × ${SIZE / 1024} KiB, ${CONCURRENCY} in flight, ${ROUNDS} rounds`,
    );
    // Every upload run gets a fresh container: a container's database slows down as it grows,
    // which would otherwise penalise whoever runs later.
    const up = await measure(
      contenders,
      "upload",
      async (c, round) => {
        const container = `up-${round}-${slug(c.name)}`;
        return { container, prefix: "data" };
      },
      async (c, target) => c.upload(target),
      (target) => makeContainer(storageUrl, token, target.container),
    );
    printTable("upload", "obj/s", up.results, "undici floor");
    printTable("upload, S3 against its own floor", "obj/s", up.results, S3_FLOOR);
    printRoundRatios(up.results, "undici floor");
    printCpu(up.cpu);
    const down = await measure(
      contenders,
      "download",
      async () => ({ container: CONTAINER, prefix: readPrefix }),
      async (c, target) => c.download(target),
    );
    printTable("download (list + get)", "obj/s", down.results, "undici floor");
    printTable("download, S3 against its own floor", "obj/s", down.results, S3_FLOOR);
    printRoundRatios(down.results, "undici floor");
    printCpu(down.cpu);
    if (contenders.some((c) => c.name === "SwiftStore")) {
      await pairedWithFloor(swift, token, storageUrl, readPrefix);
    }
    console.log(
      `\npeak RSS of this process: ${(process.memoryUsage().rss / 2 ** 20).toFixed(0)} MiB`,
    );
    console.log(`retries (withRetry): ${JSON.stringify(Object.fromEntries(retries))}`);
  } finally {
    await swift.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

async function measure(
  contenders: Contender[],
  label: string,
  targetOf: (c: Contender, round: number) => Promise<Target>,
  work: (c: Contender, target: Target) => Promise<void>,
  prepare?: (target: Target) => Promise<void>,
): Promise<{ results: Result[]; cpu: Map<string, number[]> }> {
  const rates = new Map<string, number[]>(contenders.map((c) => [c.name, []]));
  const cpu = new Map<string, number[]>();
  for (let round = 0; round < ROUNDS; round++) {
    // Rotate the order so no contender always runs right after the same neighbour.
    const order = contenders.map(
      (_, i) => contenders[(i + round) % contenders.length] as Contender,
    );
    for (const c of order) {
      const target = await targetOf(c, round);
      await prepare?.(target);
      const cpuStart = process.cpuUsage();
      const started = performance.now();
      await work(c, target);
      const seconds = (performance.now() - started) / 1000;
      rates.get(c.name)?.push(COUNT / seconds);
      if (c.inProcess) {
        const used = process.cpuUsage(cpuStart);
        const list = cpu.get(c.name) ?? [];
        list.push((used.user + used.system) / COUNT);
        cpu.set(c.name, list);
      }
      console.log(`  ${label} round ${round + 1} ${c.name}: ${(COUNT / seconds).toFixed(0)} obj/s`);
    }
  }
  const results = contenders.map((c) => {
    const r = rates.get(c.name) ?? [];
    return { name: c.name, rates: r, median: median(r) };
  });
  return { results, cpu };
}

/**
 * The median over rounds of each contender's rate over the floor's rate in the same round: on
 * a shared machine whose load swings within minutes, steadier than a ratio of medians.
 */
function printRoundRatios(results: Result[], baseline: string): void {
  const base = results.find((r) => r.name === baseline);
  if (!base) return;
  for (const r of results) {
    const ratios = r.rates.map((rate, i) => rate / (base.rates[i] ?? Number.NaN));
    console.log(`  per-round ratio ${r.name}: ${median(ratios).toFixed(2)}× ${baseline}`);
  }
}

async function warmUp(
  swift: SwiftServer,
  token: string,
  storageUrl: string,
  value: Uint8Array,
): Promise<void> {
  const some = names.slice(0, 300);
  const swiftStore = new SwiftStore({
    container: CONTAINER,
    prefix: "warm/swift",
    storageOptions: { authurl: swift.authUrl, user: swift.user, key: swift.key },
  });
  const s3 = new S3Store({
    bucket: CONTAINER,
    prefix: "warm/s3",
    endpoint: swift.s3Endpoint,
    credentials: { accessKeyId: swift.user, secretAccessKey: swift.key },
  });
  const agent = new Agent({ connections: CONCURRENCY });
  for (const store of [swiftStore, s3]) {
    await pool(some, CONCURRENCY, (name) => store.set(`/${name}` as Key, value));
    await pool(some, CONCURRENCY, async (name) => {
      await store.get(`/${name}` as Key);
    });
    await store.close();
  }
  await pool(some, CONCURRENCY, async (name) => {
    const response = await request(`${storageUrl}/${CONTAINER}/warm/floor/${name}`, {
      method: "PUT",
      body: value,
      headers: { "x-auth-token": token },
      dispatcher: agent,
    });
    await response.body.dump();
  });
  await agent.close();
}

/**
 * SwiftStore against the floor in blocks of 500 objects, alternating which goes first: the two
 * meet the same moments of a machine whose load swings within seconds, so the median of the
 * block ratios is the steadiest answer to "how close to the floor" (as bench/http.bench.ts).
 */
async function pairedWithFloor(
  swift: SwiftServer,
  token: string,
  storageUrl: string,
  readPrefix: string,
): Promise<void> {
  const block = 500;
  const value = new Uint8Array(SIZE).fill(7);
  const credentials = { authurl: swift.authUrl, user: swift.user, key: swift.key };
  for (const phase of ["upload", "download"] as const) {
    const ratios: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const prefix = phase === "upload" ? `paired-${round}` : readPrefix;
      const store = new SwiftStore({
        container: CONTAINER,
        prefix: `${prefix}/ours`,
        storageOptions: credentials,
      });
      const reader = new SwiftStore({ container: CONTAINER, prefix, storageOptions: credentials });
      const agent = new Agent({ connections: CONCURRENCY });
      for (let start = 0, i = 0; start < COUNT; start += block, i++) {
        const slice = names.slice(start, start + block);
        const ours = async () => {
          if (phase === "upload") {
            await pool(slice, CONCURRENCY, (name) => store.set(`/${name}` as Key, value));
          } else {
            await pool(slice, CONCURRENCY, async (name) => {
              await reader.get(`/${name}` as Key);
            });
          }
        };
        const floor = () =>
          pool(slice, CONCURRENCY, async (name) => {
            const url = `${storageUrl}/${CONTAINER}/${prefix}/${phase === "upload" ? "floor/" : ""}${name}`;
            const headers = { "x-auth-token": token };
            const response =
              phase === "upload"
                ? await request(url, { method: "PUT", body: value, headers, dispatcher: agent })
                : await request(url, { headers, dispatcher: agent });
            if (phase === "upload") await response.body.dump();
            else await response.body.arrayBuffer();
          });
        const timed = async (work: () => Promise<void>) => {
          const t = performance.now();
          await work();
          return performance.now() - t;
        };
        let oursMs: number;
        let floorMs: number;
        if (i % 2 === 0) {
          oursMs = await timed(ours);
          floorMs = await timed(floor);
        } else {
          floorMs = await timed(floor);
          oursMs = await timed(ours);
        }
        // Rates over the same number of objects: ours / floor = floor's time / our time.
        ratios.push(floorMs / oursMs);
      }
      await agent.close();
      await store.close();
      await reader.close();
    }
    console.log(
      `\n## paired blocks of ${block}, ${phase}: SwiftStore ${median(ratios).toFixed(2)}× the undici floor (median of ${ratios.length} block ratios)`,
    );
  }
}

function printCpu(cpu: Map<string, number[]>): void {
  for (const [name, values] of cpu) {
    console.log(`  client CPU ${name}: ${median(values).toFixed(0)} µs/object`);
  }
}

function makeContenders(
  swift: SwiftServer,
  work: string,
  source: string,
  token: string,
  storageUrl: string,
): Contender[] {
  const credentials = { authurl: swift.authUrl, user: swift.user, key: swift.key };
  const s3Credentials = { accessKeyId: swift.user, secretAccessKey: swift.key };
  const value = new Uint8Array(SIZE).fill(7);
  const env = toolEnv(swift, work);
  let scratch = 0;
  const freshDir = () => {
    const dir = path.join(work, `out-${scratch++}`);
    mkdirSync(dir, { recursive: true });
    return dir;
  };

  // Our stores run under withRetry, as users compose them: the tools retry by themselves too
  // (this server resets a keep-alive connection now and then); retries are counted.
  const retried = (name: string, store: Store) =>
    withRetry(store, { onRetry: () => retries.set(name, (retries.get(name) ?? 0) + 1) });
  const swiftStore = (container: string, prefix: string) =>
    retried("SwiftStore", new SwiftStore({ container, prefix, storageOptions: credentials }));
  const s3Base = swift.s3Endpoint.replace(/\/$/, "");
  const signS3 = async (method: string, url: string, body?: Uint8Array) => {
    const signed = await new AwsV4Signer({
      url,
      method,
      ...(body ? { body: body as Uint8Array<ArrayBuffer> } : {}),
      accessKeyId: swift.user,
      secretAccessKey: swift.key,
      region: "us-east-1",
      service: "s3",
    }).sign();
    return Object.fromEntries(signed.headers);
  };
  const s3Store = (container: string, prefix: string) =>
    retried(
      "S3Store",
      new S3Store({
        bucket: container,
        prefix,
        endpoint: swift.s3Endpoint,
        credentials: s3Credentials,
      }),
    );

  return [
    {
      name: "SwiftStore",
      inProcess: true,
      async upload({ container, prefix }) {
        const store = swiftStore(container, prefix);
        await pool(names, CONCURRENCY, (name) => store.set(`/${name}` as Key, value));
        await store.close();
      },
      async download({ container, prefix }) {
        const store = swiftStore(container, prefix);
        const keys: Key[] = [];
        for await (const key of store.list()) keys.push(key);
        await pool(keys, CONCURRENCY, async (key) => {
          await store.get(key);
        });
        await store.close();
      },
    },
    {
      name: "undici floor",
      inProcess: true,
      async upload({ container, prefix }) {
        const agent = new Agent({ connections: CONCURRENCY });
        await pool(names, CONCURRENCY, async (name) => {
          const response = await request(`${storageUrl}/${container}/${prefix}/${name}`, {
            method: "PUT",
            body: value,
            headers: { "x-auth-token": token },
            dispatcher: agent,
          });
          await response.body.dump();
        });
        await agent.close();
      },
      async download({ container, prefix }) {
        const agent = new Agent({ connections: CONCURRENCY });
        await pool(names, CONCURRENCY, async (name) => {
          const response = await request(`${storageUrl}/${container}/${prefix}/${name}`, {
            headers: { "x-auth-token": token },
            dispatcher: agent,
          });
          await response.body.arrayBuffer();
        });
        await agent.close();
      },
    },
    {
      name: "swift CLI",
      inProcess: false,
      async upload({ container, prefix }) {
        await run(
          "swift",
          [
            "upload",
            "--object-threads",
            String(CONCURRENCY),
            "--object-name",
            prefix,
            container,
            ".",
          ],
          { cwd: source, env, maxBuffer: 64 * 1024 * 1024 },
        );
      },
      async download({ container, prefix }) {
        const dir = freshDir();
        await run(
          "swift",
          [
            "download",
            "--object-threads",
            String(CONCURRENCY),
            "--prefix",
            `${prefix}/`,
            "--output-dir",
            dir,
            container,
          ],
          { env, maxBuffer: 64 * 1024 * 1024 },
        );
        rmSync(dir, { recursive: true, force: true });
      },
    },
    {
      name: "rclone swift",
      inProcess: false,
      async upload({ container, prefix }) {
        await run(
          "rclone",
          ["copy", "--transfers", String(CONCURRENCY), source, `zsswift:${container}/${prefix}`],
          { env },
        );
      },
      async download({ container, prefix }) {
        const dir = freshDir();
        await run(
          "rclone",
          ["copy", "--transfers", String(CONCURRENCY), `zsswift:${container}/${prefix}`, dir],
          { env },
        );
        rmSync(dir, { recursive: true, force: true });
      },
    },
    {
      name: "S3Store",
      inProcess: true,
      async upload({ container, prefix }) {
        const store = s3Store(container, prefix);
        await pool(names, CONCURRENCY, (name) => store.set(`/${name}` as Key, value));
        await store.close();
      },
      async download({ container, prefix }) {
        const store = s3Store(container, prefix);
        const keys: Key[] = [];
        for await (const key of store.list()) keys.push(key);
        await pool(keys, CONCURRENCY, async (key) => {
          await store.get(key);
        });
        await store.close();
      },
    },
    {
      name: S3_FLOOR,
      inProcess: true,
      async upload({ container, prefix }) {
        const agent = new Agent({ connections: CONCURRENCY });
        await pool(names, CONCURRENCY, async (name) => {
          const url = `${s3Base}/${container}/${prefix}/${name}`;
          const headers = await signS3("PUT", url, value);
          const response = await request(url, {
            method: "PUT",
            body: value,
            headers,
            dispatcher: agent,
          });
          await response.body.dump();
          if (response.statusCode !== 200) throw new Error(`S3 PUT ${url}: ${response.statusCode}`);
        });
        await agent.close();
      },
      async download({ container, prefix }) {
        // As S3Store does: list first (one page of up to 1,000 names at a time), then get.
        const agent = new Agent({ connections: CONCURRENCY });
        const keys: string[] = [];
        let token: string | undefined;
        do {
          const query = `list-type=2&prefix=${encodeURIComponent(`${prefix}/`)}${token ? `&continuation-token=${encodeURIComponent(token)}` : ""}`;
          const url = `${s3Base}/${container}?${query}`;
          const response = await request(url, {
            headers: await signS3("GET", url),
            dispatcher: agent,
          });
          const xml = await response.body.text();
          if (response.statusCode !== 200)
            throw new Error(`S3 list ${url}: ${response.statusCode}`);
          for (const match of xml.matchAll(/<Key>([^<]+)<\/Key>/g)) keys.push(match[1] as string);
          token = /<NextContinuationToken>([^<]+)</.exec(xml)?.[1];
        } while (token);
        await pool(keys, CONCURRENCY, async (key) => {
          const url = `${s3Base}/${container}/${key}`;
          const response = await request(url, {
            headers: await signS3("GET", url),
            dispatcher: agent,
          });
          await response.body.arrayBuffer();
          if (response.statusCode !== 200) throw new Error(`S3 GET ${url}: ${response.statusCode}`);
        });
        await agent.close();
      },
    },
    {
      name: "aws s3 cp",
      inProcess: false,
      async upload({ container, prefix }) {
        await run(
          "/usr/bin/aws",
          [
            "s3",
            "cp",
            "--recursive",
            "--quiet",
            "--endpoint-url",
            swift.s3Endpoint,
            source,
            `s3://${container}/${prefix}/`,
          ],
          { env },
        );
      },
      async download({ container, prefix }) {
        const dir = freshDir();
        await run(
          "/usr/bin/aws",
          [
            "s3",
            "cp",
            "--recursive",
            "--quiet",
            "--endpoint-url",
            swift.s3Endpoint,
            `s3://${container}/${prefix}/`,
            dir,
          ],
          { env },
        );
        rmSync(dir, { recursive: true, force: true });
      },
    },
    {
      name: "rclone s3",
      inProcess: false,
      async upload({ container, prefix }) {
        await run(
          "rclone",
          ["copy", "--transfers", String(CONCURRENCY), source, `zss3:${container}/${prefix}`],
          { env },
        );
      },
      async download({ container, prefix }) {
        const dir = freshDir();
        await run(
          "rclone",
          ["copy", "--transfers", String(CONCURRENCY), `zss3:${container}/${prefix}`, dir],
          { env },
        );
        rmSync(dir, { recursive: true, force: true });
      },
    },
  ];
}

/** The environment for the CLI tools: Swift v1 credentials, AWS keys, rclone remotes. */
function toolEnv(swift: SwiftServer, work: string): Record<string, string> {
  const awsConfig = path.join(work, "aws-config");
  // The AWS CLI's default is 10 requests at once; everyone gets 16 here.
  writeFileSync(
    awsConfig,
    `[default]\nregion = us-east-1\ns3 =\n  max_concurrent_requests = ${CONCURRENCY}\n`,
  );
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? "/usr/bin:/bin",
    HOME: work,
    ST_AUTH: swift.authUrl,
    ST_USER: swift.user,
    ST_KEY: swift.key,
    AWS_ACCESS_KEY_ID: swift.user,
    AWS_SECRET_ACCESS_KEY: swift.key,
    AWS_CONFIG_FILE: awsConfig,
    AWS_EC2_METADATA_DISABLED: "true",
    AWS_PAGER: "",
    RCLONE_CONFIG_ZSSWIFT_TYPE: "swift",
    RCLONE_CONFIG_ZSSWIFT_AUTH: swift.authUrl,
    RCLONE_CONFIG_ZSSWIFT_USER: swift.user,
    RCLONE_CONFIG_ZSSWIFT_KEY: swift.key,
    RCLONE_CONFIG_ZSS3_TYPE: "s3",
    RCLONE_CONFIG_ZSS3_PROVIDER: "Other",
    RCLONE_CONFIG_ZSS3_ENDPOINT: swift.s3Endpoint,
    RCLONE_CONFIG_ZSS3_ACCESS_KEY_ID: swift.user,
    RCLONE_CONFIG_ZSS3_SECRET_ACCESS_KEY: swift.key,
    RCLONE_CONFIG_ZSS3_REGION: "us-east-1",
    RCLONE_CONFIG_ZSS3_FORCE_PATH_STYLE: "true",
  };
  // rclone 1.60's S3 backend fails before any request when AWS_CA_BUNDLE is set.
  delete env.AWS_CA_BUNDLE;
  return env;
}

function writeFixture(dir: string): void {
  const value = new Uint8Array(SIZE).fill(7);
  for (const name of names) {
    mkdirSync(path.join(dir, path.dirname(name)), { recursive: true });
    writeFileSync(path.join(dir, name), value);
  }
}

/** Creates a container (an S3 bucket) through the Swift API, outside the timed part. */
async function makeContainer(storageUrl: string, token: string, container: string): Promise<void> {
  const response = await fetch(`${storageUrl}/${container}`, {
    method: "PUT",
    headers: { "X-Auth-Token": token },
  });
  await response.body?.cancel();
}

function slug(name: string): string {
  // S3 bucket names may not end (or start) with a hyphen.
  return name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-|-$/g, "");
}

await main();
