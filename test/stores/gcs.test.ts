import { inspect } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { withRetry } from "../../src/adapters/retry.js";
import { isStoreError, type StoreError } from "../../src/errors.js";
import { listAll } from "../../src/helpers.js";
import { openStore } from "../../src/open.node.js";
import { GcsStore, type GcsStoreOptions } from "../../src/stores/gcs/index.js";
import { undiciTransport } from "../../src/stores/http-transport.node.js";
import { describeConformance } from "../../src/testing/vitest.js";
import { type GcsServer, startGcsServer } from "../support/gcs-server.js";

// Not a real GCS: our loopback server speaks the JSON API request shapes (test/support/gcs-server.ts).
const TOKEN = "ya29.test-token-full";
const READ_TOKEN = "ya29.test-token-read";
const bytes = (text: string) => new TextEncoder().encode(text);

async function failure(promise: Promise<unknown>): Promise<StoreError> {
  try {
    await promise;
  } catch (error) {
    if (isStoreError(error)) return error;
    throw error;
  }
  throw new Error("expected a StoreError, but the call succeeded");
}

function shown(value: unknown): string {
  const error = value as Partial<StoreError>;
  return [
    inspect(value, { depth: 5 }),
    JSON.stringify(value),
    String(value),
    error?.stack ?? "",
  ].join("\n");
}

let server: GcsServer;
const stores: GcsStore[] = [];
const open = (options: Partial<GcsStoreOptions> = {}) => {
  const store = new GcsStore({
    bucket: "zarr-bucket",
    endpoint: server.endpoint,
    token: TOKEN,
    env: {},
    ...options,
  });
  stores.push(store);
  return store;
};

beforeAll(async () => {
  server = await startGcsServer({
    buckets: ["zarr-bucket", "public-bucket", "small-chunks"],
    tokens: [TOKEN],
    readOnlyTokens: [READ_TOKEN],
    publicBuckets: ["public-bucket"],
  });
});
afterAll(async () => {
  for (const store of stores) await store.close();
  await server?.stop();
});

describeConformance(
  "GcsStore (loopback JSON API, undici)",
  () => open({ transport: undiciTransport() }),
  {
    tier: "heavy",
  },
);

// Every value above 256 KiB goes up as a resumable upload in 256 KiB chunks; a prefix too.
describeConformance("GcsStore (resumable uploads, fetch, prefix)", () =>
  open({
    bucket: "small-chunks",
    prefix: "deep/air.zarr",
    resumableThreshold: 1,
    chunkSize: 256 * 1024,
  }),
);

describeConformance(
  "GcsStore anonymous, public bucket (read-only)",
  () => open({ bucket: "public-bucket", token: undefined, anonymous: true, readOnly: true }),
  { writer: () => open({ bucket: "public-bucket" }) },
);

describe("GcsStore request shapes", () => {
  it("uses alt=media with Range, uploadType=media with ifGenerationMatch=0, and generations as etags", async () => {
    const store = open({ prefix: "shapes" });
    server.log.length = 0;
    const { etag } = await store.put("/a/b", bytes("hello"), { ifNoneMatch: "*" });
    expect(await store.getRange("/a/b", { suffixLength: 3 })).toEqual(bytes("llo"));
    const stat = await store.stat("/a/b");
    expect(stat?.etag).toBe(etag);
    expect(stat?.etag).toMatch(/^\d+$/);
    expect(server.log[0]).toMatch(
      /^POST \/upload\/storage\/v1\/b\/zarr-bucket\/o\?uploadType=media&name=shapes%2Fa%2Fb&ifGenerationMatch=0/,
    );
    expect(server.log[1]).toBe("GET /storage/v1/b/zarr-bucket/o/shapes%2Fa%2Fb?alt=media");
    await store.put("/a/b", bytes("again"), { ifMatch: etag });
    expect(server.log.at(-1)).toContain(`ifGenerationMatch=${etag}`);
  });

  it("a non-numeric etag in ifMatch fails with ConditionFailed before any request", async () => {
    const store = open();
    server.log.length = 0;
    const error = await failure(store.set("/x", bytes("x"), { ifMatch: '"abc"' }));
    expect(error.code).toBe("ConditionFailed");
    expect(server.log).toEqual([]);
  });

  it("a resumable upload is invisible until its last chunk and honours its condition at the end", async () => {
    const store = open({ resumableThreshold: 1, chunkSize: 256 * 1024 });
    const value = new Uint8Array(600 * 1024).map((_, i) => i % 253);
    await store.set("/big", value);
    expect(await store.get("/big")).toEqual(value);
    const puts = server.log.filter((line) => line.startsWith("PUT "));
    expect(puts.length).toBeGreaterThanOrEqual(3);
    const error = await failure(store.set("/big", value, { ifNoneMatch: "*" }));
    expect(error.code).toBe("ConditionFailed");
    expect(error.status).toBe(412);
  });

  it("lists past 1,000 names with pageToken, objects and folders merged in order", async () => {
    const store = open({ prefix: "paged" });
    const names = Array.from({ length: 1203 }, (_, i) => `/k/${String(i).padStart(5, "0")}`);
    for (const name of names) await store.set(name as `/${string}`, bytes("1"));
    await store.set("/k/sub/x", bytes("1"));
    server.log.length = 0;
    expect(await listAll(store, "/k/")).toEqual([...names, "/k/sub/x"].sort());
    expect(server.log.filter((line) => line.includes("pageToken=")).length).toBe(1);
    const dir = await store.listDir("/k/");
    expect(dir.keys.length).toBe(1203);
    expect(dir.prefixes).toEqual(["/k/sub/"]);
  });
});

describe("gs:// in openStore", () => {
  it("opens GcsStore over the JSON API when a token is given, with the URL's bucket and prefix", async () => {
    const store = await openStore("gs://zarr-bucket/opened/air.zarr", {
      token: TOKEN,
      endpoint: server.endpoint,
      env: {},
    });
    expect(store).toBeInstanceOf(GcsStore);
    await store.set("/.zgroup", bytes('{"zarr_format":2}'));
    expect(server.buckets.get("zarr-bucket")?.has("opened/air.zarr/.zgroup")).toBe(true);
    await store.close();
  });

  it("opens GcsStore for GOOGLE_OAUTH_ACCESS_TOKEN and for anonymous mode", async () => {
    const fromEnv = await openStore("gs://zarr-bucket", {
      endpoint: server.endpoint,
      env: { GOOGLE_OAUTH_ACCESS_TOKEN: TOKEN },
    });
    const anonymous = await openStore("gs://public-bucket", {
      endpoint: server.endpoint,
      anonymous: true,
      env: {},
    });
    expect(fromEnv).toBeInstanceOf(GcsStore);
    expect(anonymous).toBeInstanceOf(GcsStore);
    expect(JSON.parse(JSON.stringify(anonymous))).toMatchObject({ credential: "anonymous" });
    await fromEnv.close();
    await anonymous.close();
  });
});

describe("GcsStore credentials and faults", () => {
  it("without a token or anonymous mode fails with Config naming GOOGLE_OAUTH_ACCESS_TOKEN", () => {
    expect(() => new GcsStore({ bucket: "zarr-bucket", env: {} })).toThrow(
      expect.objectContaining({
        code: "Config",
        message: expect.stringMatching(/GOOGLE_OAUTH_ACCESS_TOKEN/),
      }),
    );
  });

  it("reads GOOGLE_OAUTH_ACCESS_TOKEN from the environment", async () => {
    const store = open({ token: undefined, env: { GOOGLE_OAUTH_ACCESS_TOKEN: TOKEN } });
    await store.set("/env", bytes("ok"));
    expect(await store.get("/env")).toEqual(bytes("ok"));
  });

  it("a wrong token is Unauthenticated with a hint, and the token never shows", async () => {
    const store = open({ token: "ya29.wrong-secret-token" });
    for (const call of [
      () => store.get("/a"),
      () => store.stat("/a"),
      () => store.set("/a", bytes("x")),
      () => listAll(store),
    ]) {
      const error = await failure(call());
      expect(error.code).toBe("Unauthenticated");
      expect(error.status).toBe(401);
      expect(error.message).toMatch(/print-access-token|tokenProvider/);
      expect(shown(error)).not.toContain("wrong-secret-token");
    }
    expect(shown(store)).not.toContain("wrong-secret-token");
  });

  it("a read-only token reads but writing is PermissionDenied (403)", async () => {
    await open().set("/shared", bytes("yes"));
    const store = open({ token: READ_TOKEN });
    expect(await store.get("/shared")).toEqual(bytes("yes"));
    const error = await failure(store.set("/shared", bytes("no")));
    expect(error.code).toBe("PermissionDenied");
    expect(error.status).toBe(403);
    expect(error.message).toMatch(/storage\.objects\.create/);
  });

  it("anonymous reads of a private bucket are Unauthenticated, not a missing key", async () => {
    const store = open({ token: undefined, anonymous: true });
    const error = await failure(store.get("/shared"));
    expect(error.code).toBe("Unauthenticated");
    expect(error.message).toMatch(/anonymous/);
  });

  it("a missing bucket is NotFound naming the bucket, for reads, stats and listings", async () => {
    const store = open({ bucket: "no-such-bucket" });
    for (const call of [() => store.get("/a"), () => store.stat("/a"), () => listAll(store)]) {
      const error = await failure(call());
      expect(error.code).toBe("NotFound");
      expect(error.message).toMatch(/no-such-bucket/);
    }
  });

  it.each([429, 503] as const)(
    "%i with Retry-After is retryable with the wait; withRetry lands the write",
    async (status) => {
      const store = open();
      server.throttle(1, status, 1);
      const error = await failure(store.set("/t", bytes("x")));
      expect(error.code).toBe(status === 429 ? "RateLimited" : "Unavailable");
      expect(error.retryable).toBe(true);
      expect(error.retryAfterMs).toBe(1000);
      server.throttle(1, status, 1);
      await withRetry(store, { retries: 2, baseDelayMs: 1 }).set("/t", bytes("landed"));
      expect(await store.get("/t")).toEqual(bytes("landed"));
    },
  );

  it("asks the token provider again a minute before expiry", async () => {
    let calls = 0;
    const store = open({
      token: undefined,
      tokenProvider: async () => {
        calls += 1;
        return { token: TOKEN, expiresOn: Date.now() + (calls === 1 ? 30_000 : 3600_000) };
      },
    });
    await store.get("/a");
    await store.get("/a");
    await store.get("/a");
    expect(calls).toBe(2);
  });

  it.each(["ab", "Bucket", "-abc", "abc-", "a b c"])(
    "rejects the bucket name %j with Config",
    (bucket) => {
      expect(() => new GcsStore({ bucket, anonymous: true })).toThrow(
        expect.objectContaining({ code: "Config" }),
      );
    },
  );
});
