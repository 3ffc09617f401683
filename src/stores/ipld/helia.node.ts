/**
 * Starts an embedded Helia node for HeliaCAStore (Node only; Helia is an optional dependency,
 * imported here on first use). The node is private by construction: TCP only on the addresses
 * given (loopback by default), noise + yamux + identify, bitswap, and nothing else: no peer
 * discovery, no bootstrap peers, no delegated routers, no HTTP gateways. It talks to the peers
 * you dial and no one else.
 */
import { StoreError } from "../../errors.js";
import type { HeliaLike } from "./helia.js";

/** Options for `startHelia`. */
export interface StartHeliaOptions {
  /** Multiaddrs to listen on (default `/ip4/127.0.0.1/tcp/0`: loopback, a free port). */
  listen?: string[];
  /** Multiaddrs (with `/p2p/<peer id>`) of peers to dial once started. */
  peers?: string[];
}

/** A running node: Helia's blockstore, its libp2p addresses, dialing, and stop. */
export interface HeliaNode extends HeliaLike {
  /** The addresses peers can dial (with `/p2p/<peer id>`). */
  addresses(): string[];
  /** Connects to a peer by multiaddr. */
  dial(address: string): Promise<void>;
  stop(): Promise<void>;
}

interface Libp2pLike {
  getMultiaddrs(): { toString(): string }[];
  dial(address: unknown): Promise<unknown>;
}

interface HeliaModule {
  createHeliaLight(init: Record<string, unknown>): unknown;
}
interface Libp2pModule {
  withLibp2pLight(helia: unknown, options: Record<string, unknown>): unknown;
}
interface BitswapModule {
  withBitswap(
    helia: unknown,
  ): HeliaLike & { libp2p: Libp2pLike; start(): Promise<unknown>; stop(): Promise<void> };
}

/**
 * Libp2p uses `Promise.withResolvers`, which Node 20 lacks (Node 22 has it). This adds the
 * standard behaviour before libp2p loads, and only when it is missing.
 */
export function polyfillPromiseWithResolvers(): void {
  const P = Promise as unknown as { withResolvers?: unknown };
  if (typeof P.withResolvers === "function") return;
  P.withResolvers = function withResolvers<T>(this: PromiseConstructor) {
    let resolve!: (value: T | PromiseLike<T>) => void;
    let reject!: (reason?: unknown) => void;
    const promise = new this<T>((yes, no) => {
      resolve = yes;
      reject = no;
    });
    return { promise, resolve, reject };
  };
}

async function load<T>(name: string): Promise<T> {
  try {
    return (await import(name)) as T;
  } catch (cause) {
    throw new StoreError({
      code: "Unsupported",
      message: `Helia is an optional dependency and ${name} is not installed: npm install helia @helia/libp2p @helia/bitswap libp2p @libp2p/tcp @libp2p/identify @chainsafe/libp2p-noise @chainsafe/libp2p-yamux @multiformats/multiaddr`,
      backend: "HeliaCAStore",
      cause,
    });
  }
}

/**
 * Starts a private Helia node (see the module comment) and dials `peers`.
 *
 * @example
 * const a = await startHelia();
 * const b = await startHelia({ peers: a.addresses() });
 */
export async function startHelia(options: StartHeliaOptions = {}): Promise<HeliaNode> {
  polyfillPromiseWithResolvers();
  const [{ createHeliaLight }, { withLibp2pLight }, { withBitswap }] = await Promise.all([
    load<HeliaModule>("helia"),
    load<Libp2pModule>("@helia/libp2p"),
    load<BitswapModule>("@helia/bitswap"),
  ]);
  const [{ tcp }, { noise }, { yamux }, { identify }, { multiaddr }, dagCbor] = await Promise.all([
    load<{ tcp(): unknown }>("@libp2p/tcp"),
    load<{ noise(): unknown }>("@chainsafe/libp2p-noise"),
    load<{ yamux(): unknown }>("@chainsafe/libp2p-yamux"),
    load<{ identify(): unknown }>("@libp2p/identify"),
    load<{ multiaddr(address: string): unknown }>("@multiformats/multiaddr"),
    load<Record<string, unknown>>("@ipld/dag-cbor"),
  ]);
  const helia = withBitswap(
    withLibp2pLight(createHeliaLight({ codecs: [dagCbor] }), {
      addresses: { listen: options.listen ?? ["/ip4/127.0.0.1/tcp/0"] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      services: { identify: identify() },
    }),
  );
  await helia.start();
  const node: HeliaNode = {
    blockstore: helia.blockstore,
    addresses: () => helia.libp2p.getMultiaddrs().map(String),
    dial: async (address) => {
      await helia.libp2p.dial(multiaddr(address));
    },
    stop: () => helia.stop(),
  };
  for (const peer of options.peers ?? []) await node.dial(peer);
  return node;
}
