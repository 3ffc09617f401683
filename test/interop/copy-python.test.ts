/**
 * The copy engine and consolidation against Debian's Python zarr 2 and xarray
 * (/usr/bin/python3): a hierarchy Python wrote is copied by `zarrstore cp` (to a folder and to
 * a zip) and consolidated by `zarrstore consolidate`; Python's `zarr.open_consolidated`,
 * xarray and zarrita's `withConsolidatedMetadata` read every array back exactly.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import * as zarr from "zarrita";
import { FileSystemStore } from "../../src/stores/fs.js";
import { consolidate } from "../../src/zarr/consolidate.js";
import { runCli } from "../support/cli.js";
import { describeLive } from "../support/live.js";
import { pythonZarrAvailable } from "../support/python.js";
import {
  makePythonV2Fixture,
  type PythonFixture,
  readWithPythonZarr,
  readWithXarray,
  readWithZarrita,
} from "../support/python-fixtures.js";
import { tempDir } from "../support/static-server.js";

describeLive("copy and consolidate with Python zarr 2", pythonZarrAvailable, () => {
  let dir: string;
  let fixture: PythonFixture;

  beforeAll(() => {
    dir = tempDir("copy-python");
    fixture = makePythonV2Fixture(dir, "directory");
  }, 60_000);
  afterAll(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  function valuesByPath(arrays: { path: string; values: Uint8Array }[]): Record<string, string> {
    return Object.fromEntries(
      arrays.map((a) => [a.path, Buffer.from(a.values).toString("base64")]),
    );
  }

  it("writes the same .zmetadata as zarr-python, byte for byte", async () => {
    const copy = path.join(dir, "reconsolidated.zarr");
    fs.cpSync(fixture.path, copy, { recursive: true });
    const theirs = fs.readFileSync(path.join(copy, ".zmetadata"));
    fs.rmSync(path.join(copy, ".zmetadata"));
    const store = new FileSystemStore(copy);
    await consolidate(store);
    await store.close();
    const ours = fs.readFileSync(path.join(copy, ".zmetadata"));
    expect(JSON.parse(ours.toString())).toEqual(JSON.parse(theirs.toString()));
    expect(ours.toString()).toBe(theirs.toString());
  });

  it("cp + consolidate: open_consolidated and xarray read every array exactly", async () => {
    const copy = path.join(dir, "copied.zarr");
    const cp = await runCli(["cp", fixture.path, copy, "--verify", "-q"]);
    expect(cp.stderr).toBe("");
    expect(cp.code).toBe(0);
    fs.rmSync(path.join(copy, ".zmetadata"));
    const result = await runCli(["consolidate", copy]);
    expect(result.code).toBe(0);
    const read = readWithPythonZarr(copy, "directory");
    expect(read.consolidated).toBe(true);
    expect(read.groups).toEqual(fixture.groups);
    expect(read.arrays.map((a) => a.path).sort()).toEqual(fixture.arrays.map((a) => a.path).sort());
    expect(valuesByPath(read.arrays)).toEqual(valuesByPath(fixture.arrays));
    const ds = readWithXarray(copy, "directory");
    expect(Object.keys(ds.variables).sort()).toEqual([
      "big_endian",
      "counts",
      "labels",
      "temperature",
      "x",
      "y",
    ]);
    expect(ds.attrs.title).toBe("zarrstore python fixture");
  });

  it("zarrita reads the consolidated copy through withConsolidatedMetadata", async () => {
    const copy = path.join(dir, "zarrita.zarr");
    expect((await runCli(["cp", fixture.path, copy, "-q"])).code).toBe(0);
    fs.rmSync(path.join(copy, ".zmetadata"));
    expect((await runCli(["consolidate", copy, "--format", "2"])).code).toBe(0);
    const store = await zarr.withConsolidatedMetadata(
      new FileSystemStore(copy, { readOnly: true }),
      {
        format: "v2",
      },
    );
    const paths = store
      .contents()
      .filter((c) => c.kind === "array")
      .map((c) => c.path.slice(1));
    expect(paths.sort()).toEqual(fixture.arrays.map((a) => a.path).sort());
    const values = await readWithZarrita(store, fixture.arrays);
    for (const array of fixture.arrays) {
      expect([
        array.path,
        Buffer.from(values.get(array.path) as Uint8Array).toString("base64"),
      ]).toEqual([array.path, Buffer.from(array.values).toString("base64")]);
    }
  });

  it("cp into a zip that Python's ZipStore reads, and back out of it", async () => {
    const zip = path.join(dir, "copied.zip");
    const into = await runCli(["cp", fixture.path, zip, "--verify", "--json", "-q"]);
    expect(into.code).toBe(0);
    expect(JSON.parse(into.stdout)).toMatchObject({ ok: true, metadata: "written" });
    const read = readWithPythonZarr(zip, "zip");
    expect(read.consolidated).toBe(true);
    expect(valuesByPath(read.arrays)).toEqual(valuesByPath(fixture.arrays));
    const back = path.join(dir, "from-zip.zarr");
    expect((await runCli(["cp", zip, back, "-q"])).code).toBe(0);
    expect(valuesByPath(readWithPythonZarr(back, "directory").arrays)).toEqual(
      valuesByPath(fixture.arrays),
    );
  });
});
