/**
 * A Kubo-RPC-compatible handler over a block store: the endpoints IPLD tools use, answered as
 * an offline Kubo node answers them. No Kubo binary can be installed on every machine (none can
 * here), so zarrstore's tests run KuboCAStore against this, and prove its fidelity with the
 * independent npm `kubo-rpc-client`.
 *
 * Endpoints (all `POST /api/v0/…`, as in Kubo; other methods get 405):
 * - `block/get?arg=<cid>` → the block's bytes; `block/stat?arg=<cid>` → `{Key, Size}`;
 *   `block/put?cid-codec=&mhtype=&mhlen=&allow-big-block=` (multipart) → `{Key, Size}`;
 *   `block/rm?arg=<cid>` → `{Hash, Error}` (blocks are kept: content-addressed stores share them).
 * - `dag/put?store-codec=&input-codec=&hash=` (multipart) → `{Cid: {"/": cid}}` for `raw` and
 *   `dag-cbor` with input codec = store codec (the original ipldstore's calls);
 *   `dag/import?pin-roots=&stats=&allow-big-block=` (multipart CARs) → NDJSON `{Root}`/`{Stats}`;
 *   `dag/export?arg=<cid>` → a CARv1.
 * - `version`, `id` for clients that probe.
 * Errors are Kubo's JSON `{Message, Code, Type: "error"}`: 400 for bad arguments, 500 for the
 * rest, including a missing block (`block was not found locally (offline)`), as Kubo says it.
 * Like Kubo, blocks over 1 MiB are refused unless `allow-big-block=true`.
 */

import { CID } from "multiformats/cid";
import { sha256, sha512 } from "multiformats/hashes/sha2";
import { isStoreError } from "../errors.js";
import {
  type AnyCID,
  cidKey,
  copyBytes,
  DAG_CBOR,
  DAG_PB,
  parseCid,
  RAW,
} from "../stores/ipld/blocks.js";
import { type CarBlock, exportCar, readCar } from "../stores/ipld/car.js";
import type { CAStore } from "../stores/ipld/castore.js";
import { decodeDagCbor } from "../stores/ipld/dag-cbor.js";
import { boundaryOf, readAll, readMultipart, streamChunks } from "../stores/ipld/multipart.js";

/** Kubo's limit for a block it will exchange with peers (`--allow-big-block` lifts it). */
export const KUBO_BLOCK_LIMIT = 1024 * 1024;

const CODECS: Record<string, number> = {
  raw: RAW,
  "dag-cbor": DAG_CBOR,
  "dag-pb": DAG_PB,
  cbor: 0x51,
  json: 0x0200,
  "dag-json": 0x0129,
};
const HASHES = { "sha2-256": sha256, "sha2-512": sha512 } as const;

/** Options for `createKuboRpcHandler`. */
export interface KuboRpcOptions {
  /** The version string `/api/v0/version` reports. */
  version?: string;
}

class RpcError extends Error {
  constructor(
    message: string,
    readonly status = 500,
    readonly code = 0,
  ) {
    super(message);
  }
}

/**
 * Makes a fetch-style handler that answers the Kubo RPC endpoints above from `castore`.
 *
 * @example
 * const server = await serveHandler(createKuboRpcHandler(new MappingCAStore()), { port: 5001 });
 */
export function createKuboRpcHandler(
  castore: CAStore,
  options: KuboRpcOptions = {},
): (request: Request) => Promise<Response> {
  const routes: Record<string, (url: URL, request: Request) => Promise<Response>> = {
    "block/get": async (url) => {
      const cid = cidArg(url);
      const bytes = await castore.get(cid, { shared: true });
      if (bytes === undefined) throw notFound(cid);
      return new Response(bytes as Uint8Array<ArrayBuffer>, {
        headers: { "content-type": "text/plain", "x-stream-output": "1" },
      });
    },
    "block/stat": async (url) => {
      const cid = cidArg(url);
      const size = await castore.size(cid);
      if (size === undefined) throw notFound(cid);
      return json({ Key: cid.toString(), Size: size });
    },
    "block/rm": async (url) => {
      const cid = cidArg(url);
      const present = await castore.has(cid);
      return ndjson([
        { Hash: cid.toString(), Error: present ? "" : `${cidKey(cid)}: block not found` },
      ]);
    },
    "block/put": async (url, request) => {
      const codecName =
        url.searchParams.get("cid-codec") ?? formatCodec(url.searchParams.get("format"));
      const codec = codecOf(codecName);
      const hasher = hasherOf(url.searchParams.get("mhtype") ?? "sha2-256");
      const bytes = await singleUpload(request);
      checkSize(bytes.byteLength, url);
      const digest = await hasher.digest(bytes);
      const version = url.searchParams.get("format") === "v0" ? 0 : 1;
      const cid = (
        version === 0 ? CID.createV0(digest as never) : CID.createV1(codec, digest)
      ) as AnyCID;
      await castore.putBlock({ cid, bytes });
      return json({ Key: cid.toString(), Size: bytes.byteLength });
    },
    "dag/put": async (url, request) => {
      const store = url.searchParams.get("store-codec") ?? "dag-cbor";
      const input = url.searchParams.get("input-codec") ?? "dag-json";
      if (store !== input || (store !== "dag-cbor" && store !== "raw")) {
        throw new RpcError(
          `this server stores dag-cbor and raw as given (input-codec = store-codec); got input-codec=${input}, store-codec=${store}`,
          400,
          1,
        );
      }
      const hasher = hasherOf(url.searchParams.get("hash") ?? "sha2-256");
      const bytes = await singleUpload(request);
      checkSize(bytes.byteLength, url);
      if (store === "dag-cbor") {
        try {
          decodeDagCbor(bytes);
        } catch (cause) {
          throw new RpcError(`failed to decode dag-cbor input: ${(cause as Error).message}`, 500);
        }
      }
      const cid = CID.createV1(codecOf(store), await hasher.digest(bytes)) as AnyCID;
      await castore.putBlock({ cid, bytes });
      return json({ Cid: { "/": cid.toString() } });
    },
    "dag/import": async (url, request) => {
      const boundary = boundaryOf(request.headers.get("content-type"));
      if (boundary === undefined || request.body === null) {
        throw new RpcError("file argument 'path' is required", 400, 1);
      }
      const pinRoots = url.searchParams.get("pin-roots") !== "false";
      const stats = url.searchParams.get("stats") === "true";
      const allowBig = url.searchParams.get("allow-big-block") === "true";
      const roots: AnyCID[] = [];
      let blockCount = 0;
      let blockBytes = 0;
      for await (const part of readMultipart(streamChunks(request.body), boundary)) {
        const car = await readCar(part.body);
        roots.push(...car.roots);
        for await (const block of car.blocks) {
          if (!allowBig && block.bytes.byteLength > KUBO_BLOCK_LIMIT) throw bigBlock();
          await castore.putBlock(copyOf(block));
          blockCount += 1;
          blockBytes += block.bytes.byteLength;
        }
      }
      const lines: unknown[] = [];
      if (pinRoots) {
        for (const root of roots) {
          const present = await castore.has(root);
          lines.push({
            Root: {
              Cid: { "/": root.toString() },
              PinErrorMsg: present
                ? ""
                : `block was not found locally (offline): ipld: could not find ${root}`,
            },
          });
        }
      }
      if (stats) lines.push({ Stats: { BlockCount: blockCount, BlockBytesCount: blockBytes } });
      return ndjson(lines);
    },
    "dag/export": async (url) => {
      const cid = cidArg(url);
      if (!(await castore.has(cid))) throw notFound(cid);
      const stream = exportCar(castore, cid);
      return new Response(toStream(stream), {
        headers: { "content-type": "application/vnd.ipld.car", "x-stream-output": "1" },
      });
    },
    version: async () =>
      json({
        Version: options.version ?? "0.0.0-zarrstore",
        Commit: "",
        Repo: "0",
        System: "js",
        Golang: "none",
      }),
    id: async () =>
      json({
        ID: "zarrstore-loopback",
        PublicKey: "",
        Addresses: [],
        AgentVersion: "zarrstore",
        Protocols: [],
      }),
  };

  return async (request) => {
    const url = new URL(request.url);
    const match = /^\/api\/v0\/(.+?)\/?$/.exec(url.pathname);
    const route = match ? routes[match[1] as string] : undefined;
    if (route === undefined) return new Response("404 page not found\n", { status: 404 });
    if (request.method !== "POST") {
      return new Response(`405 - Method ${request.method} not allowed\n`, { status: 405 });
    }
    try {
      return await route(url, request);
    } catch (error) {
      return errorResponse(error);
    }
  };
}

function cidArg(url: URL): AnyCID {
  const arg = url.searchParams.get("arg");
  if (arg === null) throw new RpcError('argument "cid" is required', 400, 1);
  try {
    return parseCid(arg);
  } catch {
    throw new RpcError(`invalid cid: ${arg}`, 400, 1);
  }
}

function codecOf(name: string): number {
  const code = CODECS[name];
  if (code === undefined) throw new RpcError(`unknown multicodec: "${name}"`, 400, 1);
  return code;
}

function formatCodec(format: string | null): string {
  if (format === null || format === "v0" || format === "protobuf")
    return format === null ? "raw" : "dag-pb";
  return format === "cbor" ? "dag-cbor" : format;
}

function hasherOf(name: string) {
  const hasher = HASHES[name as keyof typeof HASHES];
  if (hasher === undefined) throw new RpcError(`unrecognized hash function: ${name}`, 400, 1);
  return hasher;
}

function checkSize(size: number, url: URL): void {
  if (size > KUBO_BLOCK_LIMIT && url.searchParams.get("allow-big-block") !== "true")
    throw bigBlock();
}

function bigBlock(): RpcError {
  return new RpcError(
    "produced block is over 1MiB: big blocks can't be exchanged with other peers. consider using UnixFS for automatic chunking of bigger files, or pass --allow-big-block to override",
  );
}

function notFound(cid: AnyCID): RpcError {
  return new RpcError(`block was not found locally (offline): ipld: could not find ${cid}`);
}

async function singleUpload(request: Request): Promise<Uint8Array> {
  const boundary = boundaryOf(request.headers.get("content-type"));
  if (boundary === undefined || request.body === null) {
    throw new RpcError("file argument 'data' is required", 400, 1);
  }
  for await (const part of readMultipart(streamChunks(request.body), boundary)) {
    return readAll(part.body);
  }
  throw new RpcError("file argument 'data' is required", 400, 1);
}

function copyOf(block: CarBlock) {
  // Multipart chunks may be views of a reused buffer.
  return { cid: block.cid, bytes: copyBytes(block.bytes) };
}

function json(value: unknown): Response {
  return new Response(`${JSON.stringify(value)}\n`, {
    headers: { "content-type": "application/json" },
  });
}

function ndjson(lines: unknown[]): Response {
  return new Response(lines.map((l) => `${JSON.stringify(l)}\n`).join(""), {
    headers: {
      "content-type": "application/json",
      "x-stream-output": "1",
      "x-chunked-output": "1",
    },
  });
}

function errorResponse(error: unknown): Response {
  if (error instanceof RpcError) {
    return new Response(
      JSON.stringify({ Message: error.message, Code: error.code, Type: "error" }),
      {
        status: error.status,
        headers: { "content-type": "application/json" },
      },
    );
  }
  const message = error instanceof Error ? error.message : String(error);
  const status = isStoreError(error, "Integrity") || isStoreError(error, "Config") ? 400 : 500;
  return new Response(
    JSON.stringify({ Message: message, Code: status === 400 ? 1 : 0, Type: "error" }),
    {
      status,
      headers: { "content-type": "application/json" },
    },
  );
}

/** A ReadableStream over an async iterable of bytes (Response bodies). */
export function toStream(chunks: AsyncIterable<Uint8Array>): ReadableStream<Uint8Array> {
  const iterator = chunks[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const next = await iterator.next();
        if (next.done) controller.close();
        else controller.enqueue(next.value);
      } catch (error) {
        controller.error(error);
      }
    },
    async cancel() {
      await iterator.return?.();
    },
  });
}
