/** The `zarrstore car` command and the ipfs://, car:// schemes through the CLI. */
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { textToBytes } from "../../src/helpers.js";
import { createGatewayHandler } from "../../src/ipfs/gateway.js";
import { serveHandler } from "../../src/ipfs/serve.node.js";
import { openStore } from "../../src/open.node.js";
import { isAbandonable } from "../../src/store.js";
import { IPLDStore } from "../../src/stores/ipld/index.js";
import { runCli } from "../support/cli.js";

const README_ROOT = "bafyreidn66mk3fktszrfwayonvpq6y3agtnb5e5o22ivof5tgikbxt7k6u";
const README_CAR_SHA256 = "3822e776b8f94ef214d53b568b533d6b4ec7112e6c9aa3b4ad8818f4dc3a00be";
const A0 = new Uint8Array(BigInt64Array.of(1n, 2n, 3n).buffer);

const tmp = mkdtempSync(join(tmpdir(), "zarrstore-car-cli-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** The README dataset as a folder of files (as zarr-python's DirectoryStore writes it). */
async function readmeFolder(name: string): Promise<string> {
  const dir = join(tmp, name);
  const store = await openStore(dir);
  await store.set("/.zgroup", textToBytes('{\n    "zarr_format": 2\n}'));
  await store.set("/.zattrs", textToBytes("{}"));
  await store.set(
    "/a/.zarray",
    textToBytes(
      '{"chunks":[3],"compressor":null,"dtype":"<i8","fill_value":null,"filters":null,"order":"C","shape":[3],"zarr_format":2}',
    ),
  );
  await store.set("/a/.zattrs", textToBytes('{"_ARRAY_DIMENSIONS":["a"]}'));
  await store.set("/a/0", A0);
  await store.close();
  return dir;
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

describe("zarrstore car", () => {
  it("export prints the README root and writes the README's CAR byte for byte", async () => {
    const dir = await readmeFolder("export-src");
    const out = join(tmp, "readme.car");
    const result = await runCli(["car", "export", dir, out]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toBe(README_ROOT);
    expect(createHash("sha256").update(readFileSync(out)).digest("hex")).toBe(README_CAR_SHA256);
    // An IPLD source is written as it is (same root, no copy).
    const again = await runCli(["car", "export", `car://${out}`, join(tmp, "again.car"), "--json"]);
    expect(JSON.parse(again.stdout)).toMatchObject({ root: README_ROOT, bytes: 356, keys: 0 });
  });

  it("import verifies the CAR and copies its tree into any store", async () => {
    const dir = await readmeFolder("import-src");
    const car = join(tmp, "import.car");
    await runCli(["car", "export", dir, car]);
    const dst = join(tmp, "import-dst");
    const result = await runCli(["car", "import", car, dst]);
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toBe(README_ROOT);
    const store = await openStore(dst);
    expect(await store.get("/a/0")).toEqual(A0);
    expect(JSON.parse(new TextDecoder().decode(await store.get("/.zgroup")))).toEqual({
      zarr_format: 2,
    });
    await store.close();
    const broken = join(tmp, "broken.car");
    const bytes = readFileSync(car);
    const { writeFileSync } = await import("node:fs");
    writeFileSync(broken, bytes.subarray(0, 340));
    const failed = await runCli(["car", "import", broken, join(tmp, "never")]);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toMatch(/truncated at byte 340.*\[Integrity\]/);
  });

  it("cp copies into a .car (written on close) and out of one", async () => {
    const dir = await readmeFolder("cp-src");
    const car = join(tmp, "cp.car");
    const into = await runCli(["cp", dir, car, "-q"]);
    expect(into.code).toBe(0);
    expect(createHash("sha256").update(readFileSync(car)).digest("hex")).toBe(README_CAR_SHA256);
    const out = join(tmp, "cp-out");
    expect((await runCli(["cp", car, out, "-q"])).code).toBe(0);
    const store = await openStore(out);
    expect(await store.get("/a/0")).toEqual(A0);
    await store.close();
  });

  it("a car:// store opened for writing and discarded leaves the CAR at its path as it was", async () => {
    const dir = await readmeFolder("discard-src");
    const car = join(tmp, "discard.car");
    expect((await runCli(["cp", dir, car, "-q"])).code).toBe(0);
    const before = readFileSync(car);
    const store = await openStore(`car://${car}`, { mode: "w" });
    await store.set("/other", textToBytes("not to be written"));
    expect(isAbandonable(store)).toBe(true);
    if (isAbandonable(store)) await store.abandon();
    await store.close(); // after abandon(), close() writes nothing
    expect(readFileSync(car).equals(before)).toBe(true);
  });

  it("refs writes fsspec references that ReferenceStore reads", async () => {
    const dir = await readmeFolder("refs-src");
    const car = join(tmp, "refs.car");
    await runCli(["car", "export", dir, car]);
    const json = join(tmp, "refs.json");
    expect((await runCli(["car", "refs", car, json])).code).toBe(0);
    const refs = JSON.parse(readFileSync(json, "utf8"));
    expect(refs.templates.a).toBe(car);
    expect(refs.refs["a/0"]).toEqual(["{{a}}", 356 - 24, 24]);
    const store = await openStore(`reference://${json}`);
    expect(await store.get("/a/0")).toEqual(A0);
    await store.close();
  });

  it("serve answers as a trustless gateway until stopped", async () => {
    const dir = await readmeFolder("serve-src");
    const car = join(tmp, "serve.car");
    await runCli(["car", "export", dir, car]);
    const port = await freePort();
    const stop = new AbortController();
    const running = runCli(["car", "serve", car, "--port", String(port)], { signal: stop.signal });
    let response: Response | undefined;
    for (let i = 0; i < 100 && response === undefined; i++) {
      response = await fetch(`http://127.0.0.1:${port}/ipfs/${README_ROOT}?format=car`).catch(
        () => new Promise<undefined>((r) => setTimeout(() => r(undefined), 100)),
      );
    }
    expect(response?.status).toBe(200);
    expect(new Uint8Array(await (response as Response).arrayBuffer())).toEqual(
      new Uint8Array(readFileSync(car)),
    );
    stop.abort();
    const result = await running;
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toBe(`http://127.0.0.1:${port}/ipfs/${README_ROOT}?format=car`);
  });

  it("copies out of ipfs://<root> through the gateway named in ZARRSTORE_IPFS_GATEWAY", async () => {
    const source = new IPLDStore();
    await source.set("/.zgroup", textToBytes('{"zarr_format":2}'));
    await source.set("/sub/.zgroup", textToBytes('{"zarr_format":2}'));
    await source.set("/sub/v/0", A0);
    const root = await source.freeze();
    const gateway = await serveHandler(createGatewayHandler(source.castore));
    try {
      const out = join(tmp, "from-ipfs");
      const env = { ZARRSTORE_IPFS_GATEWAY: gateway.url };
      const result = await runCli(["cp", `ipfs://${root}`, out, "-q"], { env });
      expect(result.stderr).toBe("");
      expect(result.code).toBe(0);
      const store = await openStore(out);
      expect(await store.get("/sub/v/0")).toEqual(A0);
      await store.close();
      const folder = await openStore(`ipfs://${root}/sub`, { env });
      expect(await folder.get("/v/0")).toEqual(A0);
      expect(folder.capabilities.write).toBe(false);
    } finally {
      await gateway.close();
    }
  });

  it("explains usage mistakes", async () => {
    expect((await runCli(["car", "frobnicate", "a", "b"])).code).toBe(2);
    expect((await runCli(["car", "export", "only-one"])).code).toBe(2);
  });
});
