import { StoreError, throwIfAborted } from "../../errors.js";
import type { CallOptions } from "../../store.js";
import {
  type AnyCID,
  type Block,
  cidKey,
  cidOf,
  copyBytes,
  DAG_CBOR,
  DAG_PB,
  identityBlock,
  RAW,
  verifyBlock,
} from "./blocks.js";
import { carHeader, concat, sectionHead } from "./car.js";
import type { BlockGetOptions, CAStore } from "./castore.js";
import { bodyBytes, type Endpoint, parseEndpoint, pool, responseError, send } from "./http.js";
import { IPLDStore, type IPLDStoreOptions } from "./ipld-store.js";
import { multipartBody, readAll } from "./multipart.js";

/** Options for `KuboCAStore`. */
export interface KuboCAStoreOptions {
  /** A `fetch` to use instead of the global one. */
  fetch?: typeof globalThis.fetch;
  /** Extra headers (e.g. `Authorization` for an RPC API behind a proxy); never shown in messages. */
  headers?: Record<string, string>;
  /** Milliseconds before a request gives up (default 60,000: Kubo may search the network). */
  timeoutMs?: number;
  /** Requests in flight for bulk writes (default 8). */
  concurrency?: number;
  /** Bytes per `dag/import` batch for bulk writes (default 8 MiB). */
  batchBytes?: number;
  /**
   * Let Kubo take blocks over 1 MiB (`allow-big-block`, default true: the original layout puts
   * whole values in single blocks). Peers refuse to exchange such blocks; to share over IPFS,
   * use IPLDStore's `maxBlockSize: 1 << 20` instead.
   */
  allowBigBlocks?: boolean;
  /** Pin what is written (default false). */
  pin?: boolean;
}

const BACKEND = "KuboCAStore";
// 60 s: a Kubo node that lacks a block asks its peers before it answers.
const DEFAULT_TIMEOUT_MS = 60_000;
// 8: Kubo serves RPC calls concurrently; more in flight gains little on loopback.
const DEFAULT_CONCURRENCY = 8;
const DEFAULT_BATCH_BYTES = 8 * 1024 * 1024;
const CODEC_NAMES: Record<number, string> = {
  [RAW]: "raw",
  [DAG_CBOR]: "dag-cbor",
  [DAG_PB]: "dag-pb",
};
const SHA2_256 = 0x12;

/**
 * Keeps blocks in an IPFS node through the Kubo RPC API (`http://127.0.0.1:5001` by default):
 * `block/get` to read (every block verified against its CID), `block/put` to write (the CID
 * Kubo reports is checked against ours), `block/stat` for sizes, and `dag/import` of CAR batches
 * for bulk writes (imports), several in flight, each request with a timeout.
 *
 * @example
 * const store = new IPLDStore(new KuboCAStore("http://127.0.0.1:5001"));
 */
export class KuboCAStore implements CAStore {
  readonly name = BACKEND;
  readonly writable = true;
  readonly #endpoint: Endpoint;
  readonly #fetch: typeof globalThis.fetch;
  readonly #timeoutMs: number;
  readonly #concurrency: number;
  readonly #batchBytes: number;
  readonly #bigBlocks: boolean;
  readonly #pin: boolean;

  constructor(url = "http://127.0.0.1:5001", options: KuboCAStoreOptions = {}) {
    this.#endpoint = parseEndpoint(url, "/api/v0", options.headers, BACKEND);
    this.#fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
    this.#batchBytes = options.batchBytes ?? DEFAULT_BATCH_BYTES;
    this.#bigBlocks = options.allowBigBlocks ?? true;
    this.#pin = options.pin ?? false;
  }

  /** The RPC API's base URL (without credentials). */
  get url(): string {
    return this.#endpoint.base;
  }

  async get(cid: AnyCID, options?: BlockGetOptions): Promise<Uint8Array | undefined> {
    throwIfAborted(options?.signal, "get", cidKey(cid));
    const inline = identityBlock(cid);
    if (inline) return copyBytes(inline);
    const response = await this.#post("block/get", { arg: cid.toString() }, options, cidKey(cid));
    if (response === undefined) return undefined;
    const bytes = await bodyBytes(response);
    await verifyBlock(cid, bytes, BACKEND);
    return bytes;
  }

  async put(bytes: Uint8Array, codec: number, options?: CallOptions): Promise<AnyCID> {
    const cid = await cidOf(bytes, codec);
    await this.putBlock({ cid, bytes }, options);
    return cid;
  }

  async putBlock(block: Block, options?: CallOptions): Promise<void> {
    const { cid, bytes } = block;
    if (identityBlock(cid)) return;
    const codec = CODEC_NAMES[cid.code];
    if (cid.version !== 1 || cid.multihash.code !== SHA2_256 || codec === undefined) {
      // Any other CID form goes in as a one-block CAR, which keeps it exactly.
      await this.#importBatch([block], options);
      return;
    }
    const params = {
      "cid-codec": codec,
      mhtype: "sha2-256",
      mhlen: "32",
      pin: String(this.#pin),
      "allow-big-block": String(this.#bigBlocks),
    };
    const response = await this.#upload("block/put", params, bytes, options, cidKey(cid));
    const { Key } = (await response.json()) as { Key?: string };
    if (Key !== cid.toString() && Key !== cidKey(cid)) {
      throw new StoreError({
        code: "Integrity",
        message: `${BACKEND}: Kubo stored the block as ${Key}, expected ${cidKey(cid)}`,
        operation: "set",
        key: cidKey(cid),
        backend: BACKEND,
      });
    }
  }

  /** Writes blocks as CAR batches through `dag/import`, several batches in flight. */
  async putMany(blocks: AsyncIterable<Block>, options?: CallOptions): Promise<void> {
    const inFlight = new Set<Promise<void>>();
    let failure: unknown;
    const launch = (batch: Block[]) => {
      const task = this.#importBatch(batch, options).catch((error: unknown) => {
        failure ??= error;
      });
      const tracked = task.finally(() => inFlight.delete(tracked));
      inFlight.add(tracked);
    };
    let batch: Block[] = [];
    let size = 0;
    for await (const block of blocks) {
      if (failure) break;
      if (identityBlock(block.cid)) continue;
      // Copied: stream readers may hand out views of buffers they reuse.
      batch.push({ cid: block.cid, bytes: block.owned ? block.bytes : copyBytes(block.bytes) });
      size += block.bytes.byteLength;
      if (size >= this.#batchBytes) {
        launch(batch);
        batch = [];
        size = 0;
        while (inFlight.size >= this.#concurrency) await Promise.race(inFlight);
      }
    }
    if (batch.length > 0 && !failure) launch(batch);
    await Promise.all(inFlight);
    if (failure) throw failure;
  }

  async has(cid: AnyCID, options?: CallOptions): Promise<boolean> {
    return (await this.size(cid, options)) !== undefined;
  }

  async size(cid: AnyCID, options?: CallOptions): Promise<number | undefined> {
    throwIfAborted(options?.signal, "stat", cidKey(cid));
    const inline = identityBlock(cid);
    if (inline) return inline.byteLength;
    const response = await this.#post("block/stat", { arg: cid.toString() }, options, cidKey(cid));
    if (response === undefined) return undefined;
    const { Size } = (await response.json()) as { Size?: number };
    return Size;
  }

  /** Reads many blocks, several requests in flight (missing ones are `undefined`). */
  async getMany(
    cids: readonly AnyCID[],
    options?: CallOptions,
  ): Promise<(Uint8Array | undefined)[]> {
    const out: (Uint8Array | undefined)[] = new Array(cids.length);
    await pool(cids.keys(), this.#concurrency, async (i) => {
      out[i] = await this.get(cids[i] as AnyCID, options);
    });
    return out;
  }

  async close(): Promise<void> {}

  toJSON(): Record<string, unknown> {
    return { name: BACKEND, url: this.#endpoint.base };
  }

  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return `KuboCAStore(${this.#endpoint.base})`;
  }

  async #importBatch(batch: Block[], options?: CallOptions): Promise<void> {
    const first = batch[0];
    if (first === undefined) return;
    const parts: Uint8Array[] = [carHeader([first.cid])];
    for (const { cid, bytes } of batch) parts.push(sectionHead(cid, bytes.byteLength), bytes);
    const params = { "pin-roots": "false", "allow-big-block": String(this.#bigBlocks) };
    const response = await this.#upload("dag/import", params, concat(parts), options);
    await response.arrayBuffer();
  }

  /** POSTs an RPC call; `undefined` when Kubo says the block is not there. */
  async #post(
    path: string,
    params: Record<string, string>,
    options: CallOptions | undefined,
    key?: string,
  ): Promise<Response | undefined> {
    const response = await send(this.#url(path, params), {
      method: "POST",
      headers: this.#endpoint.headers,
      timeoutMs: this.#timeoutMs,
      fetch: this.#fetch,
      backend: BACKEND,
      operation: path,
      key,
      signal: options?.signal,
    });
    if (response.ok) return response;
    const error = await responseError(response, BACKEND, path, key, hintFor(response.status));
    if (/not found|could not find|no such block/i.test(error.message)) return undefined;
    throw error;
  }

  async #upload(
    path: string,
    params: Record<string, string>,
    bytes: Uint8Array,
    options: CallOptions | undefined,
    key?: string,
  ): Promise<Response> {
    const { contentType, body } = multipartBody(bytes);
    const response = await send(this.#url(path, params), {
      method: "POST",
      headers: { ...this.#endpoint.headers, "content-type": contentType },
      body: await readAll(body),
      timeoutMs: this.#timeoutMs,
      fetch: this.#fetch,
      backend: BACKEND,
      operation: path,
      key,
      signal: options?.signal,
    });
    if (!response.ok)
      throw await responseError(response, BACKEND, path, key, hintFor(response.status));
    return response;
  }

  #url(path: string, params: Record<string, string>): string {
    return `${this.#endpoint.base}/api/v0/${path}?${new URLSearchParams(params)}`;
  }
}

function hintFor(status: number): string {
  if (status === 404 || status === 405)
    return " (is this a Kubo RPC API, usually port 5001, not a gateway?)";
  if (status === 403)
    return " (Kubo's API.Authorizations may need a token: pass headers.authorization)";
  return "";
}

/**
 * An IPLDStore over a Kubo node's RPC API, as the original's `get_ipfs_mapper()`.
 *
 * @example
 * const m = getIpfsMapper();            // http://127.0.0.1:5001
 * await xrWriter(m); console.log(String(await m.freeze()));
 */
export function getIpfsMapper(
  url = "http://127.0.0.1:5001",
  options: KuboCAStoreOptions & IPLDStoreOptions = {},
): IPLDStore {
  return new IPLDStore(new KuboCAStore(url, options), options);
}
