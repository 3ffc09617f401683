/**
 * Consolidated metadata, written the way zarr-python writes it, so zarr-python
 * (`zarr.open_consolidated`) and zarrita (`withConsolidatedMetadata`) open a hierarchy with one
 * read instead of one per node.
 *
 * - v2: `.zmetadata` next to the group's `.zgroup`:
 *   `{"metadata": {".zgroup": {…}, "a/.zarray": {…}, "a/.zattrs": {…}}, "zarr_consolidated_format": 1}`,
 *   every `.zgroup`, `.zarray` and `.zattrs` below the group keyed by its path relative to it,
 *   as zarr-python 2 dumps JSON (indent 4, keys sorted, ASCII only).
 * - v3: the group's own `zarr.json` gains
 *   `"consolidated_metadata": {"kind": "inline", "must_understand": false, "metadata": {"a": {…}, "g/b": {…}}}`,
 *   every node's `zarr.json` below the group keyed by its path, sorted by depth then name (as
 *   zarr-python 3.1 does); child groups carry an empty consolidated block, as zarr-python writes them.
 *
 * The walk reads each folder's metadata and lists only groups, never arrays, so arrays with a
 * million chunks cost four small reads each.
 */
import { StoreError } from "../errors.js";
import { type AbsolutePath, type Prefix, toPrefix } from "../keys.js";
import type { Store } from "../store.js";

/** Options for `consolidate`. */
export interface ConsolidateOptions {
  /** The group to consolidate (default the root). */
  prefix?: string | undefined;
  /** `auto` (default) writes each format the group has; `2` or `3` only that one. */
  format?: "auto" | 2 | 3 | undefined;
  /** Folders read at once during the walk (default 8). */
  concurrency?: number | undefined;
  signal?: AbortSignal | undefined;
}

/** What `consolidate` wrote. */
export interface ConsolidateResult {
  /** Keys written: `/.zmetadata` and/or `/zarr.json` (under the prefix). */
  written: AbsolutePath[];
  /** Metadata documents gathered (v2 `.z*` files and v3 `zarr.json` files, the group's own included). */
  documents: number;
}

/** A JSON value with plain numbers. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };
/** A metadata document as read: an object whose numbers keep their spelling. */
export type RawJsonObject = { [key: string]: RawJson };

/** The metadata documents of one folder of a hierarchy. */
export interface FolderMetadata {
  /** Folder path relative to the consolidated group, "" for the group itself. */
  path: string;
  zarrJson?: RawJsonObject | undefined;
  zarray?: RawJsonObject | undefined;
  zgroup?: RawJsonObject | undefined;
  zattrs?: RawJsonObject | undefined;
}

/**
 * Writes consolidated metadata for the group at `prefix` (default the root).
 *
 * @example
 * await consolidate(store); // writes /.zmetadata (v2) or the consolidated /zarr.json (v3)
 */
export async function consolidate(
  store: Store,
  options: ConsolidateOptions = {},
): Promise<ConsolidateResult> {
  const prefix = toPrefix(options.prefix);
  const format = options.format ?? "auto";
  if (!store.capabilities.list) {
    throw new StoreError({
      code: "Unsupported",
      message: "consolidating needs a store that can list its folders",
      operation: "listDir",
    });
  }
  const root = await readFolder(store, prefix, "", options.signal);
  const hasV2 = root.zgroup !== undefined || root.zarray !== undefined;
  const hasV3 = root.zarrJson !== undefined;
  if (!hasV2 && !hasV3) {
    throw new StoreError({
      code: "NotFound",
      message: `no Zarr group at ${prefix}: found neither .zgroup nor zarr.json`,
      operation: "consolidate",
      key: prefix,
    });
  }
  const folders = await walk(store, prefix, root, options.concurrency ?? 8, options.signal);
  const written: AbsolutePath[] = [];
  let documents = 0;
  if ((format === "auto" && hasV2) || format === 2) {
    if (!hasV2) throw missingFormat(prefix, 2);
    const { bytes, count } = consolidatedV2(folders);
    const key = `${prefix}.zmetadata` as AbsolutePath;
    await store.set(key, bytes, { signal: options.signal });
    written.push(key);
    documents += count;
  }
  if ((format === "auto" && hasV3) || format === 3) {
    if (!hasV3) throw missingFormat(prefix, 3);
    documents += await writeConsolidatedV3(store, prefix, folders, options.signal);
    written.push(`${prefix}zarr.json` as AbsolutePath);
  }
  return { written, documents };
}

function missingFormat(prefix: Prefix, format: 2 | 3): StoreError {
  const file = format === 2 ? ".zgroup" : "zarr.json";
  return new StoreError({
    code: "NotFound",
    message: `no v${format} metadata at ${prefix}: ${file} is missing`,
    operation: "consolidate",
    key: prefix,
  });
}

/** Reads every folder of the hierarchy below the group, arrays without listing them. */
async function walk(
  store: Store,
  prefix: Prefix,
  root: FolderMetadata,
  concurrency: number,
  signal: AbortSignal | undefined,
): Promise<FolderMetadata[]> {
  const found: FolderMetadata[] = [];
  let level: FolderMetadata[] = [root];
  while (level.length > 0) {
    found.push(...level);
    const groups = level.filter((folder) => !isArrayFolder(folder));
    const children: string[] = [];
    await inPool(groups, concurrency, async (folder) => {
      const folderPrefix = folder.path === "" ? prefix : `${prefix}${folder.path}/`;
      const listing = await store.listDir(folderPrefix, { signal });
      for (const child of listing.prefixes) children.push(child.slice(prefix.length, -1));
    });
    const next: FolderMetadata[] = [];
    await inPool(children.sort(), concurrency, async (path) => {
      next.push(await readFolder(store, prefix, path, signal));
    });
    level = next.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  }
  return found;
}

function isArrayFolder(folder: FolderMetadata): boolean {
  return folder.zarray !== undefined || folder.zarrJson?.node_type === "array";
}

async function readFolder(
  store: Store,
  prefix: Prefix,
  path: string,
  signal: AbortSignal | undefined,
): Promise<FolderMetadata> {
  const folder = path === "" ? prefix : `${prefix}${path}/`;
  const read = (name: string) => readJson(store, `${folder}${name}` as AbsolutePath, signal);
  const [zarrJson, zarray, zgroup, zattrs] = await Promise.all([
    read("zarr.json"),
    read(".zarray"),
    read(".zgroup"),
    read(".zattrs"),
  ]);
  return { path, zarrJson, zarray, zgroup, zattrs };
}

async function readJson(
  store: Store,
  key: AbsolutePath,
  signal: AbortSignal | undefined,
): Promise<RawJsonObject | undefined> {
  const bytes = await store.get(key, { signal });
  if (bytes === undefined) return undefined;
  const value = parseMetadataJson(new TextDecoder().decode(bytes), key);
  if (
    value === null ||
    typeof value !== "object" ||
    Array.isArray(value) ||
    value instanceof RawNumber
  ) {
    throw new StoreError({
      code: "Integrity",
      message: `${key} is not a JSON object`,
      operation: "consolidate",
      key,
    });
  }
  return value;
}

/** The v2 `.zmetadata` document for the folders found, and how many documents it holds. */
export function consolidatedV2(folders: Iterable<FolderMetadata>): {
  bytes: Uint8Array;
  count: number;
} {
  const metadata: RawJsonObject = {};
  for (const folder of folders) {
    const base = folder.path === "" ? "" : `${folder.path}/`;
    if (folder.zgroup !== undefined) metadata[`${base}.zgroup`] = folder.zgroup;
    if (folder.zarray !== undefined) metadata[`${base}.zarray`] = folder.zarray;
    if (folder.zattrs !== undefined) metadata[`${base}.zattrs`] = folder.zattrs;
  }
  const document = { metadata, zarr_consolidated_format: 1 };
  const text = pythonJsonDumps(document, { indent: 4, sortKeys: true });
  return { bytes: new TextEncoder().encode(text), count: Object.keys(metadata).length };
}

/**
 * The v3 root document with consolidated metadata for the folders found: the group's own
 * `zarr.json` with `consolidated_metadata` set.
 */
export function consolidatedV3(folders: Iterable<FolderMetadata>): RawJsonObject {
  let root: RawJsonObject | undefined;
  const entries: [string, RawJsonObject][] = [];
  for (const folder of folders) {
    const doc = folder.zarrJson;
    if (doc === undefined) continue;
    if (folder.path === "") {
      root = doc;
      continue;
    }
    entries.push([
      folder.path,
      doc.node_type === "group" ? { ...doc, consolidated_metadata: emptyConsolidated() } : doc,
    ]);
  }
  if (root === undefined || root.node_type !== "group") {
    throw new StoreError({
      code: "Config",
      message:
        "v3 consolidated metadata lives in a group's zarr.json, and this node is not a group",
      operation: "consolidate",
    });
  }
  // zarr-python 3.1 sorts by depth, then by name, so the output is deterministic.
  entries.sort(([a], [b]) => depth(a) - depth(b) || (a < b ? -1 : a > b ? 1 : 0));
  return {
    ...root,
    consolidated_metadata: {
      kind: "inline",
      must_understand: false,
      metadata: Object.fromEntries(entries),
    },
  };
}

function emptyConsolidated(): RawJsonObject {
  return { kind: "inline", must_understand: false, metadata: {} };
}

function depth(path: string): number {
  return path.split("/").length;
}

async function writeConsolidatedV3(
  store: Store,
  prefix: Prefix,
  folders: FolderMetadata[],
  signal: AbortSignal | undefined,
): Promise<number> {
  const key = `${prefix}zarr.json` as AbsolutePath;
  const document = consolidatedV3(folders);
  const bytes = new TextEncoder().encode(pythonJsonDumps(document, { indent: 2 }));
  await store.set(key, bytes, { signal });
  return folders.filter((folder) => folder.zarrJson !== undefined).length;
}

/**
 * A number as its document spells it (`0.0`, `1e-05`, `9007199254740993`, `NaN`), so a document
 * is written back as it was read: Python's float spelling survives (zarr-python's own output
 * is reproduced byte for byte) and int64 fill values beyond 2^53 keep every digit.
 */
export class RawNumber {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
  /** The number as a JavaScript number (NaN and ±Infinity included). */
  valueOf(): number {
    return NON_FINITE[this.text] ?? Number(this.text);
  }
}

/** A JSON value as read from a metadata document: numbers keep their spelling. */
export type RawJson =
  | null
  | boolean
  | RawNumber
  | number
  | string
  | RawJson[]
  | { [key: string]: RawJson };

/** Options for `pythonJsonDumps`. */
interface DumpOptions {
  indent: number;
  sortKeys?: boolean;
}

/**
 * Serialises JSON as Python's `json.dumps(indent=…, sort_keys=…, ensure_ascii=True)` does:
 * `", "`-free separators, `\uXXXX` for every non-ASCII character, and `NaN`/`Infinity` as
 * bare words (Python allows them, and zarr-python 2 writes them in attributes). Numbers read
 * by `parseMetadataJson` are written as they were spelled.
 */
export function pythonJsonDumps(value: unknown, options: DumpOptions): string {
  return dump(value as RawJson, options, "");
}

function dump(value: RawJson, options: DumpOptions, indent: string): string {
  if (value === null || typeof value === "boolean") return String(value);
  if (value instanceof RawNumber) return value.text;
  if (typeof value === "number") {
    if (Number.isNaN(value)) return "NaN";
    if (!Number.isFinite(value)) return value > 0 ? "Infinity" : "-Infinity";
    return JSON.stringify(value);
  }
  if (typeof value === "string") return asciiString(value);
  const inner = indent + " ".repeat(options.indent);
  if (Array.isArray(value)) {
    if (value.length === 0) return "[]";
    const items = value.map((item) => inner + dump(item, options, inner));
    return `[\n${items.join(",\n")}\n${indent}]`;
  }
  const keys = Object.keys(value);
  if (keys.length === 0) return "{}";
  if (options.sortKeys) keys.sort();
  const items = keys.map(
    (key) => `${inner}${asciiString(key)}: ${dump(value[key] as RawJson, options, inner)}`,
  );
  return `{\n${items.join(",\n")}\n${indent}}`;
}

function asciiString(text: string): string {
  return JSON.stringify(text).replace(
    /[\u007f-\uffff]/g,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

const NON_FINITE: Readonly<Record<string, number>> = {
  NaN: Number.NaN,
  Infinity: Number.POSITIVE_INFINITY,
  "-Infinity": Number.NEGATIVE_INFINITY,
};

/**
 * Parses a metadata document: strict JSON plus Python's bare `NaN`, `Infinity` and
 * `-Infinity` (zarr-python 2 writes them in `.zattrs`). Numbers stay `RawNumber`s. Anything
 * else that is not JSON is `Integrity`, naming the key.
 */
export function parseMetadataJson(text: string, key = ""): RawJson {
  return new MetadataParser(text, key).document();
}

/** Like `parseMetadataJson`, with plain numbers (NaN and ±Infinity included). */
export function parsePythonJson(text: string, key = ""): Json {
  return toPlain(parseMetadataJson(text, key));
}

function toPlain(value: RawJson): Json {
  if (value instanceof RawNumber) return value.valueOf();
  if (Array.isArray(value)) return value.map(toPlain);
  if (value !== null && typeof value === "object") {
    const out: JsonObject = {};
    for (const [k, v] of Object.entries(value)) setOwn(out, k, toPlain(v));
    return out;
  }
  return value;
}

// `__proto__` is a legal key in a document: define it as a plain property, never a prototype.
function setOwn<T>(target: Record<string, T>, key: string, value: T): void {
  if (key === "__proto__") {
    Object.defineProperty(target, key, {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  } else {
    target[key] = value;
  }
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: JSON forbids raw control characters in strings
const STRING = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y;
const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
const WORDS: readonly [string, RawJson][] = [
  ["true", true],
  ["false", false],
  ["null", null],
  ["NaN", new RawNumber("NaN")],
  ["Infinity", new RawNumber("Infinity")],
  ["-Infinity", new RawNumber("-Infinity")],
];

/** A recursive-descent JSON parser that keeps number spellings. */
class MetadataParser {
  readonly #text: string;
  readonly #key: string;
  #at = 0;

  constructor(text: string, key: string) {
    this.#text = text;
    this.#key = key;
  }

  document(): RawJson {
    const value = this.#value();
    this.#space();
    if (this.#at !== this.#text.length) this.#fail("unexpected text after the document");
    return value;
  }

  #value(): RawJson {
    this.#space();
    const char = this.#text[this.#at];
    if (char === "{") return this.#object();
    if (char === "[") return this.#array();
    if (char === '"') return this.#string();
    for (const [word, value] of WORDS) {
      if (this.#text.startsWith(word, this.#at)) {
        this.#at += word.length;
        return value;
      }
    }
    return new RawNumber(this.#match(NUMBER, "a value"));
  }

  #object(): RawJson {
    this.#at += 1;
    const out: { [key: string]: RawJson } = {};
    this.#space();
    if (this.#text[this.#at] === "}") {
      this.#at += 1;
      return out;
    }
    for (;;) {
      this.#space();
      const key = this.#string();
      this.#expect(":");
      setOwn(out, key, this.#value());
      if (this.#next(",", "}") === "}") return out;
    }
  }

  #array(): RawJson {
    this.#at += 1;
    const out: RawJson[] = [];
    this.#space();
    if (this.#text[this.#at] === "]") {
      this.#at += 1;
      return out;
    }
    for (;;) {
      out.push(this.#value());
      if (this.#next(",", "]") === "]") return out;
    }
  }

  #string(): string {
    return JSON.parse(this.#match(STRING, "a string")) as string;
  }

  #match(pattern: RegExp, what: string): string {
    pattern.lastIndex = this.#at;
    const found = pattern.exec(this.#text);
    if (found === null) this.#fail(`expected ${what}`);
    this.#at = pattern.lastIndex;
    return found[0];
  }

  #expect(char: string): void {
    this.#space();
    if (this.#text[this.#at] !== char) this.#fail(`expected '${char}'`);
    this.#at += 1;
  }

  #next(...chars: string[]): string {
    this.#space();
    const char = this.#text[this.#at] ?? "";
    if (!chars.includes(char)) this.#fail(`expected ${chars.map((c) => `'${c}'`).join(" or ")}`);
    this.#at += 1;
    return char;
  }

  #space(): void {
    while (/[ \t\n\r]/.test(this.#text[this.#at] ?? "")) this.#at += 1;
  }

  #fail(why: string): never {
    const where = this.#key || "metadata";
    throw new StoreError({
      code: "Integrity",
      message: `${where} is not valid JSON: ${why} at offset ${this.#at}`,
      operation: "consolidate",
      key: this.#key || undefined,
    });
  }
}

async function inPool<T>(
  items: T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) await work(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}
