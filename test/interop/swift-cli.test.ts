/**
 * SwiftStore with the tools a Swift user already has: the seed notebook end to end (zarrita
 * writes through SwiftStore, the `swift` CLI lists and downloads, Python's zarr 2 reads), the
 * reverse (xarray writes, `swift upload`, SwiftStore + zarrita read bit-exactly), and the
 * `zarrstore swift token|public` commands used by the `swift` CLI and anonymous readers.
 */
import { execFile } from "node:child_process";
import { readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, expect, it } from "vitest";
import * as zarr from "zarrita";
import { setJson } from "../../src/helpers.js";
import { HttpStore } from "../../src/stores/http.node.js";
import { SwiftStore } from "../../src/stores/swift/index.js";
import { runCli } from "../support/cli.js";
import { describeLive } from "../support/live.js";
import { pythonZarrAvailable, runPython } from "../support/python.js";
import { tempDir } from "../support/static-server.js";
import { type SwiftServer, startSwift, swiftAvailable } from "../support/swift.js";

const run = promisify(execFile);
let swift: SwiftServer;
let work: string;

/** The `swift` CLI (python3-swiftclient) with v1 credentials, or extra environment. */
async function swiftCli(
  args: string[],
  env: Record<string, string> = {},
  cwd = work,
): Promise<string> {
  const auth = { ST_AUTH: swift.authUrl, ST_USER: swift.user, ST_KEY: swift.key };
  const { stdout } = await run("swift", args, {
    cwd,
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: work,
      ...(Object.keys(env).length ? env : auth),
    },
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  return stdout;
}

function filesUnder(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const full = join(dir, name);
      if (statSync(full).isDirectory()) walk(full);
      else out.push(relative(root, full));
    }
  };
  walk(root);
  return out.sort();
}

function available(): true | string {
  const swiftOk = swiftAvailable();
  if (swiftOk !== true) return swiftOk;
  return pythonZarrAvailable();
}

describeLive("SwiftStore with the swift CLI, Python zarr 2 and xarray", available, () => {
  beforeAll(async () => {
    swift = await startSwift();
    work = tempDir("swift-interop");
  }, 120_000);
  afterAll(async () => {
    await swift?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const auth = () => ({ authurl: swift.authUrl, user: swift.user, key: swift.key });

  it("the seed notebook: zarrita writes through SwiftStore, `swift list` shows it, zarr 2 reads a `swift download`", async () => {
    const store = new SwiftStore({
      container: "demo",
      prefix: "zarr-demo",
      storageOptions: auth(),
    });
    // zarr.group(store, overwrite=True); root.zeros('foo/bar', shape=(100, 100), chunks=(50, 50), dtype='i4')
    await setJson(store, "/.zgroup", { zarr_format: 2 });
    await setJson(store, "/foo/.zgroup", { zarr_format: 2 });
    await setJson(store, "/foo/bar/.zarray", {
      zarr_format: 2,
      shape: [100, 100],
      chunks: [50, 50],
      dtype: "<i4",
      compressor: null,
      fill_value: 0,
      filters: null,
      order: "C",
    });
    // z[:] = 42
    const bar = await zarr.open.v2(zarr.root(store).resolve("foo/bar"), { kind: "array" });
    await zarr.set(bar, null, 42);
    const head = await zarr.get(bar, [zarr.slice(0, 5), zarr.slice(0, 5)]);
    expect(Array.from(head.data as Int32Array)).toEqual(new Array(25).fill(42));
    expect(await store.listDir("/")).toEqual({ keys: ["/.zgroup"], prefixes: ["/foo/"] });
    const keys: string[] = [];
    for await (const key of store.list()) keys.push(key);
    expect(keys.sort()).toEqual([
      "/.zgroup",
      "/foo/.zgroup",
      "/foo/bar/.zarray",
      "/foo/bar/0.0",
      "/foo/bar/0.1",
      "/foo/bar/1.0",
      "/foo/bar/1.1",
    ]);

    // ! swift list demo
    expect((await swiftCli(["list", "demo"])).trim().split("\n")).toEqual([
      "zarr-demo/.zgroup",
      "zarr-demo/foo/.zgroup",
      "zarr-demo/foo/bar/.zarray",
      "zarr-demo/foo/bar/0.0",
      "zarr-demo/foo/bar/0.1",
      "zarr-demo/foo/bar/1.0",
      "zarr-demo/foo/bar/1.1",
    ]);

    const download = join(work, "download");
    await swiftCli(["download", "demo", "--prefix", "zarr-demo/", "--output-dir", download]);
    const out = runPython(
      `import sys, zarr, numpy as np
g = zarr.open_group(sys.argv[1], mode="r")
z = g["foo/bar"]
a = z[:]
print(z.shape, z.chunks, z.dtype, int(a.min()), int(a.max()), sorted(g.group_keys()))`,
      [join(download, "zarr-demo")],
    );
    expect(out.trim()).toBe("(100, 100) (50, 50) int32 42 42 ['foo']");
  }, 120_000);

  it("the reverse: xarray writes with consolidated metadata, `swift upload`, SwiftStore + zarrita read bit-exactly", async () => {
    const local = join(work, "xarray-demo");
    // The seed's dataset, with values we can compare (xarray picks the chunks and Blosc).
    runPython(
      `import sys, numpy as np, xarray as xr
rng = np.random.default_rng(7)
ds = xr.Dataset({"foo": (("x", "y"), rng.random((4, 5)))},
                coords={"x": [10, 20, 30, 40], "y": [1, 2, 3, 4, 5]})
ds.to_zarr(sys.argv[1], mode="w", consolidated=True)
open(sys.argv[1] + ".foo.bin", "wb").write(ds.foo.values.astype("<f8").tobytes())`,
      [local],
    );
    await swiftCli(["upload", "demo", "xarray-demo"], {}, work);
    const store = new SwiftStore({
      container: "demo",
      prefix: "xarray-demo",
      storageOptions: auth(),
      readOnly: true,
    });
    const files = filesUnder(local);
    const keys: string[] = [];
    for await (const key of store.list()) keys.push(key);
    expect(keys.sort()).toEqual(files.map((f) => `/${f}`));
    expect(await store.listDir("/")).toEqual({
      keys: ["/.zattrs", "/.zgroup", "/.zmetadata"],
      prefixes: ["/foo/", "/x/", "/y/"],
    });
    for (const file of files) {
      const value = await store.get(`/${file}`);
      expect(Buffer.compare(value as Uint8Array, readFileSync(join(local, file))), file).toBe(0);
    }
    const foo = await zarr.open.v2(zarr.root(store).resolve("foo"), { kind: "array" });
    const got = await zarr.get(foo);
    expect(got.shape).toEqual([4, 5]);
    const expected = readFileSync(`${local}.foo.bin`);
    expect(Buffer.compare(Buffer.from((got.data as Float64Array).buffer), expected)).toBe(0);
    const x = await zarr.get(await zarr.open.v2(zarr.root(store).resolve("x"), { kind: "array" }));
    expect(Array.from(x.data as BigInt64Array, Number)).toEqual([10, 20, 30, 40]);
  }, 120_000);

  it("`zarrstore swift token` prints exports that the swift CLI accepts, and the expiry", async () => {
    const env = { ST_AUTH: swift.authUrl, ST_USER: swift.user, ST_KEY: swift.key };
    const result = await runCli(["swift", "token"], { env });
    expect(result.code, result.stderr).toBe(0);
    const lines = result.stdout.trim().split("\n");
    expect(lines[0]).toBe(`export OS_STORAGE_URL=${swift.storageUrl}`);
    expect(lines[1]).toMatch(/^export OS_AUTH_TOKEN=AUTH_tk[0-9a-f]+$/);
    expect(lines[2]).toMatch(/^# Token expires in: \d\d:\d\d:\d\d \(\d{4}-\d\d-\d\dT/);
    // eval "$(zarrstore swift token)"; swift list demo
    const { stdout } = await run(
      "bash",
      ["-c", `eval "$1"; swift list demo --prefix zarr-demo/foo/bar/.`, "_", result.stdout],
      { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: work }, encoding: "utf8" },
    );
    expect(stdout.trim()).toBe("zarr-demo/foo/bar/.zarray");
    const missing = await runCli(["swift", "token"], { env: {} });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/ST_AUTH, ST_USER, ST_KEY/);
    const wrong = await runCli(["swift", "token"], { env: { ...env, ST_KEY: "wrong-key-77" } });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/Unauthenticated/);
    expect(wrong.stderr).not.toContain("wrong-key-77");
  });

  it("`zarrstore swift public on|off|status` switches anonymous reads (HttpStore, curl-like fetch)", async () => {
    const env = { ST_AUTH: swift.authUrl, ST_USER: swift.user, ST_KEY: swift.key };
    const url = "swift://demo/zarr-demo";
    const status = await runCli(["swift", "public", "status", url], { env });
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toBe(`private\t${swift.storageUrl}/demo/zarr-demo\n`);
    const anonymous = new HttpStore(`${swift.storageUrl}/demo/zarr-demo`);
    await expect(anonymous.get("/foo/bar/.zarray")).rejects.toThrow(/401/);

    expect((await runCli(["swift", "public", "on", url], { env })).stdout).toMatch(/^public\t/);
    const zarray = JSON.parse(new TextDecoder().decode(await anonymous.get("/foo/bar/.zarray")));
    expect(zarray.shape).toEqual([100, 100]);
    // fsspec's HTTP mapper in the seed: Python reads the public array anonymously too.
    const out = runPython(
      `import sys, zarr, fsspec
z = zarr.open_array(fsspec.get_mapper(sys.argv[1] + "/foo/bar"), mode="r")
print(int(z[:].sum()))`,
      [`${swift.storageUrl}/demo/zarr-demo`],
    );
    expect(out.trim()).toBe(String(42 * 100 * 100));

    expect((await runCli(["swift", "public", "off", url], { env })).stdout).toMatch(/^private\t/);
    await expect(anonymous.get("/foo/bar/.zarray")).rejects.toThrow(/401/);
    const bad = await runCli(["swift", "public", "maybe", url], { env });
    expect(bad.code).toBe(2);
    await anonymous.close();
  }, 60_000);
});
