/**
 * Kerchunk / fsspec reference file systems as read-only stores.
 *
 * A reference spec maps each key to its bytes: inline (a string, or `base64:…` for binary),
 * a whole file (`[url]`), or a byte range of one (`[url, offset, length]`). Version 0 is that
 * map as it is; version 1 (`{"version": 1, "templates": {…}, "gen": […], "refs": {…}}`) adds
 * URL templates (`"{{a}}"` → `templates.a`) and generated keys (`gen`: a key/url/offset/length
 * template expanded over dimensions). Targets are read through any zarrstore Store: `http(s)`
 * with fetch by default, anything `openStore` can open when you pass it (the `reference://`
 * scheme does), or your own `resolve`.
 *
 * Supported template syntax is Jinja's `{{ expression }}` with names, numbers, `+ - * / // % **`
 * and parentheses, which is what kerchunk writes; other Jinja (filters, statements) is `Unsupported`.
 */
import { readOnlyError, StoreError, throwIfAborted } from "../errors.js";
import { type AbsolutePath, toKey, toPrefix } from "../keys.js";
import { listDirFromKeys } from "../listing.js";
import { resolveRange, sliceRange } from "../ranges.js";
import type {
  CallOptions,
  Capabilities,
  ListDirResult,
  RangeQuery,
  Readable,
  SetResult,
  StatResult,
  Store,
} from "../store.js";

/** A reference: inline data, a whole file, or a byte range of one. */
export type Reference =
  | string
  | [url: string | null]
  | [url: string | null, offset: number, length: number];

/** Version 0: keys straight to references. */
export type ReferencesV0 = Record<string, Reference>;

/** A `gen` entry of version 1: keys generated over the product of dimensions. */
export interface ReferenceGenerator {
  key: string;
  url: string;
  offset?: string;
  length?: string;
  dimensions: Record<string, number[] | { start?: number; stop: number; step?: number } | number>;
}

/** Version 1: templates, generators and references. */
export interface ReferencesV1 {
  version: 1;
  templates?: Record<string, string>;
  gen?: ReferenceGenerator[];
  refs: Record<string, Reference | Record<string, unknown>>;
}

/** Where a reference's bytes are: a store and a key in it. */
export interface ReferenceTarget {
  store: Readable;
  key: AbsolutePath;
}

/** Options for `ReferenceStore`. */
export interface ReferenceStoreOptions {
  /**
   * Finds the bytes a target URL names. The default opens the URL's folder with `open` and reads
   * the file name in it (so `https://host/data/x.nc` is `x.nc` in `https://host/data`).
   */
  resolve?: (url: string) => ReferenceTarget | Promise<ReferenceTarget>;
  /** Opens a store for a URL (pass `openStore`); default: `http(s)` through fetch only. */
  open?: (url: string) => Promise<Store>;
  /** Relative target paths are taken from here (a folder URL or path), e.g. the JSON's folder. */
  base?: string;
  /** The file a reference without URL (`[null, offset, length]`) reads, as fsspec's `target`. */
  target?: string;
  /** A `fetch` for the default `http(s)` reader. */
  fetch?: typeof globalThis.fetch;
}

type Entry =
  | { kind: "inline"; bytes: Uint8Array }
  | { kind: "file"; url: string }
  | { kind: "range"; url: string; offset: number; length: number };

const BACKEND = "ReferenceStore";
const encoder = new TextEncoder();

/**
 * A read-only store over a Kerchunk/fsspec reference spec (v0 or v1).
 *
 * @example
 * const refs = JSON.parse(await readFile("refs.json", "utf8"));
 * const store = new ReferenceStore(refs, { open: openStore, base: "/data/" });
 * const arr = await zarr.open(store, { kind: "array" });
 */
export class ReferenceStore implements Store {
  readonly capabilities: Capabilities = Object.freeze({
    write: false,
    overwrite: false,
    delete: false,
    list: true,
    getRange: true,
    suffixRange: true,
    conditionalWrite: false,
    atomicWrite: true,
    etag: false,
  });
  readonly #entries: Map<string, Entry>;
  readonly #options: ReferenceStoreOptions;
  readonly #targets = new Map<string, Promise<ReferenceTarget>>();
  readonly #opened = new Map<string, Promise<Store>>();

  constructor(spec: ReferencesV0 | ReferencesV1 | string, options: ReferenceStoreOptions = {}) {
    this.#options = options;
    this.#entries = parseReferences(
      typeof spec === "string" ? parseSpecText(spec) : spec,
      options.target,
    );
  }

  /** The number of keys in the spec. */
  get size(): number {
    return this.#entries.size;
  }

  async get(key: AbsolutePath, options?: CallOptions): Promise<Uint8Array | undefined> {
    throwIfAborted(options?.signal, "get", key);
    const path = toKey(key);
    const entry = this.#entries.get(path);
    if (entry === undefined) return undefined;
    if (entry.kind === "inline") return entry.bytes.slice();
    const target = await this.#target(entry.url, path);
    if (entry.kind === "file") {
      const bytes = await target.store.get(target.key, options);
      if (bytes === undefined) throw missingTarget(path, entry.url);
      return bytes;
    }
    if (entry.length === 0) return new Uint8Array(0);
    const bytes = await target.store.getRange(
      target.key,
      { offset: entry.offset, length: entry.length },
      options,
    );
    return checkLength(bytes, entry, path);
  }

  async getRange(
    key: AbsolutePath,
    range: RangeQuery,
    options?: CallOptions,
  ): Promise<Uint8Array | undefined> {
    throwIfAborted(options?.signal, "getRange", key);
    const path = toKey(key);
    const entry = this.#entries.get(path);
    if (entry === undefined) return undefined;
    if (entry.kind === "inline") return sliceRange(entry.bytes, range, path).slice();
    const target = await this.#target(entry.url, path);
    if (entry.kind === "file") {
      const bytes = await target.store.getRange(target.key, range, options);
      if (bytes === undefined) throw missingTarget(path, entry.url);
      return bytes;
    }
    const { start, end } = resolveRange(range, entry.length, path);
    if (end === start) return new Uint8Array(0);
    const bytes = await target.store.getRange(
      target.key,
      { offset: entry.offset + start, length: end - start },
      options,
    );
    return checkLength(
      bytes,
      { ...entry, offset: entry.offset + start, length: end - start },
      path,
    );
  }

  async stat(key: AbsolutePath, options?: CallOptions): Promise<StatResult | undefined> {
    throwIfAborted(options?.signal, "stat", key);
    const path = toKey(key);
    const entry = this.#entries.get(path);
    if (entry === undefined) return undefined;
    if (entry.kind === "inline") return { size: entry.bytes.byteLength };
    if (entry.kind === "range") return { size: entry.length };
    const target = await this.#target(entry.url, path);
    const stat = await target.store.stat(target.key, options);
    if (stat === undefined) throw missingTarget(path, entry.url);
    return { size: stat.size };
  }

  async set(key: AbsolutePath, _value?: Uint8Array): Promise<void> {
    throw readOnlyError(BACKEND, "set", key);
  }

  async put(key: AbsolutePath, _value?: Uint8Array): Promise<SetResult> {
    throw readOnlyError(BACKEND, "set", key);
  }

  async delete(key: AbsolutePath): Promise<void> {
    throw readOnlyError(BACKEND, "delete", key);
  }

  async deletePrefix(prefix: string): Promise<void> {
    throw readOnlyError(BACKEND, "deletePrefix", prefix);
  }

  async *list(prefix?: string, options?: CallOptions): AsyncIterable<AbsolutePath> {
    const folder = toPrefix(prefix);
    for (const key of [...this.#entries.keys()].filter((k) => k.startsWith(folder)).sort()) {
      throwIfAborted(options?.signal, "list", folder);
      yield key as AbsolutePath;
    }
  }

  async listDir(prefix?: string, options?: CallOptions): Promise<ListDirResult> {
    throwIfAborted(options?.signal, "listDir", prefix);
    return listDirFromKeys(this.#entries.keys(), toPrefix(prefix));
  }

  /** Closes the stores opened for targets. */
  async close(): Promise<void> {
    const opened = [...this.#opened.values()];
    this.#opened.clear();
    this.#targets.clear();
    await Promise.allSettled(opened.map(async (store) => (await store).close()));
  }

  #target(url: string, key: string): Promise<ReferenceTarget> {
    let target = this.#targets.get(url);
    if (target === undefined) {
      target = Promise.resolve(this.#resolve(url));
      target.catch(() => this.#targets.delete(url));
      this.#targets.set(url, target);
    }
    return target.catch((cause: unknown) => {
      if (cause instanceof StoreError) throw cause;
      throw new StoreError({
        code: "Config",
        message: `${BACKEND}: cannot open ${url} (the target of ${key}): ${(cause as Error)?.message ?? cause}`,
        key,
        backend: BACKEND,
        cause,
      });
    });
  }

  async #resolve(url: string): Promise<ReferenceTarget> {
    const absolute = absoluteUrl(url, this.#options.base);
    if (this.#options.resolve) return this.#options.resolve(absolute);
    const slash = absolute.lastIndexOf("/");
    const folder = slash <= 0 ? "/" : absolute.slice(0, slash);
    const name = decodeName(absolute.slice(slash + 1));
    let store = this.#opened.get(folder);
    if (store === undefined) {
      store = this.#open(folder);
      this.#opened.set(folder, store);
    }
    return { store: await store, key: toKey(name) };
  }

  async #open(folder: string): Promise<Store> {
    if (this.#options.open) return this.#options.open(folder);
    if (/^https?:\/\//i.test(folder)) {
      const { HttpStore } = await import("./http.js");
      const fetch = this.#options.fetch;
      return new HttpStore(folder, fetch ? { fetch } : {});
    }
    throw new StoreError({
      code: "Config",
      message: `${BACKEND}: no way to read ${folder}: pass \`open\` (e.g. openStore) or \`resolve\` in the options`,
      backend: BACKEND,
    });
  }
}

function decodeName(name: string): string {
  try {
    return decodeURIComponent(name);
  } catch {
    return name;
  }
}

function absoluteUrl(url: string, base: string | undefined): string {
  if (base === undefined || /^[a-z][a-z0-9+.-]*:\/\//i.test(url) || url.startsWith("/")) return url;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(base))
    return new URL(url, base.endsWith("/") ? base : `${base}/`).toString();
  return `${base.replace(/\/+$/, "")}/${url.replace(/^\.\//, "")}`;
}

function checkLength(
  bytes: Uint8Array | undefined,
  entry: { url: string; offset: number; length: number },
  key: string,
): Uint8Array {
  if (bytes === undefined) throw missingTarget(key, entry.url);
  if (bytes.byteLength !== entry.length) {
    throw new StoreError({
      code: "Integrity",
      message: `${key} refers to bytes ${entry.offset}–${entry.offset + entry.length} of ${entry.url}, but only ${bytes.byteLength} of them exist`,
      key,
      backend: BACKEND,
    });
  }
  return bytes;
}

function missingTarget(key: string, url: string): StoreError {
  return new StoreError({
    code: "Integrity",
    message: `${key} refers to ${url}, which does not exist`,
    key,
    backend: BACKEND,
  });
}

function parseSpecText(text: string): ReferencesV0 | ReferencesV1 {
  try {
    return JSON.parse(text) as ReferencesV0 | ReferencesV1;
  } catch (cause) {
    throw specError(`not JSON (${(cause as Error).message})`);
  }
}

function specError(why: string): StoreError {
  return new StoreError({
    code: "Config",
    message: `invalid reference spec: ${why}`,
    backend: BACKEND,
  });
}

/** Expands a spec (v0 or v1) into one entry per key. */
function parseReferences(
  spec: ReferencesV0 | ReferencesV1,
  target: string | undefined,
): Map<string, Entry> {
  if (spec === null || typeof spec !== "object" || Array.isArray(spec))
    throw specError("not a JSON object");
  const entries = new Map<string, Entry>();
  if (!("version" in spec)) {
    for (const [key, ref] of Object.entries(spec as ReferencesV0))
      entries.set(
        keyOf(key),
        entryOf(key, ref, target, (s) => s),
      );
    return entries;
  }
  const v1 = spec as ReferencesV1;
  if (v1.version !== 1) {
    throw specError(`version ${String(v1.version)} is not supported (0 and 1 are)`);
  }
  const templates = v1.templates ?? {};
  const context: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(templates)) context[name] = value;
  const render = (text: string, extra: Record<string, unknown> = {}) =>
    renderTemplate(text, { ...context, ...extra });
  for (const generator of v1.gen ?? []) {
    for (const dims of product(generator.dimensions)) {
      const key = render(generator.key, dims);
      const url = render(generator.url, dims);
      if (generator.offset !== undefined && generator.length !== undefined) {
        const offset = Number(render(String(generator.offset), dims));
        const length = Number(render(String(generator.length), dims));
        entries.set(
          keyOf(key),
          entryOf(key, [url, offset, length], target, (s) => s),
        );
      } else {
        entries.set(
          keyOf(key),
          entryOf(key, [url], target, (s) => s),
        );
      }
    }
  }
  for (const [key, ref] of Object.entries(v1.refs ?? {})) {
    entries.set(
      keyOf(key),
      entryOf(key, ref, target, (s) => (s.includes("{{") ? render(s) : s)),
    );
  }
  return entries;
}

function keyOf(key: string): string {
  try {
    return toKey(key);
  } catch (cause) {
    throw specError(
      `the key ${JSON.stringify(key)} is not a valid store key (${(cause as Error).message})`,
    );
  }
}

function entryOf(
  key: string,
  ref: Reference | Record<string, unknown>,
  target: string | undefined,
  render: (s: string) => string,
): Entry {
  if (typeof ref === "string") {
    if (ref.startsWith("base64:")) return { kind: "inline", bytes: fromBase64(ref.slice(7), key) };
    return { kind: "inline", bytes: encoder.encode(ref) };
  }
  if (!Array.isArray(ref)) {
    // Some writers put metadata documents in as JSON objects rather than strings.
    if (ref !== null && typeof ref === "object")
      return { kind: "inline", bytes: encoder.encode(JSON.stringify(ref)) };
    throw specError(`the reference of ${key} is neither data nor a [url, offset, length] list`);
  }
  const raw = ref[0];
  const url = raw === null || raw === undefined || raw === "" ? target : render(String(raw));
  if (url === undefined) throw specError(`${key} has no URL and no default target was given`);
  if (ref.length === 1) return { kind: "file", url };
  const [, offset, length] = ref as [unknown, unknown, unknown];
  if (
    !Number.isSafeInteger(offset) ||
    !Number.isSafeInteger(length) ||
    (offset as number) < 0 ||
    (length as number) < 0
  ) {
    throw specError(`${key} has an invalid byte range [${String(offset)}, ${String(length)}]`);
  }
  return { kind: "range", url, offset: offset as number, length: length as number };
}

function fromBase64(text: string, key: string): Uint8Array {
  try {
    const binary = atob(text.replace(/\s+/g, ""));
    return Uint8Array.from(binary, (c) => c.charCodeAt(0));
  } catch {
    throw specError(`${key} has invalid base64 data`);
  }
}

function* product(dimensions: ReferenceGenerator["dimensions"]): Generator<Record<string, number>> {
  const names = Object.keys(dimensions);
  const values = names.map((name) => {
    const d = dimensions[name];
    if (Array.isArray(d)) return d;
    if (typeof d === "number") return Array.from({ length: d }, (_, i) => i);
    if (d && typeof d === "object") {
      const out: number[] = [];
      const step = d.step ?? 1;
      if (step <= 0) throw specError(`gen dimension ${name} has a step ≤ 0`);
      for (let i = d.start ?? 0; i < d.stop; i += step) out.push(i);
      return out;
    }
    throw specError(`gen dimension ${name} is not a list, a count or {start, stop, step}`);
  });
  if (values.some((v) => v.length === 0)) return;
  const index = names.map(() => 0);
  for (;;) {
    yield Object.fromEntries(
      names.map((name, i) => [name, values[i]?.[index[i] as number] as number]),
    );
    let i = names.length - 1;
    while (i >= 0) {
      index[i] = (index[i] as number) + 1;
      if ((index[i] as number) < (values[i] as number[]).length) break;
      index[i] = 0;
      i--;
    }
    if (i < 0) return;
  }
}

/** Renders `{{ expression }}` placeholders (names, numbers, arithmetic; see the module comment). */
export function renderTemplate(text: string, context: Record<string, unknown>): string {
  return text.replace(/\{\{(.*?)\}\}/g, (_, expression: string) => {
    const value = evaluate(expression, context);
    return typeof value === "number" && Number.isInteger(value) ? String(value) : String(value);
  });
}

function evaluate(expression: string, context: Record<string, unknown>): unknown {
  const tokens = expression.match(/\d+\.?\d*|[A-Za-z_][A-Za-z0-9_]*|\/\/|\*\*|[-+*/%()]|\S/g) ?? [];
  let at = 0;
  const fail = (why: string): never => {
    throw new StoreError({
      code: "Unsupported",
      message: `${BACKEND}: cannot render {{${expression}}}: ${why} (names, numbers and + - * / // % ** only)`,
      backend: BACKEND,
    });
  };
  const num = (v: unknown): number =>
    typeof v === "number" ? v : fail(`${String(v)} is not a number`);
  const primary = (): unknown => {
    const token = tokens[at++];
    if (token === undefined) return fail("unexpected end");
    if (token === "(") {
      const value = sum();
      if (tokens[at++] !== ")") fail("missing )");
      return value;
    }
    if (token === "-") return -num(power());
    if (/^\d/.test(token)) return Number(token);
    if (/^[A-Za-z_]/.test(token)) {
      if (!(token in context)) fail(`unknown name ${token}`);
      const value = context[token];
      return typeof value === "string" && value.includes("{{")
        ? renderTemplate(value, context)
        : value;
    }
    return fail(`unexpected ${token}`);
  };
  const power = (): unknown => {
    const base = primary();
    if (tokens[at] === "**") {
      at++;
      return num(base) ** num(power());
    }
    return base;
  };
  const product = (): unknown => {
    let value = power();
    for (
      let op = tokens[at];
      op === "*" || op === "/" || op === "//" || op === "%";
      op = tokens[at]
    ) {
      at++;
      const right = num(power());
      const left = num(value);
      value =
        op === "*"
          ? left * right
          : op === "/"
            ? left / right
            : op === "//"
              ? Math.floor(left / right)
              : ((left % right) + right) % right;
    }
    return value;
  };
  const sum = (): unknown => {
    let value = product();
    for (let op = tokens[at]; op === "+" || op === "-"; op = tokens[at]) {
      at++;
      const right = product();
      value =
        op === "+" && (typeof value === "string" || typeof right === "string")
          ? `${String(value)}${String(right)}`
          : op === "+"
            ? num(value) + num(right)
            : num(value) - num(right);
    }
    return value;
  };
  const value = sum();
  if (at !== tokens.length) fail(`unexpected ${tokens[at]}`);
  return value;
}

/**
 * Opens `reference://<path or URL of the JSON>`: reads the spec through `open` and resolves
 * relative targets against the JSON's folder. The store reads targets through `open` too.
 */
export async function openReferenceStore(
  url: string,
  open: (url: string) => Promise<Store>,
): Promise<ReferenceStore> {
  const location = url.replace(/^reference:\/\//i, "");
  const slash = location.lastIndexOf("/");
  const folder = slash <= 0 ? (location.startsWith("/") ? "/" : ".") : location.slice(0, slash);
  const name = location.slice(slash + 1);
  const parent = await open(folder);
  let bytes: Uint8Array | undefined;
  try {
    bytes = await parent.get(toKey(decodeName(name)));
  } finally {
    await parent.close();
  }
  if (bytes === undefined) {
    throw new StoreError({
      code: "NotFound",
      message: `${BACKEND}: no reference file at ${location}`,
      backend: BACKEND,
    });
  }
  return new ReferenceStore(new TextDecoder().decode(bytes), { open, base: folder });
}
