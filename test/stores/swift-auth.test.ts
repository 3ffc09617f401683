import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isStoreError, type StoreError } from "../../src/errors.js";
import { listAll } from "../../src/helpers.js";
import { openStore } from "../../src/open.node.js";
import { acquireToken, getenvAuth, SwiftStore } from "../../src/stores/swift/index.js";
import { describeLive } from "../support/live.js";
import {
  type KeystoneInfo,
  type SwiftServer,
  startSwift,
  swiftAvailable,
} from "../support/swift.js";

const enc = new TextEncoder();
const dec = new TextDecoder();
// Three seconds: long enough for a request, short enough that a copy outlives several tokens.
const TOKEN_LIFE = 3;
let swift: SwiftServer;
let keystone: KeystoneInfo;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The global fetch, counting auth requests and 401 replies (the server is real; this only watches). */
function watchedFetch() {
  const seen = { auth: 0, unauthorized: 0 };
  const fetchImpl: typeof fetch = async (input, init) => {
    const url = String(input);
    if (url === swift.authUrl) seen.auth += 1;
    const response = await fetch(input, init);
    if (response.status === 401) seen.unauthorized += 1;
    return response;
  };
  return { seen, fetchImpl };
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

describeLive("Swift authentication against a real Swift and Keystone", swiftAvailable, () => {
  beforeAll(async () => {
    swift = await startSwift({ tokenLife: TOKEN_LIFE, keystone: true });
    keystone = swift.keystone as KeystoneInfo;
  }, 600_000);
  afterAll(() => swift?.stop());

  describe("TempAuth tokens that expire every 3 seconds", () => {
    it("a long copy keeps working across several expiries", async () => {
      const { seen, fetchImpl } = watchedFetch();
      const credentials = { authurl: swift.authUrl, user: swift.user, key: swift.key };
      const source = new SwiftStore({
        container: "copy-src",
        storageOptions: credentials,
        fetch: fetchImpl,
      });
      const target = new SwiftStore({
        container: "copy-dst",
        prefix: "copied",
        storageOptions: credentials,
        fetch: fetchImpl,
      });
      const keys = Array.from({ length: 24 }, (_, i) => `/c/${i}` as const);
      for (const key of keys) await source.set(key, enc.encode(`value ${key}`));
      const started = Date.now();
      for (const key of keys) {
        const value = await source.get(key);
        await target.set(key, value as Uint8Array);
        await sleep(400);
      }
      const seconds = (Date.now() - started) / 1000;
      expect(seconds).toBeGreaterThan(3 * TOKEN_LIFE);
      expect(await listAll(target)).toEqual([...keys].sort());
      for (const key of keys) expect(dec.decode(await target.get(key))).toBe(`value ${key}`);
      // Each store renewed its token more than once along the way.
      expect(seen.auth).toBeGreaterThanOrEqual(4);
    }, 120_000);

    it("renews on a 401 when the expiry was not known (a pre-authenticated token with credentials)", async () => {
      const token = await acquireToken({
        authurl: swift.authUrl,
        user: swift.user,
        key: swift.key,
      });
      await sleep((TOKEN_LIFE + 1) * 1000);
      const { seen, fetchImpl } = watchedFetch();
      const store = new SwiftStore({
        container: "renew",
        storageOptions: { ...token, authurl: swift.authUrl, user: swift.user, key: swift.key },
        fetch: fetchImpl,
      });
      await store.set("/a", enc.encode("after renewal"));
      expect(seen.unauthorized).toBe(1);
      expect(seen.auth).toBe(1);
      expect(dec.decode(await store.get("/a"))).toBe("after renewal");
    }, 30_000);

    it("concurrent requests that meet an expired token share one renewal", async () => {
      const credentials = { authurl: swift.authUrl, user: swift.user, key: swift.key };
      await new SwiftStore({ container: "concurrent", storageOptions: credentials }).set(
        "/seed",
        enc.encode("x"),
      );
      const token = await acquireToken(credentials);
      const { seen, fetchImpl } = watchedFetch();
      const store = new SwiftStore({
        container: "concurrent",
        storageOptions: { ...token, ...credentials },
        fetch: fetchImpl,
      });
      await sleep((TOKEN_LIFE + 1) * 1000);
      const results = await Promise.all(Array.from({ length: 16 }, () => store.get("/seed")));
      expect(results.every((r) => r !== undefined && dec.decode(r) === "x")).toBe(true);
      expect(seen.auth).toBe(1);
    }, 30_000);

    it("a bare expired token is Unauthenticated on every operation, never a missing key", async () => {
      const credentials = { authurl: swift.authUrl, user: swift.user, key: swift.key };
      await new SwiftStore({ container: "bare", storageOptions: credentials }).set(
        "/a",
        enc.encode("x"),
      );
      const token = await acquireToken(credentials);
      const store = new SwiftStore({ container: "bare", storageOptions: token });
      await sleep((TOKEN_LIFE + 1) * 1000);
      for (const call of [
        () => store.get("/a"),
        () => store.get("/missing"),
        () => store.stat("/a"),
        () => store.getRange("/a", { offset: 0, length: 1 }),
        () => listAll(store),
        () => store.set("/b", enc.encode("y")),
      ]) {
        const error = await rejection(call());
        expect(error.code).toBe("Unauthenticated");
        expect(error.message).toMatch(/token is invalid or expired/);
        expect(error.message).not.toContain(token.preauthtoken);
      }
    }, 30_000);
  });

  describe("Keystone v3 (a real Keystone with SQLite)", () => {
    it("authenticates with a password, finds Swift in the catalog and works in the project's account", async () => {
      const store = new SwiftStore({
        container: "ks",
        prefix: "zarr-demo",
        storageOptions: {
          authurl: keystone.url,
          authVersion: "3",
          username: keystone.user,
          password: keystone.password,
          projectName: keystone.project,
          userDomainName: keystone.domain,
          projectDomainName: keystone.domain,
          regionName: "RegionOne",
        },
      });
      await store.set("/foo/.zgroup", enc.encode('{"zarr_format":2}'));
      expect(dec.decode(await store.get("/foo/.zgroup"))).toBe('{"zarr_format":2}');
      expect(await store.url()).toBe(`${keystone.storageUrl}/ks/zarr-demo`);
      expect(await listAll(store)).toEqual(["/foo/.zgroup"]);
    }, 120_000);

    it("authenticates with an application credential, and from OS_* variables through openStore", async () => {
      const store = new SwiftStore({
        container: "ks",
        prefix: "zarr-demo",
        storageOptions: {
          authurl: keystone.url,
          authVersion: "3",
          applicationCredentialId: keystone.applicationCredentialId,
          applicationCredentialSecret: keystone.applicationCredentialSecret,
        },
      });
      expect(dec.decode(await store.get("/foo/.zgroup"))).toBe('{"zarr_format":2}');
      const env = {
        OS_AUTH_URL: keystone.url,
        OS_USERNAME: keystone.user,
        OS_PASSWORD: keystone.password,
        OS_PROJECT_NAME: keystone.project,
        OS_USER_DOMAIN_NAME: keystone.domain,
        OS_PROJECT_DOMAIN_NAME: keystone.domain,
        OS_IDENTITY_API_VERSION: "3",
      };
      expect(getenvAuth(env)).toMatchObject({ authVersion: "3", username: "demo" });
      const opened = await openStore("swift://ks/zarr-demo", { env, readOnly: true });
      expect(dec.decode((await opened.get("/foo/.zgroup")) as Uint8Array)).toBe(
        '{"zarr_format":2}',
      );
    }, 120_000);

    it("a wrong password or secret is Unauthenticated naming the user, not the secret", async () => {
      const wrong = new SwiftStore({
        container: "ks",
        storageOptions: {
          authurl: keystone.url,
          authVersion: "3",
          username: keystone.user,
          password: "definitely-wrong-pw",
          projectName: keystone.project,
        },
      });
      const error = await rejection(wrong.get("/a"));
      expect(error.code).toBe("Unauthenticated");
      expect(error.message).toContain("user 'demo'");
      expect(error.message).not.toContain("definitely-wrong-pw");
      const wrongSecret = new SwiftStore({
        container: "ks",
        storageOptions: {
          authurl: keystone.url,
          authVersion: "3",
          applicationCredentialId: keystone.applicationCredentialId,
          applicationCredentialSecret: "not-the-app-secret",
        },
      });
      const appError = await rejection(wrongSecret.get("/a"));
      expect(appError.code).toBe("Unauthenticated");
      expect(appError.message).toContain(keystone.applicationCredentialId);
      expect(appError.message).not.toContain("not-the-app-secret");
    }, 120_000);

    it("a token without an object-store endpoint in its region says so", async () => {
      const store = new SwiftStore({
        container: "ks",
        storageOptions: {
          authurl: keystone.url,
          authVersion: "3",
          username: keystone.user,
          password: keystone.password,
          projectName: keystone.project,
          regionName: "NoSuchRegion",
        },
      });
      const error = await rejection(store.get("/a"));
      expect(error.message).toMatch(/no public object-store endpoint in region 'NoSuchRegion'/);
    }, 120_000);
  });
});
