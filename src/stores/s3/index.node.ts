/**
 * `zarrstore/s3` on Node: the same API, with S3Store sending through undici 7's `request()`
 * (keep-alive, about a third of fetch's client CPU per request) unless the options pass
 * `fetch` or `transport`.
 */
import type { Dispatcher } from "undici";
import type { OpenOptions } from "../../open.js";
import { undiciTransport } from "../http-transport.node.js";
import { openS3Store as openPortable } from "./index.js";
import { S3Store as BaseS3Store, type S3StoreOptions } from "./store.js";

export * from "./index.js";

/** Options for S3Store on Node: the portable ones plus an undici dispatcher to share. */
export interface NodeS3StoreOptions extends S3StoreOptions {
  /** An undici Agent (or Pool) to share between stores; the caller closes it. */
  dispatcher?: Dispatcher | undefined;
}

/**
 * S3Store over undici on Node.
 *
 * @example
 * const store = await S3Store.open({ bucket: "my-bucket", prefix: "data.zarr" });
 */
export class S3Store extends BaseS3Store {
  constructor(options: NodeS3StoreOptions) {
    const { dispatcher, ...portable } = options;
    super(portable, () => undiciTransport({ dispatcher }));
  }
}

/** Opens `s3://bucket/prefix` or `gs://bucket/prefix` for `openStore` on Node (undici transport). */
export function openS3Store(url: string, options: OpenOptions = {}): Promise<BaseS3Store> {
  return openPortable(url, options, S3Store);
}
