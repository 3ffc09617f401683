/**
 * Guards the runtime-neutral entries: what a browser (or another fetch runtime) loads from
 * `zarrstore` must not reach `node:*`, a Node built-in or undici — lazy imports included.
 * Each entry is bundled with esbuild for `platform: "browser"` from its source, following
 * package.json: every subpath whose browser-facing target (its `browser` condition, else its
 * `default`) is listed as runtime-neutral below.
 */
import { readFileSync } from "node:fs";
import { isBuiltin } from "node:module";
import * as path from "node:path";
import { runInNewContext } from "node:vm";
import { build, type Plugin } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type FileServer, startFileServer, tempDir } from "./support/static-server.js";

const ROOT = path.resolve(import.meta.dirname, "..");
const pkg = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as {
  exports: Record<string, string | Record<string, unknown>>;
};

// Subpaths that must load in a browser: the root, and HTTP's own entry when it has one.
const NEUTRAL_SUBPATHS = [".", "./http"];

/** The source file behind a subpath's browser target (`./dist/x.js` → `src/x.ts`). */
/** The file of a condition's target: a path, or `{types, default}`. */
function fileOf(target: unknown): string | undefined {
  if (typeof target === "string") return target;
  const nested = (target as { default?: unknown } | undefined)?.default;
  return typeof nested === "string" ? nested : undefined;
}

function browserSource(subpath: string): string | undefined {
  const entry = pkg.exports[subpath];
  if (entry === undefined) return undefined;
  const target = typeof entry === "string" ? entry : fileOf(entry.browser ?? entry.default);
  if (typeof target !== "string") return undefined;
  return path.join(ROOT, target.replace(/^\.\/dist\//, "src/").replace(/\.js$/, ".ts"));
}

/** Records every import that a browser could not load. */
function nodeOnlyImports(found: { path: string; importer: string }[]): Plugin {
  return {
    name: "node-only-imports",
    setup(b) {
      b.onResolve({ filter: /.*/ }, (args) => {
        const bare = args.path.split("/")[0] ?? args.path;
        if (args.path.startsWith("node:") || isBuiltin(args.path) || bare === "undici") {
          found.push({ path: args.path, importer: path.relative(ROOT, args.importer) });
          return { path: args.path, external: true };
        }
        return undefined;
      });
    },
  };
}

async function bundle(entry: string, format: "esm" | "iife") {
  const found: { path: string; importer: string }[] = [];
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    write: false,
    platform: "browser",
    format,
    globalName: "zarrstore",
    conditions: ["browser"],
    logLevel: "silent",
    plugins: [nodeOnlyImports(found)],
  });
  return { found, code: result.outputFiles[0]?.text ?? "" };
}

describe("runtime-neutral entries", () => {
  for (const subpath of NEUTRAL_SUBPATHS) {
    const source = browserSource(subpath);
    it.skipIf(source === undefined)(
      `${subpath} bundles for the browser without node:* or undici`,
      async () => {
        const { found } = await bundle(source as string, "esm");
        expect(found).toEqual([]);
      },
      60_000,
    );
  }

  it("the root's browser and node targets differ, and both exist as sources", () => {
    const root = pkg.exports["."] as Record<string, unknown>;
    expect(fileOf(root.browser)).toBe("./dist/index.js");
    expect(fileOf(root.node)).toBe("./dist/index.node.js");
    expect(browserSource(".")).toBe(path.join(ROOT, "src/index.ts"));
  });

  describe("the browser bundle runs with browser globals only", () => {
    const dir = tempDir("neutral");
    let server: FileServer;
    beforeAll(async () => {
      server = await startFileServer(dir);
      const { writeFileSync } = await import("node:fs");
      writeFileSync(path.join(dir, "value"), "hello from a browser");
    });
    afterAll(async () => {
      await server?.stop();
    });

    it("evaluates without process, Buffer or require and reads over HTTP with fetch", async () => {
      const { code } = await bundle(path.join(ROOT, "src/index.ts"), "iife");
      // What a browser page has; no process, Buffer, require, module or global.
      const sandbox: Record<string, unknown> = {
        fetch,
        Request,
        Response,
        Headers,
        URL,
        URLSearchParams,
        AbortController,
        AbortSignal,
        TextEncoder,
        TextDecoder,
        ReadableStream,
        DOMException,
        Blob,
        crypto: globalThis.crypto,
        performance,
        console,
        btoa,
        atob,
        setTimeout,
        clearTimeout,
        queueMicrotask,
        structuredClone,
      };
      sandbox.globalThis = sandbox;
      sandbox.self = sandbox;
      runInNewContext(code, sandbox);
      const lib = sandbox.zarrstore as {
        HttpStore: new (
          url: string,
        ) => { transport: string; get(key: string): Promise<Uint8Array | undefined> };
      };
      const store = new lib.HttpStore(server.url);
      expect(store.transport).toBe("fetch");
      const value = await store.get("/value");
      expect(new TextDecoder().decode(value)).toBe("hello from a browser");
      expect(await store.get("/missing")).toBeUndefined();
    }, 60_000);
  });
});
