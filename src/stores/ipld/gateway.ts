import { readOnlyError, throwIfAborted } from "../../errors.js";
import type { CallOptions } from "../../store.js";
import {
  type AnyCID,
  type Block,
  cidKey,
  copyBytes,
  identityBlock,
  verifyBlock,
} from "./blocks.js";
import { type CarBlock, readCar } from "./car.js";
import type { BlockGetOptions, CAStore } from "./castore.js";
import { bodyBytes, type Endpoint, parseEndpoint, responseError, send } from "./http.js";
import { streamChunks } from "./multipart.js";

/** Options for `GatewayCAStore`. */
export interface GatewayCAStoreOptions {
  /** A `fetch` to use instead of the global one. */
  fetch?: typeof globalThis.fetch;
  /** Extra headers (e.g. an API key); never shown in messages. */
  headers?: Record<string, string>;
  /** Milliseconds before a request gives up (default 60,000: gateways may fetch from peers first). */
  timeoutMs?: number;
  /** A block store to keep fetched blocks in, so each is fetched once (e.g. `new MappingCAStore()`). */
  cache?: CAStore;
}

const BACKEND = "GatewayCAStore";
const RAW_TYPE = "application/vnd.ipld.raw";
const CAR_TYPE = "application/vnd.ipld.car";
// 60 s: a gateway that lacks a block looks for it among its peers before it answers.
const DEFAULT_TIMEOUT_MS = 60_000;

/**
 * Reads blocks from an IPFS trustless gateway (`GET /ipfs/{cid}?format=raw`), verifying each
 * against its CID, so the gateway need not be trusted; `fetchCar` takes a whole DAG in one
 * request (`?format=car`). Read-only. Runs anywhere `fetch` does, browsers included.
 *
 * @example
 * const store = await IPLDStore.fromRoot("bafy…", new GatewayCAStore("https://ipfs.io"));
 */
export class GatewayCAStore implements CAStore {
  readonly name = BACKEND;
  readonly writable = false;
  readonly #endpoint: Endpoint;
  readonly #fetch: typeof globalThis.fetch;
  readonly #timeoutMs: number;
  readonly #cache: CAStore | undefined;

  constructor(url: string, options: GatewayCAStoreOptions = {}) {
    this.#endpoint = parseEndpoint(url, "/ipfs", options.headers, BACKEND);
    this.#fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#cache = options.cache;
  }

  /** The gateway's base URL (without credentials). */
  get url(): string {
    return this.#endpoint.base;
  }

  async get(cid: AnyCID, options?: BlockGetOptions): Promise<Uint8Array | undefined> {
    throwIfAborted(options?.signal, "get", cidKey(cid));
    const inline = identityBlock(cid);
    if (inline) return copyBytes(inline);
    const cached = await this.#cache?.get(cid, options);
    if (cached !== undefined) return cached;
    const response = await this.#request(cid, "raw", "GET", options);
    if (response === undefined) return undefined;
    const bytes = await bodyBytes(response);
    await verifyBlock(cid, bytes, BACKEND, ` from ${this.#endpoint.base}`);
    await this.#cache?.putBlock({ cid, bytes });
    return bytes;
  }

  async has(cid: AnyCID, options?: CallOptions): Promise<boolean> {
    return (await this.size(cid, options)) !== undefined;
  }

  async size(cid: AnyCID, options?: CallOptions): Promise<number | undefined> {
    throwIfAborted(options?.signal, "stat", cidKey(cid));
    const inline = identityBlock(cid);
    if (inline) return inline.byteLength;
    const cached = await this.#cache?.size(cid, options);
    if (cached !== undefined) return cached;
    const response = await this.#request(cid, "raw", "HEAD", options);
    if (response === undefined) return undefined;
    const length = Number(response.headers.get("content-length") ?? Number.NaN);
    if (Number.isSafeInteger(length)) return length;
    return (await this.get(cid, options))?.byteLength;
  }

  /**
   * Fetches the DAG under `root` as one CAR (`?format=car&dag-scope=all`), verifying every
   * block; blocks go to the cache when there is one. A missing root ends with nothing yielded.
   */
  async *fetchCar(
    root: AnyCID,
    options: CallOptions & { scope?: "all" | "block" } = {},
  ): AsyncGenerator<CarBlock> {
    const response = await this.#request(root, "car", "GET", options, options.scope ?? "all");
    if (response === undefined || response.body === null) return;
    const car = await readCar(streamChunks(response.body), options);
    for await (const block of car.blocks) {
      const copy = { cid: block.cid, bytes: copyBytes(block.bytes) };
      await this.#cache?.putBlock(copy);
      yield { ...block, bytes: copy.bytes };
    }
  }

  async put(): Promise<AnyCID> {
    throw readOnlyError(BACKEND, "set");
  }

  async putBlock(_block: Block): Promise<void> {
    throw readOnlyError(BACKEND, "set");
  }

  async close(): Promise<void> {
    await this.#cache?.close();
  }

  toJSON(): Record<string, unknown> {
    return { name: BACKEND, url: this.#endpoint.base };
  }

  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return `GatewayCAStore(${this.#endpoint.base})`;
  }

  async #request(
    cid: AnyCID,
    format: "raw" | "car",
    method: "GET" | "HEAD",
    options: CallOptions | undefined,
    scope?: string,
  ): Promise<Response | undefined> {
    const query = scope ? `format=${format}&dag-scope=${scope}` : `format=${format}`;
    const response = await send(`${this.#endpoint.base}/ipfs/${cid}?${query}`, {
      method,
      headers: {
        ...this.#endpoint.headers,
        accept: format === "raw" ? RAW_TYPE : `${CAR_TYPE}; version=1`,
      },
      timeoutMs: this.#timeoutMs,
      fetch: this.#fetch,
      backend: BACKEND,
      operation: method === "HEAD" ? "stat" : "get",
      key: cidKey(cid),
      signal: options?.signal,
    });
    if (response.ok) return response;
    if (response.status === 404 || response.status === 410) {
      await response.body?.cancel();
      return undefined;
    }
    throw await responseError(response, BACKEND, `${method} /ipfs/${cid}`);
  }
}
