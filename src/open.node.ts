import { fileURLToPath } from "node:url";
import { BASE_SCHEMES, createOpenStore, type SchemeTable } from "./open.js";

/** The schemes on Node: every fetch-based one plus those that need the file system. */
export const NODE_SCHEMES: SchemeTable = {
  ...BASE_SCHEMES,
  file: async (url, options) => {
    const { FileSystemStore } = await import("./stores/fs.js");
    return new FileSystemStore(localPath(url, "file"), { readOnly: options.readOnly === true });
  },
};

/** The local path a `file://` URL, a `<scheme>://path` URL or a bare path names. */
function localPath(url: string, scheme: string): string {
  if (url.startsWith("file://")) return fileURLToPath(url);
  const marker = `${scheme}://`;
  return url.toLowerCase().startsWith(marker) ? url.slice(marker.length) : url;
}

/** Opens the store a URL names (Node: paths, `file://`, `*.zip` too), loading its backend on demand. */
export const openStore = createOpenStore(NODE_SCHEMES);
