import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import * as zarr from "zarrita";
import { FileSystemStore } from "../../src/stores/fs.js";
import { IcechunkStore } from "../../src/stores/icechunk/index.js";
import { runCli, runCliProcess } from "../support/cli.js";

const dirs: string[] = [];
function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "zs-icechunk-cli-"));
  dirs.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A small Zarr v3 store on disk: a group with one int16 array. */
async function sampleStore(values: number[]): Promise<string> {
  const dir = tempDir();
  const store = new FileSystemStore(dir);
  await zarr.create(zarr.root(store), { attributes: { title: "sample" } });
  const arr = await zarr.create(zarr.root(store).resolve("v"), {
    shape: [values.length],
    chunkShape: [2],
    dtype: "int16",
    fillValue: 0,
  });
  await zarr.set(arr, null, { data: Int16Array.from(values), shape: [values.length], stride: [1] });
  return dir;
}

async function readV(url: string): Promise<number[]> {
  const store = await IcechunkStore.open(new FileSystemStore(url.replace(/^.*:\/\//, "")), {
    readOnly: true,
  });
  const arr = await zarr.open(zarr.root(store).resolve("v"), { kind: "array" });
  return Array.from((await zarr.get(arr)).data as Int16Array);
}

describe("zarrstore icechunk", () => {
  it("init, commit --from, log, tag, branch, diff and checkout --to", async () => {
    const repo = `icechunk+file://${tempDir()}`;
    const init = await runCli(["icechunk", "init", repo]);
    expect(init.code, init.stderr).toBe(0);
    expect(init.stdout).toMatch(/main at [0-9A-Z]{20}/);

    const one = await runCli(["icechunk", "commit", repo, "--from", await sampleStore([1, 2, 3])]);
    expect(one.code).toBe(2);
    expect(one.stderr).toContain("-m <message>");
    const first = await runCli([
      "icechunk",
      "commit",
      repo,
      "--from",
      await sampleStore([1, 2, 3]),
      "-m",
      "first",
      "--json",
    ]);
    expect(first.code, first.stderr).toBe(0);
    const firstId = JSON.parse(first.stdout).snapshot as string;
    expect(await runCli(["icechunk", "tag", repo, "v1"])).toMatchObject({ code: 0 });
    const second = await runCli([
      "icechunk",
      "commit",
      repo,
      "--from",
      await sampleStore([1, 2, 30]),
      "-m",
      "second",
    ]);
    expect(second.code, second.stderr).toBe(0);

    const log = await runCli(["icechunk", "log", repo]);
    expect(
      log.stdout
        .trim()
        .split("\n")
        .map((l) => l.split(/\s+/).slice(2).join(" ")),
    ).toEqual(["second", "first", "Repository initialized"]);
    const tags = await runCli(["icechunk", "tag", repo]);
    expect(tags.stdout).toBe(`v1  ${firstId}\n`);
    const branch = await runCli(["icechunk", "branch", repo, "fix", "--from", "v1"]);
    expect(branch.stdout).toBe(`branch fix at ${firstId}\n`);
    expect((await runCli(["icechunk", "branch", repo])).stdout).toContain(`fix  ${firstId}`);

    const diff = await runCli(["icechunk", "diff", repo, "v1", "main"]);
    // The commit rewrote both chunks of /v (a copy writes every chunk), so both count.
    expect(diff.stdout).toBe("M /v chunks: 2\n");
    const none = await runCli(["icechunk", "diff", repo, "v1", "fix"]);
    expect(none.stdout).toBe("no changes\n");
    const backwards = await runCli(["icechunk", "diff", repo, "main", "v1"]);
    expect(backwards.code).toBe(1);
    expect(backwards.stderr).toContain("[Config]");

    const out = tempDir();
    const co = await runCli(["icechunk", "checkout", repo, "v1", "--to", out]);
    expect(co.code, co.stderr).toBe(0);
    expect(co.stdout).toContain(`tag v1: snapshot ${firstId}`);
    expect(co.stdout).toContain("#tag=v1");
    const exported = await zarr.open(zarr.root(new FileSystemStore(out)).resolve("v"), {
      kind: "array",
    });
    expect(Array.from((await zarr.get(exported)).data as Int16Array)).toEqual([1, 2, 3]);
    expect(await readV(repo)).toEqual([1, 2, 30]);

    const missing = await runCli(["icechunk", "checkout", repo, "nope"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain("no branch, tag or snapshot named 'nope'");
    const bad = await runCli(["icechunk", "frobnicate", repo]);
    expect(bad.code).toBe(2);
  }, 120_000);

  it("cp into an icechunk+ URL commits with -m; the process exits by itself", async () => {
    const dir = tempDir();
    const repo = `icechunk+file://${dir}`;
    expect((await runCli(["icechunk", "init", repo])).code).toBe(0);
    const src = await sampleStore([5, 6, 7, 8]);
    // A real process: it must end on its own (Icechunk's WASM workers are stopped).
    const cp = await runCliProcess(["cp", src, repo, "-m", "from cp", "-q"]);
    expect(cp.code, cp.stderr).toBe(0);
    expect(cp.stderr).toMatch(/committed as [0-9A-Z]{20} on branch main/);
    expect(await readV(repo)).toEqual([5, 6, 7, 8]);
    const log = await runCli(["icechunk", "log", repo]);
    expect(log.stdout).toContain("from cp");
    // And back out of the repository into plain files.
    const out = tempDir();
    const back = await runCli(["cp", repo, out, "-q"]);
    expect(back.code, back.stderr).toBe(0);
    const arr = await zarr.open(zarr.root(new FileSystemStore(out)).resolve("v"), {
      kind: "array",
    });
    expect(Array.from((await zarr.get(arr)).data as Int16Array)).toEqual([5, 6, 7, 8]);
  }, 120_000);
});
