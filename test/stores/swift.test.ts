import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { inspect } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isStoreError, type StoreError } from "../../src/errors.js";
import { listAll } from "../../src/helpers.js";
import { openStore } from "../../src/open.node.js";
import { HttpStore } from "../../src/stores/http.node.js";
import {
  acquireToken,
  getenvAuth,
  isPublic,
  SwiftStore as PortableSwiftStore,
  parseSwiftUrl,
  type SwiftStoreOptions,
  setPublic,
  tempUrl,
  togglePublic,
} from "../../src/stores/swift/index.js";
// The Node entry's store (undici transport) is the one Node users get; the portable one
// (fetch) runs the read-only conformance and the short-body case below.
import { SwiftStore } from "../../src/stores/swift/index.node.js";
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

function make(options: Partial<SwiftStoreOptions> = {}): SwiftStore {
  return new SwiftStore({
    container: "zs-test",
    storageOptions: { authurl: swift.authUrl, user: swift.user, key: swift.key },
    ...options,
  });
}

/** A request straight to Swift with the admin token, to check what the store really did. */
async function raw(path: string, init: RequestInit = {}): Promise<Response> {
  const { token, storageUrl } = await swiftToken(swift);
  return fetch(`${storageUrl}${path}`, {
    ...init,
    headers: { "X-Auth-Token": token, ...(init.headers as Record<string, string>) },
  });
}

async function rawNames(container: string, query = ""): Promise<string[]> {
  const response = await raw(`/${container}?format=json${query}`);
  if (response.status === 404) return [];
  return ((await response.json()) as { name: string }[]).map((e) => e.name);
}

/** Compares bytes quickly (vitest's deep equality walks megabytes element by element). */
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

describeLive("SwiftStore against a real Swift", swiftAvailable, () => {
  beforeAll(async () => {
    swift = await startSwift();
  }, 120_000);
  afterAll(() => swift?.stop());

  describeConformance("SwiftStore (prefix zarr-demo)", () =>
    make({ container: "conformance", prefix: "zarr-demo" }),
  );
  describeConformance(
    "SwiftStore read-only",
    async () => {
      // Read-only stores report a missing container as an error: the container must exist.
      await raw("/conformance-ro", { method: "PUT" });
      return new PortableSwiftStore({
        container: "conformance-ro",
        storageOptions: { authurl: swift.authUrl, user: swift.user, key: swift.key },
        readOnly: true,
      });
    },
    { writer: () => make({ container: "conformance-ro" }) },
  );

  describe("keys, prefix and containers", () => {
    it("maps /foo/.zgroup to the object zarr-demo/foo/.zgroup and gives its URL", async () => {
      const store = make({ container: "mapped", prefix: "zarr-demo" });
      await store.set("/foo/.zgroup", enc.encode('{"zarr_format":2}'));
      await store.set("/.zgroup", enc.encode('{"zarr_format":2}'));
      expect(await rawNames("mapped")).toEqual(["zarr-demo/.zgroup", "zarr-demo/foo/.zgroup"]);
      expect(await store.url()).toBe(`${swift.storageUrl}/mapped/zarr-demo`);
      expect(await listAll(store)).toEqual(["/.zgroup", "/foo/.zgroup"]);
      expect(await store.listDir("/")).toEqual({ keys: ["/.zgroup"], prefixes: ["/foo/"] });
      const { token } = await swiftToken(swift);
      const viaUrl = await fetch(`${await store.url()}/foo/.zgroup`, {
        headers: { "X-Auth-Token": token },
      });
      expect(await viaUrl.text()).toBe('{"zarr_format":2}');
    });

    it("creates its container on the first write", async () => {
      const store = make({ container: "created-on-write" });
      expect((await raw("/created-on-write", { method: "HEAD" })).status).toBe(404);
      expect(await store.get("/a")).toBeUndefined();
      expect(await listAll(store)).toEqual([]);
      expect(await store.listDir("/")).toEqual({ keys: [], prefixes: [] });
      // Reads never create it.
      expect((await raw("/created-on-write", { method: "HEAD" })).status).toBe(404);
      await store.set("/a", enc.encode("x"));
      expect((await raw("/created-on-write", { method: "HEAD" })).status).toBe(204);
      expect(await store.get("/a")).toEqual(enc.encode("x"));
    });

    it("read-only: a missing container is a NotFound naming it, and is never created", async () => {
      const store = make({ container: "never-made", readOnly: true });
      for (const call of [
        () => store.get("/x/.zarray"),
        () => store.stat("/x/.zarray"),
        () => store.getRange("/x/0", { suffixLength: 4 }),
        () => listAll(store),
        () => store.listDir("/"),
      ]) {
        const error = await rejection(call());
        expect(error.code).toBe("NotFound");
        expect(error.message).toContain("never-made");
        expect(error.message).toMatch(/container does not exist/);
      }
      expect((await rejection(store.set("/a", enc.encode("x")))).code).toBe("ReadOnly");
      expect((await raw("/never-made", { method: "HEAD" })).status).toBe(404);
    });

    it("rejects bad options and bad prefixes with Config/InvalidKey before any request", () => {
      expect(() => make({ container: "" })).toThrow(/container/);
      expect(() => make({ container: "a/b" })).toThrow(/container/);
      expect(() => make({ prefix: "a/../b" })).toThrow(/'\.\.' segments/);
      expect(
        () => new SwiftStore({ container: "c", storageOptions: { authurl: "x" } as never }),
      ).toThrow(/user/);
      expect(parseSwiftUrl("swift://demo/zarr-demo/")).toEqual({
        container: "demo",
        prefix: "zarr-demo",
      });
      expect(parseSwiftUrl("swift://My_Container")).toEqual({
        container: "My_Container",
        prefix: "",
      });
    });
  });

  describe("conditional writes", () => {
    it("declares conditionalWrite false: If-None-Match works, If-Match is refused", async () => {
      const store = make({ container: "conditional" });
      expect(store.capabilities.conditionalWrite).toBe(false);
      await store.set("/a", enc.encode("one"), { ifNoneMatch: "*" });
      const failed = await rejection(store.set("/a", enc.encode("two"), { ifNoneMatch: "*" }));
      expect(failed.code).toBe("ConditionFailed");
      expect(failed.message).toContain("ifNoneMatch");
      expect(await store.get("/a")).toEqual(enc.encode("one"));
      const etag = (await store.stat("/a"))?.etag as string;
      const refused = await rejection(store.set("/a", enc.encode("three"), { ifMatch: etag }));
      expect(refused.code).toBe("Unsupported");
      expect(await store.get("/a")).toEqual(enc.encode("one"));
      // Swift's ETag is the MD5 of the value, unquoted.
      expect(etag).toBe("f97c5d29941bfb1b2fdab0874906ab82");
    });
  });

  describe("listings", () => {
    it("lists all 10,050 objects of a container (Swift pages at 10,000; the seed stopped there)", async () => {
      const names = Array.from(
        { length: 10_050 },
        (_, i) => `zarr-demo/c/${String(i).padStart(5, "0")}`,
      );
      await seedListingRows(swift, "many", names);
      // One plain request sees only Swift's first page: this is where the seed's store stopped.
      expect((await rawNames("many", "&prefix=zarr-demo/")).length).toBe(10_000);
      const store = make({ container: "many", prefix: "zarr-demo", readOnly: true });
      const listed = await listAll(store);
      expect(listed.length).toBe(10_050);
      expect(listed[10_049]).toBe("/c/10049");
      const dir = await store.listDir("/c/");
      expect(dir.keys.length).toBe(10_050);
      expect(await store.listDir("/")).toEqual({ keys: [], prefixes: ["/c/"] });
    }, 120_000);
  });

  describe("static large objects", () => {
    const threshold = 1024 * 1024;
    const big = Uint8Array.from(
      { length: 3 * threshold + 12_345 },
      (_, i) => (i * 7 + (i >> 9)) & 0xff,
    );

    it("writes values above the threshold as segments + manifest and reads them back", async () => {
      const store = make({
        container: "large",
        prefix: "p",
        largeObjectThreshold: threshold,
        segmentSize: 512 * 1024,
      });
      const { etag } = await store.put("/arr/c/0", big);
      expect(etag).toMatch(/^[0-9a-f]{32}$/);
      const head = await raw("/large/p/arr/c/0", { method: "HEAD" });
      expect(head.headers.get("x-static-large-object")).toBe("True");
      const segments = await rawNames("large_segments");
      expect(segments.length).toBe(7);
      expect(segments.every((name) => name.startsWith("p/arr/c/0/slo/"))).toBe(true);
      // The store's listings never see the segments.
      expect(await listAll(store)).toEqual(["/arr/c/0"]);
      expect((await store.stat("/arr/c/0"))?.size).toBe(big.byteLength);
      expectBytes(await store.get("/arr/c/0"), big);
      const across = await store.getRange("/arr/c/0", { offset: 512 * 1024 - 10, length: 600_000 });
      expectBytes(across, big.subarray(512 * 1024 - 10, 512 * 1024 - 10 + 600_000));
      expectBytes(await store.getRange("/arr/c/0", { suffixLength: 100 }), big.subarray(-100));
      // Small values stay plain objects.
      await store.set("/arr/zarr.json", enc.encode("{}"));
      expect(
        (await raw("/large/p/arr/zarr.json", { method: "HEAD" })).headers.get(
          "x-static-large-object",
        ),
      ).toBeNull();
    });

    it("delete and deletePrefix remove the segments with the manifest", async () => {
      const store = make({
        container: "large2",
        largeObjectThreshold: threshold,
        segmentSize: 512 * 1024,
      });
      await store.set("/one", big);
      await store.set("/dir/two", big);
      await store.set("/dir/small", enc.encode("s"));
      expect((await rawNames("large2_segments")).length).toBe(14);
      await store.delete("/one");
      expect((await rawNames("large2_segments")).length).toBe(7);
      await store.delete("/one");
      await store.deletePrefix("/dir/");
      expect(await rawNames("large2_segments")).toEqual([]);
      expect(await rawNames("large2")).toEqual([]);
    });

    it("ifNoneMatch applies to the manifest, and a refused write leaves no segments", async () => {
      const store = make({
        container: "large3",
        largeObjectThreshold: threshold,
        segmentSize: 512 * 1024,
      });
      await store.set("/x", enc.encode("small first"));
      const error = await rejection(store.set("/x", big, { ifNoneMatch: "*" }));
      expect(error.code).toBe("ConditionFailed");
      expect(await store.get("/x")).toEqual(enc.encode("small first"));
      expect(await rawNames("large3_segments")).toEqual([]);
    });
  });

  describe("ACLs, public containers and TempURLs", () => {
    it("setPublic/isPublic/togglePublic: exact, idempotent, anonymous reads through HttpStore", async () => {
      const store = make({ container: "shared", prefix: "xarray-demo" });
      await store.set("/.zgroup", enc.encode('{"zarr_format":2}'));
      const url = await store.url();
      expect(await isPublic(store)).toBe(false);
      const anonymous = new HttpStore(url);
      expect((await rejection(anonymous.get("/.zgroup"))).code).toMatch(
        /Unauthenticated|PermissionDenied/,
      );

      await setPublic(store, true);
      expect((await raw("/shared", { method: "HEAD" })).headers.get("x-container-read")).toBe(
        ".r:*,.rlistings",
      );
      await setPublic(store, true);
      expect((await raw("/shared", { method: "HEAD" })).headers.get("x-container-read")).toBe(
        ".r:*,.rlistings",
      );
      expect(await isPublic(store)).toBe(true);
      expect(await anonymous.get("/.zgroup")).toEqual(enc.encode('{"zarr_format":2}'));
      const listing = await fetch(`${swift.storageUrl}/shared?format=json`);
      expect(listing.status).toBe(200);

      await setPublic(store, false);
      expect((await raw("/shared", { method: "HEAD" })).headers.get("x-container-read")).toBeNull();
      expect(await isPublic(store)).toBe(false);
      expect((await rejection(anonymous.get("/.zgroup"))).code).toMatch(
        /Unauthenticated|PermissionDenied/,
      );
      await anonymous.close();
    });

    it("toggling twice restores a custom ACL exactly", async () => {
      const store = make({ container: "custom-acl" });
      await store.set("/a", enc.encode("x"));
      const custom = "test:tester3,.r:.example.com";
      await raw("/custom-acl", { method: "POST", headers: { "X-Container-Read": custom } });
      const before = (await raw("/custom-acl", { method: "HEAD" })).headers.get("x-container-read");
      expect(await togglePublic(store)).toBe(true);
      expect((await raw("/custom-acl", { method: "HEAD" })).headers.get("x-container-read")).toBe(
        `${before},.r:*,.rlistings`,
      );
      expect(await togglePublic(store)).toBe(false);
      expect((await raw("/custom-acl", { method: "HEAD" })).headers.get("x-container-read")).toBe(
        before,
      );
      // The member named in the ACL still reads; the ACL entry was kept.
      const reader = make({
        container: "custom-acl",
        storageOptions: { authurl: swift.authUrl, ...swift.reader },
      });
      expect(await reader.get("/a")).toEqual(enc.encode("x"));
    });

    it("a private container reads through HttpStore with the token header", async () => {
      const store = make({ container: "private", prefix: "p" });
      await store.set("/.zattrs", enc.encode("{}"));
      const { token } = await swiftToken(swift);
      const http = new HttpStore(await store.url(), { headers: { "x-auth-token": token } });
      expect(await http.get("/.zattrs")).toEqual(enc.encode("{}"));
      await http.close();
    });

    it("tempUrl lets a client without a token GET and PUT one object until it expires", async () => {
      const store = make({ container: "temp", prefix: "t" });
      await store.set("/a b/é#1", enc.encode("secret value"));
      const getUrl = await tempUrl(store, "/a b/é#1", { setKey: true, expiresIn: 300 });
      expect(getUrl).toContain("temp_url_sig=");
      const got = await fetch(getUrl);
      expect(got.status).toBe(200);
      expect(await got.text()).toBe("secret value");
      const putUrl = await tempUrl(store, "/upload", { method: "PUT", expiresIn: 300 });
      const put = await fetch(putUrl, { method: "PUT", body: "from a browser" });
      expect(put.status).toBe(201);
      expect(await store.get("/upload")).toEqual(enc.encode("from a browser"));
      // Signed for GET only: PUT with it is refused; an expired URL is refused.
      expect((await fetch(getUrl, { method: "PUT", body: "x" })).status).toBe(401);
      const expired = await tempUrl(store, "/a b/é#1", { expiresIn: 1, now: Date.now() - 10_000 });
      expect((await fetch(expired)).status).toBe(401);
    });
  });

  describe("auth helpers and URLs", () => {
    it("getenvAuth reads the same variables as the swift CLI and the seed", () => {
      expect(getenvAuth({ ST_AUTH: "http://a/auth/v1.0", ST_USER: "t:u", ST_KEY: "k" })).toEqual({
        authurl: "http://a/auth/v1.0",
        user: "t:u",
        key: "k",
      });
      expect(getenvAuth({ OS_STORAGE_URL: "http://s/v1/AUTH_t", OS_AUTH_TOKEN: "tok" })).toEqual({
        preauthurl: "http://s/v1/AUTH_t",
        preauthtoken: "tok",
      });
      expect(
        getenvAuth({
          OS_STORAGE_URL: "http://s/v1/AUTH_t",
          OS_AUTH_TOKEN: "tok",
          ST_AUTH: "http://a/auth/v1.0",
          ST_USER: "t:u",
          ST_KEY: "k",
        }),
      ).toEqual({
        authurl: "http://a/auth/v1.0",
        user: "t:u",
        key: "k",
        preauthurl: "http://s/v1/AUTH_t",
        preauthtoken: "tok",
      });
      expect(
        getenvAuth({
          OS_AUTH_URL: "http://ks:5000/v3",
          OS_USERNAME: "demo",
          OS_PASSWORD: "pw",
          OS_PROJECT_NAME: "demo",
          OS_USER_DOMAIN_NAME: "Default",
          OS_PROJECT_DOMAIN_NAME: "Default",
          OS_REGION_NAME: "RegionOne",
        }),
      ).toMatchObject({
        authurl: "http://ks:5000/v3",
        authVersion: "3",
        username: "demo",
        password: "pw",
        projectName: "demo",
        userDomainName: "Default",
        projectDomainName: "Default",
        regionName: "RegionOne",
      });
      expect(
        getenvAuth({
          OS_AUTH_URL: "http://ks:5000/v3",
          OS_APPLICATION_CREDENTIAL_ID: "id1",
          OS_APPLICATION_CREDENTIAL_SECRET: "s1",
        }),
      ).toMatchObject({
        authVersion: "3",
        applicationCredentialId: "id1",
        applicationCredentialSecret: "s1",
      });
      expect(() => getenvAuth({})).toThrow(/ST_AUTH, ST_USER and ST_KEY/);
      expect(() => getenvAuth({ ST_AUTH: "http://a", ST_USER: "u" })).toThrow(
        /no Swift credentials/,
      );
    });

    it("acquireToken returns the pre-authenticated pair, its expiry, and exports it on request", async () => {
      const env: Record<string, string | undefined> = {};
      const auth = await acquireToken({
        authurl: swift.authUrl,
        user: swift.user,
        key: swift.key,
        updateEnv: true,
        env,
      });
      expect(auth.preauthurl).toBe(swift.storageUrl);
      expect(auth.preauthtoken).toMatch(/^AUTH_tk/);
      expect(auth.expiresAt && auth.expiresAt.getTime() > Date.now() + 3600_000).toBe(true);
      expect(env).toEqual({ OS_STORAGE_URL: swift.storageUrl, OS_AUTH_TOKEN: auth.preauthtoken });
      const store = new SwiftStore({ container: "preauth", storageOptions: getenvAuth(env) });
      await store.set("/k", enc.encode("v"));
      expect(await store.get("/k")).toEqual(enc.encode("v"));
      await expect(
        acquireToken({ authurl: swift.authUrl, user: "tester", key: swift.key }),
      ).rejects.toThrow(/account:user/);
    });

    it("openStore opens swift://container/prefix with credentials from the environment", async () => {
      const env = { ST_AUTH: swift.authUrl, ST_USER: swift.user, ST_KEY: swift.key };
      const store = await openStore("swift://opened/zarr-demo", { env });
      expect(store).toBeInstanceOf(SwiftStore);
      await store.set("/foo/.zgroup", enc.encode("{}"));
      expect(await rawNames("opened")).toEqual(["zarr-demo/foo/.zgroup"]);
      const readOnly = await openStore("swift://opened/zarr-demo", { env, readOnly: true });
      expect(readOnly.capabilities.write).toBe(false);
      expect(await readOnly.get("/foo/.zgroup")).toEqual(enc.encode("{}"));
    });
  });

  describe("faults are typed errors naming the container, and never leak secrets", () => {
    it("a wrong password is Unauthenticated and names the user, not the key", async () => {
      const store = make({
        storageOptions: { authurl: swift.authUrl, user: swift.user, key: "wrong-password-123" },
      });
      const error = await rejection(store.get("/a"));
      expect(error.code).toBe("Unauthenticated");
      expect(error.message).toContain("test:tester");
      expect(error.message).not.toContain("wrong-password-123");
    });

    it("a bad or expired bare token is Unauthenticated, never a missing key", async () => {
      const store = new SwiftStore({
        container: "zs-test",
        storageOptions: { preauthurl: swift.storageUrl, preauthtoken: "AUTH_tk0000deadbeef" },
      });
      for (const call of [() => store.get("/a"), () => store.stat("/a"), () => listAll(store)]) {
        const error = await rejection(call());
        expect(error.code).toBe("Unauthenticated");
        expect(error.message).toMatch(/pre-authenticated token is invalid or expired/);
        expect(error.message).not.toContain("deadbeef");
      }
    });

    it("403 on a private container is PermissionDenied naming the container", async () => {
      await make({ container: "locked" }).set("/a", enc.encode("x"));
      const reader = make({
        container: "locked",
        storageOptions: { authurl: swift.authUrl, ...swift.reader },
      });
      for (const call of [
        () => reader.get("/a"),
        () => listAll(reader),
        () => reader.set("/b", enc.encode("y")),
      ]) {
        const error = await rejection(call());
        expect(error.code).toBe("PermissionDenied");
        expect(error.status).toBe(403);
        expect(error.message).toContain("'locked'");
      }
    });

    it("a body shorter than its Content-Length is a retryable Integrity error naming the key", async () => {
      const server = await shortBodyServer();
      try {
        const address = server.address() as { port: number };
        const options = {
          container: "c",
          storageOptions: {
            preauthurl: `http://127.0.0.1:${address.port}/v1/AUTH_x`,
            preauthtoken: "t",
          },
        };
        // Both transports: undici (Node's default) and fetch.
        for (const store of [new SwiftStore(options), new PortableSwiftStore(options)]) {
          const error = await rejection(store.get("/foo/0.0"));
          expect(error.code).toBe("Integrity");
          expect(error.retryable).toBe(true);
          expect(error.message).toContain("/foo/0.0");
          expect(error.message).toContain("'c'");
          expect(error.message).toMatch(/ended after 10 of 100 bytes/);
          await store.close();
        }
      } finally {
        server.close();
      }
    });

    it("JSON.stringify and inspect of stores and errors show no key or token", async () => {
      const { token } = await swiftToken(swift);
      const stores = [
        make({ storageOptions: { authurl: swift.authUrl, user: swift.user, key: swift.key } }),
        new SwiftStore({
          container: "c",
          storageOptions: { preauthurl: swift.storageUrl, preauthtoken: token },
        }),
      ];
      await stores[0]?.set("/x", enc.encode("x"));
      const bad = make({
        storageOptions: { authurl: swift.authUrl, user: swift.user, key: "hunter2-secret" },
      });
      const error = await rejection(bad.get("/x"));
      for (const shown of [
        ...stores.flatMap((s) => [
          JSON.stringify(s),
          inspect(s, { depth: 10, showHidden: true }),
          String(s),
        ]),
        JSON.stringify(error),
        inspect(error, { depth: 10 }),
        error.stack ?? "",
      ]) {
        expect(shown).not.toContain("testing");
        expect(shown).not.toContain("hunter2-secret");
        expect(shown).not.toContain(token);
      }
      expect(JSON.stringify(stores[0])).toContain("zs-test");
    });

    // Last: it takes the object server down for the rest of this file.
    it("5xx from the proxy is a retryable Unavailable error naming the container and key", async () => {
      const store = make({ container: "down" });
      await store.set("/k", enc.encode("v"));
      const objectServer = readPid("object");
      process.kill(-objectServer, "SIGKILL");
      const error = await rejection(store.get("/k"));
      expect(error.code).toBe("Unavailable");
      expect(error.retryable).toBe(true);
      expect(error.status).toBe(503);
      expect(error.message).toContain("/k");
      expect(error.message).toContain("'down'");
    });
  });
});

function readPid(name: string): number {
  const line = readFileSync(`${swift.stateDir}/pids`, "utf8")
    .split("\n")
    .find((l) => l.startsWith(`${name} `));
  return Number(line?.split(" ")[1]);
}

/** A loopback server that announces 100 bytes, sends 10 and hangs up. */
function shortBodyServer(): Promise<Server> {
  return new Promise((resolve) => {
    const server = createServer((socket) => {
      socket.once("data", () => {
        socket.end(
          "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nContent-Type: application/octet-stream\r\n\r\n0123456789",
        );
      });
    });
    server.listen(0, "127.0.0.1", () => resolve(server));
  });
}
