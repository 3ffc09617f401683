import { getEventListeners } from "node:events";
import { rmSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { inspect } from "node:util";
import { gzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as zarr from "zarrita";
import { isStoreError, type StoreError } from "../../src/errors.js";
import { HttpStore as PortableHttpStore } from "../../src/index.js";
import { openStore, HttpStore as RootNodeHttpStore } from "../../src/index.node.js";
import { inParallel } from "../../src/lanes.js";
import { openStore as openPortable } from "../../src/open.js";
import { FileSystemStore } from "../../src/stores/fs.js";
import { HttpStore } from "../../src/stores/http.node.js";
import { patternBytes } from "../../src/testing/cases.js";
import { describeConformance } from "../../src/testing/vitest.js";
import { describeLive } from "../support/live.js";
import {
  type FileServer,
  nginxAvailable,
  type RunningServer,
  startFileServer,
  startNginx,
  tempDir,
} from "../support/static-server.js";

const text = (s: string) => new TextEncoder().encode(s);

async function rejection(promise: Promise<unknown>): Promise<StoreError> {
  try {
    await promise;
  } catch (error) {
    if (isStoreError(error)) return error;
    throw new Error(`expected a StoreError, got ${String(error)}`);
  }
  throw new Error("expected a rejection, got a value");
}

// ---- conformance: nginx (read-only, fixtures through FileSystemStore) and the node server (writable)

describeLive("HttpStore over nginx", nginxAvailable, () => {
  const dir = tempDir("http-nginx");
  let nginx: RunningServer;
  beforeAll(async () => {
    nginx = await startNginx(dir);
  });
  afterAll(async () => {
    await nginx?.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  describeConformance("HttpStore (undici) over nginx", () => new HttpStore(nginx.url), {
    tier: "heavy",
    writer: () => new FileSystemStore(dir),
    teardown: (store) => store.close(),
  });
  describeConformance("HttpStore (fetch) over nginx", () => new PortableHttpStore(nginx.url), {
    writer: () => new FileSystemStore(dir),
    teardown: (store) => store.close(),
  });

  it("reads a range of a value nginx serves, with nginx's etag and date", async () => {
    writeFileSync(path.join(dir, "ten"), "0123456789");
    const store = new HttpStore(nginx.url);
    expect(await store.getRange("/ten", { suffixLength: 3 })).toEqual(text("789"));
    const stat = await store.stat("/ten");
    expect(stat?.size).toBe(10);
    expect(stat?.etag).toMatch(/^"[0-9a-f]+-a"$/);
    expect(stat?.lastModified).toBeInstanceOf(Date);
    await store.close();
  });
});

describe("HttpStore over a writable server", () => {
  const dir = tempDir("http-writable");
  let server: FileServer;
  beforeAll(async () => {
    server = await startFileServer(dir, { writable: true });
  });
  afterAll(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  describeConformance(
    "HttpStore (undici) writable",
    () => new HttpStore(server.url, { writable: true, conditionalWrite: true }),
    { teardown: (store) => store.close() },
  );
  describeConformance(
    "HttpStore (fetch) writable",
    () => new PortableHttpStore(server.url, { writable: true, conditionalWrite: true }),
    { teardown: (store) => store.close() },
  );

  it("PUTs, reports the server's etag and DELETEs idempotently", async () => {
    const store = new HttpStore(server.url, { writable: true });
    const { etag } = await store.put("/w/a", text("hello"));
    expect(etag).toMatch(/^"[0-9a-f]{40}"$/);
    expect((await store.stat("/w/a"))?.etag).toBe(etag);
    await store.delete("/w/a");
    await store.delete("/w/a");
    expect(await store.get("/w/a")).toBeUndefined();
    await store.close();
  });

  it("rejects conditional writes unless the server is declared to honour them", async () => {
    const store = new HttpStore(server.url, { writable: true });
    expect(store.capabilities.conditionalWrite).toBe(false);
    const before = server.stats.requests.length;
    const error = await rejection(store.set("/w/c", text("x"), { ifNoneMatch: "*" }));
    expect(error.code).toBe("Unsupported");
    expect(error.message).toContain("conditionalWrite: true");
    expect(server.stats.requests.length).toBe(before);
    await store.close();
  });

  it("cannot list: list, listDir and deletePrefix are Unsupported (InvalidKey first)", async () => {
    const store = new HttpStore(server.url, { writable: true });
    expect(store.capabilities.list).toBe(false);
    expect((await rejection(store.listDir("/a/"))).code).toBe("Unsupported");
    expect((await rejection(store.deletePrefix("/a/"))).code).toBe("Unsupported");
    const iterate = async () => {
      for await (const _ of store.list("/")) break;
    };
    expect((await rejection(iterate())).code).toBe("Unsupported");
    expect((await rejection(store.listDir("/a/../b"))).code).toBe("InvalidKey");
    await store.close();
  });
});

// ---- behaviour special to HTTP, against the node server (with hooks where a fault is needed)

describe("HttpStore", () => {
  const dir = tempDir("http-unit");
  const servers: FileServer[] = [];
  const stores: HttpStore[] = [];
  async function serve(options: Parameters<typeof startFileServer>[1] = {}): Promise<FileServer> {
    const server = await startFileServer(dir, options);
    servers.push(server);
    return server;
  }
  function open(url: string, options: ConstructorParameters<typeof HttpStore>[1] = {}): HttpStore {
    const store = new HttpStore(url, options);
    stores.push(store);
    return store;
  }
  beforeAll(() => {
    writeFileSync(path.join(dir, "ten"), "0123456789");
    writeFileSync(path.join(dir, "big"), patternBytes(32 * 1024 * 1024, 5));
  });
  afterAll(async () => {
    for (const store of stores) await store.close();
    for (const server of servers) await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  describe("URLs", () => {
    it("percent-encodes each key segment and keeps the base's path and query", async () => {
      const server = await serve();
      const base = `${server.url}data/set.zarr?token=abc`;
      const store = open(base);
      await store.get("/a b/c#d?e%f/ü€/x+y");
      await store.get("/plain/0.0");
      const urls = server.stats.requests.map((r) => r.url);
      expect(urls).toEqual([
        "/data/set.zarr/a%20b/c%23d%3Fe%25f/%C3%BC%E2%82%AC/x%2By?token=abc",
        "/data/set.zarr/plain/0.0?token=abc",
      ]);
      expect(store.url).toBe(`${server.url}data/set.zarr/?token=***`);
    });

    it("treats a base with and without a trailing slash alike", async () => {
      const server = await serve();
      await open(`${server.url}x`).get("/k");
      await open(`${server.url}x/`).get("/k");
      expect(server.stats.requests.map((r) => r.url)).toEqual(["/x/k", "/x/k"]);
    });

    it("rejects invalid keys before any request and bad URLs as Config", async () => {
      const server = await serve();
      const store = open(server.url);
      for (const key of ["", "/a//b", "/a/../b", "/a\\b", "/a/"]) {
        expect((await rejection(store.get(key as `/${string}`))).code).toBe("InvalidKey");
      }
      expect((await rejection(store.get("/\ud800" as `/${string}`))).code).toBe("InvalidKey");
      expect(server.stats.requests).toEqual([]);
      expect(() => new HttpStore("ftp://example.org/x")).toThrow(/http:\/\/ or https:\/\//);
      expect(() => new HttpStore("not a url")).toThrow(/is not a URL/);
    });
  });

  describe("credentials", () => {
    it("sends URL user info as Basic auth, and never shows it or header values", async () => {
      const seen: (string | undefined)[] = [];
      const server = await serve({
        intercept(req, res) {
          seen.push(req.headers.authorization);
          res.writeHead(503, { "retry-after": "2" });
          res.end("down");
          return true;
        },
      });
      const withUser = open(server.url.replace("http://", "http://alice:s3cr%C3%A9t@"));
      const withHeader = open(server.url, { headers: { Authorization: "Bearer TOPSECRET" } });
      const errors = [await rejection(withUser.get("/k")), await rejection(withHeader.get("/k"))];
      expect(seen).toEqual([
        `Basic ${Buffer.from("alice:s3crét").toString("base64")}`,
        "Bearer TOPSECRET",
      ]);
      const shown = [
        ...errors.map((e) => `${e.message} ${JSON.stringify(e)} ${inspect(e)}`),
        JSON.stringify(withUser),
        inspect(withUser),
        JSON.stringify(withHeader),
        inspect(withHeader),
        withUser.url,
      ].join("\n");
      expect(shown).not.toMatch(/s3cr|alice|TOPSECRET|YWxpY2/);
      expect(inspect(withHeader)).toContain("authorization");
      expect(errors[0]?.code).toBe("Unavailable");
      expect(errors[0]?.retryable).toBe(true);
      expect(errors[0]?.retryAfterMs).toBe(2000);
    });
  });

  describe("status mapping", () => {
    const cases: [number, string | undefined][] = [
      [404, undefined],
      [410, undefined],
      [401, "Unauthenticated"],
      [403, "PermissionDenied"],
      [500, "Unavailable"],
      [503, "Unavailable"],
      [429, "RateLimited"],
    ];
    it.each(cases)("answers %i with %s from get, getRange and stat", async (status, code) => {
      const server = await serve({
        intercept(_req, res) {
          res.writeHead(status, { "content-type": "text/plain" });
          res.end(`status ${status}`);
          return true;
        },
      });
      const store = open(server.url);
      const calls = [
        () => store.get("/k"),
        () => store.getRange("/k", { offset: 1, length: 2 }),
        () => store.getRange("/k", { suffixLength: 2 }),
        () => store.stat("/k"),
      ];
      for (const call of calls) {
        if (code === undefined) {
          expect(await call()).toBeUndefined();
        } else {
          const error = await rejection(call());
          expect(error.code).toBe(code);
          expect(error.status).toBe(status);
          expect(error.key).toBe("/k");
          expect(error.backend).toBe("HttpStore");
        }
      }
    });

    it("maps a connection reset to a retryable Unavailable, never to undefined", async () => {
      const server = await serve({
        intercept(req) {
          req.socket.destroy();
          return true;
        },
      });
      const error = await rejection(open(server.url).get("/k"));
      expect(error.code).toBe("Unavailable");
      expect(error.retryable).toBe(true);
    });

    it("maps a refused connection to Unavailable", async () => {
      const server = await serve();
      const url = server.url;
      await server.stop();
      servers.splice(servers.indexOf(server), 1);
      const error = await rejection(open(url).get("/k"));
      expect(error.code).toBe("Unavailable");
      expect(error.message).toContain("ECONNREFUSED");
    });

    it("maps a body shorter than Content-Length to a retryable Integrity error", async () => {
      const server = await serve({
        intercept(req, res) {
          res.writeHead(200, { "content-length": 1000 });
          res.write(Buffer.alloc(400, 1));
          setTimeout(() => req.socket.destroy(), 20);
          return true;
        },
      });
      for (const store of [open(server.url), new PortableHttpStore(server.url)]) {
        const error = await rejection(store.get("/k"));
        expect(error.code).toBe("Integrity");
        expect(error.retryable).toBe(true);
        expect(error.message).toContain("truncated");
      }
    });

    it("times out through the signal (Timeout) and aborts (Aborted)", async () => {
      const server = await serve({ intercept: () => true }); // never answers
      const store = open(server.url);
      const timedOut = await rejection(store.get("/k", { signal: AbortSignal.timeout(150) }));
      expect(timedOut.code).toBe("Timeout");
      expect(timedOut.retryable).toBe(true);
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 50);
      const aborted = await rejection(store.get("/k", { signal: controller.signal }));
      expect(aborted.code).toBe("Aborted");
    });

    it("follows redirects", async () => {
      const server = await serve({
        intercept(req, res) {
          if (req.url !== "/moved") return false;
          res.writeHead(301, { location: "/ten" });
          res.end();
          return true;
        },
      });
      for (const store of [open(server.url), new PortableHttpStore(server.url)]) {
        expect(await store.get("/moved")).toEqual(text("0123456789"));
      }
    });

    it("drops credentials on a redirect to another origin, and stops redirect loops", async () => {
      const seen: (string | undefined)[] = [];
      const other = await serve({
        intercept(req, res) {
          seen.push(req.headers.authorization);
          res.writeHead(200, { "content-length": 2 });
          res.end("ok");
          return true;
        },
      });
      const server = await serve({
        intercept(req, res) {
          const target = req.url === "/away" ? `${other.url}x` : "/loop";
          res.writeHead(302, { location: target });
          res.end();
          return true;
        },
      });
      const headers = { authorization: "Bearer only-for-the-first-origin" };
      for (const store of [
        open(server.url, { headers }),
        new PortableHttpStore(server.url, { headers }),
      ]) {
        expect(await store.get("/away")).toEqual(text("ok"));
        const loop = await rejection(store.get("/loop"));
        expect(loop.code).toBe("Unavailable");
        expect(loop.message).toMatch(/redirect/);
      }
      expect(seen).toEqual([undefined, undefined]);
    });

    it("decodes a body the server compressed although asked not to", async () => {
      const server = await serve({
        intercept(_req, res) {
          const body = gzipSync(Buffer.from("compressed hello"));
          res.writeHead(200, { "content-encoding": "gzip", "content-length": body.length });
          res.end(body);
          return true;
        },
      });
      expect(await open(server.url).get("/k")).toEqual(text("compressed hello"));
    });
  });

  describe("ranges", () => {
    it("falls back when suffix ranges are refused, and remembers it", async () => {
      const server = await serve({ ranges: "no-suffix" });
      const store = open(server.url);
      expect(await store.getRange("/ten", { suffixLength: 4 })).toEqual(text("6789"));
      expect(await store.getRange("/ten", { suffixLength: 2 })).toEqual(text("89"));
      expect(await store.getRange("/ten", { suffixLength: 20 })).toEqual(text("0123456789"));
      expect(await store.getRange("/missing", { suffixLength: 2 })).toBeUndefined();
      expect(server.stats.requests.map((r) => `${r.method} ${r.range ?? ""}`)).toEqual([
        "GET bytes=-4",
        "HEAD ",
        "GET bytes=6-9",
        "HEAD ",
        "GET bytes=8-9",
        "HEAD ",
        "GET bytes=0-9",
        "HEAD ",
      ]);
    });

    it("falls back when a suffix range gets 400", async () => {
      const server = await serve({
        intercept(req, res) {
          if (!req.headers.range?.startsWith("bytes=-")) return false;
          res.writeHead(400);
          res.end("bad range");
          return true;
        },
      });
      expect(await open(server.url).getRange("/ten", { suffixLength: 3 })).toEqual(text("789"));
    });

    it("reads only up to the end of the range when the server sends the whole body", async () => {
      const server = await serve({ ranges: "ignore" });
      const store = open(server.url);
      const started = performance.now();
      expect(await store.getRange("/big", { offset: 10, length: 5 })).toEqual(
        patternBytes(32 * 1024 * 1024, 5).subarray(10, 15),
      );
      expect(performance.now() - started).toBeLessThan(2000);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(server.stats.cutShort).toBe(1);
      expect(server.stats.bodyBytesRead).toBeLessThan(8 * 1024 * 1024);
      // HTTP semantics hold over a server that ignores Range
      expect(await store.getRange("/ten", { offset: 7, length: 50 })).toEqual(text("789"));
      expect(await store.getRange("/ten", { suffixLength: 3 })).toEqual(text("789"));
      expect((await rejection(store.getRange("/ten", { offset: 10, length: 1 }))).code).toBe(
        "RangeNotSatisfiable",
      );
      expect(await store.get("/ten")).toEqual(text("0123456789"));
    });

    it("checks that a 206 carries the range asked for", async () => {
      const server = await serve({
        intercept(_req, res) {
          res.writeHead(206, { "content-range": "bytes 0-1/10", "content-length": 2 });
          res.end("01");
          return true;
        },
      });
      const error = await rejection(open(server.url).getRange("/k", { offset: 5, length: 2 }));
      expect(error.code).toBe("Unexpected");
      expect(error.message).toContain("bytes 0-1/10");
    });

    it("rejects bad ranges with Config before any request", async () => {
      const server = await serve();
      const store = open(server.url);
      for (const range of [
        { offset: -1, length: 2 },
        { offset: 0.5, length: 1 },
        { suffixLength: -3 },
      ]) {
        expect((await rejection(store.getRange("/ten", range))).code).toBe("Config");
      }
      expect(server.stats.requests).toEqual([]);
    });
  });

  describe("stat", () => {
    it("falls back to a one-byte GET when HEAD is refused", async () => {
      const server = await serve({
        intercept(req, res) {
          if (req.method !== "HEAD") return false;
          res.writeHead(405, { allow: "GET" });
          res.end();
          return true;
        },
      });
      const store = open(server.url);
      expect((await store.stat("/ten"))?.size).toBe(10);
      expect(await store.stat("/missing")).toBeUndefined();
    });
  });

  describe("read-only by default", () => {
    it("rejects set, put, delete and deletePrefix with ReadOnly before any request", async () => {
      const server = await serve({ writable: true });
      const store = open(server.url);
      expect(store.capabilities.write).toBe(false);
      const calls = [
        () => store.set("/a", text("x")),
        () => store.put("/a", text("x")),
        () => store.delete("/a"),
        () => store.deletePrefix("/a/"),
      ];
      for (const call of calls) expect((await rejection(call())).code).toBe("ReadOnly");
      expect(server.stats.requests).toEqual([]);
    });

    it("declares honest capabilities", () => {
      expect(new HttpStore("http://127.0.0.1:9/").capabilities).toEqual({
        write: false,
        overwrite: false,
        delete: false,
        list: false,
        getRange: true,
        suffixRange: true,
        conditionalWrite: false,
        atomicWrite: false,
        etag: true,
      });
      const writable = new HttpStore("http://127.0.0.1:9/", { writable: true, suffixRange: false });
      expect(writable.capabilities.write && writable.capabilities.delete).toBe(true);
      expect(writable.capabilities.suffixRange).toBe(false);
    });
  });

  describe("connections", () => {
    it.each([
      ["undici", (url: string) => open(url)],
      ["fetch", (url: string) => new PortableHttpStore(url)],
    ])("keeps one connection alive across sequential reads (%s)", async (_name, make) => {
      const server = await serve();
      const store = make(server.url);
      for (let i = 0; i < 50; i++) await store.get(i % 2 ? "/ten" : "/missing");
      expect(server.stats.requests.length).toBe(50);
      // undici opens a second socket for the request right after the first one, then reuses both
      expect(server.stats.connections).toBeLessThanOrEqual(2);
      await store.close();
    });

    it("reads 32 in flight over reused connections", async () => {
      const server = await serve();
      const store = open(server.url);
      const values = await Promise.all(
        Array.from({ length: 200 }, () => store.getRange("/ten", { offset: 3, length: 2 })),
      );
      expect(values.every((v) => v?.[0] === 0x33 && v[1] === 0x34)).toBe(true);
      const limited = open(server.url);
      const before = server.stats.connections;
      const lanes = Array.from({ length: 32 }, async () => {
        for (let i = 0; i < 10; i++) await limited.get("/ten");
      });
      await Promise.all(lanes);
      // 320 requests; without keep-alive there would be 320 connections
      expect(server.stats.connections - before).toBeLessThanOrEqual(80);
    });

    it("refuses requests once closed", async () => {
      const server = await serve();
      const store = new HttpStore(server.url);
      await store.close();
      await store.close();
      expect((await rejection(store.get("/ten"))).message).toContain("closed");
    });
  });

  describe("transports and entries", () => {
    it("uses undici from the Node root and fetch from the portable root", () => {
      expect(new RootNodeHttpStore("http://127.0.0.1:9/").transport).toBe("undici");
      expect(new PortableHttpStore("http://127.0.0.1:9/").transport).toBe("fetch");
    });

    it.each([
      ["fetch", PortableHttpStore],
      ["undici", HttpStore],
    ] as const)(
      "%s puts one listener on a caller's long-lived signal, however many requests use it",
      async (_, Store) => {
        const server = await serve({ writable: true });
        const store = new Store(server.url, { writable: true });
        const copy = new AbortController(); // a copy's or a server's signal, reused by every call
        const warnings: Error[] = [];
        const onWarning = (warning: Error) => warnings.push(warning);
        process.on("warning", onWarning);
        try {
          const keys = Array.from({ length: 400 }, (_, i) => `/k/${i}` as const);
          await inParallel(keys, 32, async (key) => {
            const signal = copy.signal;
            await store.set(key, text(key), { signal });
            expect(await store.get(key, { signal })).toEqual(text(key));
            await store.getRange(key, { offset: 1, length: 2 }, { signal });
            expect(await store.get(`${key}-missing`, { signal })).toBeUndefined();
          });
          expect(getEventListeners(copy.signal, "abort")).toHaveLength(0);
          // A request in flight still stops when the caller's signal fires.
          const pending = store.get("/k/1", { signal: copy.signal });
          copy.abort(new Error("stop"));
          await expect(pending).rejects.toMatchObject({ code: "Aborted" });
        } finally {
          process.off("warning", onWarning);
        }
        expect(warnings.map((w) => w.name)).not.toContain("MaxListenersExceededWarning");
        await store.close();
      },
    );

    it("lets a caller's fetch win on Node", async () => {
      const server = await serve();
      const urls: string[] = [];
      const store = new RootNodeHttpStore(server.url, {
        fetch: (input, init) => {
          urls.push(input);
          return fetch(input, init);
        },
      });
      expect(store.transport).toBe("custom fetch");
      expect(await store.get("/ten")).toEqual(text("0123456789"));
      expect(urls).toEqual([`${server.url}ten`]);
    });

    it("opens http(s) URLs through openStore", async () => {
      const server = await serve();
      const store = await openStore(server.url);
      expect(store).toBeInstanceOf(RootNodeHttpStore);
      expect((store as HttpStore).transport).toBe("undici");
      expect(await store.get("/ten")).toEqual(text("0123456789"));
      await store.close();
      const portable = await openPortable(server.url, { headers: { "x-a": "1" } });
      expect((portable as HttpStore).transport).toBe("fetch");
      await portable.get("/ten");
      await portable.close();
      const secure = await openStore("https://example.org/data.zarr");
      expect(secure.capabilities.write).toBe(false);
      const writable = await openStore(server.url, { readOnly: false });
      expect(writable.capabilities.write).toBe(true);
    });

    it("is read by zarrita as it is", async () => {
      const server = await serve({ writable: true });
      const store = open(server.url, { writable: true });
      const arr = await zarr.create(zarr.root(store).resolve("z"), {
        shape: [3, 4],
        chunkShape: [2, 2],
        dtype: "int32",
      });
      await zarr.set(arr, null, {
        data: Int32Array.from({ length: 12 }, (_, i) => i - 5),
        shape: [3, 4],
        stride: [4, 1],
      });
      const reader = open(server.url);
      const again = await zarr.open(zarr.root(reader).resolve("z"), { kind: "array" });
      const got = await zarr.get(again, [zarr.slice(1, 3), zarr.slice(1, 3)]);
      expect(Array.from(got.data as Int32Array)).toEqual([0, 1, 4, 5]);
    });
  });
});
