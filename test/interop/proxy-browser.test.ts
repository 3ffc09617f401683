/**
 * A browser reads through the proxy across origins: headless Chromium (Debian's) loads a page
 * from one origin, and zarrita in that page reads the sample dataset from the proxy on another,
 * sending the `chunks` header (which takes a CORS preflight) or using the `@chunks=` path form
 * (which does not). The values equal zarrita's own reading of the source.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { build } from "esbuild";
import { type BrowserContext, chromium } from "playwright-core";
import { afterAll, beforeAll, expect, it } from "vitest";
import { FileSystemStore } from "../../src/stores/fs.js";
import { type ProxyServer, readArray, startProxy } from "../proxy/fixtures.js";
import { REPO_ROOT } from "../support/cli.js";
import { describeLive } from "../support/live.js";

const CHROMIUM = "/usr/bin/chromium";
const SAMPLE_AIR = resolve(REPO_ROOT, "sample/air.zarr");
const PATHS = ["air", "lat", "lon", "time", "land"];
const SPEC = "air=7,11,30,lat=10,lon=40";

// What runs in the page: zarrita over the proxy, reporting chunks and values per array.
const PAGE_SCRIPT = `
import * as zarr from "zarrita";
import { createRechunkProxy } from "./src/proxy/index.ts";
import { MemoryStore } from "./src/stores/memory.ts";
async function readAll(store, paths) {
  const out = {};
  for (const path of paths) {
    const array = await zarr.open(zarr.root(store).resolve(path), { kind: "array" });
    const got = await zarr.get(array);
    out[path] = { chunks: array.chunks, values: Array.from(got.data, (v) => (typeof v === "bigint" ? Number(v) : v)) };
  }
  return out;
}
window.readThroughProxy = async (base, spec, paths) => {
  const byHeader = new zarr.FetchStore(base, {
    fetch: (request) => {
      request.headers.set("chunks", spec);
      return fetch(request);
    },
  });
  const byPath = new zarr.FetchStore(base + "/@chunks=" + spec);
  return { header: await readAll(byHeader, paths), path: await readAll(byPath, paths), origin: location.origin };
};
// The proxy itself, in the page: nothing in the handler may need Node.
window.proxyInPage = async () => {
  const store = new MemoryStore();
  const text = (value) => new TextEncoder().encode(JSON.stringify(value));
  await store.set("/a/.zarray", text({ zarr_format: 2, shape: [5, 4], chunks: [2, 4], dtype: "<i4",
    compressor: { id: "zlib", level: 1 }, fill_value: -1, filters: null, order: "C" }));
  for (let i = 0; i < 3; i++) {
    const values = Int32Array.from({ length: 8 }, (_, k) => i * 8 + k);
    const stream = new Blob([values]).stream().pipeThrough(new CompressionStream("deflate"));
    await store.set("/a/" + i + ".0", new Uint8Array(await new Response(stream).arrayBuffer()));
  }
  const proxy = createRechunkProxy({ mounts: { ds: store } });
  const response = await proxy(new Request("http://proxy/ds/a/1.0", { headers: { chunks: "a=3,3" } }));
  return { status: response.status, values: Array.from(new Int32Array(await response.arrayBuffer())) };
};
window.ready = true;
`;

function chromiumAvailable(): true | string {
  return existsSync(CHROMIUM)
    ? true
    : `${CHROMIUM} not found (run scripts/install-deps.sh: chromium)`;
}

describeLive("a browser reads through the proxy across origins", chromiumAvailable, () => {
  let running: ProxyServer;
  let page: Server;
  let pageUrl: string;
  let context: BrowserContext;
  const profile = mkdtempSync(join(tmpdir(), "zs-chromium-"));

  beforeAll(async () => {
    running = await startProxy({
      mounts: { air: new FileSystemStore(SAMPLE_AIR, { readOnly: true }) },
    });
    const bundle = await build({
      stdin: { contents: PAGE_SCRIPT, resolveDir: REPO_ROOT, loader: "ts" },
      bundle: true,
      conditions: ["browser"],
      format: "esm",
      platform: "browser",
      write: false,
      logLevel: "silent",
    });
    const script = bundle.outputFiles[0]?.contents ?? new Uint8Array();
    const html =
      '<!doctype html><meta charset="utf-8"><script type="module" src="/page.js"></script>';
    page = createServer((req, res) => {
      const js = req.url === "/page.js";
      res.writeHead(200, { "content-type": js ? "text/javascript" : "text/html" });
      res.end(js ? script : html);
    });
    await new Promise<void>((done) => page.listen(0, "127.0.0.1", done));
    const address = page.address();
    pageUrl = `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}/`;
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
  }, 60_000);

  afterAll(async () => {
    await context?.close();
    await new Promise<void>((done) => (page ? page.close(() => done()) : done()));
    await running?.stop();
    rmSync(profile, { recursive: true, force: true });
  });

  it("reads the sample with the chunks header (preflighted) and with @chunks=", async () => {
    const tab = await context.newPage();
    await tab.goto(pageUrl);
    await tab.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true);
    const result = (await tab.evaluate(
      ([base, spec, paths]) =>
        (
          window as unknown as {
            readThroughProxy: (b: string, s: string, p: string[]) => Promise<unknown>;
          }
        ).readThroughProxy(base as string, spec as string, paths as string[]),
      [`${running.url}/air`, SPEC, PATHS] as const,
    )) as {
      origin: string;
      header: Record<string, { chunks: number[]; values: number[] }>;
      path: Record<string, { chunks: number[]; values: number[] }>;
    };
    expect(result.origin).not.toBe(new URL(running.url).origin); // truly cross-origin
    const source = new FileSystemStore(SAMPLE_AIR, { readOnly: true });
    for (const path of PATHS) {
      const want = (await readArray(source, path)).values.map((v) =>
        typeof v === "bigint" ? Number(v) : v,
      );
      expect(result.header[path]?.values, `header ${path}`).toEqual(want);
      expect(result.path[path]?.values, `path ${path}`).toEqual(want);
    }
    expect(result.header.air?.chunks).toEqual([7, 11, 30]);
    expect(result.path.lon?.chunks).toEqual([40]);
    // The header form took CORS preflights, which the proxy answered.
    const metrics = await (await fetch(`${running.url}/metrics`)).text();
    expect(metrics).toMatch(
      /zarrstore_proxy_requests_total\{kind="preflight",status="204"\} [1-9]/,
    );
    await tab.close();
  }, 60_000);

  it("runs the proxy handler itself in the page (no Node APIs), zlib through DecompressionStream", async () => {
    const tab = await context.newPage();
    await tab.goto(pageUrl);
    await tab.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true);
    const result = await tab.evaluate(() =>
      (window as unknown as { proxyInPage: () => Promise<unknown> }).proxyInPage(),
    );
    // A [5, 4] array holding 0…19 served in [3, 3] chunks: chunk 1.0 is rows 3–4 (and a row
    // of padding) of columns 0–2.
    expect(result).toEqual({ status: 200, values: [12, 13, 14, 16, 17, 18, -1, -1, -1] });
    await tab.close();
  }, 60_000);
});
