import { StoreError } from "../errors.js";
import type { AbsolutePath } from "../keys.js";
import type { CallOptions, SetOptions, SetResult, Store } from "../store.js";
import { ForwardingStore } from "./forward.js";

/** A store that reads through and rejects every write and delete with `ReadOnly`. */
export class ReadOnlyStore extends ForwardingStore {
  constructor(inner: Store) {
    super(inner, { write: false, overwrite: false, delete: false, conditionalWrite: false });
  }

  override async put(
    key: AbsolutePath,
    _value: Uint8Array,
    _options?: SetOptions,
  ): Promise<SetResult> {
    throw readOnly("set", key);
  }

  override async delete(key: AbsolutePath, _options?: CallOptions): Promise<void> {
    throw readOnly("delete", key);
  }

  override async deletePrefix(prefix: string, _options?: CallOptions): Promise<void> {
    throw readOnly("deletePrefix", prefix);
  }
}

/**
 * Makes a store read-only: reads and listings pass through, writes and deletes reject with
 * `ReadOnly` before they reach the store, and the capabilities say so.
 *
 * @example
 * const published = withReadOnly(await openStore("s3://bucket/dataset.zarr"));
 */
export function withReadOnly(inner: Store): ReadOnlyStore {
  return new ReadOnlyStore(inner);
}

function readOnly(operation: string, key: string): StoreError {
  return new StoreError({
    code: "ReadOnly",
    message: `cannot ${operation} ${key}: the store is wrapped in withReadOnly`,
    operation,
    key,
    backend: "withReadOnly",
  });
}
