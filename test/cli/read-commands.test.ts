import {
  createWriteStream,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pipeline } from "node:stream/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import yazl from "yazl";
import { REPO_ROOT, runCli, runCliProcess } from "../support/cli.js";
import { type FileServer, startFileServer } from "../support/static-server.js";
import { filesUnder, SAMPLE_V2, SAMPLE_V3 } from "../zarr/fixtures.js";

const V2 = "sample/air.zarr";
const V3 = "sample/v3.zarr";

interface JsonNode {
  path: string;
  kind: string;
  zarrFormat: number;
  shape?: number[];
  chunks?: number[];
  innerChunks?: number[];
  dtype?: unknown;
  [field: string]: unknown;
}
interface HierarchyJson {
  url: string;
  source: string;
  nodes: JsonNode[];
}

async function json<T>(args: string[]): Promise<T> {
  const result = await runCli(args);
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as T;
}

const paths = (doc: HierarchyJson) => doc.nodes.map((n) => n.path);
const byPath = (doc: HierarchyJson, path: string) => doc.nodes.find((n) => n.path === path);

// The sample folder served over plain HTTP: HttpStore cannot list, so the commands read
// consolidated metadata.
let server: FileServer;
let http: { v2: string; v3: string };
beforeAll(async () => {
  server = await startFileServer(join(REPO_ROOT, "sample"));
  http = { v2: `${server.url}air.zarr`, v3: `${server.url}v3.zarr` };
});
afterAll(async () => {
  await server?.stop();
});

describe("zarrstore tree", () => {
  it("draws the v2 sample with dtype, shape, chunks, compression and dimensions", async () => {
    const { code, stdout, stderr } = await runCli(["tree", V2]);
    expect(code, stderr).toBe(0);
    expect(stderr).toBe("");
    const lines = stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(/^sample\/air\.zarr\s+group \(v2\)$/);
    expect(lines[1]).toMatch(
      /^├── air\s+float32\s+\[20, 25, 53\]\s+chunks \[5, 10, 20\]\s+zlib\s+\(time, lat, lon\)$/,
    );
    expect(lines[2]).toMatch(/^├── land\s+uint8\s+\[25, 53\]\s+chunks \[25, 53\]\s+blosc/);
    expect(lines.at(-1)).toMatch(/^└── time\s+int64\s+\[20\]/);
    expect(lines).toHaveLength(6);
  });

  it("draws the v3 sample's nested group, sharded and zstd arrays", async () => {
    const { code, stdout } = await runCli(["tree", V3]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/├── grp\/\s+group \(v3\)\n/);
    expect(stdout).toMatch(/│ {3}├── counts\s+int16\s+\[7, 9\]\s+chunks \[3, 4\]\s+blosc\n/);
    expect(stdout).toMatch(
      /│ {3}└── sharded\s+uint16\s+\[9, 10\]\s+shards \[4, 10\] of \[2, 5\]\s+sharded, uncompressed/,
    );
    expect(stdout).toMatch(
      /└── temperature\s+float32\s+\[10, 15\]\s+chunks \[4, 6\]\s+zstd\s+\(y, x\)\n/,
    );
  });

  it("--json gives the nodes with paths from the URL's root, for a whole tree or a path in it", async () => {
    const v2 = await json<HierarchyJson>(["tree", V2, "--json"]);
    expect(v2.source).toBe("listing");
    expect(paths(v2)).toEqual(["/", "/air", "/land", "/lat", "/lon", "/time"]);
    expect(byPath(v2, "/air")).toEqual({
      path: "/air",
      kind: "array",
      zarrFormat: 2,
      shape: [20, 25, 53],
      chunks: [5, 10, 20],
      dtype: "float32",
      dimensionNames: ["time", "lat", "lon"],
    });
    const grp = await json<HierarchyJson>(["tree", V3, "grp", "--json"]);
    expect(paths(grp)).toEqual(["/grp", "/grp/counts", "/grp/sharded"]);
    expect(byPath(grp, "/grp/sharded")).toMatchObject({ chunks: [4, 10], innerChunks: [2, 5] });
  });

  it("reads consolidated metadata over plain HTTP and says so on stderr", async () => {
    for (const [local, remote, key] of [
      [V2, http.v2, "/.zmetadata"],
      [V3, http.v3, "/zarr.json"],
    ] as const) {
      const result = await runCli(["tree", remote, "--json"]);
      expect(result.code, result.stderr).toBe(0);
      expect(result.stderr).toBe(
        `note: ${remote} cannot be listed; reading consolidated metadata (${key})\n`,
      );
      const overHttp = JSON.parse(result.stdout) as HierarchyJson;
      const listed = await json<HierarchyJson>(["tree", local, "--json"]);
      expect(overHttp.source).toBe("consolidated");
      expect(overHttp.nodes).toEqual(listed.nodes);
    }
    const text = await runCli(["tree", http.v2]);
    expect(text.stdout).toMatch(/├── air\s+float32\s+\[20, 25, 53\]/);
  });

  it("finds a path inside consolidated metadata kept at the root", async () => {
    const result = await runCli(["tree", http.v3, "grp", "--json"]);
    expect(result.code, result.stderr).toBe(0);
    expect(paths(JSON.parse(result.stdout))).toEqual(["/grp", "/grp/counts", "/grp/sharded"]);
  });
});

describe("over a zip archive (written by yazl)", () => {
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "zs-cli-zip-"));
    const zip = new yazl.ZipFile();
    for (const [key, bytes] of filesUnder(SAMPLE_V2))
      zip.addBuffer(Buffer.from(bytes), key.slice(1));
    zip.end();
    await pipeline(zip.outputStream, createWriteStream(join(dir, "air.zip")));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("tree, info, ls and cat read it as they read the folder", async () => {
    for (const url of ["air.zip", "zip://air.zip"]) {
      const tree = await runCli(["tree", url, "--json"], { cwd: dir });
      expect(tree.code, tree.stderr).toBe(0);
      expect(JSON.parse(tree.stdout).nodes).toEqual(
        (await json<HierarchyJson>(["tree", V2, "--json"])).nodes,
      );
    }
    const info = await runCli(["info", join(dir, "air.zip"), "air"]);
    expect(info.stdout).toMatch(/^ {2}compressor\s+zlib\(level=6\)$/m);
    const ls = await runCli(["ls", "air.zip"], { cwd: dir });
    expect(ls.stdout).toBe("air/\nland/\nlat/\nlon/\ntime/\n.zattrs\n.zgroup\n.zmetadata\n");
    const cat = await runCli(["cat", "air.zip", "air/3.2.2"], { cwd: dir });
    expect(Buffer.from(cat.stdoutBytes).equals(readFileSync(join(SAMPLE_V2, "air", "3.2.2")))).toBe(
      true,
    );
  });
});

describe("zarrstore info", () => {
  it("describes a v2 array: compressor, filters, fill value, chunk grid and attributes", async () => {
    const { code, stdout } = await runCli(["info", V2, "air"]);
    expect(code).toBe(0);
    const lines = stdout.split("\n");
    expect(lines[0]).toBe("/air  (array, zarr v2)");
    for (const expected of [
      /^ {2}shape\s+\[20, 25, 53\] {2}\(time, lat, lon\)$/,
      /^ {2}chunks\s+\[5, 10, 20\] {2}\(grid \[4, 3, 3\], 36 chunks\)$/,
      /^ {2}dtype\s+float32 {2}\(<f4\)$/,
      /^ {2}fill value\s+NaN$/,
      /^ {2}order\s+C$/,
      /^ {2}compressor\s+zlib\(level=6\)$/,
      /^ {2}filters\s+none$/,
      /^ {2}chunk keys\s+v2, separator "\." {2}\(e\.g\. 0\.0\.0\)$/,
      /^ {4}units\s+degK$/,
    ]) {
      expect(
        lines.some((line) => expected.test(line)),
        String(expected),
      ).toBe(true);
    }
    expect(stdout).not.toMatch(/_ARRAY_DIMENSIONS/);
  });

  it("describes v3 codecs and sharding", async () => {
    const { code, stdout } = await runCli(["info", V3]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^\/temperature {2}\(array, zarr v3\)$/m);
    expect(stdout).toMatch(
      /^ {2}codecs\s+bytes\(endian=little\) → zstd\(level=3, checksum=false\)$/m,
    );
    expect(stdout).toMatch(/^ {2}chunks\s+\[4, 10\] {2}\(grid \[3, 1\], 3 shards\)$/m);
    expect(stdout).toMatch(/^ {2}sharding\s+inner chunks \[2, 5\], index at the end$/m);
    expect(stdout).toMatch(/^ {4}index codecs\s+bytes\(endian=little\) → crc32c$/m);
    expect(stdout).toMatch(/^ {2}chunk keys\s+default, separator "\." {2}\(e\.g\. c\.0\.0\)$/m);
    expect(stdout).toMatch(/^ {4}title\s+zarrstore v3 sample$/m);
  });

  it("--json has every field, v2 and v3, the same over HTTP as on disk", async () => {
    const v2 = await json<HierarchyJson>(["info", V2, "--json"]);
    expect(byPath(v2, "/air")).toMatchObject({
      dtype: { native: "<f4", name: "float32", itemSize: 4, endian: "little" },
      fillValue: "NaN",
      order: "C",
      compressor: { name: "zlib", configuration: { level: 6 } },
      filters: null,
      codecs: [{ name: "zlib", configuration: { level: 6 } }],
      chunkKeyEncoding: { name: "v2", separator: "." },
      chunkGrid: [4, 3, 3],
      chunkCount: 36,
      attributes: { units: "degK", standard_name: "air_temperature" },
    });
    expect(byPath(v2, "/")).toMatchObject({ kind: "group", attributes: { Conventions: "CF-1.6" } });
    const v3 = await json<HierarchyJson>(["info", V3, "--json"]);
    expect(byPath(v3, "/grp/sharded")).toMatchObject({
      sharding: { chunkShape: [2, 5], indexLocation: "end" },
      chunkCount: 3,
    });
    for (const [local, remote] of [
      [V2, http.v2],
      [V3, http.v3],
    ] as const) {
      const overHttp = await runCli(["info", remote, "--json"]);
      expect(overHttp.stderr).toMatch(/^note: .* cannot be listed; reading consolidated metadata/);
      const listed = await json<HierarchyJson>(["info", local, "--json"]);
      expect(JSON.parse(overHttp.stdout).nodes).toEqual(listed.nodes);
    }
  });
});

describe("zarrstore ls", () => {
  it("lists one level: folders (ending in /) then keys", async () => {
    const { code, stdout } = await runCli(["ls", V2]);
    expect(code).toBe(0);
    expect(stdout).toBe("air/\nland/\nlat/\nlon/\ntime/\n.zattrs\n.zgroup\n.zmetadata\n");
    const grp = await runCli(["ls", V3, "grp/counts"]);
    expect(grp.stdout.split("\n")).toContain("c.2.2");
  });

  it("-r lists every key below, and --json gives full keys", async () => {
    const { code, stdout } = await runCli(["ls", V3, "grp", "-r"]);
    expect(code).toBe(0);
    const expected = [...filesUnder(SAMPLE_V3).keys()]
      .filter((k) => k.startsWith("/grp/"))
      .map((k) => k.slice(5));
    expect(stdout.trimEnd().split("\n").sort()).toEqual(expected.sort());
    const doc = await json<{ keys: string[] }>(["ls", V3, "-r", "--json"]);
    expect(doc.keys).toEqual([...filesUnder(SAMPLE_V3).keys()].sort());
    const level = await json<{ keys: string[]; prefixes: string[] }>(["ls", V2, "air", "--json"]);
    expect(level.prefixes).toEqual([]);
    expect(level.keys).toContain("/air/3.2.2");
    expect(level.keys).toHaveLength(38);
  });

  it("shows the metadata keys of consolidated metadata for a store that cannot list", async () => {
    const { code, stdout, stderr } = await runCli(["ls", http.v2]);
    expect(code, stderr).toBe(0);
    expect(stderr).toMatch(
      /^note: .*air\.zarr cannot be listed; showing the metadata keys recorded in \/\.zmetadata \(chunk keys are not shown\)\n$/,
    );
    expect(stdout).toBe("air/\nland/\nlat/\nlon/\ntime/\n.zattrs\n.zgroup\n.zmetadata\n");
    const all = await runCli(["ls", http.v2, "-r"]);
    const metadata = [...filesUnder(SAMPLE_V2).keys()]
      .filter((k) => /\/\.z\w+$/.test(k))
      .map((k) => k.slice(1));
    expect(all.stdout.trimEnd().split("\n")).toEqual(metadata.sort());
  });

  it("fails with exit 1 for a folder that holds nothing", async () => {
    const { code, stderr } = await runCli(["ls", V2, "nope"]);
    expect(code).toBe(1);
    expect(stderr).toBe("zarrstore ls: nothing under /nope/ in sample/air.zarr\n");
  });
});

describe("zarrstore cat", () => {
  const chunk = readFileSync(join(SAMPLE_V2, "air", "1.2.0"));

  it("writes a binary chunk's bytes unchanged, from disk and over HTTP", async () => {
    for (const url of [V2, http.v2]) {
      const { code, stdoutBytes } = await runCli(["cat", url, "air/1.2.0"]);
      expect(code).toBe(0);
      expect(Buffer.from(stdoutBytes).equals(chunk)).toBe(true);
    }
  });

  it("reads byte ranges with HTTP semantics", async () => {
    const middle = await runCli(["cat", V2, "/air/1.2.0", "--offset", "10", "--length", "25"]);
    expect(Buffer.from(middle.stdoutBytes).equals(chunk.subarray(10, 35))).toBe(true);
    const tail = await runCli(["cat", http.v2, "/air/1.2.0", "--suffix", "7"]);
    expect(Buffer.from(tail.stdoutBytes).equals(chunk.subarray(chunk.length - 7))).toBe(true);
    const past = await runCli([
      "cat",
      V2,
      "air/1.2.0",
      "--offset",
      String(chunk.length - 3),
      "--length",
      "100",
    ]);
    expect(past.stdoutBytes).toHaveLength(3);
    const outside = await runCli([
      "cat",
      V2,
      "air/1.2.0",
      "--offset",
      String(chunk.length),
      "--length",
      "1",
    ]);
    expect(outside.code).toBe(1);
    expect(outside.stderr).toMatch(/\[RangeNotSatisfiable\]/);
  });

  it("--json pretty-prints JSON and refuses what is not JSON", async () => {
    const pretty = await runCli(["cat", V3, "grp/counts/zarr.json", "--json"]);
    expect(pretty.code).toBe(0);
    expect(JSON.parse(pretty.stdout)).toEqual(
      JSON.parse(readFileSync(join(SAMPLE_V3, "grp/counts/zarr.json"), "utf8")),
    );
    const binary = await runCli(["cat", V2, "air/0.0.0", "--json"]);
    expect(binary.code).toBe(1);
    expect(binary.stderr).toMatch(/\/air\/0\.0\.0 is not JSON \(\d+ bytes\); drop --json/);
  });

  it("fails with exit 1 and says which key is missing", async () => {
    for (const url of [V2, http.v2]) {
      const { code, stdout, stderr } = await runCli(["cat", url, "air/9.9.9"]);
      expect(code).toBe(1);
      expect(stdout).toBe("");
      expect(stderr).toBe(`zarrstore cat: no value at /air/9.9.9 in ${url}\n`);
    }
  });

  it.each([
    [["cat", V2], /missing the key to read/],
    [["cat", V2, "a", "b"], /unexpected argument 'b'/],
    [
      ["cat", V2, "a", "--offset", "x", "--length", "1"],
      /--offset must be a non-negative integer, got 'x'/,
    ],
    [["cat", V2, "a", "--offset", "1"], /--offset needs --length/],
    [["cat", V2, "a", "--suffix", "1", "--length", "2"], /--suffix cannot be combined/],
    [["cat", V2, "a", "--suffix", "1", "--json"], /--json reads a whole value/],
    [["cat", V2, "a", "--bogus"], /Unknown option '--bogus'/],
  ])("rejects %j with a usage error (exit 2)", async (args, message) => {
    const { code, stderr } = await runCli(args);
    expect(code).toBe(2);
    expect(stderr).toMatch(message);
    expect(stderr).toMatch(/usage: zarrstore cat <url> <key>/);
  });
});

describe("errors a user can act on", () => {
  let dir: string;
  let bare: FileServer;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "zs-cli-"));
    mkdirSync(join(dir, "plain"));
    writeFileSync(join(dir, "plain", "notes.txt"), "not zarr");
    mkdirSync(join(dir, "unconsolidated"));
    writeFileSync(join(dir, "unconsolidated", ".zgroup"), '{"zarr_format": 2}');
    bare = await startFileServer(dir);
  });
  afterAll(async () => {
    await bare?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it.each(["tree", "info"])(
    "%s: no Zarr metadata at a folder or an empty store (exit 1)",
    async (name) => {
      const plain = await runCli([name, join(dir, "plain")]);
      expect(plain.code).toBe(1);
      expect(plain.stderr).toBe(
        `zarrstore ${name}: no Zarr metadata at ${join(dir, "plain")}: expected .zgroup, .zarray or zarr.json (is the path right?) [NotFound]\n`,
      );
      const memory = await runCli([name, "memory://"]);
      expect(memory.stderr).toMatch(
        /no Zarr metadata at memory:\/\/: expected \.zgroup, \.zarray or zarr\.json/,
      );
      const inside = await runCli([name, V2, "nope"]);
      expect(inside.stderr).toMatch(/no Zarr metadata at sample\/air\.zarr \(\/nope\/\)/);
    },
  );

  it("a path that does not exist, and a scheme nobody handles (exit 1)", async () => {
    const missing = await runCli(["tree", "sample/missing.zarr"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/sample\/missing\.zarr does not exist/);
    const scheme = await runCli(["ls", "nope://bucket/x"]);
    expect(scheme.code).toBe(1);
    expect(scheme.stderr).toMatch(
      /^zarrstore ls: no store for nope:\/\/ URLs here \(known: .*file.*http.*\) \[Config\]\n$/,
    );
  });

  it("a store that cannot list and has no consolidated metadata says what to do", async () => {
    const url = `${bare.url}unconsolidated`;
    const tree = await runCli(["tree", url]);
    expect(tree.code).toBe(1);
    expect(tree.stderr).toMatch(
      /cannot be listed and has no consolidated metadata .*zarrstore consolidate <url>/,
    );
    const ls = await runCli(["ls", url]);
    expect(ls.code).toBe(1);
    expect(ls.stderr).toMatch(/cannot be listed and has no consolidated metadata at its root/);
  });

  it("usage mistakes exit 2 and print the usage", async () => {
    expect((await runCli([])).code).toBe(2);
    const unknown = await runCli(["frobnicate"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(
      /unknown command 'frobnicate'[\s\S]*commands: .*cat.*conformance.*info.*ls.*tree/,
    );
    for (const name of ["ls", "tree", "info"]) {
      const result = await runCli([name]);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(
        new RegExp(`zarrstore ${name}: missing the store URL\\nusage: zarrstore ${name} <url>`),
      );
    }
    const help = await runCli(["tree", "--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/usage: zarrstore tree <url> \[path\] \[--json\]/);
  });

  it("an invalid key is refused before any I/O", async () => {
    const { code, stderr } = await runCli(["cat", V2, "a/../b"]);
    expect(code).toBe(1);
    expect(stderr).toMatch(/invalid key "a\/..\/b": '..' segments are not allowed \[InvalidKey\]/);
  });
});

describe("zarrstore conformance", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "zs-conf-cli-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("passes on memory:// and on a folder, and reports as text or JSON", async () => {
    const text = await runCli(["conformance", "memory://"]);
    expect(text.code, text.stdout).toBe(0);
    expect(text.stdout).toMatch(/^ {2}ok {4}set then get returns the same bytes \(\d+ ms\)$/m);
    expect(text.stdout).toMatch(
      /^ {2}skip {2}a read-only store rejects writes with ReadOnly \(only for stores without write\)$/m,
    );
    expect(text.stdout).toMatch(/\n\d+ passed, 0 failed, \d+ skipped \(quick tier\)\n$/);
    const report = await json<{ passed: number; failed: number; results: { status: string }[] }>([
      "conformance",
      dir,
      "--json",
    ]);
    expect(report.failed).toBe(0);
    expect(report.passed).toBeGreaterThan(15);
    expect(report.results.filter((r) => r.status === "failed")).toEqual([]);
  });

  it("runs a read-only HTTP store with a writer over the same folder", async () => {
    const served = await startFileServer(dir);
    try {
      const report = await json<{
        passed: number;
        failed: number;
        capabilities: { write: boolean };
      }>(["conformance", served.url, "--writer", dir, "--json"]);
      expect(report.capabilities.write).toBe(false);
      expect(report.failed).toBe(0);
      expect(report.passed).toBeGreaterThan(8);
    } finally {
      await served.stop();
    }
  });

  it("exits 1 and names the failing cases when a store misbehaves", async () => {
    // A server that stores writes but answers every read with the same wrong bytes.
    const served = await startFileServer(dir, {
      writable: true,
      intercept: (req, res) => {
        if (req.method !== "GET") return false;
        res.writeHead(200, { "content-length": "5" }).end("wrong");
        return true;
      },
    });
    try {
      const { code, stdout } = await runCli([
        "conformance",
        served.url,
        "--writable",
        "--filter",
        "set then get",
      ]);
      expect(code).toBe(1);
      expect(stdout).toMatch(/^ {2}FAIL {2}set then get returns the same bytes/m);
      expect(stdout).toMatch(/0 passed, 1 failed/);
    } finally {
      await served.stop();
    }
  });

  it("rejects an unknown tier (exit 2)", async () => {
    const { code, stderr } = await runCli(["conformance", "memory://", "--tier", "huge"]);
    expect(code).toBe(2);
    expect(stderr).toMatch(/--tier must be quick or heavy, got 'huge'/);
  });
});

describe("the CLI as a process", () => {
  it("prints the tree, exits 0, and keeps notes off stdout", async () => {
    const { code, stdout, stderr } = await runCliProcess(["tree", http.v2]);
    expect(code, stderr).toBe(0);
    expect(stdout).toMatch(/^.*air\.zarr\s+group \(v2\)\n├── air\s+float32/);
    expect(stderr).toMatch(/^note: .* cannot be listed/);
  });

  it("cats binary bytes intact and exits 1 with a message for a missing key", async () => {
    const ok = await runCliProcess(["cat", V3, "grp/sharded/c/2/0"]);
    expect(ok.code).toBe(0);
    expect(
      Buffer.from(ok.stdoutBytes).equals(readFileSync(join(SAMPLE_V3, "grp/sharded/c/2/0"))),
    ).toBe(true);
    const missing = await runCliProcess(["cat", V3, "nope"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe(`zarrstore cat: no value at /nope in ${V3}\n`);
  });

  it("exits 2 on a usage mistake", async () => {
    const { code, stderr } = await runCliProcess(["ls"]);
    expect(code).toBe(2);
    expect(stderr).toMatch(/missing the store URL/);
  });
});
