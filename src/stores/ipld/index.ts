/**
 * zarrstore/ipld: Zarr stores as IPLD DAGs (the original Python ipldstore's format, byte for
 * byte), CAR files, and content-addressed block stores (any Store, Kubo RPC, a trustless
 * gateway, an embedded Helia node). Runtime-neutral: nothing here imports `node:*`.
 */
export {
  type AnyCID,
  type Block,
  cidKey,
  cidOf,
  DAG_CBOR,
  DAG_PB,
  parseCid,
  RAW,
  verifyBlock,
} from "./blocks.js";
export {
  type CarBlock,
  type CarReader,
  type CarSource,
  carHeader,
  collectBytes,
  type ExportCarOptions,
  exportCar,
  type ReadCarOptions,
  readCar,
} from "./car.js";
export {
  type BlockGetOptions,
  type CAStore,
  MappingCAStore,
  type MappingCAStoreOptions,
} from "./castore.js";
export { decodeDagCbor, encodeDagCbor } from "./dag-cbor.js";
export { GatewayCAStore, type GatewayCAStoreOptions } from "./gateway.js";
export { HeliaCAStore, type HeliaCAStoreOptions, type HeliaLike } from "./helia.js";
export { type ImportCarOptions, IPLDStore, type IPLDStoreOptions } from "./ipld-store.js";
export {
  floatRepr,
  JsonFloat,
  type JsonValue,
  parseJson,
  parseJsonBytes,
  stringifyJson,
} from "./json-numbers.js";
export { getIpfsMapper, KuboCAStore, type KuboCAStoreOptions } from "./kubo.js";
export { type CarReferences, carToReferences } from "./references.js";
