import { BASE_SCHEMES, createOpenStore, type SchemeTable } from "./open.js";

/** The schemes on Node: every fetch-based one plus those that need the file system. */
export const NODE_SCHEMES: SchemeTable = {
  ...BASE_SCHEMES,
};

/** Opens the store a URL names (Node: paths, `file://`, `*.zip` too), loading its backend on demand. */
export const openStore = createOpenStore(NODE_SCHEMES);
