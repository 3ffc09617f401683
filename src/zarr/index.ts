/**
 * The Zarr-aware layer: v2 and v3 metadata in one node model, chunk keys, and hierarchy walks
 * over any store. Runtime-neutral.
 */
export {
  type ConsolidatedMetadata,
  comparePaths,
  type HierarchySource,
  type HierarchyStore,
  type HierarchyWalk,
  type ReadNodeOptions,
  readConsolidated,
  readHierarchy,
  readNode,
  type WalkOptions,
  walkHierarchy,
} from "./hierarchy.js";
export {
  type ArrayNode,
  type ChunkKeyEncoding,
  type CodecSpec,
  chunkCount,
  chunkGridShape,
  chunkKey,
  chunkKeyName,
  type DataTypeInfo,
  type GroupNode,
  invalidMetadata,
  isMetadataKey,
  METADATA_NAMES,
  type NodeLocation,
  parseChunkKeyName,
  parseV2Array,
  parseV2Group,
  parseV3Node,
  type ShardingInfo,
  v2DataType,
  type ZarrFormat,
  type ZarrNode,
} from "./metadata.js";
