import { fileURLToPath } from "node:url";
import {
  BASE_SCHEMES,
  createOpenStore,
  type OpenOptions,
  openReference,
  type SchemeTable,
  type StoreOpener,
} from "./open.js";
import type { Store } from "./store.js";

/** The schemes on Node: every fetch-based one plus those that need the file system. */
export const NODE_SCHEMES: SchemeTable = {
  ...BASE_SCHEMES,
  file: async (url, options) => {
    const { FileSystemStore } = await import("./stores/fs.js");
    return new FileSystemStore(localPath(url, "file"), { readOnly: options.readOnly === true });
  },
  zip: async (url, options) => {
    const { ZipStore } = await import("./stores/zip.js");
    return ZipStore.open(localPath(url, "zip"), { mode: options.mode ?? "r" });
  },
  http: openHttpNode,
  https: openHttpNode,
  az: overUndici("az"),
  abfs: overUndici("abfs"),
  abfss: overUndici("abfss"),
  gs: overUndici("gs"),
  s3: async (url, options) => (await import("./stores/s3/index.node.js")).openS3Store(url, options),
  swift: async (url, options) =>
    (await import("./stores/swift/index.node.js")).openSwiftStore(url, options),
  car: async (url, options) => {
    const { openCarFile } = await import("./stores/ipld/car-file.node.js");
    return openCarFile(localPath(url, "car"), options);
  },
  reference: (url, options) => openReference(url, options, openStore),
  icechunk: async (url, options) => {
    const { openIcechunkStore } = await import("./stores/icechunk/index.js");
    return openIcechunkStore(url, options, openStore);
  },
};

/** The portable opener of `scheme`, given undici's `request()` as transport unless the caller chose one. */
function overUndici(scheme: string): StoreOpener {
  return async (url, options) => {
    const opener = BASE_SCHEMES[scheme] as StoreOpener;
    if (options.transport !== undefined || options.fetch !== undefined) return opener(url, options);
    const { undiciTransport } = await import("./stores/http-transport.node.js");
    return opener(url, { ...options, transport: undiciTransport() });
  };
}

/** HttpStore over undici's `request()` (the portable table's opener uses fetch). */
async function openHttpNode(url: string, options: OpenOptions): Promise<Store> {
  const { HttpStore, httpOptionsFrom } = await import("./stores/http.node.js");
  return new HttpStore(url, httpOptionsFrom(options));
}

/** The local path a `file://` URL, a `<scheme>://path` URL or a bare path names. */
function localPath(url: string, scheme: string): string {
  if (url.startsWith("file://")) return fileURLToPath(url);
  const marker = `${scheme}://`;
  return url.toLowerCase().startsWith(marker) ? url.slice(marker.length) : url;
}

/** Opens the store a URL names (Node: paths, `file://`, `*.zip` too), loading its backend on demand. */
export const openStore = createOpenStore(NODE_SCHEMES);
