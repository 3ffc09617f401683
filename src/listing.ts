import type { AbsolutePath, Prefix } from "./keys.js";
import type { ListDirResult } from "./store.js";

/** Builds a one-level listing of `prefix` from full keys found under it (any order). */
export function listDirFromKeys(keys: Iterable<string>, prefix: Prefix): ListDirResult {
  const files = new Set<AbsolutePath>();
  const folders = new Set<Prefix>();
  for (const key of keys) {
    if (!key.startsWith(prefix)) continue;
    const slash = key.indexOf("/", prefix.length);
    if (slash === -1) files.add(key as AbsolutePath);
    else folders.add(key.slice(0, slash + 1) as Prefix);
  }
  return { keys: [...files].sort(compareKeys), prefixes: [...folders].sort(compareKeys) };
}

/** Orders keys by code point, as S3 and Swift list them. */
export function compareKeys(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
