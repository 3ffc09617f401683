import { StoreError, throwIfAborted } from "../../errors.js";
import type { CallOptions } from "../../store.js";
import {
  type AnyCID,
  type Block,
  cidKey,
  cidOf,
  copyBytes,
  identityBlock,
  verifyBlock,
} from "./blocks.js";
import { concat } from "./car.js";
import type { BlockGetOptions, CAStore } from "./castore.js";

/** What a block read from Helia's blockstore gives: bytes, or (Helia 7) a stream of them. */
type HeliaBytes =
  | Uint8Array
  | Iterable<Uint8Array>
  | AsyncIterable<Uint8Array>
  | Promise<Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>>;

/**
 * The part of a Helia node HeliaCAStore uses (`helia.blockstore`), typed structurally so that
 * zarrstore need not import Helia, an optional dependency.
 */
export interface HeliaLike {
  blockstore: {
    get(cid: AnyCID, options?: { signal?: AbortSignal | undefined; offline?: boolean }): HeliaBytes;
    put(
      cid: AnyCID,
      bytes: Uint8Array,
      options?: { signal?: AbortSignal | undefined },
    ): Promise<unknown>;
    has(
      cid: AnyCID,
      options?: { signal?: AbortSignal | undefined; offline?: boolean },
    ): Promise<boolean>;
  };
  stop?(): Promise<void>;
}

/** Options for `HeliaCAStore`. */
export interface HeliaCAStoreOptions {
  /**
   * Milliseconds a read may wait for peers (bitswap) before failing with `Timeout` (default
   * 30,000). A block no connected peer has can only be told apart from a slow one by waiting.
   */
  timeoutMs?: number;
  /** Only look in the node's own blockstore, never ask peers (missing blocks are `undefined`). */
  offline?: boolean;
  /** Stop the node when the store is closed (default false: the caller owns the node). */
  stopOnClose?: boolean;
}

const BACKEND = "HeliaCAStore";
// 30 s: bitswap asks every connected peer; on loopback a present block arrives in milliseconds.
const DEFAULT_TIMEOUT_MS = 30_000;

/**
 * Keeps blocks in an embedded Helia node (`helia.blockstore`): writes land in its blockstore
 * and are served to peers over bitswap; reads come from it or, through bitswap, from connected
 * peers, and are verified against their CID here too. Helia is an optional dependency: create
 * the node yourself, or with `startHelia` from `zarrstore/ipld`'s Node helper.
 *
 * @example
 * const helia = await startHelia({ listen: ["/ip4/127.0.0.1/tcp/0"] });
 * const store = new IPLDStore(new HeliaCAStore(helia));
 */
export class HeliaCAStore implements CAStore {
  readonly name = BACKEND;
  readonly writable = true;
  readonly #helia: HeliaLike;
  readonly #timeoutMs: number;
  readonly #offline: boolean;
  readonly #stopOnClose: boolean;

  constructor(helia: HeliaLike, options: HeliaCAStoreOptions = {}) {
    this.#helia = helia;
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#offline = options.offline ?? false;
    this.#stopOnClose = options.stopOnClose ?? false;
  }

  /** The Helia node underneath. */
  get helia(): HeliaLike {
    return this.#helia;
  }

  async get(cid: AnyCID, options?: BlockGetOptions): Promise<Uint8Array | undefined> {
    throwIfAborted(options?.signal, "get", cidKey(cid));
    const inline = identityBlock(cid);
    if (inline) return copyBytes(inline);
    const local = await this.#helia.blockstore.has(cid, { offline: true });
    if (!local && this.#offline) return undefined;
    const timeout = AbortSignal.timeout(this.#timeoutMs);
    const signal = options?.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
    let bytes: Uint8Array;
    try {
      bytes = await collect(this.#helia.blockstore.get(cid, { signal }));
    } catch (cause) {
      throwIfAborted(options?.signal, "get", cidKey(cid));
      if (timeout.aborted) {
        throw new StoreError({
          code: "Timeout",
          message: `${BACKEND}: block ${cidKey(cid)} is not in this node and no connected peer sent it within ${this.#timeoutMs} ms`,
          operation: "get",
          key: cidKey(cid),
          backend: BACKEND,
          cause,
        });
      }
      if (/not found/i.test((cause as Error)?.message ?? "")) return undefined;
      throw new StoreError({
        code: "Unavailable",
        message: `${BACKEND}: reading ${cidKey(cid)} failed: ${(cause as Error)?.message ?? cause}`,
        operation: "get",
        key: cidKey(cid),
        backend: BACKEND,
        cause,
      });
    }
    await verifyBlock(cid, bytes, BACKEND);
    return bytes;
  }

  async put(bytes: Uint8Array, codec: number, options?: CallOptions): Promise<AnyCID> {
    const cid = await cidOf(bytes, codec);
    await this.putBlock({ cid, bytes }, options);
    return cid;
  }

  async putBlock(block: Block, options?: CallOptions): Promise<void> {
    throwIfAborted(options?.signal, "set", cidKey(block.cid));
    if (identityBlock(block.cid)) return;
    // Copied: the node keeps what it is given, and callers may reuse their buffers.
    const bytes = block.owned ? block.bytes : copyBytes(block.bytes);
    await this.#helia.blockstore.put(block.cid, bytes, { signal: options?.signal });
  }

  async has(cid: AnyCID, options?: CallOptions): Promise<boolean> {
    throwIfAborted(options?.signal, "stat", cidKey(cid));
    if (identityBlock(cid)) return true;
    return this.#helia.blockstore.has(cid, { offline: true });
  }

  async size(cid: AnyCID, options?: CallOptions): Promise<number | undefined> {
    return (await this.get(cid, options))?.byteLength;
  }

  async close(): Promise<void> {
    if (this.#stopOnClose) await this.#helia.stop?.();
  }

  toJSON(): Record<string, unknown> {
    return { name: BACKEND };
  }
}

async function collect(result: HeliaBytes): Promise<Uint8Array> {
  const value = await result;
  if (value instanceof Uint8Array) return value;
  const parts: Uint8Array[] = [];
  if (Symbol.asyncIterator in value) {
    for await (const part of value as AsyncIterable<Uint8Array>) parts.push(part);
  } else {
    for (const part of value as Iterable<Uint8Array>) parts.push(part);
  }
  return parts.length === 1 ? (parts[0] as Uint8Array) : concat(parts);
}
