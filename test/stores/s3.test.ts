import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inspect } from "node:util";
import { Agent, fetch as undiciFetch } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isStoreError, type StoreError } from "../../src/errors.js";
import { listAll } from "../../src/helpers.js";
import { openStore } from "../../src/open.node.js";
import {
  S3Store as PortableS3Store,
  presign,
  type S3StoreOptions,
} from "../../src/stores/s3/index.js";
// The Node entry's store (undici transport) is the one Node users get; the portable one
// (fetch) runs the read-only conformance and the short-body case below.
import { S3Store } from "../../src/stores/s3/index.node.js";
import { describeConformance } from "../../src/testing/vitest.js";
import { describeLive } from "../support/live.js";
import {
  type SwiftServer,
  seedListingRows,
  startSwift,
  swiftAvailable,
  swiftToken,
} from "../support/swift.js";

const enc = new TextEncoder();
let swift: SwiftServer;

function options(extra: Partial<S3StoreOptions> = {}): S3StoreOptions {
  return {
    bucket: "zs-s3",
    endpoint: swift.s3Endpoint,
    credentials: { accessKeyId: swift.user, secretAccessKey: swift.key },
    ...extra,
  };
}

/** Creates a bucket (a Swift container) straight through Swift. */
async function makeBucket(name: string, headers: Record<string, string> = {}): Promise<void> {
  const { token, storageUrl } = await swiftToken(swift);
  const response = await fetch(`${storageUrl}/${name}`, {
    method: "PUT",
    headers: { "X-Auth-Token": token, ...headers },
  });
  await response.body?.cancel();
}

async function swiftHead(path: string): Promise<Response> {
  const { token, storageUrl } = await swiftToken(swift);
  return fetch(`${storageUrl}${path}`, { method: "HEAD", headers: { "X-Auth-Token": token } });
}

function expectBytes(actual: Uint8Array | undefined, expected: Uint8Array): void {
  expect(actual).toBeInstanceOf(Uint8Array);
  expect(actual?.byteLength).toBe(expected.byteLength);
  expect(Buffer.compare(actual as Uint8Array, expected)).toBe(0);
}

async function rejection(promise: Promise<unknown>): Promise<StoreError> {
  try {
    await promise;
  } catch (error) {
    if (isStoreError(error)) return error;
    throw error;
  }
  throw new Error("expected a StoreError, got success");
}

describeLive("S3Store against Swift's S3 API", swiftAvailable, () => {
  beforeAll(async () => {
    swift = await startSwift();
    for (const bucket of ["zs-s3", "s3-conformance", "s3-conformance-ro", "s3-many", "s3-large"]) {
      await makeBucket(bucket);
    }
  }, 120_000);
  afterAll(() => swift?.stop());

  describeConformance("S3Store (prefix zarr-demo)", () =>
    S3Store.open(options({ bucket: "s3-conformance", prefix: "zarr-demo" })),
  );
  describeConformance(
    "S3Store read-only",
    () => PortableS3Store.open(options({ bucket: "s3-conformance-ro", readOnly: true })),
    {
      writer: () => new S3Store(options({ bucket: "s3-conformance-ro" })),
    },
  );

  describe("addressing and listing", () => {
    it("maps keys under the prefix; path style and virtual-host style reach the same objects", async () => {
      const store = new S3Store(options({ prefix: "zarr-demo" }));
      await store.set("/foo/.zgroup", enc.encode("{}"));
      expect((await swiftHead("/zs-s3/zarr-demo/foo/.zgroup")).status).toBe(200);
      // Virtual-host style: <bucket>.localhost resolves to the loopback through our own lookup.
      const agent = new Agent({
        connect: { lookup: (_host, _opts, cb) => cb(null, [{ address: "127.0.0.1", family: 4 }]) },
      });
      const viaHost = new S3Store(
        options({
          prefix: "zarr-demo",
          endpoint: `http://localhost:${swift.port}`,
          forcePathStyle: false,
          fetch: ((url: string, init: RequestInit) =>
            undiciFetch(url, {
              ...(init as object),
              dispatcher: agent,
            })) as unknown as typeof fetch,
        }),
      );
      expect(await viaHost.get("/foo/.zgroup")).toEqual(enc.encode("{}"));
      expect(await listAll(viaHost, "/foo")).toEqual(["/foo/.zgroup"]);
      await agent.close();
    });

    it("pages ListObjectsV2 past 1,000 keys and lists one level with the delimiter", async () => {
      const names = Array.from(
        { length: 2_500 },
        (_, i) => `p/c/${Math.floor(i / 100)}/${i % 100}`,
      );
      await seedListingRows(swift, "s3-many", [...names, "p/zarr.json"]);
      const store = new S3Store(options({ bucket: "s3-many", prefix: "p", readOnly: true }));
      const all = await listAll(store);
      expect(all.length).toBe(2_501);
      expect(await store.listDir("/")).toEqual({ keys: ["/zarr.json"], prefixes: ["/c/"] });
      expect((await store.listDir("/c/")).prefixes.length).toBe(25);
    });
  });

  describe("large values", () => {
    it("uploads values above the threshold in parts of at least 5 MiB and reads them back", async () => {
      const store = new S3Store(
        options({
          bucket: "s3-large",
          multipartThreshold: 6 * 1024 * 1024,
          partSize: 5 * 1024 * 1024,
        }),
      );
      const value = Uint8Array.from(
        { length: 12 * 1024 * 1024 + 321 },
        (_, i) => (i * 31 + (i >> 11)) & 0xff,
      );
      const { etag } = await store.put("/big/c/0", value);
      // A multipart ETag: MD5 of the parts' MD5s, dash, number of parts.
      expect(etag).toMatch(/^[0-9a-f]{32}-3$/);
      expect((await swiftHead("/s3-large/big/c/0")).headers.get("x-static-large-object")).toBe(
        "True",
      );
      expect((await store.stat("/big/c/0"))?.size).toBe(value.byteLength);
      expectBytes(await store.get("/big/c/0"), value);
      expectBytes(
        await store.getRange("/big/c/0", { offset: 5 * 1024 * 1024 - 3, length: 10 }),
        value.subarray(5 * 1024 * 1024 - 3, 5 * 1024 * 1024 + 7),
      );
      expectBytes(await store.getRange("/big/c/0", { suffixLength: 321 }), value.subarray(-321));
      expect(await listAll(store)).toEqual(["/big/c/0"]);
      await store.delete("/big/c/0");
      expect(await store.get("/big/c/0")).toBeUndefined();
    });
  });

  describe("conditional writes are probed, not assumed", () => {
    it("Swift's S3 API refuses conditional PUTs: the capability is false and conditions are never dropped", async () => {
      const store = await S3Store.open(options({ prefix: "cond" }));
      expect(store.capabilities.conditionalWrite).toBe(false);
      const error = await rejection(store.set("/a", enc.encode("x"), { ifNoneMatch: "*" }));
      expect(error.code).toBe("Unsupported");
      expect(error.message).toMatch(/does not honour If-None-Match/);
      expect(await store.get("/a")).toBeUndefined();
      expect((await rejection(store.set("/a", enc.encode("x"), { ifMatch: "abc" }))).code).toBe(
        "Unsupported",
      );
      // The probe cleaned up after itself.
      expect(await listAll(new S3Store(options()), "/cond")).toEqual([]);
      // A lazily probing store decides on the first conditional write.
      const lazy = new S3Store(options({ prefix: "cond" }));
      expect(lazy.capabilities.conditionalWrite).toBe(false);
      expect((await rejection(lazy.set("/b", enc.encode("x"), { ifNoneMatch: "*" }))).code).toBe(
        "Unsupported",
      );
    });
  });

  describe("presigned URLs", () => {
    it("lets a client without credentials GET and PUT one object until the URL expires", async () => {
      const store = new S3Store(options({ prefix: "pre" }));
      await store.set("/odd key+/é.json", enc.encode('{"a":1}'));
      const url = await presign(store, "/odd key+/é.json", { expiresIn: 600 });
      expect(url).toContain("X-Amz-Signature=");
      const got = await fetch(url);
      expect(got.status).toBe(200);
      expect(await got.text()).toBe('{"a":1}');
      const putUrl = await presign(store, "/upload", { method: "PUT", expiresIn: 600 });
      expect((await fetch(putUrl, { method: "PUT", body: "browser bytes" })).status).toBe(200);
      expect(await store.get("/upload")).toEqual(enc.encode("browser bytes"));
      const old = await presign(store, "/upload", {
        expiresIn: 1,
        date: new Date(Date.now() - 60_000),
      });
      expect((await fetch(old)).status).toBe(403);
    });
  });

  describe("credentials from the environment, the shared files and providers", () => {
    it("reads AWS_* variables, including the endpoint", async () => {
      const env = {
        AWS_ACCESS_KEY_ID: swift.user,
        AWS_SECRET_ACCESS_KEY: swift.key,
        AWS_ENDPOINT_URL: swift.s3Endpoint,
        AWS_REGION: "us-east-1",
      };
      const store = new S3Store({ bucket: "zs-s3", prefix: "env", env });
      await store.set("/k", enc.encode("from env"));
      expect(await store.get("/k")).toEqual(enc.encode("from env"));
    });

    it("reads ~/.aws/credentials and ~/.aws/config for AWS_PROFILE", async () => {
      const dir = mkdtempSync(join(tmpdir(), "zs-aws-"));
      try {
        writeFileSync(
          join(dir, "credentials"),
          `[swift]\naws_access_key_id = ${swift.user}\naws_secret_access_key = ${swift.key}\n`,
        );
        writeFileSync(
          join(dir, "config"),
          `[profile swift]\nregion = us-east-1\nendpoint_url = ${swift.s3Endpoint}\n`,
        );
        const env = {
          HOME: dir,
          AWS_SHARED_CREDENTIALS_FILE: join(dir, "credentials"),
          AWS_CONFIG_FILE: join(dir, "config"),
          AWS_PROFILE: "swift",
        };
        const store = new S3Store({ bucket: "zs-s3", prefix: "profile", env });
        await store.set("/k", enc.encode("from profile"));
        expect(await store.get("/k")).toEqual(enc.encode("from profile"));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it("asks a provider function for credentials and reuses them until they near expiry", async () => {
      let calls = 0;
      const store = new S3Store(
        options({
          prefix: "provider",
          credentials: async () => {
            calls += 1;
            return { accessKeyId: swift.user, secretAccessKey: swift.key };
          },
        }),
      );
      await store.set("/a", enc.encode("1"));
      await store.set("/b", enc.encode("2"));
      expect(calls).toBe(1);
    });

    it("without credentials anywhere: a Config error that says where to put them", async () => {
      const env = { AWS_SHARED_CREDENTIALS_FILE: "/nonexistent", AWS_CONFIG_FILE: "/nonexistent" };
      const error = await rejection(
        new S3Store({ bucket: "zs-s3", endpoint: swift.s3Endpoint, env }).get("/a"),
      );
      expect(error.code).toBe("Config");
      expect(error.message).toMatch(/AWS_ACCESS_KEY_ID.*anonymous: true/);
    });

    it("openStore opens s3://bucket/prefix and maps gs://bucket/prefix to the same code path", async () => {
      const env = {
        AWS_ACCESS_KEY_ID: swift.user,
        AWS_SECRET_ACCESS_KEY: swift.key,
        AWS_ENDPOINT_URL: swift.s3Endpoint,
      };
      const store = await openStore("s3://zs-s3/opened", { env });
      expect(store).toBeInstanceOf(S3Store);
      await store.set("/foo/.zgroup", enc.encode("{}"));
      expect((await swiftHead("/zs-s3/opened/foo/.zgroup")).status).toBe(200);
      // gs:// with HMAC keys, pointed at this server instead of storage.googleapis.com.
      const gs = await openStore("gs://zs-s3/opened", {
        endpoint: swift.s3Endpoint,
        region: "us-east-1",
        credentials: { accessKeyId: swift.user, secretAccessKey: swift.key },
      });
      expect(await gs.get("/foo/.zgroup")).toEqual(enc.encode("{}"));
      const google = await openStore("gs://public-bucket/data.zarr", { env: {} });
      expect(JSON.parse(JSON.stringify(google))).toMatchObject({
        bucket: "public-bucket",
        prefix: "data.zarr",
        endpoint: "https://storage.googleapis.com",
        region: "auto",
        anonymous: true,
      });
    });
  });

  describe("faults: bad credentials, missing bucket and missing key are told apart", () => {
    it("missing key → undefined; missing bucket → NotFound naming it", async () => {
      const store = new S3Store(options());
      expect(await store.get("/never")).toBeUndefined();
      expect(await store.stat("/never")).toBeUndefined();
      expect(await store.getRange("/never", { suffixLength: 3 })).toBeUndefined();
      const missing = new S3Store(options({ bucket: "no-such-bucket" }));
      for (const call of [
        () => missing.get("/a"),
        () => missing.stat("/a"),
        () => listAll(missing),
        () => missing.set("/a", enc.encode("x")),
        () => missing.delete("/a"),
      ]) {
        const error = await rejection(call());
        expect(error.code).toBe("NotFound");
        expect(error.message).toContain("'no-such-bucket'");
        expect(error.message).toMatch(/bucket does not exist/);
      }
    });

    it("a wrong secret, an unknown key id and a wrong region are Unauthenticated with a hint", async () => {
      const wrongSecret = new S3Store(
        options({ credentials: { accessKeyId: swift.user, secretAccessKey: "not-the-secret-42" } }),
      );
      for (const call of [
        () => wrongSecret.get("/a"),
        () => wrongSecret.stat("/a"),
        () => listAll(wrongSecret),
      ]) {
        const error = await rejection(call());
        expect(error.code).toBe("Unauthenticated");
        expect(error.message).toMatch(/secret access key/);
        expect(error.message).not.toContain("not-the-secret-42");
      }
      const wrongRegion = new S3Store(options({ region: "eu-west-1" }));
      const regionError = await rejection(wrongRegion.get("/a"));
      expect(regionError.code).toBe("Unauthenticated");
      expect(regionError.message).toMatch(
        /signed for region 'eu-west-1' but the bucket is in 'us-east-1'/,
      );
    });

    it("valid credentials without rights are PermissionDenied", async () => {
      const reader = new S3Store(
        options({
          credentials: { accessKeyId: swift.reader.user, secretAccessKey: swift.reader.key },
        }),
      );
      const error = await rejection(reader.get("/foo"));
      expect(error.code).toBe("PermissionDenied");
      expect(error.message).toContain("'zs-s3'");
    });

    it("anonymous requests go unsigned; a refusal says to pass credentials", async () => {
      // Swift's S3 API has no anonymous access, so a loopback server plays a public bucket.
      const seen: string[] = [];
      const server = await rawServer((request) => {
        seen.push(request);
        if (request.startsWith("GET /pub/open/zarr.json")) {
          return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";
        }
        const body = "<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>";
        return `HTTP/1.1 403 Forbidden\r\nContent-Type: application/xml\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
      });
      try {
        const { port } = server.address() as { port: number };
        const anonymous = new S3Store({
          bucket: "pub",
          endpoint: `http://127.0.0.1:${port}`,
          anonymous: true,
        });
        expect(await anonymous.get("/open/zarr.json")).toEqual(enc.encode("{}"));
        expect(seen[0]?.toLowerCase()).not.toMatch(/authorization|x-amz-/);
        const error = await rejection(anonymous.get("/closed"));
        expect(error.code).toBe("PermissionDenied");
        expect(error.message).toMatch(/unsigned \(anonymous\)/);
      } finally {
        server.close();
      }
    });

    it("a body shorter than its Content-Length is a retryable Integrity error naming the key", async () => {
      const server = await rawServer(
        () => "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789",
      );
      try {
        const { port } = server.address() as { port: number };
        const opts = { bucket: "b", endpoint: `http://127.0.0.1:${port}`, anonymous: true };
        // Both transports: undici (Node's default) and fetch.
        for (const store of [new S3Store(opts), new PortableS3Store(opts)]) {
          const error = await rejection(store.get("/foo/c/0"));
          expect(error.code).toBe("Integrity");
          expect(error.retryable).toBe(true);
          expect(error.message).toContain("/foo/c/0");
          expect(error.message).toMatch(/ended after 10 of 100 bytes/);
          await store.close();
        }
      } finally {
        server.close();
      }
    });

    it("JSON.stringify and inspect of stores and errors show no secret", async () => {
      const secret = "s3cr3t-value-for-redaction";
      const store = new S3Store(
        options({
          credentials: {
            accessKeyId: swift.user,
            secretAccessKey: secret,
            sessionToken: "session-token-xyz",
          },
        }),
      );
      const error = await rejection(store.get("/a"));
      for (const shown of [
        JSON.stringify(store),
        inspect(store, { depth: 10, showHidden: true }),
        JSON.stringify(error),
        inspect(error, { depth: 10 }),
        error.stack ?? "",
      ]) {
        expect(shown).not.toContain(secret);
        expect(shown).not.toContain("session-token-xyz");
      }
      expect(JSON.stringify(store)).toContain("zs-s3");
    });

    // Last: it takes the object server down for the rest of this file.
    it("5xx from the server is a retryable Unavailable error naming the bucket and key", async () => {
      const store = new S3Store(options());
      await store.set("/k", enc.encode("v"));
      const line = readFileSync(`${swift.stateDir}/pids`, "utf8")
        .split("\n")
        .find((l) => l.startsWith("object "));
      process.kill(-Number(line?.split(" ")[1]), "SIGKILL");
      const error = await rejection(store.get("/k"));
      expect(error.code).toBe("Unavailable");
      expect(error.retryable).toBe(true);
      expect(error.status).toBeGreaterThanOrEqual(500);
      expect(error.message).toContain("/k");
      expect(error.message).toContain("'zs-s3'");
    });
  });
});

/** A loopback server that answers each request with what `reply` makes of it, then hangs up. */
function rawServer(reply: (request: string) => string): Promise<Server> {
  return new Promise((resolve) => {
    const server = createServer((socket) => {
      socket.once("data", (data) => socket.end(reply(data.toString("latin1"))));
    });
    server.listen(0, "127.0.0.1", () => resolve(server));
  });
}
