/**
 * zarrstore: one store contract for Zarr, with backends, adapters and tools built on it.
 * This entry is runtime-neutral: it imports nothing from `node:*`.
 */
export * from "./adapters/index.js";
export {
  abortError,
  isRetryableCode,
  isStoreError,
  readOnlyError,
  StoreError,
  type StoreErrorCode,
  type StoreErrorInit,
  type StoreOperation,
  throwIfAborted,
  unsupported,
} from "./errors.js";
export { bytesToText, exists, getJson, listAll, setJson, textToBytes } from "./helpers.js";
export { isUnder, joinKey, keyToPath, parentOf, prefixToPath, toKey, toPrefix } from "./keys.js";
export { compareKeys, listDirFromKeys } from "./listing.js";
export {
  BASE_SCHEMES,
  createOpenStore,
  type OpenOptions,
  openStore,
  type SchemeTable,
  type StoreOpener,
  schemeOf,
} from "./open.js";
export { checkRange, rangeHeader, resolveRange, sliceRange } from "./ranges.js";
export {
  type Abandonable,
  type AbsolutePath,
  CAPABILITY_NAMES,
  type CallOptions,
  type Capabilities,
  isAbandonable,
  type Listable,
  type ListDirResult,
  type Prefix,
  type RangeQuery,
  READ_ONLY_CAPABILITIES,
  type Readable,
  type SetOptions,
  type SetResult,
  type StatResult,
  type Store,
  type Writable,
} from "./store.js";
export {
  type FetchLike,
  fetchTransport,
  type HttpMethod,
  type HttpRequest,
  type HttpResponse,
  HttpStore,
  type HttpStoreOptions,
  type HttpTransport,
  httpOptionsFrom,
  TruncatedBodyError,
} from "./stores/http.js";
export { MemoryStore, type MemoryStoreOptions, type SyncStore } from "./stores/memory.js";
export {
  type ConsolidateOptions,
  type ConsolidateResult,
  consolidate,
} from "./zarr/consolidate.js";
export {
  type CheckWritableOptions,
  type CopyOptions,
  type CopyPartition,
  type CopySummary,
  checkWritable,
  copyStore,
  type DeleteTreeOptions,
  type DeleteTreeResult,
  deleteTree,
  type FailedKey,
  partitionOf,
} from "./zarr/copy.js";
export {
  type ArrayNode,
  type ChunkKeyEncoding,
  type CodecSpec,
  type ConsolidatedMetadata,
  chunkCount,
  chunkGridShape,
  chunkKey,
  chunkKeyName,
  comparePaths,
  type DataTypeInfo,
  type GroupNode,
  type HierarchySource,
  type HierarchyStore,
  type HierarchyWalk,
  isMetadataKey,
  METADATA_NAMES,
  parseChunkKeyName,
  parseV2Array,
  parseV2Group,
  parseV3Node,
  readConsolidated,
  readHierarchy,
  readNode,
  type ShardingInfo,
  type WalkOptions,
  walkHierarchy,
  type ZarrFormat,
  type ZarrNode,
} from "./zarr/index.js";
export {
  type CopyPhase,
  type CopyProgress,
  ProgressTracker,
  type ProgressTrackerOptions,
} from "./zarr/progress.js";
