import * as zarr from "zarrita";
import type { AbsolutePath, Prefix } from "../keys.js";
import { inParallel } from "../lanes.js";
import type { Capabilities, Store } from "../store.js";
import { check, checkBytes, checkEqual, checkRejects } from "./assert.js";

/** `quick` runs everywhere; `heavy` adds large values and many keys. */
export type Tier = "quick" | "heavy";

/** What a case gets: the store, a writer for fixtures, and a fresh folder of its own. */
export interface CaseContext {
  store: Store;
  /** Writes fixtures: the store itself when writable, else the writer given to the runner. */
  writer: Store;
  /** A fresh folder for this case, e.g. `/zs-conf-4f2a/07/`. */
  root: Prefix;
  /** A key inside this case's folder. */
  key(name: string): AbsolutePath;
}

/** One conformance case, as data: its name, what it needs, and what it checks. */
export interface ConformanceCase {
  name: string;
  tier: Tier;
  /** Capabilities the store under test must declare. */
  requires: (keyof Capabilities)[];
  /** Capabilities the store must not declare (for read-only cases). */
  requiresAbsent?: (keyof Capabilities)[];
  /** The case writes fixtures and needs a writer (the store or the runner's `writer`). */
  seeds?: boolean;
  run(ctx: CaseContext): Promise<void>;
}

const enc = new TextEncoder();
const bytes = (text: string) => enc.encode(text);

/** Deterministic pseudo-random bytes (so failures reproduce). */
export function patternBytes(size: number, seed = 1): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

async function collect(iterable: AsyncIterable<AbsolutePath>): Promise<AbsolutePath[]> {
  const out: AbsolutePath[] = [];
  for await (const key of iterable) out.push(key);
  return out.sort();
}

async function seed(ctx: CaseContext, entries: Record<string, Uint8Array | string>): Promise<void> {
  for (const [name, value] of Object.entries(entries)) {
    await ctx.writer.set(ctx.key(name), typeof value === "string" ? bytes(value) : value);
  }
}

const basics: ConformanceCase[] = [
  {
    name: "get returns undefined for a missing key",
    tier: "quick",
    requires: [],
    async run(ctx) {
      check(
        (await ctx.store.get(ctx.key("missing"))) === undefined,
        "get of a missing key must be undefined",
      );
      check(
        (await ctx.store.stat(ctx.key("missing"))) === undefined,
        "stat of a missing key must be undefined",
      );
      const range = await ctx.store.getRange(ctx.key("missing"), { offset: 0, length: 1 });
      check(range === undefined, "getRange of a missing key must be undefined");
    },
  },
  {
    name: "set then get returns the same bytes",
    tier: "quick",
    requires: ["write"],
    async run(ctx) {
      const value = patternBytes(1000, 7);
      await ctx.store.set(ctx.key("a"), value);
      checkBytes(await ctx.store.get(ctx.key("a")), patternBytes(1000, 7), "get after set");
      value.fill(0);
      checkBytes(
        await ctx.store.get(ctx.key("a")),
        patternBytes(1000, 7),
        "changing the caller's buffer after set",
      );
    },
  },
  {
    name: "set replaces an existing value",
    tier: "quick",
    requires: ["write", "overwrite"],
    async run(ctx) {
      await ctx.store.set(ctx.key("a"), bytes("first value, longer"));
      await ctx.store.set(ctx.key("a"), bytes("second"));
      checkBytes(await ctx.store.get(ctx.key("a")), bytes("second"), "get after overwrite");
      checkEqual((await ctx.store.stat(ctx.key("a")))?.size, 6, "stat size after overwrite");
    },
  },
  {
    name: "empty values and every byte value round-trip",
    tier: "quick",
    requires: [],
    seeds: true,
    async run(ctx) {
      const all = Uint8Array.from({ length: 256 }, (_, i) => i);
      await seed(ctx, { empty: new Uint8Array(0), all });
      checkBytes(await ctx.store.get(ctx.key("empty")), new Uint8Array(0), "empty value");
      checkBytes(await ctx.store.get(ctx.key("all")), all, "bytes 0..255");
      checkEqual((await ctx.store.stat(ctx.key("empty")))?.size, 0, "stat size of an empty value");
    },
  },
  {
    name: "stat reports the size",
    tier: "quick",
    requires: [],
    seeds: true,
    async run(ctx) {
      await seed(ctx, { a: patternBytes(4097) });
      const stat = await ctx.store.stat(ctx.key("a"));
      checkEqual(stat?.size, 4097, "stat size");
    },
  },
  {
    name: "delete removes a key and deleting a missing key is no error",
    tier: "quick",
    requires: ["write", "delete"],
    async run(ctx) {
      await ctx.store.set(ctx.key("a"), bytes("x"));
      await ctx.store.delete(ctx.key("a"));
      check(
        (await ctx.store.get(ctx.key("a"))) === undefined,
        "get after delete must be undefined",
      );
      await ctx.store.delete(ctx.key("a"));
      await ctx.store.delete(ctx.key("never/there"));
    },
  },
  {
    name: "a read-only store rejects writes with ReadOnly",
    tier: "quick",
    requires: [],
    requiresAbsent: ["write"],
    async run(ctx) {
      await checkRejects(
        () => ctx.store.set(ctx.key("a"), bytes("x")),
        ["ReadOnly", "Unsupported"],
        "set",
      );
      await checkRejects(
        () => ctx.store.delete(ctx.key("a")),
        ["ReadOnly", "Unsupported"],
        "delete",
      );
      await checkRejects(
        () => ctx.store.deletePrefix(ctx.root),
        ["ReadOnly", "Unsupported"],
        "deletePrefix",
      );
    },
  },
  {
    name: "an already aborted signal rejects with Aborted",
    tier: "quick",
    requires: [],
    async run(ctx) {
      const controller = new AbortController();
      controller.abort();
      await checkRejects(
        () => ctx.store.get(ctx.key("a"), { signal: controller.signal }),
        "Aborted",
        "get",
      );
    },
  },
];

const ranges: ConformanceCase[] = [
  {
    name: "getRange with offset and length",
    tier: "quick",
    requires: [],
    seeds: true,
    async run(ctx) {
      await seed(ctx, { a: "0123456789" });
      checkBytes(
        await ctx.store.getRange(ctx.key("a"), { offset: 2, length: 3 }),
        bytes("234"),
        "[2,5)",
      );
      checkBytes(
        await ctx.store.getRange(ctx.key("a"), { offset: 0, length: 10 }),
        bytes("0123456789"),
        "whole",
      );
      checkBytes(
        await ctx.store.getRange(ctx.key("a"), { offset: 9, length: 1 }),
        bytes("9"),
        "last byte",
      );
      checkBytes(
        await ctx.store.getRange(ctx.key("a"), { offset: 4, length: 0 }),
        new Uint8Array(0),
        "zero length",
      );
    },
  },
  {
    name: "getRange past the end returns the bytes that exist",
    tier: "quick",
    requires: [],
    seeds: true,
    async run(ctx) {
      await seed(ctx, { a: "0123456789" });
      checkBytes(
        await ctx.store.getRange(ctx.key("a"), { offset: 7, length: 100 }),
        bytes("789"),
        "[7,107)",
      );
    },
  },
  {
    name: "getRange at or past the end is RangeNotSatisfiable",
    tier: "quick",
    requires: [],
    seeds: true,
    async run(ctx) {
      await seed(ctx, { a: "0123456789" });
      await checkRejects(
        () => ctx.store.getRange(ctx.key("a"), { offset: 10, length: 1 }),
        "RangeNotSatisfiable",
        "offset = size",
      );
      await checkRejects(
        () => ctx.store.getRange(ctx.key("a"), { offset: 50, length: 5 }),
        "RangeNotSatisfiable",
        "offset > size",
      );
    },
  },
  {
    name: "getRange with a suffix",
    tier: "quick",
    requires: [],
    seeds: true,
    async run(ctx) {
      await seed(ctx, { a: "0123456789", empty: new Uint8Array(0) });
      checkBytes(
        await ctx.store.getRange(ctx.key("a"), { suffixLength: 4 }),
        bytes("6789"),
        "last 4",
      );
      checkBytes(
        await ctx.store.getRange(ctx.key("a"), { suffixLength: 10 }),
        bytes("0123456789"),
        "suffix = size",
      );
      checkBytes(
        await ctx.store.getRange(ctx.key("a"), { suffixLength: 25 }),
        bytes("0123456789"),
        "suffix > size",
      );
      checkBytes(
        await ctx.store.getRange(ctx.key("empty"), { suffixLength: 3 }),
        new Uint8Array(0),
        "suffix of empty",
      );
    },
  },
  {
    name: "getRange reads a range of a larger binary value exactly",
    tier: "quick",
    requires: [],
    seeds: true,
    async run(ctx) {
      const value = patternBytes(300_000, 3);
      await seed(ctx, { big: value });
      checkBytes(
        await ctx.store.getRange(ctx.key("big"), { offset: 123_457, length: 65_536 }),
        value.subarray(123_457, 123_457 + 65_536),
        "middle range",
      );
      checkBytes(
        await ctx.store.getRange(ctx.key("big"), { suffixLength: 1000 }),
        value.subarray(299_000),
        "suffix",
      );
    },
  },
];

const listing: ConformanceCase[] = [
  {
    name: "list returns every key under a folder, at any depth",
    tier: "quick",
    requires: ["list"],
    seeds: true,
    async run(ctx) {
      await seed(ctx, {
        "zarr.json": "{}",
        "a/zarr.json": "{}",
        "a/c/0/0": "x",
        "a/c/0/1": "y",
        "b/.zarray": "{}",
      });
      const all = await collect(ctx.store.list(ctx.root));
      checkEqual(
        all,
        ["a/c/0/0", "a/c/0/1", "a/zarr.json", "b/.zarray", "zarr.json"].map(ctx.key).sort(),
        "list(root)",
      );
      const underA = await collect(ctx.store.list(`${ctx.root}a/`));
      checkEqual(underA, ["a/c/0/0", "a/c/0/1", "a/zarr.json"].map(ctx.key), "list(a/)");
    },
  },
  {
    name: "the folder foo/ does not match foo-bar/ or foobar",
    tier: "quick",
    requires: ["list"],
    seeds: true,
    async run(ctx) {
      await seed(ctx, { "foo/x": "1", "foo-bar/y": "2", foobar: "3", "foo/sub/z": "4" });
      checkEqual(
        await collect(ctx.store.list(`${ctx.root}foo`)),
        [ctx.key("foo/sub/z"), ctx.key("foo/x")],
        "list(foo)",
      );
      const dir = await ctx.store.listDir(`${ctx.root}foo`);
      checkEqual(
        dir,
        { keys: [ctx.key("foo/x")], prefixes: [`${ctx.root}foo/sub/`] },
        "listDir(foo)",
      );
    },
  },
  {
    name: "prefix spellings foo, /foo and /foo/ mean the same folder",
    tier: "quick",
    requires: ["list"],
    seeds: true,
    async run(ctx) {
      await seed(ctx, { "foo/a": "1", "foo/b/c": "2" });
      const rooted = `${ctx.root}foo`;
      const forms = [rooted, `${rooted}/`, rooted.slice(1), `${rooted.slice(1)}/`];
      const expected = await ctx.store.listDir(forms[0]);
      for (const form of forms) {
        checkEqual(await ctx.store.listDir(form), expected, `listDir(${JSON.stringify(form)})`);
        checkEqual(
          await collect(ctx.store.list(form)),
          [ctx.key("foo/a"), ctx.key("foo/b/c")],
          `list(${JSON.stringify(form)})`,
        );
      }
    },
  },
  {
    name: "listDir returns full keys and full prefixes one level deep",
    tier: "quick",
    requires: ["list"],
    seeds: true,
    async run(ctx) {
      await seed(ctx, {
        ".zgroup": "{}",
        ".zattrs": "{}",
        "t/.zarray": "{}",
        "t/0.0": "x",
        "g/h/.zgroup": "{}",
      });
      const dir = await ctx.store.listDir(ctx.root);
      checkEqual(dir.keys, [ctx.key(".zattrs"), ctx.key(".zgroup")], "listDir keys");
      checkEqual(dir.prefixes, [`${ctx.root}g/`, `${ctx.root}t/`], "listDir prefixes");
      checkEqual(
        await ctx.store.listDir(`${ctx.root}missing`),
        { keys: [], prefixes: [] },
        "listDir of a missing folder",
      );
      checkEqual(
        await collect(ctx.store.list(`${ctx.root}missing/`)),
        [],
        "list of a missing folder",
      );
    },
  },
  {
    name: "deletePrefix removes only that folder",
    tier: "quick",
    requires: ["write", "delete", "list"],
    async run(ctx) {
      // No key `foo` beside the folder `foo/`: a file system cannot hold both names.
      await seed(ctx, { "foo/a": "1", "foo/b/c": "2", "foo-bar/d": "3", foobar: "4" });
      await ctx.store.deletePrefix(`${ctx.root}foo`);
      checkEqual(
        await collect(ctx.store.list(ctx.root)),
        [ctx.key("foo-bar/d"), ctx.key("foobar")],
        "what is left",
      );
      await ctx.store.deletePrefix(`${ctx.root}never`);
    },
  },
  {
    name: "keys with spaces, punctuation and non-ASCII round-trip and list exactly",
    tier: "quick",
    requires: [],
    seeds: true,
    async run(ctx) {
      const names = [
        "a b/c d",
        "x+y=z,!@$&'()~",
        "ü/日本語/€",
        "percent%20/hash#q?",
        "dots.../.hidden",
      ];
      await seed(ctx, Object.fromEntries(names.map((n, i) => [n, `value ${i}`])));
      for (const [i, name] of names.entries()) {
        checkBytes(await ctx.store.get(ctx.key(name)), bytes(`value ${i}`), `get ${name}`);
      }
      if (ctx.store.capabilities.list) {
        checkEqual(
          await collect(ctx.store.list(ctx.root)),
          names.map(ctx.key).sort(),
          "list of odd names",
        );
      }
    },
  },
  {
    name: "invalid keys are rejected with InvalidKey",
    tier: "quick",
    requires: [],
    async run(ctx) {
      const bad = [
        "",
        "/",
        `${ctx.root}a//b`,
        `${ctx.root}a/../b`,
        `${ctx.root}./b`,
        `${ctx.root}a\\b`,
        `${ctx.root}a\u0000b`,
        `${ctx.root}a\nb`,
        `${ctx.root}a/`,
      ];
      for (const key of bad) {
        await checkRejects(
          () => ctx.store.get(key as AbsolutePath),
          "InvalidKey",
          `get(${JSON.stringify(key)})`,
        );
      }
      if (ctx.store.capabilities.write) {
        await checkRejects(
          () => ctx.store.set(`${ctx.root}../x` as AbsolutePath, bytes("x")),
          "InvalidKey",
          "set(../x)",
        );
      }
      if (ctx.store.capabilities.list) {
        await checkRejects(
          () => ctx.store.listDir(`${ctx.root}a/../..`),
          "InvalidKey",
          "listDir(..)",
        );
      }
    },
  },
];

const writes: ConformanceCase[] = [
  {
    name: "ifNoneMatch '*' writes when absent and fails with ConditionFailed when present",
    tier: "quick",
    requires: ["write", "conditionalWrite"],
    async run(ctx) {
      await ctx.store.set(ctx.key("a"), bytes("one"), { ifNoneMatch: "*" });
      await checkRejects(
        () => ctx.store.set(ctx.key("a"), bytes("two"), { ifNoneMatch: "*" }),
        "ConditionFailed",
        "second create",
      );
      checkBytes(
        await ctx.store.get(ctx.key("a")),
        bytes("one"),
        "value after a failed conditional write",
      );
    },
  },
  {
    name: "ifMatch writes only over the value with that etag",
    tier: "quick",
    requires: ["write", "overwrite", "conditionalWrite", "etag"],
    async run(ctx) {
      const first = await ctx.store.put(ctx.key("a"), bytes("one"));
      check(typeof first.etag === "string" && first.etag.length > 0, "put must return an etag");
      checkEqual(
        (await ctx.store.stat(ctx.key("a")))?.etag,
        first.etag,
        "stat etag equals put etag",
      );
      const second = await ctx.store.put(ctx.key("a"), bytes("two"), {
        ifMatch: first.etag as string,
      });
      check(second.etag !== first.etag, "the etag must change with the value");
      await checkRejects(
        () => ctx.store.set(ctx.key("a"), bytes("three"), { ifMatch: first.etag as string }),
        "ConditionFailed",
        "stale ifMatch",
      );
      await checkRejects(
        () => ctx.store.set(ctx.key("nothing"), bytes("x"), { ifMatch: first.etag as string }),
        "ConditionFailed",
        "ifMatch on a missing key",
      );
      checkBytes(
        await ctx.store.get(ctx.key("a")),
        bytes("two"),
        "value after a stale conditional write",
      );
    },
  },
  {
    name: "concurrent writers to distinct keys all land",
    tier: "quick",
    requires: ["write"],
    async run(ctx) {
      const ids = Array.from({ length: 64 }, (_, i) => i);
      await Promise.all(
        ids.map((i) => ctx.store.set(ctx.key(`c/${i}`), patternBytes(512 + i, i + 1))),
      );
      for (const i of ids)
        checkBytes(
          await ctx.store.get(ctx.key(`c/${i}`)),
          patternBytes(512 + i, i + 1),
          `key c/${i}`,
        );
    },
  },
];

const zarrita: ConformanceCase[] = [
  {
    name: "zarrita creates, writes and reads a v3 array through the store",
    tier: "quick",
    requires: ["write"],
    async run(ctx) {
      const group = await zarr.create(zarr.root(ctx.store).resolve(ctx.root.slice(1)), {
        attributes: { title: "t" },
      });
      const arr = await zarr.create(group.resolve("temperature"), {
        shape: [5, 7],
        chunkShape: [2, 3],
        dtype: "float32",
        fillValue: 0,
      });
      const values = Float32Array.from({ length: 35 }, (_, i) => i * 0.5 - 3);
      await zarr.set(arr, null, { data: values, shape: [5, 7], stride: [7, 1] });
      const reopened = await zarr.open(
        zarr.root(ctx.store).resolve(`${ctx.root.slice(1)}temperature`),
        { kind: "array" },
      );
      const got = await zarr.get(reopened);
      checkBytes(
        new Uint8Array((got.data as Float32Array).buffer),
        new Uint8Array(values.buffer),
        "array values",
      );
      check(
        (await ctx.store.get(ctx.key("temperature/c/2/2"))) !== undefined,
        "the edge chunk c/2/2 exists",
      );
    },
  },
  {
    name: "zarrita reads a v2 array written as plain keys",
    tier: "quick",
    requires: [],
    seeds: true,
    async run(ctx) {
      const zarray = {
        zarr_format: 2,
        shape: [4],
        chunks: [3],
        dtype: "<i4",
        compressor: null,
        fillValue: 0,
        filters: null,
        order: "C",
      };
      await seed(ctx, {
        ".zgroup": '{"zarr_format":2}',
        "v/.zarray": JSON.stringify(zarray),
        "v/0": new Uint8Array(Int32Array.of(1, 2, 3).buffer),
        "v/1": new Uint8Array(Int32Array.of(4, -5, 6).buffer),
      });
      const arr = await zarr.open.v2(zarr.root(ctx.store).resolve(`${ctx.root.slice(1)}v`), {
        kind: "array",
      });
      const got = await zarr.get(arr);
      checkEqual(Array.from(got.data as Int32Array), [1, 2, 3, 4], "v2 values");
    },
  },
];

const heavy: ConformanceCase[] = [
  {
    name: "a 64 MiB value round-trips and its far end reads by range",
    tier: "heavy",
    requires: [],
    seeds: true,
    async run(ctx) {
      const size = 64 * 1024 * 1024 + 17;
      const value = patternBytes(size, 11);
      await seed(ctx, { large: value });
      checkEqual((await ctx.store.stat(ctx.key("large")))?.size, size, "stat size");
      checkBytes(
        await ctx.store.getRange(ctx.key("large"), { offset: size - 100_000, length: 200_000 }),
        value.subarray(size - 100_000),
        "range at the far end",
      );
      checkBytes(
        await ctx.store.getRange(ctx.key("large"), { suffixLength: 1 }),
        value.subarray(size - 1),
        "last byte",
      );
      checkBytes(await ctx.store.get(ctx.key("large")), value, "whole value");
    },
  },
  {
    name: "20,000 keys list completely",
    tier: "heavy",
    requires: ["list"],
    seeds: true,
    async run(ctx) {
      const names = Array.from(
        { length: 20_000 },
        (_, i) => `many/c/${Math.floor(i / 100)}/${i % 100}`,
      );
      const one = bytes("1");
      await inParallel(names, 32, async (name) => {
        await ctx.writer.set(ctx.key(name), one);
      });
      const listed = await collect(ctx.store.list(`${ctx.root}many/`));
      checkEqual(listed.length, names.length, "number of keys listed");
      checkEqual(listed, names.map(ctx.key).sort(), "keys listed");
      const dir = await ctx.store.listDir(`${ctx.root}many/c/`);
      checkEqual(dir.prefixes.length, 200, "folders in listDir");
    },
  },
];

/** Every conformance case, quick tier first. */
export const CONFORMANCE_CASES: readonly ConformanceCase[] = Object.freeze([
  ...basics,
  ...ranges,
  ...listing,
  ...writes,
  ...zarrita,
  ...heavy,
]);
