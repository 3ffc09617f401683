/**
 * The root entry on Node: everything the runtime-neutral entry has, with Node's fast transports
 * and file-system schemes in `openStore`.
 */
export * from "./index.js";
export { NODE_SCHEMES, openStore } from "./open.node.js";
export {
  HttpStore,
  type NodeHttpStoreOptions,
  type UndiciTransportOptions,
  undiciTransport,
} from "./stores/http.node.js";
