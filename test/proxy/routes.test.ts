import { describe, expect, it } from "vitest";
import { isStoreError } from "../../src/errors.js";
import { ProxyError } from "../../src/proxy/errors.js";
import {
  checkMountName,
  parseAllowEntry,
  parseCodec,
  parseRoute,
  type RouteTable,
} from "../../src/proxy/routes.js";

const table: RouteTable = {
  mounts: new Set(["air", "era5"]),
  hosts: new Map([
    ["data.example.org", { address: "data.example.org", scheme: "https" }],
    ["127.0.0.1:9000", { address: "127.0.0.1:9000", scheme: "http" }],
  ]),
};

function status(run: () => unknown): number | undefined {
  try {
    run();
  } catch (error) {
    return error instanceof ProxyError ? error.status : -1;
  }
  return undefined;
}

describe("parseRoute", () => {
  it.each([
    ["/", { kind: "index" }],
    ["/health", { kind: "health" }],
    ["/metrics", { kind: "metrics" }],
  ])("reserves %s", (path, route) => {
    expect(parseRoute(path, table)).toEqual(route);
  });

  it("routes named mounts, with the rest as the key", () => {
    expect(parseRoute("/air/air/0.0.0", table)).toMatchObject({
      kind: "store",
      store: { kind: "mount", name: "air" },
      key: "/air/0.0.0",
    });
    expect(parseRoute("/air", table)).toMatchObject({ kind: "store", key: undefined });
    expect(parseRoute("/air/", table)).toMatchObject({ kind: "store", key: undefined });
  });

  it("reads @chunks= and @codec= segments right after the store address", () => {
    expect(parseRoute("/air/@chunks=air=256,256/@codec=zstd:3/air/.zarray", table)).toMatchObject({
      store: { kind: "mount", name: "air" },
      chunksSpec: "air=256,256",
      codec: { name: "zstd", level: 3 },
      key: "/air/.zarray",
    });
    expect(parseRoute("/air/@chunks=sea%20t%3D4,4/x", table)).toMatchObject({
      chunksSpec: "sea t=4,4",
      key: "/x",
    });
  });

  it("routes allowed hosts with the whole path as the key upstream", () => {
    expect(parseRoute("/data.example.org/a/b.zarr/air/0.0", table)).toMatchObject({
      store: { kind: "host", address: "data.example.org", scheme: "https" },
      key: "/a/b.zarr/air/0.0",
    });
    expect(parseRoute("/DATA.example.org/a/@chunks=air=5/.zmetadata", table)).toMatchObject({
      store: { kind: "host", address: "data.example.org" },
      chunksSpec: "air=5",
      key: "/a/.zmetadata",
    });
    expect(parseRoute("/127.0.0.1:9000/x/.zgroup", table)).toMatchObject({
      store: { kind: "host", address: "127.0.0.1:9000", scheme: "http" },
      key: "/x/.zgroup",
    });
  });

  // Never an open proxy: a host that is not allowed is refused before anything is fetched.
  it.each([
    "/evil.example.com/x/.zmetadata",
    "/127.0.0.1:9001/x",
    "/169.254.169.254/latest/meta-data",
    "/localhost/x",
    "/data.example.org.evil.com/x",
  ])("refuses %s with 403", (path) => {
    expect(status(() => parseRoute(path, table))).toBe(403);
  });

  it.each([
    ["a malformed escape", "/air/%zz"],
    ["an encoded slash", "/air/a%2Fb"],
    ["a '..' segment", "/air/a/../b"],
    ["an empty segment", "/air/a//b"],
    ["an unknown option", "/air/@zoom=2/x"],
    ["two @chunks segments", "/air/@chunks=a=1/@chunks=a=2/x"],
    ["a bad codec", "/air/@codec=gzip/x"],
  ])("answers 400 to %s", (_, path) => {
    expect(status(() => parseRoute(path, table))).toBe(400);
  });
});

describe("configuration", () => {
  it.each([
    ["example.org", "example.org", "https"],
    ["Example.ORG:8443", "example.org:8443", "https"],
    ["https://example.org/", "example.org", "https"],
    ["http://127.0.0.1:9000", "127.0.0.1:9000", "http"],
  ])("reads the allow entry %s", (entry, address, scheme) => {
    expect(parseAllowEntry(entry)).toEqual({ address, scheme });
  });

  it.each(["", "https://", "example.org/path", "ftp://x", "a b", "user@host"])(
    "rejects the allow entry %j",
    (entry) => {
      let error: unknown;
      try {
        parseAllowEntry(entry);
      } catch (e) {
        error = e;
      }
      expect(isStoreError(error, "Config")).toBe(true);
    },
  );

  it("keeps reserved and odd names from being mounts", () => {
    expect(checkMountName("air.v2_x-1")).toBe("air.v2_x-1");
    for (const name of ["health", "metrics", "Health", "", "a/b", "@x", ".hidden"]) {
      expect(() => checkMountName(name)).toThrow(/invalid mount name/);
    }
  });

  it("reads codec choices", () => {
    expect(parseCodec("zstd")).toEqual({ name: "zstd", level: 1 });
    expect(parseCodec("ZSTD:22")).toEqual({ name: "zstd", level: 22 });
    expect(() => parseCodec("zstd:0")).toThrow(ProxyError);
    expect(() => parseCodec("zstd:23")).toThrow(ProxyError);
  });
});
