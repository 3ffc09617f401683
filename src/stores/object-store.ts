import { type AbsolutePath, type Prefix, toKey } from "../keys.js";
import { compareKeys } from "../listing.js";
import { resolveRange } from "../ranges.js";
import type { CallOptions, ListDirResult, RangeQuery, Readable, StatResult } from "../store.js";
import type { HttpResponse } from "./http-transport.js";

/** One entry of an object store's listing page: an object, or a folder when listing with a delimiter. */
export interface ListedEntry {
  kind: "object" | "prefix";
  /** The full object name in the bucket; a folder's ends in the delimiter '/'. */
  name: string;
}

/**
 * The mapping every object-store backend (S3, Swift, Azure, GCS) shares between store keys and
 * object names under the store's prefix, and the listings built on it.
 */
export class ObjectNames {
  /** `""`, or the store's prefix with a trailing '/', e.g. `"data/air.zarr/"`. */
  readonly base: string;

  constructor(base: string) {
    this.base = base;
  }

  /** `/a/zarr.json` → `<base>a/zarr.json`. */
  nameOf(key: AbsolutePath | Prefix): string {
    return this.base + key.slice(1);
  }

  /** The key of an object name, or `undefined` for a name outside the prefix or not a valid key. */
  keyOf(name: string): AbsolutePath | undefined {
    if (!name.startsWith(this.base)) return undefined;
    try {
      // Names that are not valid keys (folder markers ending in '/', '//'…) are not part of a
      // Zarr hierarchy: they are left out rather than handed on broken.
      return toKey(`/${name.slice(this.base.length)}`);
    } catch {
      return undefined;
    }
  }

  /** The keys of the objects in a listing, in its order. */
  async *keys(entries: AsyncIterable<ListedEntry>): AsyncIterable<AbsolutePath> {
    for await (const entry of entries) {
      const key = entry.kind === "object" ? this.keyOf(entry.name) : undefined;
      if (key !== undefined) yield key;
    }
  }

  /** A one-level listing from a delimited listing, sorted by code point as the contract asks. */
  async dir(entries: AsyncIterable<ListedEntry>): Promise<ListDirResult> {
    const keys: AbsolutePath[] = [];
    const prefixes: Prefix[] = [];
    for await (const entry of entries) {
      if (entry.kind === "prefix") {
        const folder = this.keyOf(entry.name.slice(0, -1));
        if (folder !== undefined) prefixes.push(`${folder}/` as Prefix);
      } else {
        const key = this.keyOf(entry.name);
        if (key !== undefined) keys.push(key);
      }
    }
    return { keys: keys.sort(compareKeys), prefixes: prefixes.sort(compareKeys) };
  }
}

/** The object names of a listing (folders left out), for deleting them. */
export async function objectNamesOf(entries: AsyncIterable<ListedEntry>): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of entries) if (entry.kind === "object") names.push(entry.name);
  return names;
}

/** An ETag header without its quotes (`"abc"` → `abc`), as the stores hand etags out. */
export function unquote(etag: string | undefined): string | undefined {
  return etag ? etag.replace(/^"|"$/g, "") : undefined;
}

/** Size, etag and modification time from the headers of a HEAD (or GET) reply. */
export function statFromHeaders(response: HttpResponse): StatResult {
  const lastModified = response.header("last-modified");
  return {
    size: Number(response.header("content-length") ?? 0),
    etag: unquote(response.header("etag")),
    lastModified: lastModified ? new Date(lastModified) : undefined,
  };
}

/**
 * A range the server cannot express (a suffix where suffixes are not supported, or an empty
 * range) read as a stat then a plain range: two requests, but the same answer.
 */
export async function rangeBySize(
  store: Pick<Readable, "stat" | "getRange">,
  key: AbsolutePath,
  range: RangeQuery,
  options?: CallOptions,
): Promise<Uint8Array | undefined> {
  const stat = await store.stat(key, options);
  if (stat === undefined) return undefined;
  const { start, end } = resolveRange(range, stat.size, key);
  if (end <= start) return new Uint8Array(0);
  return store.getRange(key, { offset: start, length: end - start }, options);
}
