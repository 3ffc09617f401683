/**
 * zarrstore/ipld, zarrstore/reference and zarrstore/ipfs are runtime-neutral: bundled for the
 * browser they reach no `node:*` module, and the bundle runs with browser globals only (hashing
 * through WebCrypto) and still produces the README's root CID and CAR.
 */
import { isBuiltin } from "node:module";
import * as path from "node:path";
import { runInNewContext } from "node:vm";
import { build, type Plugin } from "esbuild";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(import.meta.dirname, "../..");

function nodeOnlyImports(found: string[]): Plugin {
  return {
    name: "node-only-imports",
    setup(b) {
      b.onResolve({ filter: /.*/ }, (args) => {
        if (args.path.startsWith("node:") || isBuiltin(args.path) || args.path === "undici") {
          found.push(`${args.path} (from ${path.relative(ROOT, args.importer)})`);
          return { path: args.path, external: true };
        }
        return undefined;
      });
    },
  };
}

async function bundle(entry: string, format: "esm" | "iife", contents?: string) {
  const found: string[] = [];
  const result = await build({
    ...(contents
      ? { stdin: { contents, resolveDir: ROOT, loader: "ts" as const } }
      : { entryPoints: [path.join(ROOT, entry)] }),
    bundle: true,
    write: false,
    platform: "browser",
    format,
    conditions: ["browser"],
    logLevel: "silent",
    plugins: [nodeOnlyImports(found)],
  });
  return { found, code: result.outputFiles[0]?.text ?? "" };
}

describe("IPLD entries in a browser", () => {
  for (const entry of [
    "src/stores/ipld/index.ts",
    "src/stores/reference.ts",
    "src/ipfs/index.ts",
  ]) {
    it(`${entry} bundles without node:* imports`, async () => {
      expect((await bundle(entry, "esm")).found).toEqual([]);
    }, 60_000);
  }

  it("freezes the README dataset to the README root with WebCrypto, no process or Buffer", async () => {
    const { code, found } = await bundle(
      "",
      "iife",
      `import { IPLDStore } from "./src/stores/ipld/index.ts";
       const enc = new TextEncoder();
       globalThis.result = (async () => {
         const s = new IPLDStore();
         await s.set("/.zgroup", enc.encode('{"zarr_format":2}'));
         await s.set("/.zattrs", enc.encode("{}"));
         await s.set("/a/.zarray", enc.encode('{"chunks":[3],"compressor":null,"dtype":"<i8","fill_value":null,"filters":null,"order":"C","shape":[3],"zarr_format":2}'));
         await s.set("/a/.zattrs", enc.encode('{"_ARRAY_DIMENSIONS":["a"]}'));
         await s.set("/a/0", new Uint8Array(new BigInt64Array([1n, 2n, 3n]).buffer));
         const root = String(await s.freeze());
         const car = await s.toCar();
         const copy = await IPLDStore.fromCar(car);
         return { root, car: car.byteLength, copy: String(await copy.freeze()) };
       })();`,
    );
    expect(found).toEqual([]);
    const sandbox: Record<string, unknown> = {
      TextEncoder,
      TextDecoder,
      crypto: globalThis.crypto,
      URL,
      AbortController,
      AbortSignal,
      console,
      btoa,
      atob,
      BigInt64Array,
      Uint8Array,
    };
    sandbox.globalThis = sandbox;
    runInNewContext(code, sandbox);
    const result = (await sandbox.result) as { root: string; car: number; copy: string };
    expect(result).toEqual({
      root: "bafyreidn66mk3fktszrfwayonvpq6y3agtnb5e5o22ivof5tgikbxt7k6u",
      car: 356,
      copy: "bafyreidn66mk3fktszrfwayonvpq6y3agtnb5e5o22ivof5tgikbxt7k6u",
    });
  }, 60_000);
});
