/**
 * Headless Chromium for browser tests: Debian's /usr/bin/chromium driven by playwright-core,
 * no sandbox, no GPU, no background networking, a fresh profile that `close()` removes.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "esbuild";
import { type BrowserContext, chromium, type Page } from "playwright-core";
import { REPO_ROOT } from "./cli.js";

export const CHROMIUM = "/usr/bin/chromium";

/** For describeLive: true when Chromium is installed, else why not. */
export function chromiumAvailable(): true | string {
  return existsSync(CHROMIUM)
    ? true
    : `${CHROMIUM} not found (run scripts/install-deps.sh: chromium)`;
}

export interface Browser {
  context: BrowserContext;
  /** A new tab at `url`; when `ready` is given, waits until `window.ready === true`. */
  open(url: string, ready?: boolean): Promise<Page>;
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), "zs-chromium-"));
  let context: BrowserContext;
  try {
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
  } catch (error) {
    rmSync(profile, { recursive: true, force: true });
    throw error;
  }
  return {
    context,
    async open(url, ready = false) {
      const page = await context.newPage();
      await page.goto(url);
      if (ready) {
        await page.waitForFunction(() => (window as unknown as { ready?: boolean }).ready === true);
      }
      return page;
    },
    async close() {
      await context.close().catch(() => undefined);
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Bundles page code (TypeScript importing from src, and zarrita) for the browser with esbuild. */
export async function bundlePage(contents: string): Promise<Uint8Array> {
  const result = await build({
    stdin: { contents, resolveDir: REPO_ROOT, loader: "ts" },
    bundle: true,
    conditions: ["browser"],
    format: "esm",
    platform: "browser",
    write: false,
    logLevel: "silent",
  });
  return result.outputFiles[0]?.contents ?? new Uint8Array();
}

export interface PageServer {
  url: string;
  close(): Promise<void>;
}

/** Serves a page that loads `script` as a module, on its own origin (127.0.0.1, a free port). */
export async function servePage(script: Uint8Array): Promise<PageServer> {
  const html =
    '<!doctype html><meta charset="utf-8"><script type="module" src="/page.js"></script>';
  const server: Server = createServer((req, res) => {
    const js = req.url === "/page.js";
    res.writeHead(200, { "content-type": js ? "text/javascript" : "text/html" });
    res.end(js ? script : html);
  });
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}/`,
    close: () => new Promise<void>((done) => server.close(() => done())),
  };
}
