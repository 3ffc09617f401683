import { StoreError } from "../../errors.js";
import type { Store } from "../../store.js";
import { parseCid } from "./blocks.js";
import type { CAStore } from "./castore.js";
import { GatewayCAStore } from "./gateway.js";
import { IPLDStore } from "./ipld-store.js";
import { KuboCAStore } from "./kubo.js";

/** Options `openIpfsStore` reads (from `openStore`'s options bag). */
export interface OpenIpfsOptions {
  /** A trustless gateway to read blocks from (else `ZARRSTORE_IPFS_GATEWAY`). */
  ipfsGateway?: string;
  /** A Kubo RPC API to read blocks from (else `ZARRSTORE_IPFS_API`, else `http://127.0.0.1:5001`). */
  ipfsApi?: string;
  /** Where `ZARRSTORE_IPFS_*` are read (defaults to `process.env` where there is one). */
  env?: Record<string, string | undefined>;
  fetch?: typeof globalThis.fetch;
  headers?: Record<string, string>;
}

/**
 * Opens `ipfs://<cid>[/path]` read-only: the IPLDStore tree under the CID, its blocks read (and
 * verified) through a trustless gateway when one is given, else through the Kubo RPC API. A
 * path opens that folder of the tree.
 */
export async function openIpfsStore(url: string, options: OpenIpfsOptions = {}): Promise<Store> {
  const match = /^ipfs:\/\/([^/?#]+)(\/[^?#]*)?$/i.exec(url);
  if (match === null) {
    throw new StoreError({
      code: "Config",
      message: `not an ipfs:// URL: ${url} (expected ipfs://<root CID>[/folder])`,
      operation: "open",
    });
  }
  const root = parseCid(match[1] as string);
  const env =
    options.env ??
    (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env ??
    {};
  const gateway = options.ipfsGateway ?? env.ZARRSTORE_IPFS_GATEWAY;
  const http = {
    ...(options.fetch ? { fetch: options.fetch } : {}),
    ...(options.headers ? { headers: options.headers } : {}),
  };
  const castore: CAStore = gateway
    ? new GatewayCAStore(gateway, http)
    : new KuboCAStore(options.ipfsApi ?? env.ZARRSTORE_IPFS_API ?? "http://127.0.0.1:5001", http);
  const store = await IPLDStore.fromRoot(root, castore, { readOnly: true });
  const path = (match[2] ?? "").replace(/^\/+|\/+$/g, "");
  if (path === "") return store;
  const { withPrefix } = await import("../../adapters/prefix.js");
  return withPrefix(store, path);
}
