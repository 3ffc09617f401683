/**
 * Our stores in headless Chromium: a page bundled with esbuild from src (zarrita and our
 * fetch-based stores, `browser` condition) reads the air sample bit-exactly from (a) a static
 * file server, (b) the local Swift through SwiftStore with a token and through a public
 * container (plain HttpStore, no token), (c) the same data over Swift's S3 API with S3Store
 * signing requests in the page (WebCrypto), and (e) an IPLD dataset through a trustless
 * gateway; it writes arrays through S3Store and SwiftStore that Node then reads back. Every
 * server is on another origin than the page, so CORS is exercised throughout. (The proxy with a
 * `chunks` override across origins is test/interop/proxy-browser.test.ts.)
 */
import { resolve } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import * as zarr from "zarrita";
import { listAll } from "../../src/helpers.js";
import { createGatewayHandler } from "../../src/ipfs/gateway.js";
import { type HandlerServer, serveHandler } from "../../src/ipfs/serve.node.js";
import type { Store } from "../../src/store.js";
import { FileSystemStore } from "../../src/stores/fs.js";
import { IPLDStore, MappingCAStore } from "../../src/stores/ipld/index.js";
import { SwiftStore, setPublic } from "../../src/stores/swift/index.js";
import {
  type Browser,
  bundlePage,
  chromiumAvailable,
  launchBrowser,
  type PageServer,
  servePage,
} from "../support/browser.js";
import { REPO_ROOT } from "../support/cli.js";
import { describeLive } from "../support/live.js";
import { type FileServer, startFileServer } from "../support/static-server.js";
import { type SwiftServer, startSwift, swiftAvailable, swiftToken } from "../support/swift.js";

const SAMPLE = resolve(REPO_ROOT, "sample/air.zarr");
const PATHS = ["air", "lat", "lon", "time", "land"];

// What runs in the page.
const PAGE_SCRIPT = `
import * as zarr from "zarrita";
import { HttpStore } from "./src/stores/http.ts";
import { S3Store } from "./src/stores/s3/index.ts";
import { SwiftStore } from "./src/stores/swift/index.ts";
import { GatewayCAStore, IPLDStore } from "./src/stores/ipld/index.ts";

function base64(data) {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(text);
}
async function readAll(store, paths) {
  const out = {};
  for (const path of paths) {
    const array = await zarr.open(zarr.root(store).resolve(path), { kind: "array" });
    const got = await zarr.get(array);
    out[path] = { shape: got.shape, dtype: array.dtype, bytes: base64(got.data) };
  }
  return out;
}
const stores = {
  http: (o) => new HttpStore(o.url),
  swift: (o) => new SwiftStore({ container: o.container, prefix: o.prefix,
    storageOptions: { preauthurl: o.storageUrl, preauthtoken: o.token } }),
  s3: (o) => new S3Store({ bucket: o.bucket, prefix: o.prefix, endpoint: o.endpoint, region: "us-east-1",
    forcePathStyle: true, credentials: o.credentials, env: {} }),
  ipld: (o) => IPLDStore.fromRoot(o.root, new GatewayCAStore(o.gateway)),
};
window.readWith = async (kind, options, paths) => {
  const store = await stores[kind](options);
  try { return await readAll(store, paths); } finally { await store.close(); }
};
// Writes a v3 int32 array (two chunk rows, a partial edge) and a raw object with put's etag.
window.writeWith = async (kind, options) => {
  const store = await stores[kind](options);
  try {
    const array = await zarr.create(zarr.root(store).resolve("written"), {
      shape: [6, 8], chunkShape: [3, 4], dtype: "int32", attributes: { from: "browser" } });
    const data = Int32Array.from({ length: 48 }, (_, i) => i * 7 - 40);
    await zarr.set(array, null, { data, shape: [6, 8], stride: [8, 1] });
    const { etag } = await store.put("/raw.bin", new Uint8Array([1, 2, 3, 250]));
    let refused = "";
    try { await store.set("/raw.bin", new Uint8Array([9]), { ifNoneMatch: "*" }); } catch (e) { refused = e.code; }
    return { etag, refused };
  } finally { await store.close(); }
};
window.ready = true;
`;

type Read = Record<string, { shape: number[]; dtype: string; bytes: string }>;

async function readInNode(store: zarr.Readable, paths: string[]): Promise<Read> {
  const out: Read = {};
  for (const path of paths) {
    const array = await zarr.open(zarr.root(store).resolve(path), { kind: "array" });
    const got = await zarr.get(array);
    const data = got.data as unknown as ArrayBufferView;
    out[path] = {
      shape: got.shape,
      dtype: array.dtype,
      bytes: Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString("base64"),
    };
  }
  return out;
}

async function copyAll(from: Store, to: Store): Promise<number> {
  let n = 0;
  for (const key of await listAll(from, "/")) {
    await to.set(key, (await from.get(key)) as Uint8Array);
    n++;
  }
  return n;
}

function both(): true | string {
  const chromium = chromiumAvailable();
  if (chromium !== true) return chromium;
  return swiftAvailable();
}

describeLive("zarrstore in a browser: reads and writes across origins", both, () => {
  const source = new FileSystemStore(SAMPLE, { readOnly: true });
  let want: Read;
  let swift: SwiftServer;
  let files: FileServer;
  let gateway: HandlerServer;
  let ipldRoot: string;
  let page: PageServer;
  let browser: Browser;
  let token: string;
  let storageUrl: string;

  const call = async (fn: "readWith" | "writeWith", kind: string, options: unknown) => {
    const tab = await browser.open(page.url, true);
    try {
      return await tab.evaluate(
        ([f, k, o, p]) =>
          (window as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[
            f as string
          ]?.(k, o, p),
        [fn, kind, options, PATHS] as const,
      );
    } finally {
      await tab.close();
    }
  };

  beforeAll(async () => {
    const [started, script] = await Promise.all([startSwift(), bundlePage(PAGE_SCRIPT)]);
    swift = started;
    page = await servePage(script);
    want = await readInNode(source, PATHS);
    // (a) a static server that allows any origin.
    files = await startFileServer(SAMPLE, {
      intercept: (req, res) => {
        res.setHeader("access-control-allow-origin", "*");
        if (req.method !== "OPTIONS") return false;
        res.writeHead(204, {
          "access-control-allow-methods": "GET, HEAD",
          "access-control-allow-headers": "range",
        });
        res.end();
        return true;
      },
    });
    // (b, c) the sample in a private and a public container; S3 sees containers as buckets.
    ({ token, storageUrl } = await swiftToken(swift));
    const storageOptions = { preauthurl: storageUrl, preauthtoken: token };
    for (const container of ["private", "public"]) {
      const store = new SwiftStore({ container, prefix: "air.zarr", storageOptions });
      expect(await copyAll(source, store)).toBeGreaterThan(10);
      if (container === "public") await setPublic(store, true);
    }
    // (e) the sample as an IPLD DAG behind a trustless gateway.
    const blocks = new MappingCAStore();
    const ipld = new IPLDStore(blocks);
    await copyAll(source, ipld);
    ipldRoot = String(await ipld.freeze());
    gateway = await serveHandler(createGatewayHandler(blocks));
    browser = await launchBrowser();
  }, 90_000);

  afterAll(async () => {
    await browser?.close();
    await page?.close();
    await files?.stop();
    await gateway?.close();
    await swift?.stop();
  }, 60_000);

  it("(a) reads from a static server with HttpStore", async () => {
    expect(await call("readWith", "http", { url: files.url })).toEqual(want);
  }, 30_000);

  it("(b) reads from Swift through SwiftStore with a token, and from a public container without one", async () => {
    const opts = { storageUrl, token, container: "private", prefix: "air.zarr" };
    expect(await call("readWith", "swift", opts)).toEqual(want);
    expect(await call("readWith", "http", { url: `${storageUrl}/public/air.zarr` })).toEqual(want);
    // Without the token the private container is refused: the store reports it, not "missing".
    const anonymous = await fetch(`${storageUrl}/private/air.zarr/.zgroup`);
    expect(anonymous.status).toBe(401);
  }, 30_000);

  it("(c) reads over Swift's S3 API with S3Store signing in the page", async () => {
    const opts = {
      endpoint: swift.s3Endpoint,
      bucket: "private",
      prefix: "air.zarr",
      credentials: { accessKeyId: swift.user, secretAccessKey: swift.key },
    };
    expect(await call("readWith", "s3", opts)).toEqual(want);
  }, 30_000);

  it("(e) reads an IPLD dataset through a gateway, every block verified", async () => {
    expect(await call("readWith", "ipld", { root: ipldRoot, gateway: gateway.url })).toEqual(want);
  }, 30_000);

  for (const kind of ["s3", "swift"] as const) {
    it(`writes through ${kind === "s3" ? "S3Store" : "SwiftStore"}; Node reads the array back`, async () => {
      const container = `written-${kind}`;
      const storageOptions = { preauthurl: storageUrl, preauthtoken: token };
      // The container exists first (a browser store writes objects, it does not make buckets).
      await new SwiftStore({ container, storageOptions }).set("/.keep", new Uint8Array());
      const opts =
        kind === "s3"
          ? {
              endpoint: swift.s3Endpoint,
              bucket: container,
              prefix: "ds",
              credentials: { accessKeyId: swift.user, secretAccessKey: swift.key },
            }
          : { storageUrl, token, container, prefix: "ds" };
      const result = (await call("writeWith", kind, opts)) as {
        etag?: string;
        refused: string;
      };
      expect(result.etag).toMatch(/^"?[0-9a-f]{32}"?$/); // Swift's MD5 of the object
      const back = new SwiftStore({ container, prefix: "ds", storageOptions });
      expect((await listAll(back, "/written/")).sort()).toEqual([
        "/written/c/0/0",
        "/written/c/0/1",
        "/written/c/1/0",
        "/written/c/1/1",
        "/written/zarr.json",
      ]);
      if (kind === "swift") expect(result.refused).toBe("ConditionFailed");
      expect(await back.get("/raw.bin")).toEqual(new Uint8Array([1, 2, 3, 250]));
      const array = await zarr.open(zarr.root(back).resolve("written"), { kind: "array" });
      expect(array.attrs).toEqual({ from: "browser" });
      const got = await zarr.get(array);
      expect(Array.from(got.data as Int32Array)).toEqual(
        Array.from({ length: 48 }, (_, i) => i * 7 - 40),
      );
    }, 30_000);
  }
});
