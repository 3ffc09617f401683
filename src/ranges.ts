import { StoreError } from "./errors.js";
import type { RangeQuery } from "./store.js";

/** A range resolved against a known size: `[start, end)` within the value. */
export interface ResolvedRange {
  start: number;
  end: number;
}

/**
 * Resolves a range against a value's size with HTTP semantics: a range running past the end is
 * cut at the end; an offset at or past the end is `RangeNotSatisfiable` (except a zero-length
 * read of an empty value's start is still empty); a suffix longer than the value is the whole value.
 */
export function resolveRange(range: RangeQuery, size: number, key?: string): ResolvedRange {
  checkRange(range, key);
  if ("suffixLength" in range) {
    return { start: Math.max(0, size - range.suffixLength), end: size };
  }
  if (range.offset >= size && !(range.offset === 0 && size === 0)) {
    throw new StoreError({
      code: "RangeNotSatisfiable",
      message: `range offset ${range.offset} is at or past the end of a ${size}-byte value`,
      operation: "getRange",
      key,
    });
  }
  return { start: range.offset, end: Math.min(size, range.offset + range.length) };
}

/** Applies a range to a whole value (for stores that hold values in memory). */
export function sliceRange(value: Uint8Array, range: RangeQuery, key?: string): Uint8Array {
  const { start, end } = resolveRange(range, value.byteLength, key);
  return value.subarray(start, end);
}

/** Rejects negative, fractional or non-numeric ranges with `InvalidKey`-free `Config` errors. */
export function checkRange(range: RangeQuery, key?: string): void {
  const numbers = "suffixLength" in range ? [range.suffixLength] : [range.offset, range.length];
  for (const n of numbers) {
    if (!Number.isSafeInteger(n) || n < 0) {
      throw new StoreError({
        code: "Config",
        message: `invalid byte range ${JSON.stringify(range)}: offsets and lengths are whole numbers ≥ 0`,
        operation: "getRange",
        key,
      });
    }
  }
}

/** The HTTP `Range` header value for a query. */
export function rangeHeader(range: RangeQuery): string {
  if ("suffixLength" in range) return `bytes=-${range.suffixLength}`;
  return `bytes=${range.offset}-${range.offset + range.length - 1}`;
}
