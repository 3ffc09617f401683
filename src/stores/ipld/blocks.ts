import { base32 } from "multiformats/bases/base32";
import { equals } from "multiformats/bytes";
import { CID } from "multiformats/cid";
import * as Digest from "multiformats/hashes/digest";
import { identity } from "multiformats/hashes/identity";
import { sha256, sha512 } from "multiformats/hashes/sha2";
import { StoreError } from "../../errors.js";

/** A CID of any version and codec (multiformats' `CID`). */
export type AnyCID = CID<unknown, number, number, 0 | 1>;

/** The multicodec of raw bytes: every value that is not inlined metadata. */
export const RAW = 0x55;
/** The multicodec of DAG-CBOR: tree blocks. */
export const DAG_CBOR = 0x71;
/** The multicodec of DAG-PB (CIDv0 blocks). */
export const DAG_PB = 0x70;

const SHA2_256 = 0x12;
const SHA2_512 = 0x13;
const IDENTITY = 0x00;

/** A block: its CID and its bytes. */
export interface Block {
  cid: AnyCID;
  bytes: Uint8Array;
}

/**
 * Parses a CID from a string (any multibase, CIDv0 `Qm…` too), bytes or a CID object.
 * Anything else is a `Config` error naming what was given.
 */
export function parseCid(input: AnyCID | string | Uint8Array): AnyCID {
  const cid = CID.asCID(input);
  if (cid) return cid as AnyCID;
  try {
    if (typeof input === "string") return CID.parse(input.trim()) as AnyCID;
    if (input instanceof Uint8Array) return CID.decode(input) as AnyCID;
  } catch (cause) {
    throw new StoreError({
      code: "Config",
      message: `not a CID: ${JSON.stringify(String(input).slice(0, 80))}`,
      cause,
    });
  }
  throw new StoreError({ code: "Config", message: `not a CID: ${String(input).slice(0, 80)}` });
}

/**
 * The normalised name of a CID: CIDv1 in base32 (`bafy…`, `bafk…`). CIDv0 (`Qm…`) becomes the
 * equal CIDv1 (`bafybei…`), so every spelling of a block finds the same entry.
 */
export function cidKey(cid: AnyCID): string {
  return cid.version === 1 ? cid.toString(base32) : cid.toV1().toString(base32);
}

/** The CIDv1 (sha2-256) of bytes under a codec. Synchronous on Node, a promise in browsers. */
export function cidOf(bytes: Uint8Array, codec: number): AnyCID | Promise<AnyCID> {
  const digest = sha256.digest(bytes);
  if (digest instanceof Promise) return digest.then((d) => CID.createV1(codec, d) as AnyCID);
  return CID.createV1(codec, digest) as AnyCID;
}

/** The raw-codec CIDv1 of bytes, as a quoted etag. */
export async function rawEtag(bytes: Uint8Array): Promise<string> {
  return `"${cidKey(await cidOf(bytes, RAW))}"`;
}

/** Tells whether `bytes` hash to the digest in `cid` (sha2-256, sha2-512 or identity). */
export function blockMatches(cid: AnyCID, bytes: Uint8Array): boolean | Promise<boolean> {
  const { code, digest } = cid.multihash;
  if (code === IDENTITY) return equals(digest, bytes);
  const hasher = code === SHA2_256 ? sha256 : code === SHA2_512 ? sha512 : undefined;
  if (hasher === undefined) {
    throw new StoreError({
      code: "Unsupported",
      message: `cannot verify ${cidKey(cid)}: hash function 0x${code.toString(16)} is not supported (sha2-256, sha2-512 and identity are)`,
      key: cidKey(cid),
    });
  }
  const computed = hasher.digest(bytes);
  if (computed instanceof Promise) return computed.then((d) => equals(d.digest, digest));
  return equals(computed.digest, digest);
}

/** Throws `Integrity` unless `bytes` are the block `cid` names. */
export async function verifyBlock(
  cid: AnyCID,
  bytes: Uint8Array,
  backend: string,
  where = "",
): Promise<void> {
  if (await blockMatches(cid, bytes)) return;
  throw new StoreError({
    code: "Integrity",
    message: `block ${cidKey(cid)}${where} does not match its hash: the bytes were corrupted or are not this block`,
    key: cidKey(cid),
    backend,
  });
}

/**
 * A copy of bytes in a fresh `Uint8Array` (never a view: Node's `Buffer#slice` is one, so
 * `.slice()` cannot be trusted to copy a Buffer).
 */
export function copyBytes(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.byteLength);
  out.set(bytes);
  return out;
}

/** An identity CID holds its block inline; this returns it (or undefined for other CIDs). */
export function identityBlock(cid: AnyCID): Uint8Array | undefined {
  return cid.multihash.code === IDENTITY ? cid.multihash.digest : undefined;
}

/** Makes a CID from its parts (for readers that parse CIDs by hand). */
export function createCid(version: 0 | 1, codec: number, hashCode: number, digest: Uint8Array) {
  const multihash = Digest.create(hashCode, digest);
  return (
    version === 0 ? CID.createV0(multihash as never) : CID.createV1(codec, multihash)
  ) as AnyCID;
}

export { identity };
