/**
 * S3Store with the AWS CLI (/usr/bin/aws) and with SwiftStore, all on one real Swift with its
 * S3 API: what one writes the others list and read, byte for byte, multipart uploads included.
 */
import { execFile } from "node:child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, expect, it } from "vitest";
import { listAll } from "../../src/helpers.js";
import { S3Store } from "../../src/stores/s3/index.js";
import { SwiftStore } from "../../src/stores/swift/index.js";
import { patternBytes } from "../../src/testing/cases.js";
import { describeLive } from "../support/live.js";
import { tempDir } from "../support/static-server.js";
import { type SwiftServer, startSwift, swiftAvailable, swiftToken } from "../support/swift.js";

const run = promisify(execFile);
const AWS = "/usr/bin/aws";
let swift: SwiftServer;
let work: string;

/** The AWS CLI against this Swift: its S3 endpoint, the tempauth user as access key. */
async function aws(args: string[]): Promise<Buffer> {
  const { stdout } = await run(AWS, [...args, "--endpoint-url", swift.s3Endpoint], {
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: work,
      AWS_ACCESS_KEY_ID: swift.user,
      AWS_SECRET_ACCESS_KEY: swift.key,
      AWS_DEFAULT_REGION: "us-east-1",
      AWS_EC2_METADATA_DISABLED: "true",
      // Plain-HTTP loopback: no CA bundle, no pager.
      AWS_PAGER: "",
    },
    encoding: "buffer",
    maxBuffer: 256 * 1024 * 1024,
  });
  return stdout;
}

function available(): true | string {
  const ok = swiftAvailable();
  if (ok !== true) return ok;
  try {
    readFileSync(AWS);
    return true;
  } catch {
    return `${AWS} not found (Debian's awscli; run scripts/install-deps.sh)`;
  }
}

describeLive("S3Store with the AWS CLI and SwiftStore on one Swift", available, () => {
  const credentials = () => ({ accessKeyId: swift.user, secretAccessKey: swift.key });

  beforeAll(async () => {
    swift = await startSwift();
    work = tempDir("s3-aws");
    const { token, storageUrl } = await swiftToken(swift);
    const made = await fetch(`${storageUrl}/shared`, {
      method: "PUT",
      headers: { "X-Auth-Token": token },
    });
    await made.body?.cancel();
  }, 120_000);
  afterAll(async () => {
    await swift?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it("what S3Store writes, `aws s3 ls` lists and `aws s3 cp` fetches byte for byte", async () => {
    const store = new S3Store({
      bucket: "shared",
      prefix: "from-s3store",
      endpoint: swift.s3Endpoint,
      credentials: credentials(),
    });
    const values = new Map<string, Uint8Array>([
      ["/.zgroup", new TextEncoder().encode('{"zarr_format":2}')],
      ["/t/.zarray", new TextEncoder().encode('{"zarr_format":2,"shape":[3]}')],
      ["/t/0", patternBytes(70_000, 3)],
      ["/odd name/ü+=.bin", patternBytes(10, 4)],
    ]);
    for (const [key, value] of values) await store.set(key as `/${string}`, value);
    const listing = (await aws(["s3", "ls", "--recursive", "s3://shared/from-s3store/"])).toString(
      "utf8",
    );
    const names = listing
      .trim()
      .split("\n")
      .map((line) => line.trim().split(/\s+/).slice(3).join(" "))
      .sort();
    expect(names).toEqual([...values.keys()].map((k) => `from-s3store${k}`).sort());
    for (const [key, value] of values) {
      const fetched = await aws(["s3", "cp", `s3://shared/from-s3store${key}`, "-"]);
      expect(Buffer.compare(fetched, value), key).toBe(0);
    }
  }, 120_000);

  it("what `aws s3 cp --recursive` uploads (a multipart object too), S3Store lists and reads", async () => {
    const dir = join(work, "upload");
    mkdirSync(join(dir, "arr"), { recursive: true });
    const big = patternBytes(20 * 1024 * 1024 + 5, 9); // above the CLI's 8 MiB multipart threshold
    writeFileSync(join(dir, "zarr.json"), '{"zarr_format":3,"node_type":"group"}');
    writeFileSync(join(dir, "arr", "c0"), patternBytes(1234, 5));
    writeFileSync(join(dir, "arr", "big"), big);
    await aws(["s3", "cp", "--recursive", dir, "s3://shared/from-aws/"]);
    const store = new S3Store({
      bucket: "shared",
      prefix: "from-aws",
      endpoint: swift.s3Endpoint,
      credentials: credentials(),
      readOnly: true,
    });
    expect(await listAll(store)).toEqual(["/arr/big", "/arr/c0", "/zarr.json"]);
    expect(await store.listDir("/")).toEqual({ keys: ["/zarr.json"], prefixes: ["/arr/"] });
    const got = await store.get("/arr/big");
    expect(Buffer.compare(got as Uint8Array, big)).toBe(0);
    expect((await store.stat("/arr/big"))?.etag).toMatch(/-\d+$/);
    const tail = await store.getRange("/arr/big", { suffixLength: 5 });
    expect(Buffer.compare(tail as Uint8Array, big.subarray(-5))).toBe(0);
  }, 180_000);

  it("S3Store and SwiftStore read each other's objects in the same container", async () => {
    const s3 = new S3Store({
      bucket: "shared",
      prefix: "both",
      endpoint: swift.s3Endpoint,
      credentials: credentials(),
      multipartThreshold: 6 * 1024 * 1024,
      partSize: 5 * 1024 * 1024,
    });
    const swiftStore = new SwiftStore({
      container: "shared",
      prefix: "both",
      storageOptions: { authurl: swift.authUrl, user: swift.user, key: swift.key },
      largeObjectThreshold: 4 * 1024 * 1024,
      segmentSize: 1024 * 1024,
    });
    const small = patternBytes(5000, 1);
    const multipart = patternBytes(11 * 1024 * 1024, 2);
    const slo = patternBytes(5 * 1024 * 1024 + 3, 3);
    await s3.set("/s3/small", small);
    await s3.set("/s3/multipart", multipart);
    await swiftStore.set("/swift/small", small);
    await swiftStore.set("/swift/slo", slo);
    const expected = ["/s3/multipart", "/s3/small", "/swift/slo", "/swift/small"];
    expect(await listAll(s3)).toEqual(expected);
    expect(await listAll(swiftStore)).toEqual(expected);
    for (const [key, value] of [
      ["/s3/small", small],
      ["/s3/multipart", multipart],
      ["/swift/small", small],
      ["/swift/slo", slo],
    ] as const) {
      expect(Buffer.compare((await s3.get(key)) as Uint8Array, value), `S3Store ${key}`).toBe(0);
      expect(
        Buffer.compare((await swiftStore.get(key)) as Uint8Array, value),
        `SwiftStore ${key}`,
      ).toBe(0);
      expect((await s3.stat(key))?.size).toBe(value.byteLength);
      expect((await swiftStore.stat(key))?.size).toBe(value.byteLength);
    }
    // Same bytes, same MD5 etag for plain objects, whichever API wrote them.
    expect((await s3.stat("/swift/small"))?.etag).toBe((await swiftStore.stat("/s3/small"))?.etag);
    await swiftStore.deletePrefix("/");
    expect(await listAll(s3)).toEqual([]);
  }, 180_000);
});
