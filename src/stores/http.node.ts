/**
 * HttpStore on Node: the same store, sending through undici 7's `request()` with a keep-alive
 * Agent unless the caller passes `fetch` or `transport`. `zarrstore` and `zarrstore/http`
 * resolve here under the `node` condition.
 */
import type { Dispatcher } from "undici";
import { HttpStore as BaseHttpStore, type HttpStoreOptions } from "./http.js";
import { undiciTransport } from "./http-transport.node.js";

export * from "./http.js";
export { type UndiciTransportOptions, undiciTransport } from "./http-transport.node.js";

/** Options for HttpStore on Node: the portable ones plus an undici dispatcher to share. */
export interface NodeHttpStoreOptions extends HttpStoreOptions {
  /** An undici Agent (or Pool…) to share between stores; the caller closes it. */
  dispatcher?: Dispatcher | undefined;
}

/**
 * HttpStore with Node's fast transport (undici `request()`, keep-alive, pipelining off).
 * A `fetch` or `transport` option wins over it.
 *
 * @example
 * const store = new HttpStore("http://127.0.0.1:8080/data.zarr");
 */
export class HttpStore extends BaseHttpStore {
  constructor(url: string | URL, options: NodeHttpStoreOptions = {}) {
    const { dispatcher, ...portable } = options;
    const custom = portable.fetch !== undefined || portable.transport !== undefined;
    super(url, custom ? portable : { ...portable, transport: undiciTransport({ dispatcher }) });
  }
}
