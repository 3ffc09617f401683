import { StoreError, throwIfAborted } from "../../errors.js";
import { type AbsolutePath, type Prefix, toKey, toPrefix } from "../../keys.js";
import { compareKeys } from "../../listing.js";
import { sliceRange } from "../../ranges.js";
import type {
  CallOptions,
  Capabilities,
  ListDirResult,
  RangeQuery,
  SetOptions,
  SetResult,
  StatResult,
  Store,
} from "../../store.js";
import { type AnyCID, cidKey, copyBytes, DAG_CBOR, parseCid, RAW, rawEtag } from "./blocks.js";
import { type CarSource, collectBytes, exportCar, readCar } from "./car.js";
import { type CAStore, MappingCAStore } from "./castore.js";
import { encodeDagCbor } from "./dag-cbor.js";
import { JsonSyntaxError, parseJsonBytes } from "./json-numbers.js";
import { type BlockLayout, chunkedLayout, loadTree, readValue, storeValue } from "./layout.js";
import {
  Folder,
  findInvalidInline,
  Inline,
  insert,
  Leaf,
  lookup,
  remove,
  V2_METADATA_NAMES,
  V3_METADATA_NAME,
  walk,
} from "./tree.js";

/** Options for `IPLDStore`. */
export interface IPLDStoreOptions {
  /**
   * Inline Zarr v3 `zarr.json` documents as DAG-CBOR data, like the v2 metadata names. Off by
   * default so that v2 hierarchies give the original ipldstore's CIDs; trees written with it on
   * read back right whatever this option says.
   */
  inlineZarrJson?: boolean;
  /**
   * Keep every block at or under this many bytes (e.g. `1 << 20`: IPFS peers refuse blocks over
   * 1 MiB). Larger values are split into pieces and large folders into linked blocks; see
   * `layout.ts` for the layout. Default: unlimited, which is byte-compatible with the original.
   */
  maxBlockSize?: number;
  /** Reject every write with `ReadOnly`. */
  readOnly?: boolean;
}

/** Options for `importCar`. */
export interface ImportCarOptions extends CallOptions {
  /**
   * The source never reuses the chunks it yields (Node file streams, fetch bodies), so blocks
   * are kept without a copy. Default false (every block is copied).
   */
  adopt?: boolean;
}

const BACKEND = "IPLDStore";

/**
 * A Zarr store kept as an IPLD DAG, in the format of the original Python `ipldstore`
 * (d70-t/ipldstore), byte for byte: the keys form a tree of DAG-CBOR maps; `.zarray`, `.zgroup`,
 * `.zattrs` and `.zmetadata` are inlined as data (JSON numbers kept exactly: `0.0` stays a
 * float, integers beyond 2^53 stay exact); every other value is a raw block (CIDv1, sha2-256)
 * linked from the tree. `freeze()` writes the tree and returns its root CID; the same writes
 * give the same CID as the original.
 *
 * Metadata reads back as JSON re-serialised from the tree (Python `json.dumps` style), equal in
 * content to what was written but not byte-identical. A metadata name must hold JSON: other
 * bytes under `.zarray` etc. are rejected at `set` with `Unsupported`.
 *
 * @example
 * const store = new IPLDStore();
 * await store.set("/.zgroup", new TextEncoder().encode('{"zarr_format": 2}'));
 * const root = await store.freeze(); // bafyrei…
 * const car = await store.toCar();
 */
export class IPLDStore implements Store {
  readonly capabilities: Capabilities;
  readonly #castore: CAStore;
  readonly #inlineNames: ReadonlySet<string>;
  readonly #layout: BlockLayout | undefined;
  readonly #readOnly: boolean;
  #tree = new Folder();
  #version = 0;
  #root: { cid: AnyCID; version: number } | undefined;

  constructor(castore: CAStore = new MappingCAStore(), options: IPLDStoreOptions = {}) {
    this.#castore = castore;
    this.#inlineNames = options.inlineZarrJson
      ? new Set([...V2_METADATA_NAMES, V3_METADATA_NAME])
      : V2_METADATA_NAMES;
    this.#layout =
      options.maxBlockSize === undefined ? undefined : chunkedLayout(options.maxBlockSize);
    this.#readOnly = options.readOnly === true || !castore.writable;
    const write = !this.#readOnly;
    this.capabilities = Object.freeze({
      write,
      overwrite: write,
      delete: write,
      list: true,
      // Blocks are verified whole, so ranges are cut from the whole value.
      getRange: false,
      suffixRange: false,
      conditionalWrite: write,
      atomicWrite: true,
      etag: true,
    });
  }

  /** Opens the tree of a CAR in a new store (over `castore`, private memory by default). */
  static async fromCar(
    car: CarSource,
    castore?: CAStore,
    options?: IPLDStoreOptions,
  ): Promise<IPLDStore> {
    const store = new IPLDStore(castore, options);
    await store.importCar(car);
    return store;
  }

  /** Opens the tree under `root` (a CID or its string) in a new store over `castore`. */
  static async fromRoot(
    root: AnyCID | string,
    castore: CAStore,
    options?: IPLDStoreOptions,
  ): Promise<IPLDStore> {
    const store = new IPLDStore(castore, options);
    await store.setRoot(root);
    return store;
  }

  /** The block store underneath. */
  get castore(): CAStore {
    return this.#castore;
  }

  async get(key: AbsolutePath, options?: CallOptions): Promise<Uint8Array | undefined> {
    throwIfAborted(options?.signal, "get", key);
    const node = this.#valueAt(toKey(key));
    if (node === undefined) return undefined;
    if (node instanceof Inline) return copyBytes(node.json());
    return this.#read(node, key, options);
  }

  async getRange(
    key: AbsolutePath,
    range: RangeQuery,
    options?: CallOptions,
  ): Promise<Uint8Array | undefined> {
    throwIfAborted(options?.signal, "getRange", key);
    const path = toKey(key);
    const node = this.#valueAt(path);
    if (node === undefined) return undefined;
    const value = node instanceof Inline ? node.json() : await this.#read(node, path, options);
    return copyBytes(sliceRange(value, range, path));
  }

  async stat(key: AbsolutePath, options?: CallOptions): Promise<StatResult | undefined> {
    throwIfAborted(options?.signal, "stat", key);
    const path = toKey(key);
    const node = this.#valueAt(path);
    if (node === undefined) return undefined;
    if (node instanceof Inline)
      return { size: node.json().byteLength, etag: await inlineEtag(node) };
    if (node.size === undefined) node.size = await this.#sizeOf(node, path, options);
    return { size: node.size, etag: node.etag };
  }

  async set(key: AbsolutePath, value: Uint8Array, options?: SetOptions): Promise<void> {
    await this.#write(key, value, options);
  }

  async put(key: AbsolutePath, value: Uint8Array, options?: SetOptions): Promise<SetResult> {
    const node = await this.#write(key, value, options);
    return { etag: node instanceof Inline ? await inlineEtag(node) : node.etag };
  }

  async #write(key: AbsolutePath, value: Uint8Array, options?: SetOptions): Promise<Leaf | Inline> {
    throwIfAborted(options?.signal, "set", key);
    const path = toKey(key);
    this.#assertWritable("set", path);
    if (!(value instanceof Uint8Array)) {
      throw new StoreError({
        code: "Config",
        message: "values must be Uint8Array",
        operation: "set",
        key: path,
        backend: BACKEND,
      });
    }
    const parts = path.slice(1).split("/");
    this.#checkFolderNames(parts, path);
    const name = parts[parts.length - 1] as string;
    let node: Leaf | Inline;
    if (this.#inlineNames.has(name)) node = await parseInline(value, path);
    else {
      // The common case takes no await: a synchronous put into private memory (see putSync).
      const cid = this.#layout ? undefined : this.#castore.putSync?.(value, RAW);
      node = cid
        ? new Leaf(cid, undefined, value.byteLength)
        : await storeValue(this.#castore, value, this.#layout, { signal: options?.signal });
    }
    if (options?.ifNoneMatch !== undefined || options?.ifMatch !== undefined) {
      await this.#checkCondition(path, parts, options);
    }
    insert(this.#tree, parts, node);
    this.#changed();
    return node;
  }

  async delete(key: AbsolutePath, options?: CallOptions): Promise<void> {
    throwIfAborted(options?.signal, "delete", key);
    const path = toKey(key);
    this.#assertWritable("delete", path);
    if (remove(this.#tree, path.slice(1).split("/"), "value")) this.#changed();
  }

  async deletePrefix(prefix: string, options?: CallOptions): Promise<void> {
    throwIfAborted(options?.signal, "deletePrefix", prefix);
    const folder = toPrefix(prefix);
    this.#assertWritable("deletePrefix", folder);
    if (folder === "/") {
      if (this.#tree.entries.size > 0) {
        this.#tree = new Folder();
        this.#changed();
      }
      return;
    }
    if (remove(this.#tree, folderParts(folder), "folder")) this.#changed();
  }

  async *list(prefix?: string, options?: CallOptions): AsyncIterable<AbsolutePath> {
    const folder = toPrefix(prefix);
    const node = lookup(this.#tree, folderParts(folder));
    if (!(node instanceof Folder)) return;
    for (const [key] of walk(node, folder)) {
      throwIfAborted(options?.signal, "list", folder);
      yield key as AbsolutePath;
    }
  }

  async listDir(prefix?: string, options?: CallOptions): Promise<ListDirResult> {
    throwIfAborted(options?.signal, "listDir", prefix);
    const folder = toPrefix(prefix);
    const node = lookup(this.#tree, folderParts(folder));
    const result: ListDirResult = { keys: [], prefixes: [] };
    if (!(node instanceof Folder)) return result;
    for (const [name, child] of node.entries) {
      if (child instanceof Folder) result.prefixes.push(`${folder}${name}/` as Prefix);
      else result.keys.push(`${folder}${name}` as AbsolutePath);
    }
    result.keys.sort(compareKeys);
    result.prefixes.sort(compareKeys);
    return result;
  }

  async close(): Promise<void> {
    await this.#castore.close();
  }

  /**
   * Writes the tree to the block store and returns its root CID (`bafyrei…`). The CID is
   * cached until the next change (deletes included). Metadata holding NaN or ±Infinity (which
   * DAG-CBOR cannot encode) fails here with `Unsupported`, naming the key.
   */
  async freeze(options?: CallOptions): Promise<AnyCID> {
    throwIfAborted(options?.signal, "freeze");
    if (this.#root !== undefined && this.#root.version === this.#version) return this.#root.cid;
    const version = this.#version;
    const invalid = findInvalidInline(this.#tree);
    if (invalid) {
      throw new StoreError({
        code: "Unsupported",
        message: `cannot freeze: ${invalid[0]} holds a value DAG-CBOR cannot encode (${invalid[1]}); IPLD allows no NaN or Infinity: store it as a string such as "NaN" (zarr's own spelling for fill values)`,
        operation: "freeze",
        key: invalid[0],
        backend: BACKEND,
      });
    }
    const cid = this.#layout
      ? await this.#layout.freeze(this.#tree, this.#castore, options)
      : await this.#castore.put(encodeDagCbor(this.#tree), DAG_CBOR, options);
    if (this.#version === version) this.#root = { cid, version };
    return cid;
  }

  /**
   * Replaces the tree with the one under `root`, read from the block store (and verified).
   * A root missing from the block store is `NotFound`; a block that is not an IPLDStore tree
   * is `Integrity`.
   */
  async setRoot(root: AnyCID | string, options?: CallOptions): Promise<void> {
    const cid = parseCid(root);
    const tree = await loadTree(this.#castore, cid, options);
    this.#tree = tree;
    this.#changed();
    this.#root = { cid, version: this.#version };
  }

  /** The whole DAG as one CARv1 (see `toCarStream`). */
  async toCar(options?: CallOptions): Promise<Uint8Array> {
    return collectBytes(this.toCarStream(options));
  }

  /**
   * Freezes and streams the DAG as a CARv1: header `{roots:[root], version:1}`, then the root
   * block and every linked block once, depth-first in canonical key order (the original's
   * order, so the bytes equal its `to_car()`).
   */
  async *toCarStream(options?: CallOptions): AsyncGenerator<Uint8Array> {
    const root = await this.freeze(options);
    yield* exportCar(this.#castore, root, options);
  }

  /**
   * Imports a CARv1 (bytes or a stream of chunks) and makes its root this store's tree. Every
   * block is verified as it streams in. `Integrity` errors: a CAR with other than one root,
   * CARv2, a hash mismatch, a truncated file, or a tree that links blocks neither the CAR nor
   * the block store has. Nothing changes in the store (the tree stays as it was) until the whole
   * CAR checked out; blocks already copied to the block store stay there, unreferenced.
   */
  async importCar(car: CarSource, options?: ImportCarOptions): Promise<AnyCID> {
    const reader = await readCar(car, options);
    if (reader.roots.length !== 1) {
      throw new StoreError({
        code: "Integrity",
        message: `an IPLDStore needs a CAR with exactly one root; this one has ${reader.roots.length}`,
        operation: "importCar",
        backend: BACKEND,
      });
    }
    const root = reader.roots[0] as AnyCID;
    const seen = new Set<string>();
    if (this.#castore.putMany) {
      const blocks = (async function* () {
        for await (const block of reader.blocks) {
          seen.add(cidKey(block.cid));
          yield block;
        }
      })();
      await this.#castore.putMany(blocks, options);
    } else {
      for await (const block of reader.blocks) {
        const key = cidKey(block.cid);
        seen.add(key);
        if (!this.#castore.putBlockSync?.(block, key)) await this.#castore.putBlock(block, options);
      }
    }
    // Loading the tree reads every tree block (a missing one fails here, named); the values'
    // blocks must have come in the CAR or be in the block store already.
    const tree = await loadTree(this.#castore, root, options);
    await checkValuesPresent(this.#castore, tree, seen, options);
    this.#tree = tree;
    this.#changed();
    this.#root = { cid: root, version: this.#version };
    return root;
  }

  #changed(): void {
    this.#version += 1;
  }

  #valueAt(key: AbsolutePath): Leaf | Inline | undefined {
    const node = lookup(this.#tree, key.slice(1).split("/"));
    return node instanceof Folder ? undefined : node;
  }

  async #read(node: Leaf, key: string, options?: CallOptions): Promise<Uint8Array> {
    const bytes = await readValue(this.#castore, node.link, options);
    if (bytes === undefined) throw missingBlock(node.link, key, this.#castore.name);
    node.size ??= bytes.byteLength;
    // Typed-array views (zarrita's bytes codec) need aligned offsets: a block store may hand out
    // a view into a larger message (bitswap does).
    return bytes.byteOffset % 8 === 0 ? bytes : copyBytes(bytes);
  }

  async #sizeOf(node: Leaf, key: string, options?: CallOptions): Promise<number> {
    if (!Array.isArray(node.link)) {
      const size = await this.#castore.size(node.link as AnyCID, options);
      if (size === undefined) throw missingBlock(node.link, key, this.#castore.name);
      return size;
    }
    return (await this.#read(node, key, options)).byteLength;
  }

  #checkFolderNames(parts: string[], key: string): void {
    for (const name of parts.slice(0, -1)) {
      if (this.#inlineNames.has(name) || name === V3_METADATA_NAME) {
        throw new StoreError({
          code: "Unsupported",
          message: `cannot set ${key}: '${name}' is a metadata name, so IPLDStore cannot use it as a folder`,
          operation: "set",
          key,
          backend: BACKEND,
        });
      }
    }
  }

  async #checkCondition(path: string, parts: string[], options?: SetOptions): Promise<void> {
    if (options?.ifNoneMatch === undefined && options?.ifMatch === undefined) return;
    for (;;) {
      const node = lookup(this.#tree, parts);
      const current = node instanceof Folder ? undefined : node;
      if (options.ifNoneMatch === "*" && current !== undefined) {
        throw conditionFailed(path, "the key already exists (ifNoneMatch: '*')");
      }
      if (options.ifMatch === undefined) return;
      if (current === undefined) {
        throw conditionFailed(path, `the key is missing (ifMatch: ${options.ifMatch})`);
      }
      const etag = current instanceof Inline ? await inlineEtag(current) : current.etag;
      // The etag of an inline document may take a tick to compute: make sure it still stands.
      if (lookup(this.#tree, parts) !== current) continue;
      if (etag !== options.ifMatch) {
        throw conditionFailed(path, `the value changed (ifMatch: ${options.ifMatch})`);
      }
      return;
    }
  }

  #assertWritable(operation: string, key: string): void {
    if (this.#readOnly) {
      throw new StoreError({
        code: "ReadOnly",
        message: `${BACKEND} is read-only (${this.#castore.writable ? "opened read-only" : `${this.#castore.name} cannot write`}): cannot ${operation} ${key}`,
        operation,
        key,
        backend: BACKEND,
      });
    }
  }
}

function folderParts(prefix: Prefix): string[] {
  return prefix === "/" ? [] : prefix.slice(1, -1).split("/");
}

async function parseInline(value: Uint8Array, key: string): Promise<Inline> {
  try {
    const inline = new Inline(parseJsonBytes(value));
    return inline;
  } catch (cause) {
    if (!(cause instanceof JsonSyntaxError)) throw cause;
    throw new StoreError({
      code: "Unsupported",
      message: `cannot set ${key}: IPLDStore inlines Zarr metadata (.zarray, .zgroup, .zattrs, .zmetadata) as DAG-CBOR data, so the value must be JSON (${cause.message})`,
      operation: "set",
      key,
      backend: BACKEND,
      cause,
    });
  }
}

async function inlineEtag(node: Inline): Promise<string> {
  node.etag ??= await rawEtag(node.json());
  return node.etag;
}

function conditionFailed(key: string, why: string): StoreError {
  return new StoreError({
    code: "ConditionFailed",
    message: `cannot set ${key}: ${why}`,
    operation: "set",
    key,
    backend: BACKEND,
  });
}

function missingBlock(link: AnyCID | readonly AnyCID[], key: string, backend: string): StoreError {
  const what = Array.isArray(link)
    ? `${link.length} pieces, some of which`
    : `block ${cidKey(link as AnyCID)}, which`;
  return new StoreError({
    code: "Integrity",
    message: `${key} links ${what} ${backend} does not have`,
    operation: "get",
    key,
    backend,
  });
}

/** Checks that every value block the tree links is in the CAR just read or in the block store. */
async function checkValuesPresent(
  castore: CAStore,
  tree: Folder,
  seen: ReadonlySet<string>,
  options?: CallOptions,
): Promise<void> {
  const checked = new Set<string>();
  for (const [, node] of walk(tree, "/", false)) {
    if (!(node instanceof Leaf)) continue;
    const links = Array.isArray(node.link) ? (node.link as AnyCID[]) : [node.link as AnyCID];
    for (const link of links) {
      const key = cidKey(link);
      if (seen.has(key) || checked.has(key)) continue;
      checked.add(key);
      if (!(await castore.has(link, options))) throw missingImported(link);
    }
  }
}

function missingImported(cid: AnyCID): StoreError {
  return new StoreError({
    code: "Integrity",
    message: `the CAR is incomplete (truncated?): block ${cidKey(cid)} is linked but neither in the CAR nor in the block store`,
    operation: "importCar",
    key: cidKey(cid),
    backend: BACKEND,
  });
}
