/**
 * zarrstore/ipld/node: the Node-only parts of the IPLD backend: CAR files on disk
 * (`openCarFile`, `CarFileStore`) and a private embedded Helia node (`startHelia`, an optional
 * dependency loaded on first use).
 */
export { type CarFileOptions, CarFileStore, openCarFile } from "./car-file.node.js";
export {
  type HeliaNode,
  polyfillPromiseWithResolvers,
  type StartHeliaOptions,
  startHelia,
} from "./helia.node.js";
