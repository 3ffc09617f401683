/**
 * `zarrstore/swift` on Node: the same API, with SwiftStore sending through undici 7's
 * `request()` (keep-alive, about a third of fetch's client CPU per request) unless the options
 * pass `fetch` or `transport`.
 */
import type { Dispatcher } from "undici";
import type { OpenOptions } from "../../open.js";
import { undiciTransport } from "../http-transport.node.js";
import type { SwiftStorageOptions } from "./auth.js";
import type { SwiftTransport } from "./client.js";
import { parseSwiftUrl } from "./index.js";
import { SwiftStore as BaseSwiftStore, type SwiftStoreOptions } from "./store.js";

export * from "./index.js";

/** Options for SwiftStore on Node: the portable ones plus an undici dispatcher to share. */
export interface NodeSwiftStoreOptions extends SwiftStoreOptions {
  /** An undici Agent (or Pool) to share between stores; the caller closes it. */
  dispatcher?: Dispatcher | undefined;
}

/**
 * SwiftStore over undici on Node.
 *
 * @example
 * const store = new SwiftStore({ container: "demo", prefix: "zarr-demo", storageOptions: getenvAuth() });
 */
export class SwiftStore extends BaseSwiftStore {
  constructor(options: NodeSwiftStoreOptions) {
    const { dispatcher, ...portable } = options;
    super(portable, () => undiciTransport({ dispatcher }));
  }
}

/** Opens `swift://container/prefix` for `openStore` on Node (undici transport). */
export async function openSwiftStore(url: string, options: OpenOptions = {}): Promise<SwiftStore> {
  const { container, prefix } = parseSwiftUrl(url);
  return new SwiftStore({
    container,
    prefix,
    storageOptions: options.storageOptions as SwiftStorageOptions | undefined,
    readOnly: options.readOnly,
    env: options.env,
    fetch: options.fetch,
    transport: options.transport as SwiftTransport | undefined,
  });
}
