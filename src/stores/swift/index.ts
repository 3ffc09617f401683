/**
 * `zarrstore/swift`: Zarr stores in OpenStack Swift containers, with the seed's helpers
 * (`getenvAuth`, `acquireToken`, `isPublic`, `togglePublic`) and more (`tempUrl`, `setPublic`).
 * Fetch-based: runs on Node, in browsers and in fetch-based runtimes.
 */
import { StoreError } from "../../errors.js";
import type { OpenOptions } from "../../open.js";
import type { SwiftStorageOptions } from "./auth.js";
import type { SwiftTransport } from "./client.js";
import { SwiftStore } from "./store.js";

export {
  aclIsPublic,
  getReadAcl,
  isPublic,
  parseAcl,
  setPublic,
  setReadAcl,
  togglePublic,
  withPublic,
} from "./acl.js";
export {
  type AcquiredToken,
  type AcquireTokenOptions,
  acquireToken,
  authenticate,
  getenvAuth,
  type SwiftKeystoneAuth,
  type SwiftPreAuth,
  type SwiftSession,
  type SwiftStorageOptions,
  type SwiftV1Auth,
} from "./auth.js";
export { mapSwiftStatus } from "./errors.js";
export { SWIFT_PAGE_LIMIT } from "./list.js";
export { SWIFT_MAX_OBJECT_SIZE } from "./slo.js";
export { SwiftStore, type SwiftStoreOptions } from "./store.js";
export {
  accountTempUrlKey,
  setAccountTempUrlKey,
  type TempUrlOptions,
  tempUrl,
} from "./tempurl.js";

/** `swift://container/prefix` → its container and prefix. */
export function parseSwiftUrl(url: string): { container: string; prefix: string } {
  const match = /^swift:\/\/([^/?#]+)\/*([^?#]*)$/i.exec(url);
  if (!match) {
    throw new StoreError({
      code: "Config",
      message: `not a Swift URL: ${JSON.stringify(url)} (expected swift://container/prefix)`,
      operation: "open",
      backend: "SwiftStore",
    });
  }
  const prefix = (match[2] as string).replace(/\/+$/, "");
  return { container: decodeURIComponent(match[1] as string), prefix: decodeURIComponent(prefix) };
}

/**
 * Opens `swift://container/prefix` for `openStore`, with credentials from
 * `options.storageOptions` or the environment (`getenvAuth`).
 */
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
