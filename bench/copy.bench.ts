/**
 * The copy engine against the tools people copy Zarr data with, alternating in one run:
 *
 * - memory → memory: `copyStore` vs a bare 16-lane get/set loop (the engine's own overhead);
 * - fs → fs: `copyStore` over FileSystemStore vs `rclone copy --transfers 16`, `cp -r` and a
 *   bare 16-lane readFile/writeFile loop (the floor: no temp file, no rename);
 * - fs → Swift, Swift → fs and fs → S3 (Swift's s3api) against a real single-node Swift
 *   (scripts/swift-server.sh): `copyStore` vs `rclone copy --transfers 16`, `swift
 *   upload/download --object-threads 16` and a bare undici 7 `request()` client, 16 in flight
 *   (the floor: one PUT or GET per object, nothing else);
 * - peak RSS of `zarrstore cp` (the CLI, in its own process under /usr/bin/time) while copying
 *   ZS_COPY_RSS_GIB GiB (default 2) of 16 KiB chunks fs → fs, and the Swift dataset fs → Swift.
 *
 *   npm run bench copy
 *   ZS_COPY_N=5000 ZS_COPY_SWIFT_N=2000 ZS_COPY_RSS_GIB=0.25 npm run bench copy   (a quick look)
 *
 * Every contender copies the same 20,000 × 16 KiB chunks (ZS_COPY_N, ZS_COPY_SWIFT_N for the
 * Swift sections) laid out as a v3 array (`/data/c/i/j`), into a fresh destination each round.
 */
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { AwsV4Signer } from "aws4fetch";
import { Agent, request } from "undici";
import type { Store } from "../src/store.js";
import { FileSystemStore } from "../src/stores/fs.js";
import { MemoryStore } from "../src/stores/memory.js";
import { S3Store } from "../src/stores/s3/index.node.js";
import { SwiftStore } from "../src/stores/swift/index.node.js";
import { copyStore } from "../src/zarr/copy.js";
import { type SwiftServer, startSwift, swiftAvailable, swiftToken } from "../test/support/swift.js";
import { type Contender, compare, pool, printTable } from "./lib.js";

const N = Number(process.env.ZS_COPY_N ?? 20_000);
const SIZE = 16 * 1024;
const LANES = 16;
const ROUNDS = Number(process.env.ZS_COPY_ROUNDS ?? 3);
const RSS_GIB = Number(process.env.ZS_COPY_RSS_GIB ?? 2);
const SWIFT_N = Number(process.env.ZS_COPY_SWIFT_N ?? N);
const REPO = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");

const base = fs.mkdtempSync(path.join(os.tmpdir(), "zs-copy-bench-"));
process.on("exit", () => fs.rmSync(base, { recursive: true, force: true }));
let fresh = 0;
/** A new, not yet existing destination folder. */
const freshDir = (name: string) => path.join(base, `${name}-${fresh++}`);

/** Chunk keys of a v3 array, 100 per folder, plus its metadata. */
function datasetKeys(n: number): string[] {
  const keys = ["zarr.json", "data/zarr.json"];
  for (let i = 0; i < n; i++) keys.push(`data/c/${Math.floor(i / 100)}/${i % 100}`);
  return keys;
}

function chunkValue(i: number): Uint8Array {
  const value = new Uint8Array(SIZE);
  let x = (i + 1) * 2654435761;
  for (let j = 0; j < SIZE; j += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    value[j] = x & 0xff;
    value[j + 1] = (x >>> 8) & 0xff;
  }
  return value;
}

/** Writes the dataset as files under `dir` (16 writes in flight). */
async function writeDataset(dir: string, n: number): Promise<void> {
  const keys = datasetKeys(n);
  const folders = new Set(keys.map((k) => path.dirname(path.join(dir, k))));
  for (const folder of folders) fs.mkdirSync(folder, { recursive: true });
  await pool(
    keys.map((key, i) => [key, i] as const),
    LANES,
    async ([key, i]) => {
      const value = key.endsWith("zarr.json") ? new TextEncoder().encode("{}") : chunkValue(i);
      await fs.promises.writeFile(path.join(dir, key), value);
    },
  );
}

function hasCommand(command: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${command}`]).status === 0;
}

async function memorySection(): Promise<void> {
  const keys = datasetKeys(N).map((k) => `/${k}` as const);
  const source = new MemoryStore();
  for (const [i, key] of keys.entries()) source.map.set(key, chunkValue(i));
  const contenders: Contender[] = [
    {
      name: "zarrstore copyStore",
      run: async () => {
        const summary = await copyStore(source, new MemoryStore(), { concurrency: LANES });
        return summary.copied;
      },
    },
    {
      name: "bare get/set loop",
      run: async () => {
        const dst = new MemoryStore();
        await pool(keys, LANES, async (key) => {
          await dst.set(key, (await source.get(key)) as Uint8Array);
        });
        return keys.length;
      },
    },
  ];
  const results = await compare(contenders, ROUNDS);
  printTable(`memory → memory, ${N} × 16 KiB`, "keys/s", results, "bare get/set loop");
}

async function fsSection(src: string): Promise<void> {
  const keys = datasetKeys(N);
  const contenders: Contender[] = [
    {
      name: "zarrstore copyStore",
      run: () =>
        copyWith(new FileSystemStore(src, { readOnly: true }), new FileSystemStore(freshDir("zs"))),
    },
    {
      name: "bare readFile/writeFile",
      run: async () => {
        const dst = freshDir("bare");
        for (const folder of new Set(keys.map((k) => path.dirname(path.join(dst, k))))) {
          fs.mkdirSync(folder, { recursive: true });
        }
        await pool(keys, LANES, async (key) => {
          await fs.promises.writeFile(
            path.join(dst, key),
            await fs.promises.readFile(path.join(src, key)),
          );
        });
        return keys.length;
      },
    },
    {
      name: "cp -r",
      run: async () => {
        execFileSync("cp", ["-r", src, freshDir("cp")]);
        return keys.length;
      },
    },
  ];
  if (hasCommand("rclone")) {
    contenders.push({
      name: "rclone copy --transfers 16",
      run: async () => {
        execFileSync("rclone", [
          "copy",
          src,
          freshDir("rclone"),
          "--transfers",
          "16",
          "--checkers",
          "16",
        ]);
        return keys.length;
      },
    });
  }
  const results = await compare(contenders, ROUNDS);
  printTable(`fs → fs, ${N} × 16 KiB, 16 in flight`, "keys/s", results, "bare readFile/writeFile");
  for (const r of results) {
    console.log(`  ${r.name}: ${((r.median * SIZE) / 2 ** 20).toFixed(1)} MiB/s`);
  }
}

/** Peak RSS (MiB) of a command, from /usr/bin/time's %M. */
function peakRss(command: string[], args: string[] = []): number {
  const run = spawnSync("/usr/bin/time", ["-f", "%M", ...command, ...args], {
    cwd: REPO,
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  if (run.status !== 0) throw new Error(`${args.join(" ")} failed: ${run.stderr}`);
  const lines = run.stderr.trim().split("\n");
  return Number(lines[lines.length - 1]) / 1024;
}

async function rssSection(): Promise<void> {
  if (!fs.existsSync("/usr/bin/time")) {
    console.log("\n## peak RSS: skipped (/usr/bin/time missing)");
    return;
  }
  const n = Math.round((RSS_GIB * 2 ** 30) / SIZE);
  const src = freshDir("rss-src");
  console.log(`\n## peak RSS of zarrstore cp, fs → fs, ${n} × 16 KiB (${RSS_GIB} GiB)`);
  await writeDataset(src, n);
  const tsx = pathToFileURL(path.join(REPO, "node_modules/tsx/dist/loader.mjs")).href;
  const cli = [process.execPath, "--import", tsx, path.join(REPO, "src/cli/main.ts")];
  const idle = peakRss([...cli, "--help"]);
  const started = performance.now();
  const copying = peakRss([...cli, "cp", src, freshDir("rss-dst"), "-q", "--concurrency", "16"]);
  const seconds = (performance.now() - started) / 1000;
  console.log(`zarrstore --help (node + tsx, idle):  ${idle.toFixed(0)} MiB`);
  console.log(
    `zarrstore cp (${RSS_GIB} GiB):            ${copying.toFixed(0)} MiB peak RSS, ${seconds.toFixed(1)} s`,
  );
  fs.rmSync(src, { recursive: true, force: true });
}

// ---- Swift and its S3 API ----------------------------------------------------------------

let containers = 0;
/** A new container name (each round writes into its own). */
const freshContainer = (name: string) => `${name}-${containers++}`;

/** The bare floor: undici 7 `request()` with a keep-alive pool of 16 sockets. */
const agent = new Agent({ connections: LANES, pipelining: 1 });

async function undiciPut(
  url: string,
  headers: Record<string, string>,
  body: Uint8Array,
): Promise<void> {
  const reply = await request(url, { method: "PUT", headers, body, dispatcher: agent });
  await reply.body.dump();
  if (reply.statusCode >= 300) throw new Error(`PUT ${url}: HTTP ${reply.statusCode}`);
}

async function undiciGet(url: string, headers: Record<string, string>): Promise<Uint8Array> {
  const reply = await request(url, { headers, dispatcher: agent });
  const bytes = new Uint8Array(await reply.body.arrayBuffer());
  if (reply.statusCode >= 300) throw new Error(`GET ${url}: HTTP ${reply.statusCode}`);
  return bytes;
}

/** Every object name of a Swift container, paged 10,000 at a time (the cheapest listing). */
async function swiftNames(storageUrl: string, token: string, container: string): Promise<string[]> {
  const names: string[] = [];
  for (let marker = ""; ; ) {
    const url = `${storageUrl}/${container}?format=json&limit=10000&marker=${encodeURIComponent(marker)}`;
    const text = new TextDecoder().decode(await undiciGet(url, { "x-auth-token": token }));
    const page = JSON.parse(text) as { name: string }[];
    if (page.length === 0) return names;
    for (const entry of page) names.push(entry.name);
    marker = (page[page.length - 1] as { name: string }).name;
  }
}

function makeFolders(dir: string, names: string[]): void {
  for (const folder of new Set(names.map((n) => path.dirname(path.join(dir, n))))) {
    fs.mkdirSync(folder, { recursive: true });
  }
}

function swiftStoreFor(swift: SwiftServer, container: string, readOnly = false): SwiftStore {
  return new SwiftStore({
    container,
    readOnly,
    storageOptions: { authurl: swift.authUrl, user: swift.user, key: swift.key },
  });
}

async function copyWith(src: Store, dst: Store): Promise<number> {
  const summary = await copyStore(src, dst, { concurrency: LANES });
  await Promise.all([src.close(), dst.close()]);
  if (!summary.ok) {
    throw new Error(`copy failed: ${JSON.stringify(summary.failed[0] ?? summary.error)}`);
  }
  return summary.copied;
}

function rcloneEnv(swift: SwiftServer): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  // rclone 1.60's S3 backend fails before any request when AWS_CA_BUNDLE is set.
  delete env.AWS_CA_BUNDLE;
  return {
    ...env,
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
}

function rclone(args: string[], env: NodeJS.ProcessEnv): void {
  execFileSync("rclone", [...args, "--transfers", "16", "--checkers", "16"], {
    env,
    stdio: ["ignore", "ignore", "pipe"],
  });
}

function swiftCli(swift: SwiftServer, args: string[], cwd: string): void {
  execFileSync("swift", ["-A", swift.authUrl, "-U", swift.user, "-K", swift.key, ...args], {
    cwd,
    stdio: ["ignore", "ignore", "pipe"],
  });
}

async function swiftSections(src: string): Promise<void> {
  const status = swiftAvailable();
  if (status !== true) {
    console.log(`\n## Swift sections skipped: ${status}`);
    return;
  }
  const swift = await startSwift({ logLevel: "WARNING" });
  try {
    const keys = datasetKeys(SWIFT_N);
    const env = rcloneEnv(swift);
    const { token, storageUrl } = await swiftToken(swift);
    const auth = { "x-auth-token": token };
    const readOnlySrc = () => new FileSystemStore(src, { readOnly: true });

    const upload: Contender[] = [
      {
        name: "zarrstore copyStore",
        run: () => copyWith(readOnlySrc(), swiftStoreFor(swift, freshContainer("zs"))),
      },
      {
        name: "bare undici PUT",
        run: async () => {
          const container = freshContainer("bare");
          await undiciPut(`${storageUrl}/${container}`, auth, new Uint8Array(0));
          await pool(keys, LANES, async (key) => {
            const body = await fs.promises.readFile(path.join(src, key));
            await undiciPut(`${storageUrl}/${container}/${key}`, auth, body);
          });
          return keys.length;
        },
      },
      {
        name: "rclone copy --transfers 16",
        run: async () => {
          rclone(["copy", src, `zsswift:${freshContainer("rclone")}`], env);
          return keys.length;
        },
      },
      {
        name: "swift upload --object-threads 16",
        run: async () => {
          const container = freshContainer("swiftcli");
          swiftCli(
            swift,
            ["upload", "--object-threads", "16", container, ...fs.readdirSync(src)],
            src,
          );
          return keys.length;
        },
      },
    ];
    const up = await compare(upload, ROUNDS);
    printTable(`fs → Swift, ${SWIFT_N} × 16 KiB, 16 in flight`, "objects/s", up, "bare undici PUT");

    // Every download reads the same container, written once by the copy engine.
    const source = freshContainer("download-src");
    await copyWith(readOnlySrc(), swiftStoreFor(swift, source));
    const download: Contender[] = [
      {
        name: "zarrstore copyStore",
        run: () =>
          copyWith(swiftStoreFor(swift, source, true), new FileSystemStore(freshDir("swift-zs"))),
      },
      {
        name: "bare undici GET",
        run: async () => {
          const dst = freshDir("swift-bare");
          const names = await swiftNames(storageUrl, token, source);
          makeFolders(dst, names);
          await pool(names, LANES, async (name) => {
            const value = await undiciGet(`${storageUrl}/${source}/${name}`, auth);
            await fs.promises.writeFile(path.join(dst, name), value);
          });
          return names.length;
        },
      },
      {
        name: "rclone copy --transfers 16",
        run: async () => {
          rclone(["copy", `zsswift:${source}`, freshDir("swift-rclone")], env);
          return keys.length;
        },
      },
      {
        name: "swift download --object-threads 16",
        run: async () => {
          const dst = freshDir("swift-cli");
          fs.mkdirSync(dst);
          swiftCli(swift, ["download", "--object-threads", "16", source], dst);
          return keys.length;
        },
      },
    ];
    const down = await compare(download, ROUNDS);
    printTable(
      `Swift → fs, ${SWIFT_N} × 16 KiB, 16 in flight`,
      "objects/s",
      down,
      "bare undici GET",
    );

    await s3Section(swift, src, keys, env);
    await swiftRss(swift, src);
  } finally {
    await agent.close();
    await swift.stop();
  }
}

/** fs → S3 through Swift's s3api: S3Store vs rclone's S3 backend and a SigV4-signed undici floor. */
async function s3Section(
  swift: SwiftServer,
  src: string,
  keys: string[],
  env: NodeJS.ProcessEnv,
): Promise<void> {
  const endpoint = swift.s3Endpoint.replace(/\/$/, "");
  const signedPut = async (url: string, body: Uint8Array) => {
    const signed = await new AwsV4Signer({
      url,
      method: "PUT",
      body: body as Uint8Array<ArrayBuffer>,
      accessKeyId: swift.user,
      secretAccessKey: swift.key,
      region: "us-east-1",
      service: "s3",
    }).sign();
    await undiciPut(url, Object.fromEntries(signed.headers), body);
  };
  const contenders: Contender[] = [
    {
      name: "bare undici PUT (SigV4)",
      run: async () => {
        const bucket = freshContainer("s3-bare");
        await signedPut(`${endpoint}/${bucket}`, new Uint8Array(0));
        await pool(keys, LANES, async (key) => {
          const body = await fs.promises.readFile(path.join(src, key));
          await signedPut(`${endpoint}/${bucket}/${key}`, body);
        });
        return keys.length;
      },
    },
    {
      name: "rclone copy --transfers 16",
      run: async () => {
        rclone(["copy", src, `zss3:${freshContainer("s3-rclone")}`], env);
        return keys.length;
      },
    },
  ];
  contenders.unshift({
    name: "zarrstore copyStore",
    run: async () => {
      const bucket = freshContainer("s3-zs");
      await signedPut(`${endpoint}/${bucket}`, new Uint8Array(0));
      const dst = new S3Store({
        bucket,
        endpoint,
        region: "us-east-1",
        forcePathStyle: true,
        credentials: { accessKeyId: swift.user, secretAccessKey: swift.key },
      });
      return copyWith(new FileSystemStore(src, { readOnly: true }), dst);
    },
  });
  const results = await compare(contenders, ROUNDS);
  printTable(
    `fs → S3 (Swift s3api), ${keys.length} × 16 KiB, 16 in flight`,
    "objects/s",
    results,
    "bare undici PUT (SigV4)",
  );
}

async function swiftRss(swift: SwiftServer, src: string): Promise<void> {
  if (!fs.existsSync("/usr/bin/time")) return;
  const tsx = pathToFileURL(path.join(REPO, "node_modules/tsx/dist/loader.mjs")).href;
  const env = [`ST_AUTH=${swift.authUrl}`, `ST_USER=${swift.user}`, `ST_KEY=${swift.key}`];
  const cli = [
    "env",
    ...env,
    process.execPath,
    "--import",
    tsx,
    path.join(REPO, "src/cli/main.ts"),
  ];
  const rss = peakRss(cli, ["cp", src, `swift://${freshContainer("rss")}/ds.zarr`, "-q"]);
  console.log(
    `\n## peak RSS of zarrstore cp fs → Swift, ${SWIFT_N} × 16 KiB: ${rss.toFixed(0)} MiB`,
  );
}

console.log(
  `# copy benchmark: ${N} × 16 KiB (Swift: ${SWIFT_N}), ${ROUNDS} rounds, medians (machine: ${os.cpus().length} cores)`,
);
await memorySection();
const fsSource = path.join(base, "src");
await writeDataset(fsSource, N);
await fsSection(fsSource);
await rssSection();
let swiftSource = fsSource;
if (SWIFT_N !== N) {
  swiftSource = path.join(base, "swift-src");
  await writeDataset(swiftSource, SWIFT_N);
}
await swiftSections(swiftSource);
// Every store and server is closed above; exit without waiting for idle keep-alive sockets.
process.exit(0);
