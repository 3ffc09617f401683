/**
 * Reading Zarr hierarchies from any store: one node, consolidated metadata, or a whole walk.
 * Only the contract is used (`get`, `listDir`), so every backend and adapter works.
 */
import { StoreError, throwIfAborted } from "../errors.js";
import { getJson } from "../helpers.js";
import { type AbsolutePath, type Prefix, toKey, toPrefix } from "../keys.js";
import { compareKeys } from "../listing.js";
import type { CallOptions, Listable, Readable } from "../store.js";
import {
  invalidMetadata,
  type NodeLocation,
  parseV2Array,
  parseV2Group,
  parseV3Node,
  type ZarrFormat,
  type ZarrNode,
} from "./metadata.js";

/** A store the hierarchy readers accept: reads, plus listing where the store can list. */
export type HierarchyStore = Readable & Listable & { readonly capabilities: { list: boolean } };

/** Options for reading one node. */
export interface ReadNodeOptions extends CallOptions {
  /** The hierarchy's root folder, which node paths are relative to (default: the node itself). */
  root?: string | undefined;
}

/**
 * Reads the node whose folder is `prefix`: v3 `zarr.json` first, then v2 `.zarray` or
 * `.zgroup` (with `.zattrs`). `undefined` when the folder holds no Zarr metadata.
 */
export async function readNode(
  store: Readable,
  prefix: string,
  options: ReadNodeOptions = {},
): Promise<ZarrNode | undefined> {
  const folder = toPrefix(prefix);
  const root = toPrefix(options.root ?? folder);
  return readNodeAt(store, locate(root, folder), options.signal);
}

/** Consolidated metadata: every node of a hierarchy, read from one document. */
export interface ConsolidatedMetadata {
  zarrFormat: ZarrFormat;
  /** The document it came from: `.zmetadata` (v2) or the root `zarr.json` (v3). */
  key: AbsolutePath;
  /** The nodes, root first, in tree order. */
  nodes: ZarrNode[];
  /** The metadata keys it records (and its own key), sorted: what a listing would show but chunks. */
  keys: AbsolutePath[];
}

/**
 * Reads the consolidated metadata of the hierarchy at `prefix`: v3 `consolidated_metadata` in
 * the root `zarr.json`, else v2 `.zmetadata`. `undefined` when there is neither.
 */
export async function readConsolidated(
  store: Readable,
  prefix = "/",
  options: CallOptions = {},
): Promise<ConsolidatedMetadata | undefined> {
  const root = toPrefix(prefix);
  const [v3, v2] = await Promise.all([
    getJson(store, `${root}zarr.json`, options),
    getJson(store, `${root}.zmetadata`, options),
  ]);
  const inline = v3ConsolidatedEntries(v3, root);
  if (inline !== undefined) return v3Consolidated(v3, inline, root);
  if (v2 !== undefined) return v2Consolidated(v2, root);
  return undefined;
}

/** Where `walkHierarchy` finds the nodes: by listing folders, or in consolidated metadata. */
export type HierarchySource = "listing" | "consolidated";

/** Options for `walkHierarchy`. */
export interface WalkOptions extends CallOptions {
  /**
   * `auto` (the default) lists when the store can list and reads consolidated metadata
   * otherwise; `listing` and `consolidated` force one way.
   */
  use?: "auto" | HierarchySource | undefined;
}

/** The nodes of a hierarchy, with where they came from. */
export interface HierarchyWalk extends AsyncIterable<ZarrNode> {
  /** `listing` or `consolidated`, known before the walk starts. */
  readonly source: HierarchySource;
}

// 8 sibling folders read at once: enough to hide object-store latency for flat datasets of
// dozens of variables, small enough not to trip rate limits.
const SIBLING_CONCURRENCY = 8;

/**
 * Walks the hierarchy under `prefix`, yielding every group and array (root first, then in
 * tree order, children sorted by name). It lists folders when the store can list (array
 * folders are not descended into, so chunks are never enumerated) and reads consolidated
 * metadata otherwise; `source` says which. Folders without metadata are searched too, so
 * `walkHierarchy(store, "/")` finds every dataset in a bucket of `*.zarr` folders.
 *
 * @example
 * const walk = walkHierarchy(store, "/air.zarr");
 * for await (const node of walk) console.log(walk.source, node.path, node.kind);
 */
export function walkHierarchy(
  store: HierarchyStore,
  prefix = "/",
  options: WalkOptions = {},
): HierarchyWalk {
  const root = toPrefix(prefix);
  const use = options.use ?? "auto";
  const source: HierarchySource =
    use === "auto" ? (store.capabilities.list ? "listing" : "consolidated") : use;
  const signal = options.signal;
  return {
    source,
    [Symbol.asyncIterator]: () =>
      source === "listing"
        ? walkListing(store, root, signal)
        : walkConsolidated(store, root, signal),
  };
}

/** Reads a whole hierarchy into an array (see `walkHierarchy`). */
export async function readHierarchy(
  store: HierarchyStore,
  prefix = "/",
  options: WalkOptions = {},
): Promise<{ source: HierarchySource; nodes: ZarrNode[] }> {
  const walk = walkHierarchy(store, prefix, options);
  const nodes: ZarrNode[] = [];
  for await (const node of walk) nodes.push(node);
  return { source: walk.source, nodes };
}

/** Orders node paths as a tree: segment by segment, by code point (`/a` < `/a/b` < `/a-b`). */
export function comparePaths(a: string, b: string): number {
  const sa = a.split("/");
  const sb = b.split("/");
  for (let i = 0; i < Math.min(sa.length, sb.length); i++) {
    const order = compareKeys(sa[i] as string, sb[i] as string);
    if (order !== 0) return order;
  }
  return sa.length - sb.length;
}

// ---- listing ----

interface Visit {
  node: ZarrNode | undefined;
  folders: Prefix[];
}

async function* walkListing(
  store: HierarchyStore,
  root: Prefix,
  signal: AbortSignal | undefined,
): AsyncGenerator<ZarrNode> {
  yield* walkVisit(store, root, await visitFolder(store, root, root, signal), signal);
}

async function* walkVisit(
  store: HierarchyStore,
  root: Prefix,
  visit: Visit,
  signal: AbortSignal | undefined,
): AsyncGenerator<ZarrNode> {
  if (visit.node) yield visit.node;
  const children = await mapLimit(visit.folders, SIBLING_CONCURRENCY, (folder) =>
    visitFolder(store, root, folder, signal),
  );
  for (const child of children) yield* walkVisit(store, root, child, signal);
}

/**
 * Reads a folder's metadata, then lists it unless it is an array: an array's folder can hold
 * millions of chunk keys (`0.0.0`…), so its metadata is fetched by name instead.
 */
async function visitFolder(
  store: HierarchyStore,
  root: Prefix,
  folder: Prefix,
  signal: AbortSignal | undefined,
): Promise<Visit> {
  throwIfAborted(signal, "get", folder);
  const node = await readNodeAt(store, locate(root, folder), signal);
  if (node?.kind === "array") return { node, folders: [] };
  const { prefixes } = await store.listDir(folder, { signal });
  return { node, folders: [...prefixes].sort(comparePaths) };
}

// ---- reading one node ----

/** Reads a node's metadata, every candidate document at once (one round trip). */
async function readNodeAt(
  store: Readable,
  at: NodeLocation,
  signal: AbortSignal | undefined,
): Promise<ZarrNode | undefined> {
  const [v3, zarray, zgroup, zattrs] = await Promise.all(
    ["zarr.json", ".zarray", ".zgroup", ".zattrs"].map((name) =>
      getJson(store, `${at.prefix}${name}`, { signal }),
    ),
  );
  if (v3 !== undefined) return parseV3Node(v3, at);
  if (zarray !== undefined && zgroup !== undefined) {
    throw invalidMetadata(`${at.prefix}.zarray`, `${at.prefix} holds both .zarray and .zgroup`);
  }
  if (zarray !== undefined) return parseV2Array(zarray, zattrs, at);
  if (zgroup !== undefined) return parseV2Group(zgroup, zattrs, at);
  return undefined;
}

/** The location of a folder inside the hierarchy rooted at `root`. */
function locate(root: Prefix, folder: Prefix): NodeLocation {
  const relative = folder.slice(root.length, -1);
  return { path: relative === "" ? "/" : (`/${relative}` as AbsolutePath), prefix: folder };
}

// ---- consolidated ----

async function* walkConsolidated(
  store: Readable,
  root: Prefix,
  signal: AbortSignal | undefined,
): AsyncGenerator<ZarrNode> {
  const consolidated = await readConsolidated(store, root, { signal });
  if (consolidated === undefined) {
    throw new StoreError({
      code: "NotFound",
      message:
        `no consolidated metadata at ${root} (neither .zmetadata nor consolidated_metadata in zarr.json), ` +
        "and this store cannot list: consolidate the hierarchy (zarrstore consolidate <url>) " +
        "or open it through a store that can list",
      key: root,
      operation: "readMetadata",
    });
  }
  yield* consolidated.nodes;
}

function v2Consolidated(doc: unknown, root: Prefix): ConsolidatedMetadata {
  const key = `${root}.zmetadata` as AbsolutePath;
  const metadata = isObject(doc) ? doc.metadata : undefined;
  if (!isObject(metadata)) throw invalidMetadata(key, "missing its metadata object");
  // Group the documents by folder: "" (the root), "air", "grp/t"…
  const folders = new Map<string, Record<string, unknown>>();
  for (const [name, value] of Object.entries(metadata)) {
    const slash = name.lastIndexOf("/");
    const folder = slash === -1 ? "" : name.slice(0, slash);
    const file = name.slice(slash + 1);
    const entry = folders.get(folder) ?? {};
    entry[file] = value;
    folders.set(folder, entry);
  }
  const nodes: ZarrNode[] = [];
  const keys = [key, ...Object.keys(metadata).map((name) => locateKey(root, name, key))];
  for (const [folder, docs] of folders) {
    const at = locateRelative(root, folder, key);
    if (docs[".zarray"] !== undefined)
      nodes.push(parseV2Array(docs[".zarray"], docs[".zattrs"], at));
    else if (docs[".zgroup"] !== undefined)
      nodes.push(parseV2Group(docs[".zgroup"], docs[".zattrs"], at));
  }
  return { zarrFormat: 2, key, nodes: sortNodes(nodes), keys: keys.sort(compareKeys) };
}

function v3ConsolidatedEntries(doc: unknown, root: Prefix): Record<string, unknown> | undefined {
  if (!isObject(doc) || doc.zarr_format !== 3) return undefined;
  const consolidated = doc.consolidated_metadata;
  if (consolidated === undefined || consolidated === null) return undefined;
  const metadata = isObject(consolidated) ? consolidated.metadata : undefined;
  if (!isObject(metadata)) {
    throw invalidMetadata(`${root}zarr.json`, "consolidated_metadata has no metadata object");
  }
  return metadata;
}

function v3Consolidated(
  doc: unknown,
  entries: Record<string, unknown>,
  root: Prefix,
): ConsolidatedMetadata {
  const key = `${root}zarr.json` as AbsolutePath;
  const nodes: ZarrNode[] = [parseV3Node(doc, { path: "/", prefix: root })];
  for (const [name, value] of Object.entries(entries)) {
    nodes.push(parseV3Node(value, locateRelative(root, name.replace(/^\/+|\/+$/g, ""), key)));
  }
  const keys = nodes.map((node) => node.metadataKey).sort(compareKeys);
  return { zarrFormat: 3, key, nodes: sortNodes(nodes), keys };
}

/** Locates a node named relative to the root (`""`, `air`, `grp/t`), validating the name. */
function locateRelative(root: Prefix, name: string, source: string): NodeLocation {
  if (name === "") return { path: "/", prefix: root };
  let folder: Prefix;
  try {
    folder = toPrefix(`${root}${name}`);
  } catch (cause) {
    throw invalidMetadata(
      source,
      `node name ${JSON.stringify(name)} is not a valid path (${String(cause)})`,
    );
  }
  return locate(root, folder);
}

/** The store key of a document named in `.zmetadata` (`air/.zarray`), validated. */
function locateKey(root: Prefix, name: string, source: string): AbsolutePath {
  try {
    return toKey(`${root}${name}`);
  } catch (cause) {
    throw invalidMetadata(
      source,
      `key ${JSON.stringify(name)} is not a valid path (${String(cause)})`,
    );
  }
}

function sortNodes(nodes: ZarrNode[]): ZarrNode[] {
  return nodes.sort((a, b) => comparePaths(a.path, b.path));
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Maps `items` through `work` with at most `limit` in flight, keeping the order. */
async function mapLimit<T, R>(
  items: T[],
  limit: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index] as T);
    }
  });
  await Promise.all(lanes);
  return results;
}
