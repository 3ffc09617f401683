import { describe, expect, it } from "vitest";
import { isStoreError } from "../src/errors.js";
import { toKey, toPrefix } from "../src/keys.js";

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    return isStoreError(error) ? error.code : "not a StoreError";
  }
  return undefined;
}

describe("toKey", () => {
  it.each([
    ["/a/zarr.json", "/a/zarr.json"],
    ["a/b", "/a/b"],
    ["/a b/ü/日本", "/a b/ü/日本"],
    ["/.zgroup", "/.zgroup"],
    ["/a/...", "/a/..."],
  ])("accepts %j as %j", (input, expected) => {
    expect(toKey(input)).toBe(expected);
  });

  it.each([
    ["", "empty"],
    ["/", "the root"],
    ["/a//b", "empty segment"],
    ["/a/./b", "dot segment"],
    ["/a/../b", "dot-dot segment"],
    ["/..", "dot-dot alone"],
    ["/a\\b", "backslash"],
    ["/a\u0000b", "NUL"],
    ["/a\tb", "tab"],
    ["/a\u007fb", "DEL"],
    ["/a/", "trailing slash"],
  ])("rejects %j (%s) with InvalidKey", (input) => {
    expect(codeOf(() => toKey(input))).toBe("InvalidKey");
  });
});

describe("toPrefix", () => {
  it.each([
    [undefined, "/"],
    ["", "/"],
    ["/", "/"],
    ["foo", "/foo/"],
    ["/foo", "/foo/"],
    ["/foo/", "/foo/"],
    ["foo/", "/foo/"],
    ["a/b", "/a/b/"],
  ])("normalises %j to %j", (input, expected) => {
    expect(toPrefix(input)).toBe(expected);
  });

  it.each(["//", "a//b", "../a", "a/..", "a\\b", "a\u0001"])("rejects %j", (input) => {
    expect(codeOf(() => toPrefix(input))).toBe("InvalidKey");
  });
});
