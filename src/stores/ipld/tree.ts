/**
 * The in-memory tree of an IPLDStore, in the original ipldstore's layout: a store key is split
 * on `/` into nested maps (`a/b/0` → `root.a.b["0"]`); metadata documents are inlined as data;
 * every other value is a link to a raw block.
 */
import { StoreError } from "../../errors.js";
import { type AnyCID, cidKey } from "./blocks.js";
import { type HasIpldForm, IPLD_FORM } from "./dag-cbor.js";
import { dagCborProblem, type JsonValue, stringifyJson } from "./json-numbers.js";

/** The Zarr v2 metadata names the original inlines (always). */
export const V2_METADATA_NAMES: ReadonlySet<string> = new Set([
  ".zarray",
  ".zgroup",
  ".zattrs",
  ".zmetadata",
]);

/** Zarr v3's metadata name, inlined only when the store's `inlineZarrJson` option is on. */
export const V3_METADATA_NAME = "zarr.json";

/**
 * Tells whether a map under this name in a decoded tree is a metadata document rather than a
 * folder. `zarr.json` always counts, so trees written with `inlineZarrJson` read back right
 * whatever the reader's option.
 */
export function isMetadataName(name: string): boolean {
  return V2_METADATA_NAMES.has(name) || name === V3_METADATA_NAME;
}

const encoder = new TextEncoder();

/**
 * A value kept in blocks: a link to one raw block (the original layout), or, in the chunked
 * layout, a list of links to raw blocks whose concatenation is the value.
 */
export class Leaf implements HasIpldForm {
  /** The value's size in bytes when known (set here, or read back). */
  size: number | undefined;
  #etag: string | undefined;
  constructor(
    readonly link: AnyCID | readonly AnyCID[],
    etag?: string,
    size?: number,
  ) {
    this.size = size;
    if (etag === undefined && Array.isArray(link)) throw new Error("a piece list needs its etag");
    this.#etag = etag;
  }
  /** The quoted etag: the raw CID of a one-block value, the CID of the piece list otherwise. */
  get etag(): string {
    this.#etag ??= `"${cidKey(this.link as AnyCID)}"`;
    return this.#etag;
  }
  [IPLD_FORM](): unknown {
    return this.link;
  }
}

/** A metadata document inlined in the tree as data. */
export class Inline implements HasIpldForm {
  #json: Uint8Array | undefined;
  #problem: string | null | undefined;
  etag: string | undefined;
  constructor(readonly value: JsonValue) {}
  /** The document as JSON bytes (Python `json.dumps` style, as the original returns it). */
  json(): Uint8Array {
    this.#json ??= encoder.encode(stringifyJson(this.value));
    return this.#json;
  }
  /** Why the value cannot be DAG-CBOR (NaN, Infinity, > 64-bit ints…), or undefined. */
  problem(): string | undefined {
    if (this.#problem === undefined) this.#problem = dagCborProblem(this.value) ?? null;
    return this.#problem ?? undefined;
  }
  [IPLD_FORM](): unknown {
    return this.value;
  }
}

/** A folder: names → nodes. */
export class Folder implements HasIpldForm {
  readonly entries = new Map<string, Node>();
  [IPLD_FORM](): unknown {
    return this.entries;
  }
}

/** A node of the tree. */
export type Node = Folder | Leaf | Inline;

/** Finds the node at a path of names (`[]` is the root folder). */
export function lookup(root: Folder, parts: readonly string[]): Node | undefined {
  let node: Node = root;
  for (const name of parts) {
    if (!(node instanceof Folder)) return undefined;
    const next = node.entries.get(name);
    if (next === undefined) return undefined;
    node = next;
  }
  return node;
}

/**
 * Puts a value node at `parts`, creating folders on the way. A name cannot be both a value
 * and a folder (DAG-CBOR maps hold one value per name): that is a `Conflict`.
 */
export function insert(root: Folder, parts: readonly string[], node: Leaf | Inline): void {
  let folder = root;
  const last = parts.length - 1;
  for (let i = 0; i < last; i++) {
    const name = parts[i] as string;
    const next = folder.entries.get(name);
    if (next === undefined) {
      const created = new Folder();
      folder.entries.set(name, created);
      folder = created;
    } else if (next instanceof Folder) {
      folder = next;
    } else {
      throw conflict(parts, `/${parts.slice(0, i + 1).join("/")} is a value, not a folder`);
    }
  }
  const name = parts[last] as string;
  if (folder.entries.get(name) instanceof Folder) {
    throw conflict(parts, `/${parts.join("/")}/ is a folder`);
  }
  folder.entries.set(name, node);
}

function conflict(parts: readonly string[], why: string): StoreError {
  const key = `/${parts.join("/")}`;
  return new StoreError({
    code: "Conflict",
    message: `cannot set ${key}: ${why}; in an IPLD tree a name holds either a value or a folder`,
    operation: "set",
    key,
    backend: "IPLDStore",
  });
}

/**
 * Removes the node at `parts` when it is of the wanted kind (a value for `delete`, a folder
 * for `deletePrefix`) and prunes folders left empty. Tells whether anything was removed.
 */
export function remove(root: Folder, parts: readonly string[], kind: "value" | "folder"): boolean {
  const chain: Folder[] = [root];
  for (const name of parts.slice(0, -1)) {
    const next = (chain[chain.length - 1] as Folder).entries.get(name);
    if (!(next instanceof Folder)) return false;
    chain.push(next);
  }
  const name = parts[parts.length - 1] as string;
  const parent = chain[chain.length - 1] as Folder;
  const node = parent.entries.get(name);
  if (node === undefined || node instanceof Folder !== (kind === "folder")) return false;
  parent.entries.delete(name);
  for (let i = chain.length - 1; i > 0; i--) {
    if ((chain[i] as Folder).entries.size > 0) break;
    (chain[i - 1] as Folder).entries.delete(parts[i - 1] as string);
  }
  return true;
}

/** Every value under a folder as `[key, node]`, depth first, names sorted at each level (or not). */
export function* walk(
  folder: Folder,
  prefix: string,
  sorted = true,
): Generator<[string, Leaf | Inline]> {
  const names = sorted ? [...folder.entries.keys()].sort() : folder.entries.keys();
  for (const name of names) {
    const node = folder.entries.get(name) as Node;
    if (node instanceof Folder) yield* walk(node, `${prefix}${name}/`, sorted);
    else yield [`${prefix}${name}`, node];
  }
}

/** The first inlined document that cannot be DAG-CBOR, as `[key, why]`. */
export function findInvalidInline(folder: Folder, prefix = "/"): [string, string] | undefined {
  for (const [name, node] of folder.entries) {
    if (node instanceof Folder) {
      const found = findInvalidInline(node, `${prefix}${name}/`);
      if (found) return found;
    } else if (node instanceof Inline) {
      const problem = node.problem();
      if (problem) return [`${prefix}${name}`, problem];
    }
  }
  return undefined;
}
