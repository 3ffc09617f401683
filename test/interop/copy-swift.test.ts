/**
 * The copy engine and `zarrstore cp`/`sync` against a real single-node OpenStack Swift
 * (scripts/swift-server.sh): fs → Swift → fs byte-identical, verification by Swift's MD5 etags
 * without reading back, resume by etags without reading values, refused credentials and a
 * user without write rights failing before anything is copied, and a copy through a TCP proxy
 * that injects 10 % wire faults (503s, resets, truncated bodies) completing verified.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { ForwardingStore } from "../../src/adapters/forward.js";
import type { AbsolutePath } from "../../src/keys.js";
import type { CallOptions, SetOptions, SetResult, Store } from "../../src/store.js";
import { FileSystemStore } from "../../src/stores/fs.js";
import { MemoryStore } from "../../src/stores/memory.js";
import { SwiftStore } from "../../src/stores/swift/index.js";
import { patternBytes } from "../../src/testing/cases.js";
import { type CopySummary, copyStore } from "../../src/zarr/copy.js";
import { runCli } from "../support/cli.js";
import { startFaultProxy } from "../support/faults.js";
import { describeLive } from "../support/live.js";
import { tempDir } from "../support/static-server.js";
import { type SwiftServer, startSwift, swiftAvailable, swiftToken } from "../support/swift.js";

/** Counts value reads and writes of the store it wraps. */
class Counting extends ForwardingStore {
  gets = 0;
  puts = 0;
  override get(key: AbsolutePath, options?: CallOptions): Promise<Uint8Array | undefined> {
    this.gets += 1;
    return this.inner.get(key, options);
  }
  override put(key: AbsolutePath, value: Uint8Array, options?: SetOptions): Promise<SetResult> {
    this.puts += 1;
    return this.inner.put(key, value, options);
  }
}

/** A Zarr-shaped dataset in memory: v2 group, array `temp` with `chunks` chunks, subgroup `g`. */
function dataset(chunks: number, size = 2048): Map<string, Uint8Array> {
  const text = (value: unknown) => new TextEncoder().encode(JSON.stringify(value));
  const data = new Map<string, Uint8Array>([
    ["/.zgroup", text({ zarr_format: 2 })],
    ["/temp/.zarray", text({ zarr_format: 2, shape: [chunks], chunks: [1], dtype: "|u1" })],
    ["/temp/.zattrs", text({ units: "K" })],
    ["/g/.zgroup", text({ zarr_format: 2 })],
  ]);
  for (let i = 0; i < chunks; i++) data.set(`/temp/${i}`, patternBytes(size + (i % 7), i + 1));
  return data;
}

async function contents(store: Store): Promise<[string, string][]> {
  const out: [string, string][] = [];
  for await (const key of store.list("/")) {
    out.push([key, Buffer.from((await store.get(key)) as Uint8Array).toString("base64")]);
  }
  return out.sort(([a], [b]) => (a < b ? -1 : 1));
}

function expected(data: Map<string, Uint8Array>): [string, string][] {
  return [...data]
    .map(([k, v]): [string, string] => [k, Buffer.from(v).toString("base64")])
    .sort(([a], [b]) => (a < b ? -1 : 1));
}

describeLive("copy through a real Swift", swiftAvailable, () => {
  let swift: SwiftServer;
  let dir: string;
  const stores: Store[] = [];

  beforeAll(async () => {
    swift = await startSwift({ logLevel: "WARNING" });
    dir = tempDir("copy-swift");
  }, 120_000);
  afterAll(async () => {
    await Promise.allSettled(stores.map((s) => s.close()));
    await swift?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const env = (user = swift.user, key = swift.key) => ({
    ST_AUTH: swift.authUrl,
    ST_USER: user,
    ST_KEY: key,
  });

  function swiftStore(container: string, prefix = "", readOnly = false): SwiftStore {
    const store = new SwiftStore({
      container,
      prefix,
      readOnly,
      storageOptions: { authurl: swift.authUrl, user: swift.user, key: swift.key },
    });
    stores.push(store);
    return store;
  }

  function writeFolder(data: Map<string, Uint8Array>): string {
    const folder = fs.mkdtempSync(path.join(dir, "src-"));
    for (const [key, value] of data) {
      fs.mkdirSync(path.dirname(path.join(folder, key)), { recursive: true });
      fs.writeFileSync(path.join(folder, key), value);
    }
    return folder;
  }

  it("zarrstore cp fs → Swift → fs: verified, byte-identical", async () => {
    const data = dataset(60);
    const src = writeFolder(data);
    const up = await runCli(["cp", src, "swift://cli-copy/ds.zarr", "--verify", "--json", "-q"], {
      env: env(),
    });
    expect(up.stderr).toBe("");
    expect(up.code).toBe(0);
    expect(JSON.parse(up.stdout)).toMatchObject({
      ok: true,
      copied: data.size,
      verified: data.size,
    });
    expect(await contents(swiftStore("cli-copy", "ds.zarr"))).toEqual(expected(data));
    const back = path.join(dir, "back.zarr");
    const down = await runCli(["cp", "swift://cli-copy/ds.zarr", back, "--verify", "-q"], {
      env: env(),
    });
    expect(down.code).toBe(0);
    expect(await contents(new FileSystemStore(back, { readOnly: true }))).toEqual(expected(data));
  }, 60_000);

  it("verifies by Swift's MD5 etags without reading a single value back", async () => {
    const data = dataset(40);
    const dst = new Counting(swiftStore("etag-verify"));
    const summary = await copyStore(new MemoryStore(data), dst, { verify: true });
    expect(summary).toMatchObject({ ok: true, verified: data.size });
    expect(dst.gets).toBe(0);
  }, 60_000);

  it("resumes Swift → Swift by comparing etags, reading only what differs", async () => {
    const data = dataset(40);
    await copyStore(new MemoryStore(data), swiftStore("resume-a"));
    await copyStore(new MemoryStore(data), swiftStore("resume-b"));
    await swiftStore("resume-b").set("/temp/5", Uint8Array.of(1, 2, 3));
    await swiftStore("resume-b").delete("/temp/6");
    const src = new Counting(swiftStore("resume-a"));
    const dst = new Counting(swiftStore("resume-b"));
    const summary = await copyStore(src, dst, { resume: true });
    expect(summary).toMatchObject({ ok: true, copied: 2, skipped: data.size - 2 });
    expect(dst.gets).toBe(0);
    expect(src.gets).toBe(2);
    expect(await contents(swiftStore("resume-b"))).toEqual(expected(data));
  }, 60_000);

  it("refused credentials fail before anything is copied, saying why", async () => {
    const src = writeFolder(dataset(5));
    const result = await runCli(["cp", src, "swift://never-made/x"], {
      env: env(swift.user, "wrong"),
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /cannot write to the destination: .*check the credentials.*nothing was changed/,
    );
    expect(result.stderr).not.toContain("wrong");
    const listing = await fetch(`${swift.storageUrl}/never-made`, {
      headers: { "X-Auth-Token": (await swiftToken(swift)).token },
    });
    await listing.body?.cancel();
    expect(listing.status).toBe(404);
  }, 60_000);

  it("a user without write rights fails before anything is copied", async () => {
    await swiftStore("locked").set("/keep", Uint8Array.of(1));
    const src = writeFolder(dataset(5));
    const result = await runCli(["cp", src, "swift://locked/x"], {
      env: env(swift.reader.user, swift.reader.key),
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/cannot write to the destination: .*(403|not allowed|denied)/i);
    expect((await contents(swiftStore("locked"))).map(([k]) => k)).toEqual(["/keep"]);
  }, 60_000);

  /** Makes a container (an S3 bucket on Swift's S3 API) as the admin. */
  async function makeContainer(name: string): Promise<void> {
    const { token, storageUrl } = await swiftToken(swift);
    const made = await fetch(`${storageUrl}/${name}`, {
      method: "PUT",
      headers: { "X-Auth-Token": token },
    });
    await made.body?.cancel();
    expect([201, 202]).toContain(made.status);
  }

  const s3Env = (secret = swift.key) => ({
    AWS_ENDPOINT_URL: swift.s3Endpoint,
    AWS_ACCESS_KEY_ID: swift.user,
    AWS_SECRET_ACCESS_KEY: secret,
    AWS_REGION: "us-east-1",
  });

  it("zarrstore cp fs → s3:// (Swift's S3 API) → fs: verified by MD5 etags, byte-identical", async () => {
    await makeContainer("s3-copy");
    const data = dataset(40);
    const src = writeFolder(data);
    const up = await runCli(["cp", src, "s3://s3-copy/ds.zarr", "--verify", "--json", "-q"], {
      env: s3Env(),
    });
    expect(up.stderr).toBe("");
    expect(up.code).toBe(0);
    expect(JSON.parse(up.stdout)).toMatchObject({
      ok: true,
      copied: data.size,
      verified: data.size,
    });
    const back = path.join(dir, "from-s3.zarr");
    const down = await runCli(["cp", "s3://s3-copy/ds.zarr", back, "--resume", "-q"], {
      env: s3Env(),
    });
    expect(down.code).toBe(0);
    expect(await contents(new FileSystemStore(back, { readOnly: true }))).toEqual(expected(data));
    // The objects S3 wrote are the objects Swift serves.
    expect(await contents(swiftStore("s3-copy", "ds.zarr"))).toEqual(expected(data));
  }, 60_000);

  it("refused S3 credentials fail before anything is copied, saying why", async () => {
    await makeContainer("s3-locked");
    const src = writeFolder(dataset(5));
    const result = await runCli(["cp", src, "s3://s3-locked/x"], { env: s3Env("not-the-secret") });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/cannot write to the destination: .*nothing was changed/);
    expect(result.stderr).not.toContain("not-the-secret");
    expect(await contents(swiftStore("s3-locked"))).toEqual([]);
  }, 60_000);

  it("sync --delete makes a Swift prefix match a folder", async () => {
    const data = dataset(20);
    const src = writeFolder(data);
    const extra = swiftStore("sync", "ds");
    await copyStore(new MemoryStore(data), extra);
    await extra.set("/old/.zarray", Uint8Array.of(1));
    await extra.set("/old/0", Uint8Array.of(2));
    const result = await runCli(["sync", src, "swift://sync/ds", "--delete", "--json", "-q"], {
      env: env(),
    });
    expect(JSON.parse(result.stdout)).toMatchObject({
      ok: true,
      copied: 0,
      skipped: data.size,
      deleted: 2,
    });
    expect(await contents(extra)).toEqual(expected(data));
  }, 60_000);

  it("completes through 10 % wire faults (503s, resets, truncated bodies) with every value verified", async () => {
    const proxy = await startFaultProxy(
      { host: "127.0.0.1", port: swift.port },
      { rate: 0.1, seed: 5 },
    );
    try {
      const { token, storageUrl } = await swiftToken(swift);
      const viaProxy = (container: string) => {
        const store = new SwiftStore({
          container,
          storageOptions: {
            preauthurl: storageUrl.replace(`:${swift.port}/`, `:${proxy.port}/`),
            preauthtoken: token,
          },
        });
        stores.push(store);
        return store;
      };
      const data = dataset(120);
      const up: CopySummary = await copyStore(new MemoryStore(data), viaProxy("faulty"), {
        verify: true,
        retries: 8,
        retryDelayMs: 5,
      });
      expect(up.failed).toEqual([]);
      expect(up).toMatchObject({ ok: true, verified: data.size });
      const back = new MemoryStore();
      const down = await copyStore(viaProxy("faulty"), back, {
        verify: true,
        retries: 8,
        retryDelayMs: 5,
      });
      expect(down).toMatchObject({ ok: true, copied: data.size });
      const injected = Object.values(proxy.stats.injected).reduce((a, b) => a + b, 0);
      expect(injected).toBeGreaterThan(15);
      expect(up.retries + down.retries).toBeGreaterThan(0);
      proxy.faults = false;
      expect(await contents(swiftStore("faulty"))).toEqual(expected(data));
      expect(await contents(back)).toEqual(expected(data));
    } finally {
      await proxy.stop();
    }
  }, 120_000);
});
