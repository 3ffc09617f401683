/**
 * A loopback server of ours speaking the parts of the Cloud Storage JSON API that GcsStore
 * uses, shaped after Google's documentation (and observed answers, where the docs are silent):
 *
 * - `GET /storage/v1/b/{bucket}/o/{object}`: the object resource as JSON (`size` and
 *   `generation` as strings, as the API sends int64s); with `alt=media` the bytes, honouring
 *   `Range` (`a-b`, `a-`, `-n`) with 206 + `Content-Range`, 416 when it starts past the end;
 *   a missing object is 404 with JSON, or plain text "No such object: b/o" for `alt=media`;
 * - `POST /upload/storage/v1/b/{bucket}/o?uploadType=media&name=…`: one-request upload;
 * - `POST …?uploadType=resumable&name=…` → 200 + `Location` (the session URI); `PUT` chunks with
 *   `Content-Range: bytes a-b/total` (every chunk but the last a multiple of 256 KiB) → 308 with
 *   `Range: bytes=0-n` until the last → 200 with the resource; `bytes *\/total` asks for status;
 * - `ifGenerationMatch` (0 = must not exist) on uploads and reads → 412 `conditionNotMet`,
 *   checked when the object would be written (for resumable uploads: at the last chunk);
 * - `GET /storage/v1/b/{bucket}/o?prefix&delimiter&pageToken&maxResults` (≤ 1,000 per page,
 *   objects and prefixes both count) in code-point order;
 * - `DELETE /storage/v1/b/{bucket}/o/{object}` → 204, or 404;
 * - errors as `{"error": {"code", "message", "errors": [{"domain", "reason", "message"}]}}`:
 *   401 `authError` for a bad token, 401 `required` for anonymous callers of private buckets,
 *   403 `forbidden` for read-only tokens writing, 404 `notFound` for a missing bucket, and on
 *   request 429 `rateLimitExceeded` / 503 `backendError` with `Retry-After`.
 * Not implemented: multipart uploads, metadata updates, object versioning, compose, ACLs.
 */
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

interface StoredObject {
  bytes: Uint8Array;
  generation: number;
  metageneration: number;
  updated: Date;
}

interface UploadSession {
  bucket: string;
  name: string;
  condition: string | undefined;
  total: number | undefined;
  parts: Uint8Array[];
  received: number;
}

/** Options for `startGcsServer`. */
export interface GcsServerOptions {
  /** Buckets to create (empty). */
  buckets: string[];
  /** Tokens that may read and write. */
  tokens: string[];
  /** Tokens that may only read and list. */
  readOnlyTokens?: string[];
  /** Buckets anyone may read and list without a token. */
  publicBuckets?: string[];
}

/** A running loopback JSON API server. */
export interface GcsServer {
  /** The API root, e.g. `http://127.0.0.1:41234`. */
  endpoint: string;
  /** Bucket → object name → object. */
  buckets: Map<string, Map<string, StoredObject>>;
  /** Every request seen: method and path with query. */
  log: string[];
  /** Answers the next `count` requests with this status (429 or 503) and `Retry-After`. */
  throttle(count: number, status: 429 | 503, retryAfterSeconds: number): void;
  stop(): Promise<void>;
}

const QUANTUM = 256 * 1024;

/** Starts the server on a free loopback port. */
export async function startGcsServer(options: GcsServerOptions): Promise<GcsServer> {
  const buckets = new Map(options.buckets.map((name) => [name, new Map<string, StoredObject>()]));
  const sessions = new Map<string, UploadSession>();
  const log: string[] = [];
  let generation = 1_700_000_000_000_000;
  let throttle = { count: 0, status: 429 as 429 | 503, retryAfter: 1 };
  let endpoint = "";
  const publicBuckets = new Set(options.publicBuckets ?? []);
  const may = (access: Access, bucket: string, what: "read" | "write"): boolean => {
    if (access === "full") return true;
    if (access === "read") return what === "read";
    return what === "read" && publicBuckets.has(bucket);
  };

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const body = await readBody(request);
    const url = new URL(request.url ?? "/", "http://localhost");
    const method = request.method ?? "GET";
    log.push(`${method} ${url.pathname}${url.search}`);
    if (throttle.count > 0) {
      throttle.count -= 1;
      const reason = throttle.status === 429 ? "rateLimitExceeded" : "backendError";
      const message =
        throttle.status === 429
          ? "The rate of change requests to the object is too high."
          : "Backend Error";
      return sendError(response, throttle.status, reason, message, {
        "retry-after": String(throttle.retryAfter),
      });
    }
    const access = authorise(request.headers.authorization, options);
    if (access === "invalid") {
      return sendError(response, 401, "authError", "Invalid Credentials", {
        "www-authenticate": 'Bearer realm="https://accounts.google.com/"',
      });
    }

    const upload = /^\/upload\/storage\/v1\/b\/([^/]+)\/o$/.exec(url.pathname);
    if (upload) {
      const bucket = decodeURIComponent(upload[1] as string);
      const uploadId = url.searchParams.get("upload_id");
      if (method === "PUT" && uploadId) return putChunk(response, uploadId, request, body);
      if (method !== "POST")
        return sendError(response, 405, "methodNotAllowed", "Method not allowed");
      const objects = buckets.get(bucket);
      if (!objects) return noBucket(response);
      if (!may(access, bucket, "write")) return denied(response, access, "storage.objects.create");
      const name = url.searchParams.get("name");
      if (!name) return sendError(response, 400, "required", "Required parameter: name");
      const condition = url.searchParams.get("ifGenerationMatch") ?? undefined;
      const type = url.searchParams.get("uploadType");
      if (type === "media") {
        const failed = checkCondition(objects.get(name), condition);
        if (failed) return sendError(response, 412, "conditionNotMet", failed);
        return sendJson(response, 200, store(bucket, objects, name, body));
      }
      if (type === "resumable") {
        const id = randomUUID().replaceAll("-", "");
        const total = request.headers["x-upload-content-length"];
        sessions.set(id, {
          bucket,
          name,
          condition,
          total: total === undefined ? undefined : Number(total),
          parts: [],
          received: 0,
        });
        const location = `${endpoint}/upload/storage/v1/b/${encodeURIComponent(bucket)}/o?uploadType=resumable&name=${encodeURIComponent(name)}&upload_id=${id}`;
        response.writeHead(200, { location, "content-length": "0" }).end();
        return;
      }
      return sendError(response, 400, "invalidParameter", `Invalid upload type: ${type}`);
    }

    const list = /^\/storage\/v1\/b\/([^/]+)\/o$/.exec(url.pathname);
    if (list && method === "GET") {
      const bucket = decodeURIComponent(list[1] as string);
      const objects = buckets.get(bucket);
      if (!objects) return noBucket(response);
      if (!may(access, bucket, "read")) return denied(response, access, "storage.objects.list");
      return sendJson(response, 200, listPage(bucket, objects, url.searchParams));
    }

    const object = /^\/storage\/v1\/b\/([^/]+)\/o\/(.+)$/.exec(url.pathname);
    if (object) {
      const bucket = decodeURIComponent(object[1] as string);
      const name = decodeURIComponent(object[2] as string);
      const objects = buckets.get(bucket);
      const media = url.searchParams.get("alt") === "media";
      if (!objects)
        return media
          ? sendText(response, 404, "The specified bucket does not exist.")
          : noBucket(response);
      if (method === "DELETE") {
        if (!may(access, bucket, "write"))
          return denied(response, access, "storage.objects.delete");
        if (!objects.delete(name)) return noObject(response, bucket, name, false);
        response.writeHead(204).end();
        return;
      }
      if (method !== "GET")
        return sendError(response, 405, "methodNotAllowed", "Method not allowed");
      if (!may(access, bucket, "read")) return denied(response, access, "storage.objects.get");
      const found = objects.get(name);
      if (!found) return noObject(response, bucket, name, media);
      const failed = checkCondition(found, url.searchParams.get("ifGenerationMatch") ?? undefined);
      if (failed) return sendError(response, 412, "conditionNotMet", failed);
      if (!media) return sendJson(response, 200, resource(bucket, name, found));
      return sendMedia(response, found, request.headers.range);
    }
    return sendError(response, 404, "notFound", "Not Found");
  };

  function store(
    bucket: string,
    objects: Map<string, StoredObject>,
    name: string,
    bytes: Uint8Array,
  ): Record<string, unknown> {
    generation += 1;
    const entry = { bytes, generation, metageneration: 1, updated: new Date() };
    objects.set(name, entry);
    return resource(bucket, name, entry);
  }

  function putChunk(
    response: ServerResponse,
    id: string,
    request: IncomingMessage,
    body: Uint8Array,
  ) {
    const session = sessions.get(id);
    if (!session) return sendError(response, 404, "notFound", "No such upload session");
    const range = request.headers["content-range"] ?? "";
    const status = /^bytes \*\/(\d+|\*)$/.exec(range);
    const chunk = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(range);
    if (!status && !chunk) return sendError(response, 400, "invalid", "Invalid Content-Range");
    const totalText = (status?.[1] ?? chunk?.[3]) as string;
    const total = totalText === "*" ? session.total : Number(totalText);
    if (chunk) {
      const start = Number(chunk[1]);
      const end = Number(chunk[2]);
      if (start !== session.received || end - start + 1 !== body.byteLength) {
        return sendError(
          response,
          400,
          "invalid",
          "Content-Range does not match the bytes received so far",
        );
      }
      const last = total !== undefined && end + 1 === total;
      if (!last && body.byteLength % QUANTUM !== 0) {
        return sendError(
          response,
          400,
          "invalid",
          "Chunks must be a multiple of 256 KiB, except the last",
        );
      }
      session.parts.push(body);
      session.received += body.byteLength;
    }
    if (total !== undefined && session.received === total) {
      const objects = buckets.get(session.bucket) as Map<string, StoredObject>;
      sessions.delete(id);
      const failed = checkCondition(objects.get(session.name), session.condition);
      if (failed) return sendError(response, 412, "conditionNotMet", failed);
      return sendJson(
        response,
        200,
        store(session.bucket, objects, session.name, concat(session.parts)),
      );
    }
    const headers: Record<string, string> = { "content-length": "0" };
    if (session.received > 0) headers.range = `bytes=0-${session.received - 1}`;
    response.writeHead(308, headers).end();
  }

  const server: Server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      if (!response.headersSent) sendError(response, 500, "backendError", String(error));
    });
  });
  // Node closes idle keep-alive sockets after 5 s; a client reusing one just then gets a reset.
  server.keepAliveTimeout = 120_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    endpoint,
    buckets,
    log,
    throttle(count, status, retryAfterSeconds) {
      throttle = { count, status, retryAfter: retryAfterSeconds };
    },
    stop: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

type Access = "full" | "read" | "anonymous" | "invalid";

function authorise(header: string | undefined, options: GcsServerOptions): Access {
  if (header === undefined) return "anonymous";
  const match = /^Bearer (.+)$/.exec(header);
  if (!match) return "invalid";
  const token = match[1] as string;
  if (options.tokens.includes(token)) return "full";
  if (options.readOnlyTokens?.includes(token)) return "read";
  return "invalid";
}

function denied(response: ServerResponse, access: Access, permission: string) {
  if (access === "anonymous") {
    return sendError(
      response,
      401,
      "required",
      `Anonymous caller does not have ${permission} access to the Google Cloud Storage object. Permission '${permission}' denied on resource (or it may not exist).`,
    );
  }
  return sendError(
    response,
    403,
    "forbidden",
    `reader@example.iam.gserviceaccount.com does not have ${permission} access to the Google Cloud Storage object. Permission '${permission}' denied on resource (or it may not exist).`,
  );
}

function checkCondition(
  found: StoredObject | undefined,
  condition: string | undefined,
): string | undefined {
  if (condition === undefined) return undefined;
  const current = found?.generation ?? 0;
  return String(current) === condition
    ? undefined
    : "At least one of the pre-conditions you specified did not hold.";
}

function resource(bucket: string, name: string, object: StoredObject): Record<string, unknown> {
  return {
    kind: "storage#object",
    id: `${bucket}/${name}/${object.generation}`,
    name,
    bucket,
    generation: String(object.generation),
    metageneration: String(object.metageneration),
    contentType: "application/octet-stream",
    size: String(object.bytes.byteLength),
    updated: object.updated.toISOString(),
    etag: Buffer.from(String(object.generation)).toString("base64"),
  };
}

function listPage(
  bucket: string,
  objects: Map<string, StoredObject>,
  params: URLSearchParams,
): Record<string, unknown> {
  const prefix = params.get("prefix") ?? "";
  const delimiter = params.get("delimiter") ?? undefined;
  const max = Math.min(1000, Math.max(1, Number(params.get("maxResults") ?? 1000)));
  const after = params.get("pageToken")
    ? Buffer.from(params.get("pageToken") as string, "base64url").toString()
    : undefined;
  const names = [...objects.keys()].filter((name) => name.startsWith(prefix)).sort(compare);
  const items: Record<string, unknown>[] = [];
  const prefixes: string[] = [];
  let last: string | undefined;
  let more = false;
  for (const name of names) {
    const cut = delimiter === undefined ? -1 : name.indexOf(delimiter, prefix.length);
    const entry = cut === -1 ? name : name.slice(0, cut + (delimiter as string).length);
    if (after !== undefined && compare(entry, after) <= 0) continue;
    if (entry === last) continue;
    if (items.length + prefixes.length === max) {
      more = true;
      break;
    }
    if (cut === -1) items.push(resource(bucket, name, objects.get(name) as StoredObject));
    else prefixes.push(entry);
    last = entry;
  }
  const page: Record<string, unknown> = { kind: "storage#objects" };
  if (items.length > 0) page.items = items;
  if (prefixes.length > 0) page.prefixes = prefixes;
  if (more && last !== undefined) page.nextPageToken = Buffer.from(last).toString("base64url");
  return page;
}

function sendMedia(
  response: ServerResponse,
  object: StoredObject,
  range: string | undefined,
): void {
  const size = object.bytes.byteLength;
  const headers: Record<string, string> = {
    "content-type": "application/octet-stream",
    "x-goog-generation": String(object.generation),
    "x-goog-metageneration": String(object.metageneration),
    "x-goog-stored-content-length": String(size),
    "accept-ranges": "bytes",
  };
  const match = range ? /^bytes=(\d*)-(\d*)$/.exec(range) : null;
  if (!match || (match[1] === "" && match[2] === "")) {
    response.writeHead(200, { ...headers, "content-length": String(size) }).end(object.bytes);
    return;
  }
  let start: number;
  let end: number;
  if (match[1] === "") {
    start = Math.max(0, size - Number(match[2]));
    end = size - 1;
  } else {
    start = Number(match[1]);
    end = match[2] === "" ? size - 1 : Math.min(size - 1, Number(match[2]));
  }
  if (start >= size) {
    response
      .writeHead(416, {
        "content-range": `bytes */${size}`,
        "content-type": "text/html; charset=UTF-8",
      })
      .end("Request range not satisfiable");
    return;
  }
  response
    .writeHead(206, {
      ...headers,
      "content-range": `bytes ${start}-${end}/${size}`,
      "content-length": String(end - start + 1),
    })
    .end(object.bytes.subarray(start, end + 1));
}

function noBucket(response: ServerResponse): void {
  sendError(response, 404, "notFound", "The specified bucket does not exist.");
}

// Google answers a missing object's media with plain text, its metadata with JSON.
function noObject(response: ServerResponse, bucket: string, name: string, media: boolean) {
  const message = `No such object: ${bucket}/${name}`;
  if (media) return sendText(response, 404, message);
  return sendError(response, 404, "notFound", message);
}

function sendError(
  response: ServerResponse,
  status: number,
  reason: string,
  message: string,
  headers: Record<string, string> = {},
): void {
  sendJson(
    response,
    status,
    { error: { code: status, message, errors: [{ message, domain: "global", reason }] } },
    headers,
  );
}

function sendJson(
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  response
    .writeHead(status, {
      ...headers,
      "content-type": "application/json; charset=UTF-8",
      "content-length": String(Buffer.byteLength(text)),
    })
    .end(text);
}

function sendText(response: ServerResponse, status: number, text: string): void {
  response
    .writeHead(status, {
      "content-type": "text/html; charset=UTF-8",
      "content-length": String(Buffer.byteLength(text)),
    })
    .end(text);
}

async function readBody(request: IncomingMessage): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return concat(chunks);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, part) => n + part.byteLength, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.byteLength;
  }
  return out;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
