/**
 * A trustless IPFS gateway (https://specs.ipfs.tech/http-gateways/trustless-gateway/) over a
 * block store: `GET|HEAD /ipfs/{cid}?format=raw` (`application/vnd.ipld.raw`, one block, with
 * Range support) and `?format=car` (`application/vnd.ipld.car; version=1; order=dfs; dups=n`,
 * streamed, `dag-scope=all|entity|block`). Format by the `format` parameter or the `Accept`
 * header; without either it answers 400 (it is strictly trustless: nothing is deserialised).
 * A missing root block is 404; CORS is open so browsers can read it. Runtime-neutral: a plain
 * `(Request) => Promise<Response>` handler; on Node, run it with `serveHandler`.
 *
 * @example
 * const handler = createGatewayHandler(castore);
 * const server = await serveHandler(handler, { port: 8080 }); // GatewayCAStore(server.url) reads it
 */
import { isStoreError } from "../errors.js";
import { resolveRange } from "../ranges.js";
import { type AnyCID, cidKey, parseCid } from "../stores/ipld/blocks.js";
import { exportCar } from "../stores/ipld/car.js";
import type { CAStore } from "../stores/ipld/castore.js";
import { toStream } from "./kubo-rpc.js";

const RAW_TYPE = "application/vnd.ipld.raw";
const CAR_TYPE = "application/vnd.ipld.car";
// Blocks never change: a year, immutable (what IPFS gateways send).
const IMMUTABLE = "public, max-age=29030400, immutable";

const CORS: Record<string, string> = {
  "access-control-allow-origin": "*",
  "access-control-allow-methods": "GET, HEAD, OPTIONS",
  "access-control-allow-headers": "Accept, Range, If-None-Match, Cache-Control",
  "access-control-expose-headers":
    "Content-Length, Content-Range, Content-Type, Etag, X-Ipfs-Path, X-Ipfs-Roots",
};

/** Options for `createGatewayHandler`. */
export interface GatewayOptions {
  /** Blocks fetched ahead while streaming a CAR (default 8). */
  prefetch?: number;
}

/** Makes a trustless-gateway handler serving the blocks of `castore`. */
export function createGatewayHandler(
  castore: CAStore,
  options: GatewayOptions = {},
): (request: Request) => Promise<Response> {
  return async (request) => {
    if (request.method === "OPTIONS") return new Response(null, { status: 204, headers: CORS });
    if (request.method !== "GET" && request.method !== "HEAD") {
      return text(405, `${request.method} is not allowed: this gateway is read-only`, {
        allow: "GET, HEAD, OPTIONS",
      });
    }
    const url = new URL(request.url);
    if (url.pathname === "/" || url.pathname === "") {
      return text(200, "zarrstore trustless gateway: GET /ipfs/{cid}?format=raw|car\n");
    }
    const match = /^\/ipfs\/([^/]+)(\/.*)?$/.exec(url.pathname);
    if (match === null) return text(404, "not found: this gateway serves /ipfs/{cid} only");
    let cid: AnyCID;
    try {
      cid = parseCid(decodeURIComponent(match[1] as string));
    } catch {
      return text(400, `invalid CID: ${match[1]}`);
    }
    if (match[2] !== undefined && match[2] !== "/") {
      return text(
        400,
        "paths below a CID are not supported by this gateway: request the block's CID",
      );
    }
    const format = formatOf(url, request.headers.get("accept"));
    if (format === undefined) {
      return text(
        400,
        "this trustless gateway needs ?format=raw or ?format=car (or an Accept header for application/vnd.ipld.raw or application/vnd.ipld.car)",
      );
    }
    try {
      return format === "raw"
        ? await rawResponse(castore, cid, request)
        : await carResponse(castore, cid, url, request, options);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      return text(isStoreError(error, "Integrity") ? 502 : 500, message);
    }
  };
}

function formatOf(url: URL, accept: string | null): "raw" | "car" | undefined {
  const format = url.searchParams.get("format");
  if (format === "raw" || format === "car") return format;
  if (format !== null) return undefined;
  if (accept?.includes(RAW_TYPE)) return "raw";
  if (accept?.includes(CAR_TYPE)) return "car";
  return undefined;
}

async function rawResponse(castore: CAStore, cid: AnyCID, request: Request): Promise<Response> {
  const etag = `"${cid}.raw"`;
  const headers: Record<string, string> = {
    ...CORS,
    "content-type": RAW_TYPE,
    "content-disposition": `attachment; filename="${cidKey(cid)}.bin"`,
    "cache-control": IMMUTABLE,
    "x-content-type-options": "nosniff",
    "x-ipfs-path": `/ipfs/${cid}`,
    "x-ipfs-roots": cid.toString(),
    etag,
    "accept-ranges": "bytes",
    vary: "Accept",
  };
  if (request.headers.get("if-none-match") === etag) {
    if (!(await castore.has(cid))) return text(404, `block ${cidKey(cid)} not found`);
    return new Response(null, { status: 304, headers });
  }
  const bytes = await castore.get(cid, { shared: true });
  if (bytes === undefined) return missing(cid, request);
  const range = parseRange(request.headers.get("range"));
  if (range === "invalid") return text(400, "invalid Range header (one bytes range is supported)");
  if (range === undefined) {
    headers["content-length"] = String(bytes.byteLength);
    return new Response(request.method === "HEAD" ? null : (bytes as Uint8Array<ArrayBuffer>), {
      status: 200,
      headers,
    });
  }
  try {
    const { start, end } = resolveRange(range, bytes.byteLength);
    headers["content-range"] = `bytes ${start}-${end - 1}/${bytes.byteLength}`;
    headers["content-length"] = String(end - start);
    const part = bytes.subarray(start, end) as Uint8Array<ArrayBuffer>;
    return new Response(request.method === "HEAD" ? null : part, { status: 206, headers });
  } catch {
    return new Response(null, {
      status: 416,
      headers: { ...CORS, "content-range": `bytes */${bytes.byteLength}` },
    });
  }
}

function parseRange(header: string | null) {
  if (header === null) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (match === null || (match[1] === "" && match[2] === "")) return "invalid" as const;
  if (match[1] === "") return { suffixLength: Number(match[2]) };
  const offset = Number(match[1]);
  const length = match[2] === "" ? Number.MAX_SAFE_INTEGER - offset : Number(match[2]) - offset + 1;
  return length < 0 ? ("invalid" as const) : { offset, length };
}

async function carResponse(
  castore: CAStore,
  cid: AnyCID,
  url: URL,
  request: Request,
  options: GatewayOptions,
): Promise<Response> {
  const scopeParam = url.searchParams.get("dag-scope") ?? "all";
  if (scopeParam !== "all" && scopeParam !== "entity" && scopeParam !== "block") {
    return text(400, `invalid dag-scope ${scopeParam}: use block, entity or all`);
  }
  const version = url.searchParams.get("car-version") ?? carParam(request, "version") ?? "1";
  if (version !== "1") return text(400, `CAR version ${version} is not supported: only 1`);
  // For data that is not UnixFS, "entity" means the block itself (trustless gateway spec).
  const scope = scopeParam === "all" ? "all" : "block";
  if (!(await castore.has(cid))) return missing(cid, request);
  const etag = `"${cid}.car.${scope}"`;
  const headers: Record<string, string> = {
    ...CORS,
    "content-type": `${CAR_TYPE}; version=1; order=dfs; dups=n`,
    "content-disposition": `attachment; filename="${cidKey(cid)}.car"`,
    "cache-control": IMMUTABLE,
    "x-content-type-options": "nosniff",
    "x-ipfs-path": `/ipfs/${cid}`,
    "x-ipfs-roots": cid.toString(),
    etag,
    vary: "Accept",
  };
  if (request.headers.get("if-none-match") === etag)
    return new Response(null, { status: 304, headers });
  if (request.method === "HEAD") return new Response(null, { status: 200, headers });
  const stream = exportCar(castore, cid, {
    scope,
    prefetch: options.prefetch ?? 8,
    signal: request.signal,
  });
  return new Response(toStream(stream), { status: 200, headers });
}

function carParam(request: Request, name: string): string | undefined {
  const accept = request.headers.get("accept") ?? "";
  const match = new RegExp(`${CAR_TYPE}[^,]*;\\s*${name}=([^;,\\s]+)`).exec(accept);
  return match?.[1];
}

function missing(cid: AnyCID, request: Request): Response {
  // `only-if-cached`: 412 when the root block is not here (a non-recursive gateway's answer).
  if (request.headers.get("cache-control")?.includes("only-if-cached")) {
    return text(412, `block ${cidKey(cid)} is not in this gateway's store`);
  }
  return text(404, `block ${cidKey(cid)} not found`);
}

function text(status: number, message: string, extra: Record<string, string> = {}): Response {
  return new Response(`${message}\n`, {
    status,
    headers: { ...CORS, "content-type": "text/plain; charset=utf-8", ...extra },
  });
}
