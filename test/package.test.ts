/**
 * The published package, as a user gets it: build, `npm pack`, install the tarball into a fresh
 * project, import every subpath in package.json `exports` that has a built file, check the
 * browser/node condition switch, run the `zarrstore` bin, and type-check an importing .ts file
 * with `tsc`.
 *
 * The build goes to a staging folder (not the shared dist/) with `--noCheck`: type errors are
 * the type-check step's business (scripts/test.sh runs `tsc --noEmit` first); this test is about
 * what gets packed and whether it resolves. The tarball is unpacked into the project the way
 * npm installs it, with our installed dependencies linked in (see `installTarball`).
 */
import { execFile, spawnSync } from "node:child_process";
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ROOT = path.resolve(import.meta.dirname, "..");
const TSC = path.join(ROOT, "node_modules/typescript/bin/tsc");
const execFileAsync = promisify(execFile);

interface PackageJson {
  name: string;
  bin?: Record<string, string>;
  files?: string[];
  exports: Record<string, ExportTarget>;
}
type ExportTarget = string | { [condition: string]: ExportTarget };

const pkg = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as PackageJson;

/** The file Node loads for a subpath under the given conditions (first match, in key order). */
function resolveTarget(target: ExportTarget, conditions: string[]): string | undefined {
  if (typeof target === "string") return target;
  for (const [condition, inner] of Object.entries(target)) {
    if (condition === "default" || conditions.includes(condition)) {
      const found = resolveTarget(inner, conditions);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

/**
 * Runs a command and returns its stdout; rejects with both outputs on failure. Asynchronous, so
 * vitest's worker stays responsive during the minute a build and an install can take here.
 */
async function run(
  command: string,
  args: string[],
  cwd: string,
  timeout = 180_000,
): Promise<string> {
  try {
    const { stdout } = await execFileAsync(command, args, {
      cwd,
      encoding: "utf8",
      timeout,
      maxBuffer: 64 * 1024 * 1024,
      env: { ...process.env, npm_config_update_notifier: "false", npm_config_fund: "false" },
    });
    return stdout;
  } catch (error) {
    const {
      stdout = "",
      stderr = "",
      code,
    } = error as { stdout?: string; stderr?: string; code?: unknown };
    throw new Error(`${command} ${args.join(" ")} failed (${String(code)}):\n${stdout}\n${stderr}`);
  }
}

// Subpaths that only load inside a running test runner (vitest refuses to be imported outside).
const RUNNER_ONLY = ["./testing/vitest"];

/**
 * Installs the tarball the way npm lays it out (its `package/` folder as
 * node_modules/zarrstore, bins linked in node_modules/.bin) with its declared `dependencies`
 * linked to the copies installed here, and no optional dependency: `npm install` spends 30–60 s
 * resolving the optional Helia/libp2p tree on this machine, and leaving optional dependencies
 * out also proves every subpath loads without them. A package the built code imports but
 * package.json does not declare is not found (the consumer lives outside this repository).
 */
async function installTarball(tarball: string, project: string): Promise<void> {
  const target = path.join(project, "node_modules", pkg.name);
  mkdirSync(target, { recursive: true });
  await run("tar", ["-xzf", tarball, "-C", target, "--strip-components=1"], project);
  const installed = JSON.parse(readFileSync(path.join(target, "package.json"), "utf8")) as {
    dependencies?: Record<string, string>;
  };
  for (const name of Object.keys(installed.dependencies ?? {})) lend(project, name);
  const bins = path.join(project, "node_modules/.bin");
  mkdirSync(bins, { recursive: true });
  for (const [name, file] of Object.entries(pkg.bin ?? {})) {
    symlinkSync(path.join("..", pkg.name, file), path.join(bins, name));
  }
}

/** Links one of our installed packages into the consumer, as if it had installed it itself. */
function lend(project: string, name: string): void {
  const target = path.join(project, "node_modules", name);
  if (existsSync(target)) return;
  mkdirSync(path.dirname(target), { recursive: true });
  symlinkSync(path.join(ROOT, "node_modules", name), target, "dir");
}

/** Subpaths whose module is a .js file (not package.json), by the specifier a user writes. */
const SUBPATHS = Object.keys(pkg.exports)
  .filter((subpath) => subpath !== "./package.json")
  .map((subpath) => ({
    subpath,
    specifier: subpath === "." ? pkg.name : `${pkg.name}/${subpath.slice(2)}`,
    nodeFile: resolveTarget(pkg.exports[subpath] as ExportTarget, ["node", "import"]),
  }));

describe("npm package", () => {
  const work = mkdtempSync(path.join(tmpdir(), "zs-package-"));
  const staging = path.join(work, "staging");
  const consumer = path.join(work, "consumer");
  let built: typeof SUBPATHS = [];
  let missing: string[] = [];

  beforeAll(async () => {
    // Stage what `files` publishes, then build into the staging dist/.
    mkdirSync(staging, { recursive: true });
    cpSync(path.join(ROOT, "package.json"), path.join(staging, "package.json"));
    for (const entry of pkg.files ?? []) {
      const from = path.join(ROOT, entry);
      if (entry !== "dist" && existsSync(from))
        cpSync(from, path.join(staging, entry), { recursive: true });
    }
    await run(
      process.execPath,
      [TSC, "-p", "tsconfig.build.json", "--outDir", path.join(staging, "dist"), "--noCheck"],
      ROOT,
    );
    const packed = JSON.parse(
      await run("npm", ["pack", "--json", "--ignore-scripts", "--pack-destination", work], staging),
    ) as { filename: string }[];
    const tarball = path.join(work, packed[0]?.filename ?? "");

    mkdirSync(consumer, { recursive: true });
    writeFileSync(
      path.join(consumer, "package.json"),
      JSON.stringify({ name: "consumer", private: true, type: "module" }),
    );
    await installTarball(tarball, consumer);
    // zarrstore/testing/vitest needs vitest, an optional peer a test suite brings; lend ours.
    lend(consumer, "vitest");
    built = SUBPATHS.filter(
      (s) => s.nodeFile !== undefined && existsSync(path.join(staging, s.nodeFile)),
    );
    missing = SUBPATHS.filter((s) => !built.includes(s)).map((s) => s.subpath);
    if (missing.length > 0) {
      console.warn(`package test: no built file yet for ${missing.join(", ")} (skipped)`);
    }
  }, 300_000);

  afterAll(() => {
    rmSync(work, { recursive: true, force: true });
  });

  it("packs dist, bin and the README, and no sources or tests", () => {
    const installed = path.join(consumer, "node_modules", pkg.name);
    expect(existsSync(path.join(installed, "dist/index.js"))).toBe(true);
    expect(existsSync(path.join(installed, "dist/index.d.ts"))).toBe(true);
    expect(existsSync(path.join(installed, "src"))).toBe(false);
    expect(existsSync(path.join(installed, "test"))).toBe(false);
    for (const bin of Object.values(pkg.bin ?? {})) {
      expect(existsSync(path.join(installed, bin))).toBe(true);
    }
  });

  it("imports every built subpath in Node", async () => {
    expect(built.map((s) => s.subpath)).toContain(".");
    const script = `
      import { existsSync } from "node:fs";
      import { fileURLToPath } from "node:url";
      const results = {};
      for (const specifier of ${JSON.stringify(built.map((s) => s.specifier))}) {
        try {
          if (${JSON.stringify(RUNNER_ONLY.map((s) => `${pkg.name}/${s.slice(2)}`))}.includes(specifier)) {
            // Loads only inside its test runner: resolve it, and let tsc check its types.
            const file = fileURLToPath(import.meta.resolve(specifier));
            results[specifier] = existsSync(file) ? "ok" : "missing " + file;
            continue;
          }
          const m = await import(specifier);
          results[specifier] = Object.keys(m).length > 0 ? "ok" : "no exports";
        } catch (error) {
          results[specifier] = String(error && error.stack || error);
        }
      }
      console.log(JSON.stringify(results));
    `;
    const out = await run(process.execPath, ["--input-type=module", "-e", script], consumer);
    const results = JSON.parse(out.trim().split("\n").pop() ?? "{}") as Record<string, string>;
    const failed = Object.entries(results).filter(([, status]) => status !== "ok");
    expect(failed).toEqual([]);
    expect(Object.keys(results).length).toBe(built.length);
  });

  it("gives Node undici and the browser condition fetch", async () => {
    const script = `
      import { HttpStore } from "zarrstore";
      console.log(new HttpStore("http://127.0.0.1:9/").transport);
    `;
    const node = await run(process.execPath, ["--input-type=module", "-e", script], consumer);
    const browser = await run(
      process.execPath,
      ["--conditions=browser", "--input-type=module", "-e", script],
      consumer,
    );
    expect(node.trim()).toBe("undici");
    expect(browser.trim()).toBe("fetch");
  });

  it.skipIf(!pkg.bin?.zarrstore)("runs the zarrstore bin", () => {
    const result = spawnSync(path.join(consumer, "node_modules/.bin/zarrstore"), ["--help"], {
      encoding: "utf8",
    });
    expect(result.status).toBe(0);
    expect(result.stdout).toContain("usage: zarrstore");
  });

  it("type-checks a TypeScript file that imports every built subpath", async () => {
    const lines = built.map((s, i) => `import * as m${i} from ${JSON.stringify(s.specifier)};`);
    lines.push(
      `import { HttpStore, MemoryStore, NODE_SCHEMES, type Store, StoreError, openStore, undiciTransport } from "zarrstore";`,
      `const stores: Store[] = [new MemoryStore(), new HttpStore("https://example.org/x.zarr", { headers: { a: "b" }, transport: undiciTransport() })];`,
      `const code: StoreError["code"] = "NotFound";`,
      // The Node entry's own exports must type for a Node project, not only exist at run time.
      `export const used = [${built.map((_, i) => `m${i}`).join(", ")}, stores, code, openStore, NODE_SCHEMES];`,
    );
    writeFileSync(path.join(consumer, "check.ts"), `${lines.join("\n")}\n`);
    writeFileSync(
      path.join(consumer, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          target: "ES2022",
          module: "NodeNext",
          moduleResolution: "NodeNext",
          lib: ["ES2023", "DOM"],
          strict: true,
          noEmit: true,
          types: ["node"],
          // Third-party typings (numcodecs, icechunk) do not all check cleanly; ours are
          // still resolved and every import above must type.
          skipLibCheck: true,
        },
        files: ["check.ts"],
      }),
    );
    // A Node project brings its own @types/node; lend it ours.
    lend(consumer, "@types/node");
    await run(process.execPath, [TSC, "-p", "tsconfig.json"], consumer);
  });
});
