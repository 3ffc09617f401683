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
  /**
   * The bytes are a buffer no one else holds (e.g. the CAR reader assembled them), so a store
   * may keep them without copying. Absent or false: copy before keeping.
   */
  owned?: boolean;
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
  // A table-driven base32 of the CID bytes: multiformats' toString(base32) caches each string
  // in a WeakMap per CID, which costs more than the encoding itself on hot paths.
  return `b${base32Lower(cid.version === 1 ? cid.bytes : cid.toV1().bytes)}`;
}

const BASE32 = Uint8Array.from("abcdefghijklmnopqrstuvwxyz234567", (c) => c.charCodeAt(0));

/** RFC 4648 base32, lower case, no padding (multibase `b`). */
function base32Lower(bytes: Uint8Array): string {
  const out = new Uint8Array(Math.ceil((bytes.length * 8) / 5));
  let at = 0;
  let buffer = 0;
  let bits = 0;
  for (let i = 0; i < bytes.length; i++) {
    buffer = ((buffer << 8) | (bytes[i] as number)) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      bits -= 5;
      out[at++] = BASE32[(buffer >>> bits) & 31] as number;
    }
  }
  if (bits > 0) out[at++] = BASE32[(buffer << (5 - bits)) & 31] as number;
  // fromCharCode over a short array beats a TextDecoder call (which crosses into C++).
  return String.fromCharCode.apply(null, out as unknown as number[]);
}

/**
 * Node's one-shot `crypto.hash`, reached without importing `node:*` (this module also runs in
 * browsers): `process.getBuiltinModule` exists from Node 20.16. It hashes a 1 KiB value in about
 * half the time of multiformats' `createHash` path. Elsewhere multiformats (WebCrypto) is used.
 */
const nodeHash = (() => {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const crypto = proc?.getBuiltinModule?.("node:crypto") as
    | { hash?: (algorithm: string, data: Uint8Array, encoding: "buffer") => Uint8Array }
    | undefined;
  return typeof crypto?.hash === "function" ? crypto.hash : undefined;
})();

/** The sha2-256 digest of bytes: synchronous on Node, a promise in browsers. */
export function sha256Digest(bytes: Uint8Array): Uint8Array | Promise<Uint8Array> {
  if (nodeHash) return nodeHash("sha256", bytes, "buffer");
  const digest = sha256.digest(bytes);
  return digest instanceof Promise ? digest.then((d) => d.digest) : digest.digest;
}

/** True where sha2-256 runs synchronously (Node), so `cidOf` returns a CID, not a promise. */
export const SYNC_HASH = nodeHash !== undefined;

/**
 * The CIDv1 (sha2-256) of bytes under a codec. Synchronous on Node, a promise in browsers.
 * `alloc` may provide the CID's 36-byte buffer (e.g. from a slab) instead of a fresh one.
 */
export function cidOf(
  bytes: Uint8Array,
  codec: number,
  alloc?: (size: number) => Uint8Array,
): AnyCID | Promise<AnyCID> {
  const digest = sha256Digest(bytes);
  if (digest instanceof Promise) return digest.then((d) => sha256Cid(codec, d, alloc));
  return sha256Cid(codec, digest, alloc);
}

/**
 * A CIDv1 over a sha2-256 digest, built in one 36-byte buffer that the CID, its multihash and
 * its digest all view (multiformats' `createV1` allocates three buffers; on the write path
 * allocations cost more than the hashing of small values).
 */
function sha256Cid(
  codec: number,
  digest: Uint8Array,
  alloc?: (size: number) => Uint8Array,
): AnyCID {
  if (codec >= 0x80 || digest.byteLength !== 32) {
    return CID.createV1(codec, Digest.create(SHA2_256, digest)) as AnyCID;
  }
  const bytes = alloc ? alloc(36) : new Uint8Array(36);
  bytes[0] = 1;
  bytes[1] = codec;
  bytes[2] = SHA2_256;
  bytes[3] = 32;
  bytes.set(digest, 4);
  const multihash = new Digest.Digest(SHA2_256, 32, bytes.subarray(4), bytes.subarray(2));
  return new CID(1, codec, multihash, bytes) as AnyCID;
}

/** The raw-codec CIDv1 of bytes, as a quoted etag. */
export async function rawEtag(bytes: Uint8Array): Promise<string> {
  return `"${cidKey(await cidOf(bytes, RAW))}"`;
}

/** Tells whether `bytes` hash to the digest in `cid` (sha2-256, sha2-512 or identity). */
export function blockMatches(cid: AnyCID, bytes: Uint8Array): boolean | Promise<boolean> {
  const { code, digest } = cid.multihash;
  if (code === IDENTITY) return equals(digest, bytes);
  if (code === SHA2_256) {
    const computed = sha256Digest(bytes);
    if (computed instanceof Promise) return computed.then((d) => equals(d, digest));
    return equals(computed, digest);
  }
  const hasher = code === SHA2_512 ? sha512 : undefined;
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
  // The common case (CIDv1, sha2-256) in one buffer; the digest is copied, never a view of input.
  if (version === 1 && hashCode === SHA2_256) return sha256Cid(codec, digest);
  const multihash = Digest.create(hashCode, digest);
  return (
    version === 0 ? CID.createV0(multihash as never) : CID.createV1(codec, multihash)
  ) as AnyCID;
}

export { identity };
