import { type ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FileSystemStore } from "../../src/stores/fs.js";
import { patternBytes } from "../../src/testing/cases.js";
import type { CopySummary } from "../../src/zarr/copy.js";
import { CLI_MAIN, REPO_ROOT, runCli } from "../support/cli.js";
import { type FileServer, startFileServer, tempDir } from "../support/static-server.js";

const enc = new TextEncoder();
const dirs: string[] = [];

/** A fresh temporary folder, removed after the file's tests. */
function scratch(name: string): string {
  const dir = tempDir(`cp-${name}`);
  dirs.push(dir);
  return dir;
}

afterAll(() => {
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
});

/**
 * Writes a v2 dataset into `dir`: a root group, an array `temp` with `chunks` chunks of
 * `size` bytes, and a subgroup `g` with an array `b`.
 */
function writeDataset(dir: string, chunks: number, size = 1024): void {
  const files: Record<string, Uint8Array | string> = {
    ".zgroup": '{"zarr_format": 2}',
    ".zattrs": '{"title": "cli copy"}',
    "temp/.zarray": `{"zarr_format": 2, "shape": [${chunks}], "chunks": [1], "dtype": "|u1"}`,
    "temp/.zattrs": '{"units": "K"}',
    "g/.zgroup": '{"zarr_format": 2}',
    "g/b/.zarray": '{"zarr_format": 2, "shape": [2], "chunks": [1], "dtype": "|u1"}',
    "g/b/0": patternBytes(size, 7),
    "g/b/1": patternBytes(size, 8),
  };
  for (let i = 0; i < chunks; i++) files[`temp/${i}`] = patternBytes(size, i + 100);
  for (const [name, value] of Object.entries(files)) {
    const file = path.join(dir, name);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, typeof value === "string" ? enc.encode(value) : value);
  }
}

/** Every key of a folder (as FileSystemStore sees it) with its bytes, sorted. */
async function snapshot(dir: string): Promise<[string, string][]> {
  const store = new FileSystemStore(dir, { readOnly: true });
  const out: [string, string][] = [];
  for await (const key of store.list("/")) {
    out.push([key, Buffer.from((await store.get(key)) as Uint8Array).toString("base64")]);
  }
  await store.close();
  return out.sort(([a], [b]) => (a < b ? -1 : 1));
}

describe("zarrstore cp", () => {
  it("copies a dataset between folders, summary on stdout, nothing else there", async () => {
    const src = scratch("src");
    writeDataset(src, 30);
    const dst = path.join(scratch("dst"), "copy.zarr");
    const result = await runCli(["cp", src, dst, "--verify"]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^copied 38 keys \(.+\) in .+, 38 verified, metadata written\n$/);
    expect(await snapshot(dst)).toEqual(await snapshot(src));
  });

  it("prints a JSON summary with --json and copies a folder with --prefix", async () => {
    const src = scratch("src");
    writeDataset(src, 5);
    const dst = scratch("dst");
    const result = await runCli(["cp", src, dst, "--json", "--prefix", "g", "-j", "2"]);
    expect(result.code).toBe(0);
    const summary = JSON.parse(result.stdout) as CopySummary;
    expect(summary).toMatchObject({ ok: true, copied: 4, keysTotal: 4, metadata: "written" });
    expect((await snapshot(dst)).map(([k]) => k)).toEqual([
      "/g/.zgroup",
      "/g/b/.zarray",
      "/g/b/0",
      "/g/b/1",
    ]);
  });

  it("resumes: identical keys are skipped, changed ones sent again", async () => {
    const src = scratch("src");
    writeDataset(src, 20);
    const dst = scratch("dst");
    expect((await runCli(["cp", src, dst, "-q"])).code).toBe(0);
    fs.writeFileSync(path.join(dst, "temp/3"), "changed");
    fs.rmSync(path.join(dst, "temp/4"));
    const result = await runCli(["cp", src, dst, "--resume", "--json"]);
    const summary = JSON.parse(result.stdout) as CopySummary;
    expect(summary).toMatchObject({ ok: true, copied: 2, skipped: 26 });
    expect(await snapshot(dst)).toEqual(await snapshot(src));
  });

  it("partitions I/N together copy exactly the source; partition 0 writes the metadata", async () => {
    const src = scratch("src");
    writeDataset(src, 40);
    const dst = scratch("dst");
    const others = await Promise.all(
      [1, 2, 3].map((i) => runCli(["cp", src, dst, "--partition", `${i}/4`, "--json"])),
    );
    for (const run of others) {
      expect(run.code).toBe(0);
      expect(JSON.parse(run.stdout).metadata).toBe("skipped");
      expect(run.stderr).toMatch(/partition 0 writes the metadata/);
    }
    expect((await snapshot(dst)).filter(([k]) => /\.z(group|array|attrs)$/.test(k))).toEqual([]);
    const last = await runCli(["cp", src, dst, "--partition", "0/4", "--json"]);
    expect(JSON.parse(last.stdout).metadata).toBe("written");
    const copied = [...others, last].reduce((n, r) => n + JSON.parse(r.stdout).copied, 0);
    expect(copied).toBe(48);
    expect(await snapshot(dst)).toEqual(await snapshot(src));
  });

  it("reports failed keys on stderr, withholds metadata, exits 1 and says how to finish", async () => {
    const src = scratch("src");
    writeDataset(src, 6);
    const dst = scratch("dst");
    fs.mkdirSync(path.join(dst, "temp"), { recursive: true });
    fs.mkdirSync(path.join(dst, "temp/2")); // a folder where the key temp/2 must go
    const result = await runCli(["cp", src, dst, "--retries", "0"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/1 keys failed:\n {2}\/temp\/2 {2}\w+ {2}.+\n/);
    expect(result.stderr).toMatch(/metadata not written/);
    expect(result.stderr).toContain(
      `to finish, run: zarrstore cp ${src} ${dst} --retries 0 --resume\n`,
    );
    expect(fs.existsSync(path.join(dst, ".zgroup"))).toBe(false);
    expect(fs.existsSync(path.join(dst, "temp/.zarray"))).toBe(false);
  });

  it("leaves an existing zip as it was when a copy into it fails", async () => {
    const src = scratch("src");
    writeDataset(src, 4);
    const out = scratch("zip");
    const zip = path.join(out, "data.zarr.zip");
    expect((await runCli(["cp", src, zip, "-q"])).code).toBe(0);
    const before = fs.readFileSync(zip);
    // The source: a copy of that archive with one byte of the chunk temp/3 flipped, which
    // fails its CRC check, so that one key cannot be read.
    const broken = path.join(scratch("broken"), "broken.zip");
    const bytes = Buffer.from(before);
    const at = bytes.indexOf(Buffer.from(patternBytes(1024, 103)));
    expect(at).toBeGreaterThan(0);
    bytes[at + 10] = (bytes[at + 10] as number) ^ 0xff;
    fs.writeFileSync(broken, bytes);
    const result = await runCli(["cp", broken, zip, "--retries", "0"]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/1 keys failed:\n {2}\/temp\/3 {2}Integrity/);
    expect(result.stderr).toContain(`${zip} was not written (left as it was)`);
    expect(result.stderr).not.toContain("--resume");
    expect(fs.readFileSync(zip).equals(before)).toBe(true);
    expect(fs.readdirSync(out)).toEqual(["data.zarr.zip"]);
  });

  it("notes an empty source, and refuses to copy a store onto itself", async () => {
    const empty = await runCli(["cp", scratch("empty"), scratch("dst")]);
    expect(empty.code).toBe(0);
    expect(empty.stderr).toMatch(/note: nothing to copy: the source has no keys under \//);
    const src = scratch("src");
    const same = await runCli(["cp", src, `${src}/`]);
    expect(same.code).toBe(2);
    expect(same.stderr).toMatch(/the source and the destination are the same store/);
  });

  it("rejects usage mistakes with exit 2", async () => {
    for (const args of [
      ["cp", "a"],
      ["cp", "a", "b", "--partition", "4/4"],
      ["cp", "a", "b", "--partition", "x"],
      ["cp", "a", "b", "--metadata", "first"],
      ["cp", "a", "b", "--concurrency", "-3"],
      ["cp", "a", "b", "--bogus"],
    ]) {
      const result = await runCli(args);
      expect([args.join(" "), result.code]).toEqual([args.join(" "), 2]);
      expect(result.stderr).toMatch(/usage: zarrstore cp/);
    }
  });

  it("shows a cli-progress bar on a terminal and plain lines elsewhere", async () => {
    const src = scratch("src");
    writeDataset(src, 200, 256);
    const tty = await runCli(["cp", src, scratch("dst")], { tty: true });
    expect(tty.code).toBe(0);
    expect(tty.stderr).toContain("\u001b[?25l"); // cli-progress hides the cursor while drawing
    expect(tty.stderr).toMatch(/\] \d+\/\d+ keys \| .+ \| .+\/s \| ETA /);
    const plain = await runCli(["cp", src, scratch("dst")], {
      env: { ZARRSTORE_PROGRESS_INTERVAL_MS: "0" },
    });
    expect(plain.code).toBe(0);
    expect(plain.stderr).not.toContain("\u001b");
    expect(plain.stderr).toMatch(/^(copying|metadata): \d+\/(\d+|\?) keys/m);
    const quiet = await runCli(["cp", src, scratch("dst"), "-q"], { tty: true });
    expect(quiet.stderr).toBe("");
  });
});

describe("zarrstore cp to a destination it cannot write", () => {
  let server: FileServer;
  let served: string;
  beforeAll(async () => {
    served = scratch("served");
    server = await startFileServer(served, {
      writable: true,
      intercept: (req, res) => {
        if (req.method !== "PUT" && req.method !== "DELETE") return false;
        if (!req.url?.startsWith("/locked/")) return false;
        res.writeHead(401, { "www-authenticate": 'Basic realm="test"' });
        res.end("unauthorised");
        return true;
      },
    });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("fails before copying anything when the credentials are refused, saying why", async () => {
    const src = scratch("src");
    writeDataset(src, 5);
    const before = server.stats.requests.length;
    const result = await runCli(["cp", src, `${server.url}locked/data.zarr`]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /cannot write to the destination: .*401.*check the credentials.*nothing was changed/,
    );
    const puts = server.stats.requests.slice(before).filter((r) => r.method === "PUT");
    expect(puts.map((r) => r.url)).toEqual([
      expect.stringMatching(/^\/locked\/data\.zarr\/\.zarrstore-probe-/),
    ]);
  });

  it("copies into a writable HTTP server", async () => {
    const src = scratch("src");
    writeDataset(src, 5);
    const result = await runCli(["cp", src, `${server.url}open/data.zarr`, "--verify"]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(await snapshot(path.join(served, "open/data.zarr"))).toEqual(await snapshot(src));
  });
});

describe("zarrstore cp from plain HTTP (no listing)", () => {
  let server: FileServer;
  let served: string;
  beforeAll(async () => {
    served = scratch("http-src");
    writeDataset(served, 12);
    expect((await runCli(["consolidate", served])).code).toBe(0);
    fs.rmSync(path.join(served, "temp/5")); // a chunk never written: fill value
    server = await startFileServer(served);
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("derives the keys from consolidated metadata and copies them all", async () => {
    const dst = scratch("from-http");
    const result = await runCli(["cp", server.url, dst, "--verify"]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(
      /copied 20 keys .* 20 verified, 1 absent at the source, metadata written/,
    );
    expect(await snapshot(dst)).toEqual(await snapshot(served));
  });

  it("says what is missing when there is no consolidated metadata", async () => {
    const bare = scratch("http-bare");
    writeDataset(bare, 2);
    const plain = await startFileServer(bare);
    try {
      const result = await runCli(["cp", plain.url, scratch("dst")]);
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(
        /cannot list its keys and has no consolidated metadata .*zarrstore consolidate/,
      );
    } finally {
      await plain.stop();
    }
  });
});

describe("zarrstore sync", () => {
  it("copies only what differs and --delete removes extras", async () => {
    const src = scratch("src");
    writeDataset(src, 10);
    const dst = scratch("dst");
    expect((await runCli(["sync", src, dst, "-q"])).code).toBe(0);
    fs.writeFileSync(path.join(dst, "temp/1"), "changed");
    fs.mkdirSync(path.join(dst, "gone"));
    fs.writeFileSync(path.join(dst, "gone/.zarray"), "{}");
    fs.writeFileSync(path.join(dst, "gone/0"), "x");
    const kept = await runCli(["sync", src, dst, "--json"]);
    expect(JSON.parse(kept.stdout)).toMatchObject({ ok: true, copied: 1, deleted: 0 });
    expect(fs.existsSync(path.join(dst, "gone/0"))).toBe(true);
    const result = await runCli(["sync", src, dst, "--delete", "--json"]);
    expect(JSON.parse(result.stdout)).toMatchObject({
      ok: true,
      copied: 0,
      skipped: 18,
      deleted: 2,
    });
    expect(await snapshot(dst)).toEqual(await snapshot(src));
  });
});

describe("zarrstore rm", () => {
  it("removes keys, folders with -r, the whole store without a folder", async () => {
    const dir = scratch("rm");
    writeDataset(dir, 5);
    expect((await runCli(["rm", dir, "temp/0", "/temp/1"])).stdout).toBe("removed 2 keys\n");
    expect(fs.existsSync(path.join(dir, "temp/0"))).toBe(false);
    const dry = await runCli(["rm", "-r", dir, "g", "--dry-run"]);
    expect(dry.stdout).toBe("would remove 4 keys (2 metadata)\n");
    expect(fs.existsSync(path.join(dir, "g/b/0"))).toBe(true);
    expect((await runCli(["rm", "-r", dir, "g"])).stdout).toBe("removed 4 keys (2 metadata)\n");
    expect((await snapshot(dir)).map(([k]) => k)).not.toContain("/g/b/0");
    const all = await runCli(["rm", "-r", dir, "--json"]);
    expect(JSON.parse(all.stdout)).toEqual({ removed: 7, metadata: 4 });
    expect(await snapshot(dir)).toEqual([]);
  });

  it("needs keys or -r (exit 2)", async () => {
    const result = await runCli(["rm", scratch("rm")]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/name the keys to remove, or use -r/);
  });
});

describe("zarrstore consolidate", () => {
  it("writes .zmetadata for a v2 store and zarr.json's block for a v3 one", async () => {
    const v2 = scratch("v2");
    writeDataset(v2, 3);
    const result = await runCli(["consolidate", v2]);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe("wrote /.zmetadata (6 metadata documents)\n");
    const doc = JSON.parse(fs.readFileSync(path.join(v2, ".zmetadata"), "utf8"));
    expect(Object.keys(doc.metadata).sort()).toEqual([
      ".zattrs",
      ".zgroup",
      "g/.zgroup",
      "g/b/.zarray",
      "temp/.zarray",
      "temp/.zattrs",
    ]);
    const v3 = scratch("v3");
    fs.cpSync(path.join(REPO_ROOT, "sample/v3.zarr"), v3, { recursive: true });
    const json = await runCli(["consolidate", v3, "--json"]);
    expect(JSON.parse(json.stdout).written).toEqual(["/zarr.json"]);
    expect(
      JSON.parse(fs.readFileSync(path.join(v3, "zarr.json"), "utf8")).consolidated_metadata.kind,
    ).toBe("inline");
  });

  it("says when there is no Zarr group", async () => {
    const result = await runCli(["consolidate", scratch("empty")]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(
      /no Zarr group at \/: found neither .zgroup nor zarr.json \[NotFound\]/,
    );
  });
});

// ---- the CLI as a real process: Ctrl-C, SIGKILL and --resume ----

const TSX_LOADER = pathToFileURL(path.join(REPO_ROOT, "node_modules/tsx/dist/loader.mjs")).href;

interface Running {
  child: ChildProcess;
  stdout: string;
  stderr: string;
  exited: Promise<number | null>;
}

function startCli(args: string[], env: Record<string, string> = {}): Running {
  const child = spawn(process.execPath, ["--import", TSX_LOADER, CLI_MAIN, ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const running: Running = {
    child,
    stdout: "",
    stderr: "",
    exited: new Promise((resolve) => child.once("exit", (code) => resolve(code))),
  };
  child.stdout?.on("data", (chunk: Buffer) => {
    running.stdout += chunk.toString();
  });
  child.stderr?.on("data", (chunk: Buffer) => {
    running.stderr += chunk.toString();
  });
  return running;
}

/** Waits until `ready()` holds, polling every 10 ms, for at most `ms`. */
async function until(ready: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ready()) {
    if (Date.now() > deadline) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 10));
  }
}

function countFiles(dir: string): number {
  if (!fs.existsSync(dir)) return 0;
  return (fs.readdirSync(dir, { recursive: true, withFileTypes: true }) as fs.Dirent[]).filter(
    (entry) => entry.isFile() && !entry.name.startsWith(".zstmp."),
  ).length;
}

describe("zarrstore cp as a process", () => {
  it.each(["SIGINT", "SIGTERM"] as const)(
    "stops cleanly on %s, says how to resume, and the resume finishes the copy",
    async (signal) => {
      const src = scratch("src");
      writeDataset(src, 1500, 4096);
      const dst = scratch("dst");
      const run = startCli(["cp", src, dst, "--concurrency", "4"]);
      await until(() => countFiles(dst) >= 200, 30_000);
      run.child.kill(signal);
      expect(await run.exited).toBe(1);
      expect(run.stderr).toMatch(/interrupted/);
      const hint = /to finish, run: (.+)\n/.exec(run.stderr)?.[1];
      expect(hint).toBe(`zarrstore cp ${src} ${dst} --concurrency 4 --resume`);
      expect(fs.existsSync(path.join(dst, ".zgroup"))).toBe(false); // metadata withheld
      const resumed = await runCli(hint!.split(" ").slice(1).concat("--json"));
      expect(resumed.code).toBe(0);
      expect(await snapshot(dst)).toEqual(await snapshot(src));
    },
    60_000,
  );

  it("after SIGKILL, --resume ends byte-identical and re-sends under 10 % of what was done", async () => {
    const src = scratch("src");
    writeDataset(src, 2500, 16 * 1024);
    const total = 2508;
    const dst = scratch("dst");
    const run = startCli(["cp", src, dst, "--concurrency", "16", "-q"]);
    await until(() => countFiles(dst) >= 1000, 30_000);
    run.child.kill("SIGKILL");
    await run.exited;
    // What the killed run finished: keys already identical at the destination.
    const source = new Map(await snapshot(src));
    const done = (await snapshot(dst)).filter(([key, value]) => source.get(key) === value).length;
    expect(done).toBeGreaterThanOrEqual(1000);
    expect(done).toBeLessThan(total);

    const resumed = await runCli(["cp", src, dst, "--resume", "--json", "-q"]);
    expect(resumed.code).toBe(0);
    const summary = JSON.parse(resumed.stdout) as CopySummary;
    // Every key sent again beyond those missing is a re-send of work already done.
    const resent = summary.copied - (total - done);
    expect(summary.skipped).toBe(done - resent);
    expect(resent).toBeLessThan(0.1 * done);
    console.info(`SIGKILL after ${done}/${total} keys; the resume re-sent ${resent} of them`);
    expect(await snapshot(dst)).toEqual(await snapshot(src));
  }, 90_000);
});
