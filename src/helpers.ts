import { StoreError } from "./errors.js";
import { type AbsolutePath, toKey } from "./keys.js";
import type { CallOptions, Listable, Readable, SetOptions, Writable } from "./store.js";

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** Reads a key and parses it as JSON; `undefined` when missing, `Integrity` when not JSON. */
export async function getJson<T = unknown>(
  store: Readable,
  key: string,
  options?: CallOptions,
): Promise<T | undefined> {
  const path = toKey(key);
  const bytes = await store.get(path, options);
  if (bytes === undefined) return undefined;
  try {
    return JSON.parse(decoder.decode(bytes)) as T;
  } catch (cause) {
    throw new StoreError({
      code: "Integrity",
      message: `${path} is not valid JSON`,
      key: path,
      operation: "get",
      cause,
    });
  }
}

/** Writes a value as pretty JSON (the way zarr-python writes metadata). */
export function setJson(
  store: Writable,
  key: string,
  value: unknown,
  options?: SetOptions,
): Promise<void> {
  return store.set(toKey(key), encoder.encode(JSON.stringify(value, null, 2)), options);
}

/** Tells whether a key holds a value. */
export async function exists(
  store: Readable,
  key: string,
  options?: CallOptions,
): Promise<boolean> {
  return (await store.stat(toKey(key), options)) !== undefined;
}

/** Collects a listing into a sorted array. */
export async function listAll(
  store: Listable,
  prefix?: string,
  options?: CallOptions,
): Promise<AbsolutePath[]> {
  const keys: AbsolutePath[] = [];
  for await (const key of store.list(prefix, options)) keys.push(key);
  return keys.sort();
}

/** Decodes UTF-8 bytes to text. */
export function bytesToText(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

/** Encodes text as UTF-8 bytes. */
export function textToBytes(text: string): Uint8Array {
  return encoder.encode(text);
}
