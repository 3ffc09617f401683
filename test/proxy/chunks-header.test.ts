import { describe, expect, it } from "vitest";
import {
  formatChunksSpec,
  overrideFor,
  parseChunksSpec,
  unknownNames,
} from "../../src/proxy/chunks-header.js";
import { ProxyError } from "../../src/proxy/errors.js";

const parse = (spec: string) => Object.fromEntries(parseChunksSpec(spec));

describe("parseChunksSpec", () => {
  it.each([
    [
      "the seed's example",
      "temperature=256,256,30,pressure=256,256,30",
      { temperature: [256, 256, 30], pressure: [256, 256, 30] },
    ],
    ["one entry", "air=10", { air: [10] }],
    ["spaces around tokens", " air = 10 , 20 ,lat=5 ", { air: [10, 20], lat: [5] }],
    ["names with spaces, dots and dashes", "sea surface.t-2=3,4", { "sea surface.t-2": [3, 4] }],
    ["a path name for a nested array", "grp/sub/t=4,5", { "grp/sub/t": [4, 5] }],
    ["a leading slash is dropped", "/grp/t=4", { "grp/t": [4] }],
    ["a later entry for the same name wins", "a=1,2,b=3,a=4,5", { a: [4, 5], b: [3] }],
    ["a trailing comma is ignored", "a=1,2,", { a: [1, 2] }],
    ["the empty spec", "", {}],
  ])("reads %s", (_, spec, expected) => {
    expect(parse(spec)).toEqual(expected);
  });

  // Each of these gave the seed's proxy a bare 500 or was silently dropped.
  it.each([
    ["an empty number (two commas)", "a=1,,2", /number 2 is empty/],
    ["a zero chunk size", "a=0,5", /≥ 1, got 0/],
    ["a negative size", "a=-1", /not a whole number/],
    ["a fraction", "a=1.5", /not a whole number/],
    ["a number before any name", "5,a=1", /found "5" first/],
    ["a name without a number", "a=", /number 1 is empty/],
    ["no name", "=5", /no name/],
    ["a name with other characters", "a*b=5", /may only hold/],
    ["a '..' path segment", "../t=5", /'\.\.'/],
    ["an empty path segment", "grp//t=5", /empty/],
    ["junk", "hello", /found "hello" first/],
  ])("answers 400 to %s", (_, spec, message) => {
    let error: unknown;
    try {
      parseChunksSpec(spec);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ProxyError);
    expect((error as ProxyError).status).toBe(400);
    expect((error as ProxyError).message).toMatch(message);
    expect((error as ProxyError).message).toContain("name=n1,n2");
  });

  it("names where the spec came from", () => {
    expect(() => parseChunksSpec("a=x", "@chunks= path segment")).toThrow(/@chunks= path segment/);
  });

  it("writes a spec back in a form it reads again", () => {
    const spec = "grp/t=4,5,air=10,20,30";
    expect(formatChunksSpec(parseChunksSpec(spec))).toBe(spec);
  });
});

describe("overrideFor", () => {
  const overrides = parseChunksSpec("t=1,1,grp/t=2,2,air=3");
  it.each([
    ["a bare name matches an array of that name anywhere", "/air", "air", [3]],
    ["a bare name matches deep arrays too", "/x/y/air", "air", [3]],
    ["the longer path wins over a bare name", "/grp/t", "grp/t", [2, 2]],
    ["a bare name applies where the path does not", "/other/t", "t", [1, 1]],
  ])("%s", (_, path, name, chunks) => {
    expect(overrideFor(overrides, path)).toEqual({ name, chunks });
  });

  it("matches whole segments only", () => {
    expect(overrideFor(overrides, "/hot")).toBeUndefined();
    expect(overrideFor(overrides, "/airs")).toBeUndefined();
    expect(overrideFor(parseChunksSpec("rp/t=1"), "/grp/t")).toBeUndefined();
  });

  it("lists the names that match no array", () => {
    expect(unknownNames(overrides, ["/air", "/grp/t"])).toEqual([]);
    expect(unknownNames(parseChunksSpec("air=1,nope=2,x/air=3"), ["/air"])).toEqual([
      "nope",
      "x/air",
    ]);
  });
});
