/**
 * Where a request goes. Paths are read in this order:
 * 1. `/`, `/health`, `/metrics`: reserved;
 * 2. `/{mount}/…`: a named mount (`--mount air=./data/air.zarr`);
 * 3. `/{host[:port]}/{path}/…`: a store upstream, only for hosts on the allow-list (over https
 *    unless the host was allowed as `http://host`); every other first segment is a 403, so the
 *    proxy is never an open proxy.
 * Right after the store address, option segments may follow: `@chunks={spec}` (the `chunks`
 * header's grammar, for clients that cannot set headers and for CDNs that cache by URL) and
 * `@codec=zstd[:level]` (re-encode served chunks). The rest is the key in the store.
 */
import { StoreError } from "../errors.js";
import { type AbsolutePath, toKey } from "../keys.js";
import { badRequest, ProxyError } from "./errors.js";

/** Names a mount may not take: they are routes of their own. */
export const RESERVED_NAMES: ReadonlySet<string> = new Set(["", "health", "metrics"]);

/** An upstream host a client may reach through `/{host}/…`. */
export interface AllowedHost {
  /** `host` or `host:port`, lower-case, as it appears in the first path segment. */
  address: string;
  scheme: "https" | "http";
}

/** Where a store request goes. */
export type StoreRef =
  | { kind: "mount"; name: string }
  | { kind: "host"; address: string; scheme: "https" | "http" };

/** A served codec for chunk bytes (`@codec=`). */
export interface CodecChoice {
  name: "zstd";
  level: number;
}

/** A parsed request path. */
export type Route =
  | { kind: "index" }
  | { kind: "health" }
  | { kind: "metrics" }
  | {
      kind: "store";
      store: StoreRef;
      /** The store's address as the client wrote it (`air`, `example.org/data/x.zarr`). */
      base: string;
      /** The `@chunks=` spec, if the path has one. */
      chunksSpec?: string | undefined;
      codec?: CodecChoice | undefined;
      /** The key in the store; `undefined` for the store address itself. */
      key: AbsolutePath | undefined;
    };

const MOUNT_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const HOST =
  /^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*(?::\d{1,5})?$/;

/** Checks a mount name: one path segment of letters, digits, `.`, `_`, `-`, not reserved. */
export function checkMountName(name: string): string {
  if (!MOUNT_NAME.test(name) || RESERVED_NAMES.has(name.toLowerCase())) {
    throw new StoreError({
      code: "Config",
      message: `invalid mount name ${JSON.stringify(name)}: use letters, digits, '.', '_' and '-', and none of ${[...RESERVED_NAMES].filter(Boolean).join(", ")}`,
      operation: "configure proxy",
    });
  }
  return name;
}

/**
 * Reads an allow-list entry: `example.org`, `example.org:8443` or `https://example.org` (served
 * over https), or `http://127.0.0.1:9000` (plain http, only when written so).
 */
export function parseAllowEntry(entry: string): AllowedHost {
  const match = /^(?:(https?):\/\/)?([^/]+)\/?$/i.exec(entry.trim());
  const address = match?.[2]?.toLowerCase();
  if (!match || address === undefined || !HOST.test(address)) {
    throw new StoreError({
      code: "Config",
      message: `invalid allowed host ${JSON.stringify(entry)}: write host, host:port, https://host or http://host:port`,
      operation: "configure proxy",
    });
  }
  const scheme = match[1]?.toLowerCase() === "http" ? "http" : "https";
  return { address, scheme };
}

/** The parts of a route parser: mounts and allowed hosts. */
export interface RouteTable {
  mounts: ReadonlySet<string>;
  hosts: ReadonlyMap<string, AllowedHost>;
}

/**
 * Parses a request path (as sent, percent-encoded) into a route.
 * Throws `ProxyError` 400 for malformed paths and 403 for hosts that are not allowed.
 */
export function parseRoute(pathname: string, table: RouteTable): Route {
  const segments = decodeSegments(pathname);
  const first = segments[0];
  if (first === undefined) return { kind: "index" };
  if (segments.length === 1 && first === "health") return { kind: "health" };
  if (segments.length === 1 && first === "metrics") return { kind: "metrics" };
  if (table.mounts.has(first)) {
    return storeRoute({ kind: "mount", name: first }, [first], segments.slice(1));
  }
  const host = table.hosts.get(first.toLowerCase());
  if (host !== undefined) {
    const rest = segments.slice(1);
    const options = rest.findIndex((s) => s.startsWith("@"));
    const address = options === -1 ? rest : rest.slice(0, options);
    const after = options === -1 ? [] : rest.slice(options);
    const route = storeRoute(
      { kind: "host", address: host.address, scheme: host.scheme },
      [host.address, ...address],
      after,
    );
    // Upstream, the key is the whole path: the host's root is the store.
    const keyParts = [...address, ...(route.key ? route.key.slice(1).split("/") : [])];
    return { ...route, key: keyParts.length ? checkedKey(keyParts) : undefined };
  }
  const mounts = [...table.mounts].sort();
  throw new ProxyError(
    403,
    `${JSON.stringify(first)} is not a mount of this proxy nor an allowed upstream host (mounts: ${mounts.length ? mounts.join(", ") : "none"}); this proxy only reaches hosts on its allow-list`,
  );
}

function storeRoute(
  store: StoreRef,
  base: string[],
  rest: string[],
): Extract<Route, { kind: "store" }> {
  let chunksSpec: string | undefined;
  let codec: CodecChoice | undefined;
  let i = 0;
  for (; i < rest.length && (rest[i] as string).startsWith("@"); i++) {
    const segment = rest[i] as string;
    if (segment.startsWith("@chunks=")) {
      if (chunksSpec !== undefined) throw badRequest("the path has two @chunks= segments");
      chunksSpec = segment.slice("@chunks=".length);
    } else if (segment.startsWith("@codec=")) {
      if (codec !== undefined) throw badRequest("the path has two @codec= segments");
      codec = parseCodec(segment.slice("@codec=".length));
    } else {
      throw badRequest(
        `unknown option segment ${JSON.stringify(segment)}: the proxy knows @chunks={spec} and @codec=zstd[:level]`,
      );
    }
  }
  const keyParts = rest.slice(i);
  return {
    kind: "store",
    store,
    base: base.join("/"),
    chunksSpec,
    codec,
    key: keyParts.length ? checkedKey(keyParts) : undefined,
  };
}

/** Reads `zstd` or `zstd:{level}` (levels 1–22; default 1, the fastest). */
export function parseCodec(text: string): CodecChoice {
  const match = /^zstd(?::(\d{1,2}))?$/i.exec(text);
  const level = Number(match?.[1] ?? 1);
  if (!match || level < 1 || level > 22) {
    throw badRequest(
      `unknown codec ${JSON.stringify(text)}: use @codec=zstd or @codec=zstd:{level 1–22}`,
    );
  }
  return { name: "zstd", level };
}

function decodeSegments(pathname: string): string[] {
  const parts = pathname.split("/");
  const segments: string[] = [];
  for (const [index, part] of parts.entries()) {
    // A trailing slash names the same thing as no slash; empty segments elsewhere are errors.
    if (part === "" && (index === 0 || index === parts.length - 1)) continue;
    try {
      segments.push(decodeURIComponent(part));
    } catch {
      throw badRequest(`the path segment ${JSON.stringify(part)} is not valid percent-encoding`);
    }
  }
  return segments;
}

function checkedKey(parts: string[]): AbsolutePath {
  if (parts.some((p) => p.includes("/"))) {
    throw badRequest("a path segment may not hold an encoded '/' (%2F)");
  }
  try {
    return toKey(parts.join("/"));
  } catch (error) {
    throw badRequest(error instanceof Error ? error.message : String(error));
  }
}
