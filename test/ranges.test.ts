import { describe, expect, it } from "vitest";
import { isStoreError } from "../src/errors.js";
import { rangeHeader, resolveRange } from "../src/ranges.js";

describe("resolveRange", () => {
  it.each([
    [{ offset: 2, length: 3 }, 10, [2, 5]],
    [{ offset: 7, length: 100 }, 10, [7, 10]],
    [{ offset: 0, length: 0 }, 0, [0, 0]],
    [{ suffixLength: 4 }, 10, [6, 10]],
    [{ suffixLength: 40 }, 10, [0, 10]],
    [{ suffixLength: 0 }, 10, [10, 10]],
  ] as const)("%j of %d bytes is %j", (range, size, [start, end]) => {
    expect(resolveRange(range, size)).toEqual({ start, end });
  });

  it.each([
    [{ offset: 10, length: 1 }, 10, "RangeNotSatisfiable"],
    [{ offset: 11, length: 1 }, 10, "RangeNotSatisfiable"],
    [{ offset: -1, length: 1 }, 10, "Config"],
    [{ offset: 1.5, length: 1 }, 10, "Config"],
    [{ suffixLength: -3 }, 10, "Config"],
  ] as const)("%j of %d bytes fails with %s", (range, size, code) => {
    try {
      resolveRange(range, size);
      expect.unreachable();
    } catch (error) {
      expect(isStoreError(error) && error.code).toBe(code);
    }
  });

  it("writes HTTP Range headers", () => {
    expect(rangeHeader({ offset: 5, length: 10 })).toBe("bytes=5-14");
    expect(rangeHeader({ suffixLength: 8 })).toBe("bytes=-8");
  });
});
