/**
 * Browser bundles: the root export and each fetch-based subpath (HTTP, S3, Swift, IPLD over a
 * gateway, the proxy's handler) are bundled with esbuild for `platform: "browser"` under the
 * `browser` condition, minified. A bundle fails the test when it reaches `node:*`, a Node
 * built-in or undici, or when it outgrows its stated budget (minified bytes, see README).
 */
import { isBuiltin } from "node:module";
import * as path from "node:path";
import { gzipSync } from "node:zlib";
import { build, type Plugin } from "esbuild";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(import.meta.dirname, "..");
const KB = 1024;

/** Entry → minified size budget. Budgets leave ~20% room over what the entries weigh today. */
const ENTRIES: { name: string; source: string; budget: number }[] = [
  { name: "zarrstore (root)", source: "src/index.ts", budget: 330 * KB },
  { name: "zarrstore/http", source: "src/stores/http.ts", budget: 24 * KB },
  { name: "zarrstore/s3", source: "src/stores/s3/index.ts", budget: 48 * KB },
  { name: "zarrstore/swift", source: "src/stores/swift/index.ts", budget: 48 * KB },
  {
    name: "zarrstore/ipld (gateway path)",
    source: `export { IPLDStore, GatewayCAStore } from "./src/stores/ipld/index.ts";`,
    budget: 100 * KB,
  },
  { name: "zarrstore/ipfs (gateway handler)", source: "src/ipfs/index.ts", budget: 80 * KB },
  // The handler bundles numcodecs' WebAssembly codecs (inlined), which is most of its weight.
  { name: "zarrstore/proxy (handler)", source: "src/proxy/index.ts", budget: 2 * KB * KB },
];

function nodeOnlyImports(found: string[]): Plugin {
  return {
    name: "node-only-imports",
    setup(b) {
      b.onResolve({ filter: /.*/ }, (args) => {
        const bare = args.path.split("/")[0] ?? args.path;
        if (args.path.startsWith("node:") || isBuiltin(args.path) || bare === "undici") {
          found.push(`${args.path} (from ${path.relative(ROOT, args.importer)})`);
          return { path: args.path, external: true };
        }
        return undefined;
      });
    },
  };
}

async function bundle(source: string) {
  const found: string[] = [];
  const inline = source.includes(" ");
  const result = await build({
    ...(inline
      ? { stdin: { contents: source, resolveDir: ROOT, loader: "ts" as const } }
      : { entryPoints: [path.join(ROOT, source)] }),
    bundle: true,
    write: false,
    minify: true,
    platform: "browser",
    format: "esm",
    conditions: ["browser"],
    logLevel: "silent",
    plugins: [nodeOnlyImports(found)],
  });
  const bytes = result.outputFiles[0]?.contents ?? new Uint8Array();
  return { found, bytes };
}

describe("browser bundles", () => {
  for (const entry of ENTRIES) {
    it(`${entry.name} bundles for the browser, no node:*, within ${Math.round(entry.budget / KB)} KiB`, async () => {
      const { found, bytes } = await bundle(entry.source);
      expect(found, "Node-only imports").toEqual([]);
      expect(bytes.byteLength).toBeGreaterThan(0);
      expect(
        bytes.byteLength,
        `${entry.name}: ${bytes.byteLength} B minified (${gzipSync(bytes).byteLength} B gzip)`,
      ).toBeLessThanOrEqual(entry.budget);
    }, 60_000);
  }

  it("fails on a Node-only import (the guard itself works)", async () => {
    const { found } = await bundle(
      `import { readFile } from "node:fs/promises"; export { readFile };`,
    );
    expect(found).toEqual(["node:fs/promises (from <stdin>)"]);
  });
});
