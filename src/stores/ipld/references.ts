/**
 * CAR → fsspec ReferenceFileSystem: the original ipldstore's `car2reference_fs`. Each value
 * becomes a byte range of the CAR file (where its raw block's payload sits), each inlined
 * metadata document a JSON string (Python's `json.dumps` spelling, as the original writes it),
 * so fsspec + xarray (or `ReferenceStore`) open the dataset straight from the CAR.
 */
import { CID } from "multiformats/cid";
import { StoreError } from "../../errors.js";
import type { CallOptions } from "../../store.js";
import { type AnyCID, cidKey, DAG_CBOR, RAW } from "./blocks.js";
import { type CarSource, readCar } from "./car.js";
import { decodeDagCbor } from "./dag-cbor.js";
import { stringifyJson } from "./json-numbers.js";
import { isMetadataName } from "./tree.js";

/** A ReferenceFileSystem v1 spec, as `carToReferences` makes it. */
export interface CarReferences {
  version: 1;
  templates: { a: string };
  refs: Record<string, string | [string, number, number]>;
}

const BACKEND = "carToReferences";

/**
 * Reads a CAR of an IPLDStore tree (streamed, every block verified) and returns references
 * to its values inside the CAR file at `url` (`{"version": 1, "templates": {"a": url}, "refs": …}`).
 * Both block layouts are followed; a value split into pieces cannot be one byte range and is
 * `Unsupported` (write the CAR with the original layout to reference it).
 *
 * @example
 * const refs = await carToReferences(await readFile("data.car"), "/data/data.car");
 * await writeFile("data.json", JSON.stringify(refs));
 * // Python: xr.open_zarr(fsspec.filesystem("reference", fo="data.json").get_mapper(""))
 */
export async function carToReferences(
  car: CarSource,
  url: string,
  options?: CallOptions,
): Promise<CarReferences> {
  const reader = await readCar(car, options);
  if (reader.roots.length !== 1) {
    throw new StoreError({
      code: "Integrity",
      message: `${BACKEND}: the CAR must have a single root; it has ${reader.roots.length}`,
      backend: BACKEND,
    });
  }
  const root = reader.roots[0] as AnyCID;
  const locations = new Map<string, [number, number]>();
  const trees = new Map<string, unknown>();
  for await (const block of reader.blocks) {
    const key = cidKey(block.cid);
    locations.set(key, [block.payloadOffset, block.bytes.byteLength]);
    if (block.cid.code === DAG_CBOR) trees.set(key, decodeDagCbor(block.bytes));
  }
  const treeOf = (cid: AnyCID, path: string): unknown => {
    const tree = trees.get(cidKey(cid));
    if (tree === undefined) throw missing(cid, path);
    return tree;
  };
  const refs: CarReferences["refs"] = {};

  const visitFolder = (data: unknown, prefix: string): void => {
    if (Array.isArray(data) && data.every((v) => CID.asCID(v)?.code === DAG_CBOR)) {
      for (const part of data as AnyCID[]) visitFolder(treeOf(part, prefix), prefix);
      return;
    }
    if (!(data instanceof Map)) {
      throw new StoreError({
        code: "Integrity",
        message: `${BACKEND}: not an IPLDStore tree at ${prefix || "/"}`,
        backend: BACKEND,
      });
    }
    for (const [name, value] of data as Map<string, unknown>) {
      const key = `${prefix}${name}`;
      const cid = CID.asCID(value) as AnyCID | null;
      if (isMetadataName(name) && !cid) refs[key] = stringifyJson(value);
      else if (cid?.code === DAG_CBOR) visitFolder(treeOf(cid, `${key}/`), `${key}/`);
      else if (cid) refs[key] = ["{{a}}", ...locate(cid, key)];
      else if (value instanceof Map) visitFolder(value, `${key}/`);
      else if (
        Array.isArray(value) &&
        value.length > 0 &&
        value.every((v) => CID.asCID(v)?.code === RAW)
      ) {
        throw new StoreError({
          code: "Unsupported",
          message: `${BACKEND}: ${key} is stored in ${value.length} pieces (the maxBlockSize layout), which one byte range cannot cover; export it without maxBlockSize`,
          key,
          backend: BACKEND,
        });
      } else if (Array.isArray(value) && value.every((v) => CID.asCID(v)?.code === DAG_CBOR)) {
        visitFolder(value, `${key}/`);
      } else refs[key] = stringifyJson(value);
    }
  };
  const locate = (cid: AnyCID, key: string): [number, number] => {
    const location = locations.get(cidKey(cid));
    if (location === undefined) throw missing(cid, key);
    return location;
  };

  visitFolder(treeOf(root, ""), "");
  return { version: 1, templates: { a: url }, refs };
}

function missing(cid: AnyCID, path: string): StoreError {
  return new StoreError({
    code: "Integrity",
    message: `${BACKEND}: block ${cidKey(cid)} (${path || "the root"}) is not in the CAR: the CAR is incomplete`,
    key: cidKey(cid),
    backend: BACKEND,
  });
}
