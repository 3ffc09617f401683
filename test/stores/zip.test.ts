import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { listAll } from "../../src/helpers.js";
import type { AbsolutePath } from "../../src/keys.js";
import type {
  CallOptions,
  ListDirResult,
  RangeQuery,
  SetOptions,
  SetResult,
  StatResult,
  Store,
} from "../../src/store.js";
import { MemoryStore } from "../../src/stores/memory.js";
import { ZipStore } from "../../src/stores/zip.js";
import { describeConformance } from "../../src/testing/vitest.js";
import { describeLive } from "../support/live.js";
import { pythonZarrAvailable, runPython } from "../support/python.js";

const tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), "zs-zip-test-"));
afterAll(() => fs.rmSync(tmpRoot, { recursive: true, force: true }));

let counter = 0;
/** The Zip64 archive of 66,000 entries one test writes and a Python test reads. */
const zip64Archive = path.join(tmpRoot, "zip64-count.zip");
function freshPath(name: string): string {
  counter += 1;
  return path.join(tmpRoot, `${name}-${counter}.zip`);
}

const enc = new TextEncoder();
const bytes = (text: string) => enc.encode(text);

/** Writes `entries` into a new archive through ZipStore mode w and returns its path. */
async function writeZip(
  entries: Record<string, Uint8Array | string>,
  compression: "store" | "deflate" = "store",
): Promise<string> {
  const file = freshPath("made");
  const zip = await ZipStore.open(file, { mode: "w", compression });
  for (const [key, value] of Object.entries(entries)) {
    await zip.set(key as AbsolutePath, typeof value === "string" ? bytes(value) : value);
  }
  await zip.close();
  return file;
}

// Mode w streams into a real archive and reads back from it before close().
describeConformance("ZipStore mode w", () => ZipStore.open(freshPath("conf-w"), { mode: "w" }), {
  tier: "heavy",
  teardown: (store) => store.close(),
});

describeConformance(
  "ZipStore mode w, deflate",
  () => ZipStore.open(freshPath("conf-deflate"), { mode: "w", compression: "deflate" }),
  { teardown: (store) => store.close() },
);

/**
 * Mode r under the conformance suite: fixtures go to a MemoryStore; before a read, when they
 * changed, they are written out as a real archive (ZipStore mode w, closed) that a fresh
 * ZipStore mode r opens. Every read goes through that real mode-r store.
 */
class ArchivedSnapshot implements Store {
  readonly #changes = { count: 0 };
  readonly source: MemoryStore;
  #reader: ZipStore;
  #seen = 0;

  private constructor(source: MemoryStore, reader: ZipStore, changes: { count: number }) {
    this.source = source;
    this.#reader = reader;
    this.#changes = changes;
  }

  static async create(): Promise<ArchivedSnapshot> {
    const changes = { count: 0 };
    const map = new (class extends Map<string, Uint8Array> {
      override set(key: string, value: Uint8Array) {
        changes.count += 1;
        return super.set(key, value);
      }
      override delete(key: string) {
        changes.count += 1;
        return super.delete(key);
      }
    })();
    const reader = await ZipStore.open(await writeZip({}), { mode: "r" });
    return new ArchivedSnapshot(new MemoryStore(map), reader, changes);
  }

  get capabilities() {
    return this.#reader.capabilities;
  }

  async #current(): Promise<ZipStore> {
    if (this.#seen !== this.#changes.count) {
      this.#seen = this.#changes.count;
      const file = freshPath("snapshot");
      const writer = await ZipStore.open(file, { mode: "w" });
      for (const [key, value] of this.source.map) await writer.set(key as AbsolutePath, value);
      await writer.close();
      await this.#reader.close();
      this.#reader = await ZipStore.open(file, { mode: "r" });
    }
    return this.#reader;
  }

  async get(key: AbsolutePath, options?: CallOptions) {
    return (await this.#current()).get(key, options);
  }
  async getRange(key: AbsolutePath, range: RangeQuery, options?: CallOptions) {
    return (await this.#current()).getRange(key, range, options);
  }
  async stat(key: AbsolutePath, options?: CallOptions): Promise<StatResult | undefined> {
    return (await this.#current()).stat(key, options);
  }
  async set(key: AbsolutePath, value: Uint8Array, options?: SetOptions) {
    return (await this.#current()).set(key, value, options);
  }
  async put(key: AbsolutePath, value: Uint8Array, options?: SetOptions): Promise<SetResult> {
    return (await this.#current()).put(key, value, options);
  }
  async delete(key: AbsolutePath, options?: CallOptions) {
    return (await this.#current()).delete(key, options);
  }
  async deletePrefix(prefix: string, options?: CallOptions) {
    return (await this.#current()).deletePrefix(prefix, options);
  }
  async *list(prefix?: string, options?: CallOptions) {
    yield* (await this.#current()).list(prefix, options);
  }
  async listDir(prefix?: string, options?: CallOptions): Promise<ListDirResult> {
    return (await this.#current()).listDir(prefix, options);
  }
  async close() {
    await this.#reader.close();
  }
}

let snapshot: ArchivedSnapshot | undefined;
describeConformance(
  "ZipStore mode r",
  async () => {
    snapshot = await ArchivedSnapshot.create();
    return snapshot;
  },
  { writer: () => (snapshot as ArchivedSnapshot).source, teardown: (store) => store.close() },
);

describe("ZipStore mode w", () => {
  it("rejects overwrites, deletes and ifMatch as Unsupported, a second create as ConditionFailed", async () => {
    const file = freshPath("rules");
    const zip = await ZipStore.open(file, { mode: "w" });
    await zip.set("/a", bytes("1"));
    await expect(zip.set("/a", bytes("2"))).rejects.toMatchObject({ code: "Unsupported" });
    await expect(zip.set("/a", bytes("2"), { ifNoneMatch: "*" })).rejects.toMatchObject({
      code: "ConditionFailed",
    });
    await expect(zip.set("/b", bytes("2"), { ifMatch: '"x"' })).rejects.toMatchObject({
      code: "Unsupported",
    });
    await expect(zip.delete("/a")).rejects.toMatchObject({ code: "Unsupported" });
    await expect(zip.deletePrefix("/")).rejects.toMatchObject({ code: "Unsupported" });
    expect(await zip.get("/a")).toEqual(bytes("1"));
    await zip.close();
  });

  it("lets only one of two concurrent sets of a key in", async () => {
    const zip = await ZipStore.open(freshPath("twice"), { mode: "w" });
    const outcomes = await Promise.allSettled([
      zip.set("/k", bytes("one")),
      zip.set("/k", bytes("two")),
    ]);
    expect(outcomes.map((o) => o.status).sort()).toEqual(["fulfilled", "rejected"]);
    expect(await zip.get("/k")).toEqual(bytes("one"));
    await zip.close();
  });

  it("creates the archive at its path only when close() finishes it", async () => {
    const file = freshPath("atomic");
    const zip = await ZipStore.open(file, { mode: "w" });
    await zip.set("/x", bytes("x"));
    expect(fs.existsSync(file)).toBe(false);
    await zip.close();
    await zip.close(); // idempotent
    expect(fs.existsSync(file)).toBe(true);
    expect(fs.readdirSync(path.dirname(file)).filter((n) => n.includes(".zstmp-"))).toEqual([]);
    await expect(zip.get("/x")).rejects.toMatchObject({ code: "Config" });
    const reader = await ZipStore.open(file);
    expect(await reader.get("/x")).toEqual(bytes("x"));
    await expect(reader.set("/y", bytes("y"))).rejects.toMatchObject({ code: "ReadOnly" });
    await reader.close();
  });

  it("abandon() drops the archive being written and leaves the one at its path as it was", async () => {
    const file = freshPath("discard");
    const first = await ZipStore.open(file, { mode: "w" });
    await first.set("/kept", bytes("old"));
    await first.close();
    const before = fs.readFileSync(file);
    const second = await ZipStore.open(file, { mode: "w" });
    await Promise.all([second.set("/a", bytes("new")), second.set("/b", bytes("new"))]);
    await second.abandon();
    await second.abandon(); // idempotent
    await second.close(); // and close() after it writes nothing
    expect(fs.readFileSync(file).equals(before)).toBe(true);
    expect(fs.readdirSync(path.dirname(file)).filter((n) => n.includes(".zstmp-"))).toEqual([]);
    await expect(second.get("/a")).rejects.toMatchObject({ code: "Config" });
  });

  it("switches to Zip64 above 65,535 entries and reads them all back", async () => {
    const file = zip64Archive;
    const zip = await ZipStore.open(file, { mode: "w" });
    const n = 66_000;
    const writes: Promise<void>[] = [];
    for (let i = 0; i < n; i++) writes.push(zip.set(`/c/${i >> 8}/${i & 255}`, bytes(String(i))));
    await Promise.all(writes);
    await zip.close();
    const reader = await ZipStore.open(file);
    expect((await listAll(reader)).length).toBe(n);
    expect(await reader.get("/c/257/207")).toEqual(bytes(String(257 * 256 + 207)));
    await reader.close();
  }, 60_000);
});

describe("ZipStore reading damaged archives", () => {
  const value = new Uint8Array(50_000).map((_, i) => (i * 7) & 0xff);

  it("reports a truncated archive as Integrity, naming the file", async () => {
    const file = await writeZip({ "/a": value, "/b": "b" });
    const size = fs.statSync(file).size;
    for (const cut of [size - 10, Math.floor(size / 2), 10]) {
      fs.truncateSync(file, cut);
      const opening = ZipStore.open(file);
      await expect(opening).rejects.toMatchObject({ code: "Integrity" });
      await expect(opening).rejects.toThrow(file);
    }
  });

  it("detects flipped bytes in deflated data (CRC or inflate) as Integrity", async () => {
    // Four bits of noise per byte: deflate halves it, so offset 2,000 lies inside the stream.
    let x = 12345;
    const compressible = new Uint8Array(200_000).map(() => {
      x = (x * 1103515245 + 12345) >>> 0;
      return (x >>> 16) & 0x0f;
    });
    const file = await writeZip({ "/a": compressible }, "deflate");
    const raw = fs.readFileSync(file);
    const at = 30 + 1 + 2000; // inside the deflate stream of the first entry
    raw[at] = (raw[at] as number) ^ 0x5a;
    raw[at + 1] = (raw[at + 1] as number) ^ 0xa5;
    fs.writeFileSync(file, raw);
    const zip = await ZipStore.open(file);
    await expect(zip.get("/a")).rejects.toMatchObject({ code: "Integrity" });
    await expect(zip.get("/a")).rejects.toThrow(file);
    await zip.close();
  });

  it("detects flipped bytes in stored data by CRC, while a range elsewhere reads only its bytes", async () => {
    const file = await writeZip({ "/a": value });
    const raw = fs.readFileSync(file);
    const dataStart = 30 + 1;
    raw[dataStart + 10] = (raw[dataStart + 10] as number) ^ 0xff;
    fs.writeFileSync(file, raw);
    const zip = await ZipStore.open(file);
    await expect(zip.get("/a")).rejects.toThrow(/CRC-32 mismatch/);
    // The damage is in bytes 0..20 only; a range past them never reads them.
    expect(await zip.getRange("/a", { offset: 40_000, length: 100 })).toEqual(
      value.subarray(40_000, 40_100),
    );
    expect(await zip.getRange("/a", { suffixLength: 5 })).toEqual(value.subarray(49_995));
    await zip.close();
  });

  it("rejects a file that is not a zip", async () => {
    const file = freshPath("not-a-zip");
    fs.writeFileSync(file, "just some text, no central directory here".repeat(10));
    await expect(ZipStore.open(file)).rejects.toMatchObject({ code: "Integrity" });
    await expect(ZipStore.open(freshPath("absent"))).rejects.toMatchObject({ code: "NotFound" });
  });
});

// Archives written by Python's zipfile: the names and layouts other tools produce.
describeLive("ZipStore reading archives Python's zipfile wrote", pythonZarrAvailable, () => {
  it("serves the last of duplicate names and never serves names that escape", async () => {
    const file = freshPath("python-odd");
    runPython(
      `
import sys, warnings, zipfile
warnings.simplefilter("ignore")
with zipfile.ZipFile(sys.argv[1], "w") as z:
    z.writestr("group/.zattrs", b"old")
    z.writestr("group/x", b"x")
    z.writestr("group/.zattrs", b"new")
    z.writestr("../escape", b"outside")
    z.writestr("/abs", b"absolute")
    z.writestr("a\\\\b", b"backslash")
    z.writestr("a/./b", b"dot")
    z.writestr("folder/", b"")
    z.writestr("unicode/ü日本", b"utf8")
    z.writestr(zipfile.ZipInfo("deflated"), b"d" * 5000, compress_type=zipfile.ZIP_DEFLATED)
`,
      [file],
    );
    const zip = await ZipStore.open(file);
    expect(await zip.get("/group/.zattrs")).toEqual(bytes("new"));
    expect(await listAll(zip)).toEqual([
      "/deflated",
      "/group/.zattrs",
      "/group/x",
      "/unicode/ü日本",
    ]);
    expect(zip.skipped.map((s) => s.name).sort()).toEqual(["../escape", "/abs", "a/./b", "a\\b"]);
    await expect(zip.get("/../escape" as AbsolutePath)).rejects.toMatchObject({
      code: "InvalidKey",
    });
    expect(await zip.get("/unicode/ü日本")).toEqual(bytes("utf8"));
    expect(await zip.get("/deflated")).toEqual(bytes("d".repeat(5000)));
    expect(await zip.getRange("/deflated", { offset: 4998, length: 10 })).toEqual(bytes("dd"));
    expect(zip.capabilities.getRange).toBe(false); // one entry is deflated
    await zip.close();
  });

  it("reads Zip64 extra fields that Python forces on entries", async () => {
    const file = freshPath("python-zip64");
    runPython(
      `
import sys, zipfile
with zipfile.ZipFile(sys.argv[1], "w") as z:
    for i in range(3):
        with z.open("v/%d" % i, "w", force_zip64=True) as f:
            f.write(bytes([i]) * 70000)
`,
      [file],
    );
    const zip = await ZipStore.open(file);
    for (let i = 0; i < 3; i++) {
      expect(await zip.get(`/v/${i}`)).toEqual(new Uint8Array(70_000).fill(i));
    }
    await zip.close();
  });

  it("writes Zip64 archives Python's zipfile reads (66,000 entries)", () => {
    expect(fs.existsSync(zip64Archive)).toBe(true);
    const out = runPython(
      `
import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
names = z.namelist()
print(len(names), z.read("c/257/207").decode())
`,
      [zip64Archive],
    );
    expect(out.trim()).toBe(`66000 ${257 * 256 + 207}`);
  });

  it("writes archives Python's zipfile tests clean", async () => {
    const file = freshPath("for-python");
    const zip = await ZipStore.open(file, { mode: "w", compression: "deflate" });
    await zip.set("/ü/名前", bytes("unicode name"));
    await zip.set("/big", new Uint8Array(300_000).fill(3));
    await zip.close();
    const out = runPython(
      `
import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
assert z.testzip() is None
print(sorted((i.filename, i.file_size) for i in z.infolist()))
`,
      [file],
    );
    expect(out.trim()).toBe("[('big', 300000), ('ü/名前', 12)]");
  });
});
