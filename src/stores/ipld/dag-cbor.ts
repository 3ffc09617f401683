/**
 * DAG-CBOR with JSON number fidelity. `@ipld/dag-cbor` writes the JavaScript number `0` as an
 * integer whatever the JSON said, and reads a CBOR float `0.0` back as `0`. Here a `JsonFloat`
 * is written as a 64-bit float and a float is read back as one, so metadata round-trips with
 * the bytes (and the CID) the original Python ipldstore produces. Everything else is standard
 * canonical DAG-CBOR: map keys sorted by length then bytes, floats always 64-bit, links as tag
 * 42 over a 0x00-prefixed CID.
 */

import { decodeOptions as dagCborDecodeOptions } from "@ipld/dag-cbor";
import * as cborg from "cborg";
import { CID } from "multiformats/cid";
import { float, JsonFloat } from "./json-numbers.js";

const CID_TAG = 42;

/** Objects that encode as another value (tree nodes encode as their IPLD form). */
export const IPLD_FORM: unique symbol = Symbol("zarrstore.ipldForm");

/** A value that encodes as what `[IPLD_FORM]()` returns. */
export interface HasIpldForm {
  [IPLD_FORM](): unknown;
}

function cidTokens(cid: CID): cborg.Token[] {
  const bytes = new Uint8Array(cid.bytes.byteLength + 1);
  bytes.set(cid.bytes, 1); // DAG-CBOR prefixes a link with 0x00, for historical reasons
  return [new cborg.Token(cborg.Type.tag, CID_TAG), new cborg.Token(cborg.Type.bytes, bytes)];
}

const encodeOptions: cborg.EncodeOptions = {
  float64: true,
  typeEncoders: {
    Object(value: unknown, _typ, options, refStack) {
      if (value instanceof JsonFloat) return [new cborg.Token(cborg.Type.float, value.value)];
      const cid = (value as { asCID?: unknown }).asCID === value ? CID.asCID(value) : null;
      if (cid) return cidTokens(cid);
      if (typeof (value as Partial<HasIpldForm>)[IPLD_FORM] === "function") {
        return cborg.objectToTokens((value as HasIpldForm)[IPLD_FORM](), options, refStack);
      }
      return null;
    },
    undefined() {
      throw new Error("undefined cannot be encoded as DAG-CBOR");
    },
    number(n: number) {
      if (!Number.isFinite(n)) throw new Error(`${n} cannot be encoded as DAG-CBOR`);
      return null;
    },
  },
};

/** Encodes a value as canonical DAG-CBOR (see the module comment for numbers and tree nodes). */
export function encodeDagCbor(value: unknown): Uint8Array {
  return cborg.encode(value, encodeOptions);
}

/** What cborg's decoder pulls tokens from. */
interface Tokenizer {
  done(): boolean;
  next(): cborg.Token;
  pos(): number;
}

/** A tokenizer that turns CBOR floats into `JsonFloat` when integral, so they stay floats. */
class FloatKeepingTokenizer implements Tokenizer {
  readonly #inner: Tokenizer;
  constructor(bytes: Uint8Array, options: cborg.DecodeOptions) {
    this.#inner = new cborg.Tokenizer(bytes, options);
  }
  done(): boolean {
    return this.#inner.done();
  }
  pos(): number {
    return this.#inner.pos();
  }
  next(): cborg.Token {
    const token = this.#inner.next();
    if (token.type !== cborg.Type.float) return token;
    return new cborg.Token(cborg.Type.float, float(token.value as number), token.encodedLength);
  }
}

/**
 * Decodes DAG-CBOR strictly (canonical integers, no indefinite lengths, no duplicate keys, no
 * NaN/Infinity): maps become `Map`s, links `CID`s, integral floats `JsonFloat`s.
 */
export function decodeDagCbor(bytes: Uint8Array): unknown {
  const options: cborg.DecodeOptions = { ...dagCborDecodeOptions, useMaps: true };
  options.tokenizer = new FloatKeepingTokenizer(bytes, options);
  return cborg.decode(bytes, options);
}

/** Calls `visit` for every link in a decoded value, in encoded (canonical) order. */
export function forEachLink(value: unknown, visit: (cid: CID) => void): void {
  if (value === null || typeof value !== "object") return;
  if (value instanceof Map) {
    for (const v of value.values()) forEachLink(v, visit);
  } else if (Array.isArray(value)) {
    for (const v of value) forEachLink(v, visit);
  } else {
    const cid = CID.asCID(value);
    if (cid) visit(cid);
  }
}
