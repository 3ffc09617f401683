import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { inspect } from "node:util";
import { request as undiciRequest } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as zarr from "zarrita";
import { withRetry } from "../../src/adapters/retry.js";
import { isStoreError, type StoreError } from "../../src/errors.js";
import { listAll } from "../../src/helpers.js";
import { inParallel } from "../../src/lanes.js";
import { batchBody, boundaryOf, parseBatchResponse } from "../../src/stores/azure/batch.js";
import { stringToSign } from "../../src/stores/azure/client.js";
import { resolveTarget } from "../../src/stores/azure/env.js";
import {
  AzureBlobStore,
  type AzureBlobStoreOptions,
  generateAccountSas,
  parseAzureUrl,
  parseConnectionString,
} from "../../src/stores/azure/index.js";
import { parseListPage } from "../../src/stores/azure/list.js";
import type { HttpTransport } from "../../src/stores/http-transport.js";
import { undiciTransport } from "../../src/stores/http-transport.node.js";
import { describeConformance } from "../../src/testing/vitest.js";
import { type AzuriteServer, azuriteAvailable, startAzurite } from "../support/azurite.js";
import { describeLive } from "../support/live.js";

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

/** Every way a store or an error could show a secret to a user. */
function shown(value: unknown): string {
  const error = value as Partial<StoreError>;
  return [
    inspect(value, { depth: 5 }),
    JSON.stringify(value),
    String(value),
    error?.message ?? "",
    error?.stack ?? "",
  ].join("\n");
}

describe("Azure connection strings, URLs and environment", () => {
  const key = "a2V5LWJ5dGVzLWZvci10ZXN0aW5nLW9ubHk=";

  it.each([
    [
      "account and key with the default suffix",
      `DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=${key};EndpointSuffix=core.windows.net`,
      { account: "acct", accountKey: key, endpoint: "https://acct.blob.core.windows.net" },
    ],
    [
      "a sovereign cloud suffix and http",
      `DefaultEndpointsProtocol=http;AccountName=acct;AccountKey=${key};EndpointSuffix=core.chinacloudapi.cn`,
      { account: "acct", accountKey: key, endpoint: "http://acct.blob.core.chinacloudapi.cn" },
    ],
    [
      "an explicit BlobEndpoint with a SAS",
      "BlobEndpoint=https://acct.blob.core.windows.net/;SharedAccessSignature=sv=2021-08-06&sig=abc%3D",
      {
        account: "acct",
        sasToken: "sv=2021-08-06&sig=abc%3D",
        endpoint: "https://acct.blob.core.windows.net",
      },
    ],
    [
      "Azurite's development storage",
      "UseDevelopmentStorage=true",
      { account: "devstoreaccount1", endpoint: "http://127.0.0.1:10000/devstoreaccount1" },
    ],
    [
      "a path-style BlobEndpoint names the account in its path",
      `BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;AccountKey=${key}`,
      { account: "devstoreaccount1", endpoint: "http://127.0.0.1:10000/devstoreaccount1" },
    ],
    [
      "names are case-insensitive and spaces around parts are ignored",
      ` accountname=acct ; ACCOUNTKEY=${key} ;`,
      { account: "acct", accountKey: key, endpoint: "https://acct.blob.core.windows.net" },
    ],
  ])("parses %s", (_name, text, expected) => {
    expect(parseConnectionString(text)).toMatchObject(expected);
  });

  it("rejects a connection string part without '=' with Config", () => {
    expect(() => parseConnectionString("AccountName=acct;garbage")).toThrow(
      expect.objectContaining({ code: "Config" }),
    );
  });

  it.each([
    ["az://data/air.zarr", { container: "data", prefix: "air.zarr", account: undefined }],
    ["az://data", { container: "data", prefix: "", account: undefined }],
    ["abfs://data/a/b/", { container: "data", prefix: "a/b", account: undefined }],
    [
      "abfss://data@acct.dfs.core.windows.net/air.zarr",
      { container: "data", prefix: "air.zarr", account: "acct" },
    ],
    ["az://data@acct.blob.core.windows.net/x", { container: "data", prefix: "x", account: "acct" }],
  ])("parses the URL %s", (url, expected) => {
    expect(parseAzureUrl(url)).toEqual(expected);
  });

  it("rejects a URL without a container", () => {
    expect(() => parseAzureUrl("az:///x")).toThrow(expect.objectContaining({ code: "Config" }));
  });

  it("reads AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY, then AZURE_STORAGE_SAS_TOKEN", () => {
    expect(
      resolveTarget({ env: { AZURE_STORAGE_ACCOUNT: "acct", AZURE_STORAGE_KEY: key } }),
    ).toEqual({
      account: "acct",
      endpoint: "https://acct.blob.core.windows.net",
      credential: { accountKey: key },
    });
    expect(
      resolveTarget({
        env: { AZURE_STORAGE_ACCOUNT: "acct", AZURE_STORAGE_SAS_TOKEN: "?sv=1&sig=2" },
      }).credential,
    ).toEqual({ sasToken: "?sv=1&sig=2" });
    // The connection string wins over the separate variables.
    expect(
      resolveTarget({
        env: {
          AZURE_STORAGE_CONNECTION_STRING: "UseDevelopmentStorage=true",
          AZURE_STORAGE_ACCOUNT: "other",
        },
      }).account,
    ).toBe("devstoreaccount1");
  });

  it("without any credential fails with Config naming the variables, before any request", () => {
    const error = (() => {
      try {
        new AzureBlobStore({ account: "acct", container: "data", env: {} });
      } catch (e) {
        return e as StoreError;
      }
      throw new Error("constructed without a credential");
    })();
    expect(error.code).toBe("Config");
    expect(error.message).toMatch(/AZURE_STORAGE_CONNECTION_STRING/);
    expect(error.message).toMatch(/anonymous/);
  });

  it.each(["ab", "Data", "a--b", "-ab", "ab-", "a_b", "x".repeat(64)])(
    "rejects the container name %j with Config",
    (container) => {
      expect(
        () => new AzureBlobStore({ account: "acct", container, credential: { anonymous: true } }),
      ).toThrow(expect.objectContaining({ code: "Config" }));
    },
  );

  it("builds the documented Shared Key string-to-sign (empty Content-Length for 0, sorted x-ms- headers, sorted query)", () => {
    const text = stringToSign(
      "myaccount",
      "GET",
      "/mycontainer",
      { restype: "container", comp: "list", prefix: "a b", marker: undefined },
      { "x-ms-version": "2021-08-06", "x-ms-date": "Sun, 11 Oct 2009 21:49:13 GMT" },
      0,
    );
    expect(text).toBe(
      [
        "GET",
        ...Array(11).fill(""),
        "x-ms-date:Sun, 11 Oct 2009 21:49:13 GMT",
        "x-ms-version:2021-08-06",
        "/myaccount/mycontainer\ncomp:list\nprefix:a b\nrestype:container",
      ].join("\n"),
    );
  });

  it("builds Blob Batch bodies and reads their answers by Content-ID", () => {
    const body = batchBody("batch_b", ["DELETE /c/x HTTP/1.1\r\n", "DELETE /c/y HTTP/1.1\r\n"]);
    expect(body).toBe(
      "--batch_b\r\ncontent-type: application/http\r\ncontent-transfer-encoding: binary\r\ncontent-id: 0\r\n\r\nDELETE /c/x HTTP/1.1\r\n\r\n" +
        "--batch_b\r\ncontent-type: application/http\r\ncontent-transfer-encoding: binary\r\ncontent-id: 1\r\n\r\nDELETE /c/y HTTP/1.1\r\n\r\n" +
        "--batch_b--\r\n",
    );
    expect(boundaryOf("multipart/mixed; boundary=batchresponse_66925647")).toBe(
      "batchresponse_66925647",
    );
    expect(boundaryOf('multipart/mixed; boundary="q_1"')).toBe("q_1");
    expect(boundaryOf("application/xml")).toBeUndefined();
    const answer =
      "--r\r\nContent-Type: application/http\r\nContent-ID: 0\r\n\r\nHTTP/1.1 202 Accepted\r\nx-ms-delete-type-permanent: true\r\n\r\n" +
      "--r\r\nContent-Type: application/http\r\nContent-ID: 1\r\n\r\nHTTP/1.1 403 Forbidden\r\nx-ms-error-code: AuthorizationPermissionMismatch\r\n\r\n" +
      "--r--";
    expect(parseBatchResponse(answer, "r")).toEqual([
      { id: 0, status: 202, errorCode: undefined },
      { id: 1, status: 403, errorCode: "AuthorizationPermissionMismatch" },
    ]);
    const refused =
      "--r\r\nContent-Type: application/http\r\n\r\nHTTP/1.1 400 One of the request inputs is not valid.\r\nx-ms-error-code: InvalidInput\r\n\r\n--r--";
    expect(parseBatchResponse(refused, "r")).toEqual([
      { id: undefined, status: 400, errorCode: "InvalidInput" },
    ]);
  });

  it("reads list pages: entities, Encoded names, folders and the next marker", () => {
    const page = parseListPage(
      `<?xml version="1.0" encoding="utf-8"?><EnumerationResults><Blobs>` +
        `<Blob><Name>a &amp; b</Name><Properties><Content-Length>3</Content-Length><Etag>"0x1"</Etag></Properties></Blob>` +
        `<Blob><Name Encoded="true">odd%01name</Name><Properties><Content-Length>0</Content-Length></Properties></Blob>` +
        `<BlobPrefix><Name>dir/</Name></BlobPrefix></Blobs><NextMarker>2!abc</NextMarker></EnumerationResults>`,
    );
    expect(page.entries).toEqual([
      { kind: "object", name: "a & b", size: 3, etag: "0x1" },
      { kind: "object", name: "odd\u0001name", size: 0, etag: undefined },
      { kind: "prefix", name: "dir/" },
    ]);
    expect(page.nextMarker).toBe("2!abc");
    expect(
      parseListPage("<EnumerationResults><Blobs /><NextMarker /></EnumerationResults>"),
    ).toEqual({
      entries: [],
      nextMarker: undefined,
    });
  });
});

describeLive("AzureBlobStore against Azurite", azuriteAvailable, () => {
  let azurite: AzuriteServer;
  const stores: AzureBlobStore[] = [];
  const open = (options: Partial<AzureBlobStoreOptions> = {}) => {
    const store = new AzureBlobStore({
      container: "zarr",
      endpoint: azurite.endpoint,
      credential: { accountKey: azurite.key },
      env: {},
      ...options,
    });
    stores.push(store);
    return store;
  };

  const deleteContainer = async (container: string) => {
    const sas = await generateAccountSas({
      account: azurite.account,
      accountKey: azurite.key,
      expiresOn: new Date(Date.now() + 600_000),
    });
    const response = await fetch(`${azurite.endpoint}/${container}?restype=container&${sas}`, {
      method: "DELETE",
    });
    await response.body?.cancel();
    if (response.status !== 202) throw new Error(`Delete Container answered ${response.status}`);
  };

  beforeAll(async () => {
    azurite = await startAzurite();
  });
  afterAll(async () => {
    for (const store of stores) await store.close();
    await azurite?.stop();
  });

  // Azurite finds a blob by scanning all it holds, so deleting 20,000 blobs one by one takes
  // minutes (about 270 s here); dropping the container removes them in a single scan.
  describeConformance(
    "AzureBlobStore (Shared Key, undici)",
    () => open({ container: "heavy", transport: undiciTransport() }),
    { tier: "heavy", cleanup: () => deleteContainer("heavy") },
  );

  // Small limits send every value above 1 KiB through Put Block / Put Block List.
  describeConformance("AzureBlobStore (staged blocks, fetch, prefix)", () =>
    open({ container: "blocks", prefix: "deep/store.zarr", singlePutLimit: 1024, blockSize: 700 }),
  );

  describeConformance("AzureBlobStore (account SAS)", async () =>
    open({
      container: "sas",
      credential: {
        sasToken: await generateAccountSas({
          account: azurite.account,
          accountKey: azurite.key,
          expiresOn: new Date(Date.now() + 3600_000),
        }),
      },
    }),
  );

  describe("behaviour", () => {
    it("keeps a prefix: /foo/.zgroup is the blob prefix/foo/.zgroup and nothing outside lists", async () => {
      const whole = open({ container: "prefixed" });
      const inner = open({ container: "prefixed", prefix: "zarr-demo" });
      await inner.set("/foo/.zgroup", bytes('{"zarr_format":2}'));
      await whole.set("/zarr-demo-other/x", bytes("outside"));
      expect(await listAll(whole)).toEqual(["/zarr-demo-other/x", "/zarr-demo/foo/.zgroup"]);
      expect(await listAll(inner)).toEqual(["/foo/.zgroup"]);
      expect(await inner.listDir("/")).toEqual({ keys: [], prefixes: ["/foo/"] });
    });

    it("creates a missing container on the first write, and reports it as NotFound when createContainer is false", async () => {
      const strict = open({ container: "not-there", createContainer: false });
      const error = await failure(strict.set("/a", bytes("x")));
      expect(error.code).toBe("NotFound");
      expect(error.message).toMatch(
        /container 'not-there' does not exist in account 'devstoreaccount1'/,
      );

      const readError = await failure(strict.get("/a"));
      expect(readError.code).toBe("NotFound");
      expect(readError.message).toMatch(/not-there/);
      await expect(strict.delete("/a")).resolves.toBeUndefined();

      const eager = open({ container: "created-on-write" });
      await eager.set("/a", bytes("x"));
      expect(await eager.get("/a")).toEqual(bytes("x"));
    });

    it("returns the etag of a write and uses it for compare-and-swap, also through staged blocks", async () => {
      const store = open({ container: "cas", singlePutLimit: 10, blockSize: 4 });
      const first = await store.put("/k", bytes("a value over ten bytes"));
      expect(first.etag).toBe((await store.stat("/k"))?.etag);
      const second = await store.put("/k", bytes("another long value"), { ifMatch: first.etag });
      const stale = await failure(store.put("/k", bytes("lost update!"), { ifMatch: first.etag }));
      expect(stale.code).toBe("ConditionFailed");
      expect(stale.status).toBe(412);
      expect(await store.get("/k")).toEqual(bytes("another long value"));
      expect(second.etag).not.toBe(first.etag);
    });

    it("deletePrefix deletes in Blob Batch requests of at most 256 with Shared Key, blob by blob with a SAS", async () => {
      const sent: string[] = [];
      const counting = (): HttpTransport => {
        const inner = undiciTransport();
        return {
          name: "counting",
          request(request) {
            sent.push(`${request.method} ${new URL(request.url).searchParams.get("comp") ?? ""}`);
            return inner.request(request);
          },
          close: () => inner.close(),
        };
      };
      const sas = await generateAccountSas({
        account: azurite.account,
        accountKey: azurite.key,
        expiresOn: new Date(Date.now() + 3600_000),
      });
      for (const [container, credential, batches, deletes] of [
        ["batch-key", { accountKey: azurite.key }, 2, 0],
        ["batch-sas", { sasToken: sas }, 0, 300],
      ] as const) {
        const store = open({ container, credential, transport: counting() });
        const names = Array.from({ length: 300 }, (_, i) => `/a/c/${i}` as const);
        await inParallel(names, 16, (name) => store.set(name, bytes("1")));
        await store.set("/ab", bytes("kept"));
        sent.length = 0;
        await store.deletePrefix("/a");
        expect(await listAll(store, "/")).toEqual(["/ab"]);
        expect(sent.filter((line) => line === "POST batch")).toHaveLength(batches);
        expect(sent.filter((line) => line.startsWith("DELETE"))).toHaveLength(deletes);
      }
    });

    it("deletePrefix through a batch reports a blob it could not delete (a leased one) by its key", async () => {
      const store = open({ container: "leased" });
      for (const name of ["/d/1", "/d/2", "/d/3"] as const) await store.set(name, bytes("1"));
      const sas = await generateAccountSas({
        account: azurite.account,
        accountKey: azurite.key,
        expiresOn: new Date(Date.now() + 600_000),
      });
      const lease = await fetch(`${azurite.endpoint}/leased/d/2?comp=lease&${sas}`, {
        method: "PUT",
        headers: {
          "x-ms-lease-action": "acquire",
          "x-ms-lease-duration": "-1",
          "x-ms-version": "2021-08-06",
        },
      });
      await lease.body?.cancel();
      expect(lease.status).toBe(201);
      const error = await failure(store.deletePrefix("/d"));
      expect(error.key).toBe("/d/2");
      expect(error.status).toBe(412);
      expect(error.message).toMatch(/LeaseIdMissing|lease/i);
      expect(await listAll(store, "/")).toEqual(["/d/2"]);
    });

    it("deletePrefix deletes one by one the blobs a batch answer leaves out", async () => {
      const inner = undiciTransport();
      const deletes: string[] = [];
      const transport: HttpTransport = {
        name: "short answers",
        async request(request) {
          if (request.method === "DELETE") deletes.push(new URL(request.url).pathname);
          const response = await inner.request(request);
          if (!request.url.includes("comp=batch")) return response;
          // Keep the answers for the first three sub-requests only, as a cut-short reply would.
          const text = new TextDecoder().decode(await response.read());
          const boundary =
            /boundary=([^;]+)/.exec(response.header("content-type") ?? "")?.[1] ?? "";
          const parts = text.split(`--${boundary}`);
          const kept = [parts[0], ...parts.slice(1, 4)].join(`--${boundary}`) + `--${boundary}--`;
          return {
            status: response.status,
            header: (name) => response.header(name),
            read: async () => new TextEncoder().encode(kept),
            discard: async () => {},
          };
        },
        close: () => inner.close(),
      };
      const store = open({ container: "partial", transport });
      const names = Array.from({ length: 8 }, (_, i) => `/p/${i}` as const);
      for (const name of names) await store.set(name, bytes("1"));
      await store.deletePrefix("/p");
      expect(await listAll(store, "/")).toEqual([]);
      expect(deletes).toHaveLength(5);
    });

    it("deletePrefix falls back to one delete per blob where batches are refused", async () => {
      const inner = undiciTransport();
      let batches = 0;
      const transport: HttpTransport = {
        name: "no batches",
        request(request) {
          if (request.url.includes("comp=batch")) {
            batches++;
            // A server without Blob Batch: the request is not understood.
            return inner.request({
              ...request,
              url: request.url.replace("comp=batch", "comp=nobatch"),
            });
          }
          return inner.request(request);
        },
        close: () => inner.close(),
      };
      const store = open({ container: "nobatch", transport });
      for (const name of ["/x/1", "/x/2", "/x/3", "/y"] as const) await store.set(name, bytes("1"));
      await store.deletePrefix("/x");
      expect(await listAll(store, "/")).toEqual(["/y"]);
      await store.set("/x/4", bytes("1"));
      await store.deletePrefix("/x");
      expect(await listAll(store, "/")).toEqual(["/y"]);
      expect(batches).toBe(1); // asked once, then remembered
      await store.close();
    });

    it("zarrita writes and reads a v3 array through az-style prefixes", async () => {
      const store = open({ container: "zarrita", prefix: "air.zarr" });
      const arr = await zarr.create(store, {
        shape: [6, 4],
        chunkShape: [3, 2],
        dtype: "float32",
      });
      const data = Float32Array.from({ length: 24 }, (_, i) => i / 2);
      await zarr.set(arr, null, { data, shape: [6, 4], stride: [4, 1] });
      const reopened = await zarr.open(open({ container: "zarrita", prefix: "air.zarr" }), {
        kind: "array",
      });
      expect(Array.from((await zarr.get(reopened)).data as Float32Array)).toEqual(Array.from(data));
    });
  });

  describe("bad credentials and faults", () => {
    it("a wrong account key is Unauthenticated, names the variables to check and never shows the key", async () => {
      const good = open({ container: "auth" });
      await good.set("/a", bytes("x"));
      const wrongKey = btoa("not the account key, but valid base64!!");
      const store = open({ container: "auth", credential: { accountKey: wrongKey } });
      for (const call of [
        () => store.get("/a"),
        () => store.stat("/a"),
        () => store.set("/b", bytes("y")),
        () => listAll(store),
      ]) {
        const error = await failure(call());
        expect(error.code).toBe("Unauthenticated");
        expect(error.retryable).toBe(false);
        expect(error.message).toMatch(/AZURE_STORAGE_KEY/);
        expect(shown(error)).not.toContain(wrongKey);
        expect(shown(error)).not.toContain(azurite.key);
      }
      expect(shown(store)).not.toContain(wrongKey);
      expect(JSON.parse(JSON.stringify(store))).toMatchObject({ credential: "sharedKey" });
    });

    it("an account key that is not base64 is a Config error", async () => {
      const store = open({ credential: { accountKey: "not base64 at all!" } });
      const error = await failure(store.get("/a"));
      expect(error.code).toBe("Config");
      expect(error.message).toMatch(/not valid base64/);
      expect(shown(error)).not.toContain("not base64 at all!");
    });

    it("an expired SAS is Unauthenticated and says to generate a new one; its signature is never shown", async () => {
      const sas = await generateAccountSas({
        account: azurite.account,
        accountKey: azurite.key,
        startsOn: new Date(Date.now() - 7200_000),
        expiresOn: new Date(Date.now() - 3600_000),
      });
      const signature = decodeURIComponent(/sig=([^&]+)/.exec(sas)?.[1] ?? "");
      const store = open({ container: "auth", credential: { sasToken: sas } });
      const error = await failure(store.get("/a"));
      expect(error.code).toBe("Unauthenticated");
      expect(error.message).toMatch(/expired/);
      for (const text of [shown(error), shown(store)]) {
        expect(text).not.toContain(signature);
        expect(text).not.toContain(encodeURIComponent(signature));
      }
    });

    it("a read-only SAS reads but a write is PermissionDenied (403) naming the missing permission", async () => {
      const sas = await generateAccountSas({
        account: azurite.account,
        accountKey: azurite.key,
        expiresOn: new Date(Date.now() + 3600_000),
        permissions: "rl",
      });
      const good = open({ container: "auth" });
      await good.set("/readable", bytes("yes"));
      const store = open({ container: "auth", credential: { sasToken: sas } });
      expect(await store.get("/readable")).toEqual(bytes("yes"));
      expect(await listAll(store)).toContain("/readable");
      const error = await failure(store.set("/nope", bytes("x")));
      expect(error.code).toBe("PermissionDenied");
      expect(error.status).toBe(403);
      expect(error.message).toMatch(/permission/);
      expect(await good.get("/nope")).toBeUndefined();
    });

    it("anonymous access to a private container is an error, not a missing key", async () => {
      const store = open({ container: "auth", credential: { anonymous: true } });
      const error = await failure(store.get("/readable"));
      expect(["Unauthenticated", "PermissionDenied", "NotFound"]).toContain(error.code);
      expect(error.message).toMatch(/anonymous/);
    });

    it("503 ServerBusy with Retry-After is RateLimited and retryable; withRetry waits and lands the write", async () => {
      const throttle = await startThrottle(azurite.port, 2);
      try {
        const endpoint = `http://127.0.0.1:${throttle.port}/${azurite.account}`;
        const store = open({ container: "throttled", endpoint });
        const error = await failure(store.set("/a", bytes("x")));
        expect(error.code).toBe("RateLimited");
        expect(error.retryable).toBe(true);
        expect(error.status).toBe(503);
        expect(error.retryAfterMs).toBe(1000);
        expect(error.message).toMatch(/throttled/);
        const retrying = withRetry(store, { retries: 3, baseDelayMs: 1, maxDelayMs: 2000 });
        const started = Date.now();
        await retrying.set("/a", bytes("landed"));
        expect(Date.now() - started).toBeGreaterThanOrEqual(900);
        expect(await store.get("/a")).toEqual(bytes("landed"));
        expect(throttle.throttled).toBe(2);
      } finally {
        await throttle.stop();
      }
    });

    it("the bearer provider is asked once, cached until a minute before expiry, and its token never shown", async () => {
      const seen: string[] = [];
      const server = await startRecorder((request, response) => {
        seen.push(request.headers.authorization ?? "");
        response.writeHead(200, { "content-length": "2", etag: '"0x1"' }).end("ok");
      });
      let calls = 0;
      try {
        const store = open({
          account: "acct",
          endpoint: `http://127.0.0.1:${server.port}/acct`,
          credential: {
            tokenProvider: async () => {
              calls += 1;
              // The first token is about to expire, so the next call asks again.
              return calls === 1
                ? { token: "secret-token-1", expiresOn: Date.now() + 30_000 }
                : { token: "secret-token-2", expiresOn: Date.now() + 3600_000 };
            },
          },
        });
        expect(await store.get("/a")).toEqual(bytes("ok"));
        expect(await store.get("/a")).toEqual(bytes("ok"));
        expect(await store.get("/a")).toEqual(bytes("ok"));
        expect(seen).toEqual([
          "Bearer secret-token-1",
          "Bearer secret-token-2",
          "Bearer secret-token-2",
        ]);
        expect(calls).toBe(2);
        expect(shown(store)).not.toContain("secret-token");
      } finally {
        await server.stop();
      }
    });
  });
});

interface TestServer {
  port: number;
  stop(): Promise<void>;
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as AddressInfo).port;
}

async function startRecorder(
  handler: (request: IncomingMessage, response: ServerResponse) => void,
): Promise<TestServer> {
  const server = createServer(handler);
  const port = await listen(server);
  return { port, stop: () => new Promise((resolve) => server.close(() => resolve())) };
}

/** A proxy in front of Azurite that answers the first `count` requests as a throttled account does. */
async function startThrottle(
  upstreamPort: number,
  count: number,
): Promise<TestServer & { readonly throttled: number }> {
  let throttled = 0;
  const server = createServer(async (request, response) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    if (throttled < count) {
      throttled += 1;
      const body =
        '<?xml version="1.0" encoding="utf-8"?><Error><Code>ServerBusy</Code><Message>The server is busy.</Message></Error>';
      response
        .writeHead(503, {
          "x-ms-error-code": "ServerBusy",
          "retry-after": "1",
          "content-type": "application/xml",
          "content-length": String(Buffer.byteLength(body)),
        })
        .end(body);
      return;
    }
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(request.headers)) {
      if (typeof value === "string" && name !== "host" && name !== "connection")
        headers[name] = value;
    }
    try {
      const upstream = await undiciRequest(`http://127.0.0.1:${upstreamPort}${request.url}`, {
        method: (request.method ?? "GET") as "GET",
        headers,
        ...(chunks.length > 0 ? { body: Buffer.concat(chunks) } : {}),
      });
      const body = Buffer.from(await upstream.body.arrayBuffer());
      const out: Record<string, string> = {};
      for (const [name, value] of Object.entries(upstream.headers)) {
        if (typeof value === "string" && name !== "transfer-encoding" && name !== "connection") {
          out[name] = value;
        }
      }
      response.writeHead(upstream.statusCode, out).end(body);
    } catch (error) {
      response.writeHead(502).end(String(error));
    }
  });
  const port = await listen(server);
  return {
    port,
    get throttled() {
      return throttled;
    },
    stop: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
