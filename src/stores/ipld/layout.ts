/**
 * How the tree is cut into blocks.
 *
 * **Original layout** (the default): the whole tree is one DAG-CBOR block; each value is one
 * raw block linked from it. Byte-compatible with the Python ipldstore.
 *
 * **Chunked layout** (`maxBlockSize`, e.g. 1 MiB, the largest block IPFS peers exchange): no
 * block exceeds the limit. A tree that fits is written exactly as in the original layout;
 * beyond that:
 * - a value larger than the limit is split into pieces of `maxBlockSize` bytes (the last one
 *   shorter), each a raw block, and its name holds the list of their links (a CBOR array of
 *   raw links) instead of one link;
 * - working bottom-up, a folder whose map makes its parent's block too large is moved into a
 *   DAG-CBOR block of its own and its name holds a link to that block (largest folders move
 *   first);
 * - a folder too large for one block even on its own (very many values in one folder) is split
 *   into parts: its entries, in canonical key order, are packed into maps of at most the limit,
 *   each a block, and its name holds the list of links to the parts (a CBOR array of DAG-CBOR
 *   links). The root block is then that list.
 *
 * Readers tell the forms apart by CBOR type and link codec: a raw link is a value, an array of
 * raw links a value in pieces, a map a folder, a DAG-CBOR link a folder in its own block, an
 * array of DAG-CBOR links a folder in parts. Metadata documents are always inline; a single
 * document larger than the limit cannot be written in this layout (`Unsupported`).
 */
import { CID } from "multiformats/cid";
import { StoreError } from "../../errors.js";
import type { CallOptions } from "../../store.js";
import { type AnyCID, cidKey, cidOf, DAG_CBOR, RAW } from "./blocks.js";
import { concat } from "./car.js";
import type { CAStore } from "./castore.js";
import { decodeDagCbor, encodeDagCbor } from "./dag-cbor.js";
import type { JsonValue } from "./json-numbers.js";
import { Folder, Inline, isMetadataName, Leaf, type Node } from "./tree.js";

/** A way of writing the tree into blocks of bounded size. */
export interface BlockLayout {
  readonly maxBlockSize: number;
  /** Writes the tree's blocks and returns the root CID. */
  freeze(tree: Folder, castore: CAStore, options?: CallOptions): Promise<AnyCID>;
}

// Below this a folder of a few dozen long names could not fit anywhere.
const MIN_BLOCK_SIZE = 4096;
// Pieces fetched or stored at once for a value in pieces.
const PIECE_CONCURRENCY = 8;
const utf8 = new TextEncoder();

/** The chunked layout with blocks of at most `maxBlockSize` bytes (see the module comment). */
export function chunkedLayout(maxBlockSize: number): BlockLayout {
  if (!Number.isSafeInteger(maxBlockSize) || maxBlockSize < MIN_BLOCK_SIZE) {
    throw new StoreError({
      code: "Config",
      message: `maxBlockSize must be a whole number of bytes ≥ ${MIN_BLOCK_SIZE} (got ${maxBlockSize}); 1048576 (1 MiB) suits IPFS`,
      backend: "IPLDStore",
    });
  }
  return {
    maxBlockSize,
    async freeze(tree, castore, options) {
      const form = await folderForm(tree, "/", maxBlockSize, castore, options);
      return castore.put(encodeDagCbor(form.value), DAG_CBOR, options);
    },
  };
}

/** Stores a value: one raw block, or pieces when the layout bounds block sizes. */
export async function storeValue(
  castore: CAStore,
  value: Uint8Array,
  layout: BlockLayout | undefined,
  options?: CallOptions,
): Promise<Leaf> {
  const max = layout?.maxBlockSize;
  if (max === undefined || value.byteLength <= max) {
    return new Leaf(await castore.put(value, RAW, options), undefined, value.byteLength);
  }
  const count = Math.ceil(value.byteLength / max);
  const pieces: AnyCID[] = new Array(count);
  await inBatches(count, PIECE_CONCURRENCY, async (i) => {
    const piece = value.subarray(i * max, Math.min(value.byteLength, (i + 1) * max));
    pieces[i] = await castore.put(piece, RAW, options);
  });
  const list = encodeDagCbor(pieces);
  if (list.byteLength > max) {
    throw new StoreError({
      code: "Unsupported",
      message: `a value of ${value.byteLength} bytes needs ${count} pieces, whose link list exceeds maxBlockSize ${max}`,
      operation: "set",
      backend: "IPLDStore",
    });
  }
  return new Leaf(pieces, await piecesEtag(pieces), value.byteLength);
}

async function piecesEtag(pieces: readonly AnyCID[]): Promise<string> {
  return `"${cidKey(await cidOf(encodeDagCbor(pieces), DAG_CBOR))}"`;
}

/** Reads a value: its raw block, or its pieces joined. `undefined` when a block is missing. */
export async function readValue(
  castore: CAStore,
  link: AnyCID | readonly AnyCID[],
  options?: CallOptions,
): Promise<Uint8Array | undefined> {
  if (!Array.isArray(link)) return castore.get(link as AnyCID, options);
  const pieces: (Uint8Array | undefined)[] = new Array(link.length);
  await inBatches(link.length, PIECE_CONCURRENCY, async (i) => {
    pieces[i] = await castore.get(link[i] as AnyCID, { ...options, shared: true });
  });
  if (pieces.some((p) => p === undefined)) return undefined;
  return concat(pieces as Uint8Array[]);
}

/**
 * Reads the tree under `root` (either layout). A root the block store lacks is `NotFound`;
 * anything that is not an IPLDStore tree is `Integrity`.
 */
export async function loadTree(
  castore: CAStore,
  root: AnyCID,
  options?: CallOptions,
): Promise<Folder> {
  if (root.code !== DAG_CBOR) {
    throw notATree(
      `the root ${cidKey(root)} is not a DAG-CBOR block (codec 0x${root.code.toString(16)})`,
    );
  }
  const data = await loadBlock(castore, root, "/", options, "NotFound");
  return folderFrom(data, "/", castore, options);
}

async function loadBlock(
  castore: CAStore,
  cid: AnyCID,
  path: string,
  options: CallOptions | undefined,
  missing: "NotFound" | "Integrity" = "Integrity",
): Promise<unknown> {
  const bytes = await castore.get(cid, { ...options, shared: true });
  if (bytes === undefined) {
    throw new StoreError({
      code: missing,
      message: `block ${cidKey(cid)} (the tree at ${path}) is not in ${castore.name}`,
      key: cidKey(cid),
      backend: castore.name,
    });
  }
  try {
    return decodeDagCbor(bytes);
  } catch (cause) {
    throw notATree(`block ${cidKey(cid)} (the tree at ${path}) is not valid DAG-CBOR`, cause);
  }
}

async function folderFrom(
  data: unknown,
  path: string,
  castore: CAStore,
  options: CallOptions | undefined,
): Promise<Folder> {
  const folder = new Folder();
  if (data instanceof Map) {
    // Most entries convert on the spot; only linked sub-trees and piece lists wait for I/O.
    // Names are set in encoded order first, so the order holds whatever finishes first.
    const pending: Promise<void>[] = [];
    for (const [name, value] of data) {
      if (typeof name !== "string") throw notATree(`the map at ${path} has a non-string key`);
      const node = plainNode(name, value);
      if (node !== undefined) {
        folder.entries.set(name, node);
        continue;
      }
      folder.entries.set(name, new Folder());
      pending.push(
        nodeFrom(name, value, `${path}${name}`, castore, options).then((loaded) => {
          folder.entries.set(name, loaded);
        }),
      );
    }
    if (pending.length > 0) await Promise.all(pending);
    return folder;
  }
  if (Array.isArray(data) && data.every((v) => CID.asCID(v)?.code === DAG_CBOR)) {
    for (const part of data as AnyCID[]) {
      const partFolder = await folderFrom(
        await loadBlock(castore, part, path, options),
        path,
        castore,
        options,
      );
      for (const [name, node] of partFolder.entries) folder.entries.set(name, node);
    }
    return folder;
  }
  throw notATree(`the value at ${path} is neither a map nor a list of folder parts`);
}

/**
 * The node for an entry that needs no I/O: a value link, a metadata document, foreign data.
 * Undefined for maps, linked sub-trees and lists, which `nodeFrom` handles.
 */
function plainNode(name: string, value: unknown): Node | undefined {
  const cid = CID.asCID(value) as AnyCID | null;
  if (cid) return cid.code === DAG_CBOR ? undefined : new Leaf(cid);
  // A link is a value whatever its name (zarr.json is a raw block unless inlineZarrJson).
  if (isMetadataName(name)) return new Inline(value as JsonValue);
  if (value instanceof Map || (Array.isArray(value) && value.length > 0)) return undefined;
  return new Inline(value as JsonValue);
}

async function nodeFrom(
  name: string,
  value: unknown,
  path: string,
  castore: CAStore,
  options: CallOptions | undefined,
): Promise<Node> {
  const cid = CID.asCID(value) as AnyCID | null;
  // A link is a value whatever its name (zarr.json is a raw block unless inlineZarrJson).
  if (isMetadataName(name) && !cid) return new Inline(value as JsonValue);
  if (cid) {
    if (cid.code !== DAG_CBOR) return new Leaf(cid);
    return folderFrom(
      await loadBlock(castore, cid, `${path}/`, options),
      `${path}/`,
      castore,
      options,
    );
  }
  if (value instanceof Map) return folderFrom(value, `${path}/`, castore, options);
  if (Array.isArray(value) && value.length > 0) {
    const links = value.map((v) => CID.asCID(v) as AnyCID | null);
    if (links.every((l) => l?.code === RAW)) {
      return new Leaf(links as AnyCID[], await piecesEtag(links as AnyCID[]));
    }
    if (links.every((l) => l?.code === DAG_CBOR)) {
      return folderFrom(value, `${path}/`, castore, options);
    }
  }
  // Foreign data under a plain name: it reads back as JSON.
  return new Inline(value as JsonValue);
}

function notATree(message: string, cause?: unknown): StoreError {
  return new StoreError({
    code: "Integrity",
    message: `not an IPLDStore tree: ${message}`,
    backend: "IPLDStore",
    cause,
  });
}

interface Entry {
  name: string;
  key: Uint8Array;
  value: unknown;
  /** Encoded size of the key and value in a map. */
  size: number;
  /** True while the value is an inline folder map that could move to its own block. */
  movable: boolean;
}

interface Form {
  /** A folder's map, or the list of links to its parts. */
  value: Map<string, unknown> | AnyCID[];
  /** The encoded size of `value`. */
  size: number;
}

async function folderForm(
  folder: Folder,
  path: string,
  max: number,
  castore: CAStore,
  options: CallOptions | undefined,
): Promise<Form> {
  const entries: Entry[] = [];
  for (const [name, node] of folder.entries) {
    const key = utf8.encode(name);
    const keySize = headerSize(key.byteLength) + key.byteLength;
    if (node instanceof Folder) {
      const form = await folderForm(node, `${path}${name}/`, max, castore, options);
      entries.push({
        name,
        key,
        value: form.value,
        size: keySize + form.size,
        movable: form.value instanceof Map,
      });
    } else {
      const value = node instanceof Leaf ? node.link : node.value;
      const size = keySize + encodeDagCbor(node).byteLength;
      if (node instanceof Inline && size > max) {
        throw new StoreError({
          code: "Unsupported",
          message: `cannot keep blocks under ${max} bytes: ${path}${name} alone encodes to ${size} bytes and metadata is always inline`,
          operation: "freeze",
          key: `${path}${name}`,
          backend: "IPLDStore",
        });
      }
      entries.push({ name, key, value, size, movable: false });
    }
  }
  let total = mapSize(entries);
  if (total <= max) return { value: toMap(entries), size: total };

  // Move the largest sub-folders into blocks of their own until the map fits.
  for (const entry of entries.filter((e) => e.movable).sort((a, b) => b.size - a.size)) {
    if (total <= max) break;
    const cid = await castore.put(encodeDagCbor(entry.value), DAG_CBOR, options);
    const linkSize = encodeDagCbor(cid).byteLength;
    const keySize = headerSize(entry.key.byteLength) + entry.key.byteLength;
    total += keySize + linkSize - entry.size;
    entry.value = cid;
    entry.size = keySize + linkSize;
    entry.movable = false;
  }
  if (total <= max) return { value: toMap(entries), size: total };

  // Still too many names: split the folder into parts, in canonical order.
  entries.sort((a, b) => compareCanonical(a.key, b.key));
  const parts: AnyCID[] = [];
  let run: Entry[] = [];
  const flush = async () => {
    if (run.length === 0) return;
    parts.push(await castore.put(encodeDagCbor(toMap(run)), DAG_CBOR, options));
    run = [];
  };
  for (const entry of entries) {
    if (run.length > 0 && mapSize([...run, entry]) > max) await flush();
    run.push(entry);
  }
  await flush();
  return { value: parts, size: encodeDagCbor(parts).byteLength };
}

function toMap(entries: readonly Entry[]): Map<string, unknown> {
  return new Map(entries.map((e) => [e.name, e.value]));
}

function mapSize(entries: readonly Entry[]): number {
  let size = headerSize(entries.length);
  for (const e of entries) size += e.size;
  return size;
}

/** The size of a CBOR head for an argument `n` (lengths, counts). */
function headerSize(n: number): number {
  return n < 24 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : n < 0x100000000 ? 5 : 9;
}

/** DAG-CBOR's map key order: shorter first, then bytewise. */
function compareCanonical(a: Uint8Array, b: Uint8Array): number {
  if (a.byteLength !== b.byteLength) return a.byteLength - b.byteLength;
  for (let i = 0; i < a.byteLength; i++) {
    if (a[i] !== b[i]) return (a[i] as number) - (b[i] as number);
  }
  return 0;
}

async function inBatches(
  count: number,
  limit: number,
  work: (index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, count) }, async () => {
    while (next < count) await work(next++);
  });
  await Promise.all(lanes);
}
