import { StoreError } from "./errors.js";

/** A store key as zarrita spells it: `/`-rooted, `/`-separated, e.g. `/a/c/0/0`. */
export type AbsolutePath = `/${string}`;

/** A folder in a store: `/` for the root, otherwise `/a/b/` (always ends in `/`). */
export type Prefix = `/${string}`;

/**
 * Validates a key and returns it `/`-rooted.
 *
 * Rules (each rejected with `InvalidKey`, before any I/O):
 * - not empty, not the root `/` alone, no trailing `/`;
 * - no empty segment (`//`), no `.` or `..` segment;
 * - no backslash, no control character (U+0000–U+001F, U+007F).
 * A key without the leading `/` (`a/b`, as zarr-python spells it) is accepted and rooted.
 * Spaces, punctuation and non-ASCII characters are kept as they are.
 */
export function toKey(key: string): AbsolutePath {
  if (typeof key !== "string" || key === "" || key === "/") {
    throw invalidKey(String(key), "a key must name an object, not be empty or the root");
  }
  const rooted = (key.startsWith("/") ? key : `/${key}`) as AbsolutePath;
  if (rooted.endsWith("/")) throw invalidKey(key, "a key must not end in '/'");
  checkSegments(key, rooted.slice(1).split("/"));
  return rooted;
}

/**
 * Normalises a prefix: `""`, `"/"` and `undefined` are the root `/`; `"a"`, `"/a"` and `"/a/"`
 * all mean the folder `/a/`. Its segments follow the rules of `toKey`.
 */
export function toPrefix(prefix?: string): Prefix {
  if (prefix === undefined || prefix === "" || prefix === "/") return "/";
  if (typeof prefix !== "string") throw invalidKey(String(prefix), "a prefix must be a string");
  let inner = prefix.startsWith("/") ? prefix.slice(1) : prefix;
  if (inner.endsWith("/")) inner = inner.slice(0, -1);
  checkSegments(prefix, inner.split("/"));
  return `/${inner}/`;
}

/** The key without its leading `/` (`/a/b` → `a/b`), as object stores and file systems name it. */
export function keyToPath(key: AbsolutePath): string {
  return key.slice(1);
}

/** The prefix without its leading `/` (`/` → ``, `/a/` → `a/`). */
export function prefixToPath(prefix: Prefix): string {
  return prefix.slice(1);
}

/** Tells whether `key` lies inside the folder `prefix` (at any depth). */
export function isUnder(key: string, prefix: Prefix): boolean {
  return key.startsWith(prefix);
}

/** The parent folder of a key (`/a/b/c` → `/a/b/`). */
export function parentOf(key: AbsolutePath): Prefix {
  return key.slice(0, key.lastIndexOf("/") + 1) as Prefix;
}

/** Joins a folder and a relative name (`/a/` + `b/c` → `/a/b/c`), validating the result. */
export function joinKey(prefix: Prefix, relative: string): AbsolutePath {
  return toKey(prefix + relative);
}

function checkSegments(original: string, segments: string[]): void {
  for (const segment of segments) {
    if (segment === "") throw invalidKey(original, "empty path segment ('//')");
    if (segment === "." || segment === "..") {
      throw invalidKey(original, `'${segment}' segments are not allowed`);
    }
  }
  if (original.includes("\\")) throw invalidKey(original, "backslashes are not allowed");
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the rule is exactly about control characters
  if (/[\u0000-\u001f\u007f]/.test(original)) {
    throw invalidKey(original, "control characters are not allowed");
  }
}

function invalidKey(key: string, why: string): StoreError {
  return new StoreError({
    code: "InvalidKey",
    message: `invalid key ${JSON.stringify(key)}: ${why}`,
    key,
  });
}
