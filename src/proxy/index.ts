/**
 * The rechunking proxy: serves Zarr stores over HTTP in the chunk shapes clients ask for.
 *
 * `createRechunkProxy(options)` returns a plain `(Request) => Promise<Response>` handler with
 * nothing Node-only in it (`zarrstore/proxy/node` runs it on Node). Named mounts come first,
 * then `/{host}/{path}` for allow-listed hosts; `/`, `/health` and `/metrics` are reserved.
 * Chunk overrides come from the `chunks` header (the seed's grammar, names may be paths) or
 * from a path segment right after the store address (`/air/@chunks=air=256,256/…`), which
 * lets clients that set no headers open the variant as a plain store URL.
 *
 * @example
 * const proxy = createRechunkProxy({ mounts: { air: "memory://" } });
 * const response = await proxy(new Request("http://proxy/air/.zmetadata", {
 *   headers: { chunks: "air=256,256" },
 * }));
 */
import { type AbsolutePath, type Prefix, parentOf } from "../keys.js";
import { type OpenOptions, openStore as openNeutral } from "../open.js";
import type { Store } from "../store.js";
import { assembleChunk, type SourceChunk } from "./assemble.js";
import { BufferPool } from "./buffers.js";
import { ByteLruCache, type CachedDoc, type CacheStats, MetadataCache } from "./cache.js";
import { type PlannedChunk, parseServedChunkKey } from "./chunk-key.js";
import { type ChunkOverrides, parseChunksSpec } from "./chunks-header.js";
import {
  type ByteCodec,
  type Decompressors,
  defaultDecompressors,
  loadNumcodec,
} from "./codecs.js";
import { badRequest, notFound, ProxyError, toProxyError } from "./errors.js";
import { combine, hashBytes } from "./hash.js";
import {
  bodyResponse,
  type CorsOptions,
  corsHeaders,
  etag,
  jsonResponse,
  notModified,
  type ProxyRequest,
  type ProxyResponse,
  pathOf,
  preflight,
  toResponse,
} from "./http.js";
import {
  type ProxyLimits,
  type ProxyLimitsInit,
  parseByteSize,
  resolveLimits,
  Semaphore,
} from "./limits.js";
import {
  describeV2Source,
  describeV3Source,
  rewriteZarrJson,
  rewriteZmetadata,
  type ServeContext,
  type ServedArray,
  type SourceArray,
  serveArray,
  servedArrayDocument,
} from "./metadata.js";
import { MetricsRegistry } from "./metrics.js";
import {
  type AllowedHost,
  type CodecChoice,
  checkMountName,
  parseAllowEntry,
  parseRoute,
  type Route,
  type RouteTable,
  type StoreRef,
} from "./routes.js";
import { createSourceReader, type SourceReader } from "./source.js";

export { type ChunkOverrides, formatChunksSpec, parseChunksSpec } from "./chunks-header.js";
export type { ProxyRequest, ProxyResponse } from "./http.js";
export { type ProxyLimits, type ProxyLimitsInit, parseByteSize } from "./limits.js";

/** Options for `createRechunkProxy`. */
export interface RechunkProxyOptions {
  /** Named mounts: a store, or a URL `openStore` opens (`./data/air.zarr`, `s3://bucket/x.zarr`). */
  mounts?: Record<string, Store | string>;
  /**
   * Upstream hosts clients may reach as `/{host}/{path}`: `host`, `host:port`, `https://host`
   * (all over https) or `http://host:port` (plain http, only when written so).
   */
  allow?: readonly string[];
  /** Opens mount URLs and allowed hosts (default: the runtime-neutral `openStore`). */
  openStore?: (url: string, options?: OpenOptions) => Promise<Store>;
  /** Require `Authorization: Bearer <token>` on every route but `/health` and preflights. */
  token?: string;
  /**
   * Bytes of memory for caches (default 256 MiB; `512mb`, `1GiB` work too): decoded source
   * chunks, and a quarter of it (see `servedCacheBytes`) for assembled served chunks.
   */
  cacheBytes?: number | string;
  /**
   * Of `cacheBytes`, how much holds assembled served chunks, so that a popular chunk is copied
   * together once, not on every request (default a quarter; 0 turns it off).
   */
  servedCacheBytes?: number | string;
  /** How long metadata is served before the store is asked again (default 5,000 ms). */
  metadataTtlMs?: number;
  limits?: ProxyLimitsInit;
  /** Where `ZARR_PROXY_PAYLOAD_SIZE_LIMIT` is read from (default: `process.env` where there is one). */
  env?: Record<string, string | undefined>;
  /** Faster decompressors by codec name (Node passes `node:zlib` ones; see `zarrstore/proxy/node`). */
  decompressors?: Decompressors;
  cors?: CorsOptions;
  /** `Cache-Control` of metadata (default `no-cache`: revalidate, cheap with ETags) and chunks. */
  cacheControl?: { metadata?: string; chunks?: string };
  /** The clock (tests pass their own). */
  now?: () => number;
  /** An HTML page answered at `/` to browsers (`Accept: text/html`); others get the JSON index. */
  page?: string;
}

/** Counters for `/metrics` and tests. */
export interface ProxyStats {
  /** Decoded source chunks. */
  chunks: CacheStats;
  /** Assembled served chunks. */
  served: CacheStats;
  metadata: { entries: number; reads: number; changes: number };
  inflight: number;
}

/** The proxy: a fetch-style handler with a plain-object core and housekeeping. */
export interface RechunkProxy {
  (request: Request): Promise<Response>;
  /** The same handler over plain objects (what `serve` on Node calls, skipping `Request`). */
  handle(request: ProxyRequest): Promise<ProxyResponse>;
  stats(): ProxyStats;
  /** Drops every cached source chunk and metadata document. */
  clearCache(): void;
  /** Closes the stores the proxy opened itself (mount URLs and upstream hosts). */
  close(): Promise<void>;
}

// 256 MiB: 1,000 source chunks of 256 KiB, enough for a working set of several datasets.
const DEFAULT_CACHE_BYTES = 256 * 1024 * 1024;
// 5 s: a rewritten dataset shows up within seconds, and a busy proxy reads metadata rarely.
const DEFAULT_METADATA_TTL_MS = 5_000;
const DEFAULT_CHUNK_CACHE_CONTROL = "public, max-age=300";
const METADATA_NAMES = new Set([".zmetadata", ".zarray", ".zattrs", ".zgroup", "zarr.json"]);
// Chunk key segments: digits, dots and v3's `c`.
const CHUNKISH = /^(c|\d+)(\.(c|\d+))*$/;
const MAX_RANK = 32;

/**
 * Creates the rechunking proxy handler.
 *
 * @example
 * const proxy = createRechunkProxy({ mounts: { air: store }, allow: ["data.example.org"] });
 */
export function createRechunkProxy(options: RechunkProxyOptions = {}): RechunkProxy {
  const core = new ProxyCore(options);
  const handler = async (request: Request): Promise<Response> =>
    toResponse(await core.handle(request));
  return Object.assign(handler, {
    handle: (request: ProxyRequest) => core.handle(request),
    stats: () => core.stats(),
    clearCache: () => core.clearCache(),
    close: () => core.close(),
  });
}

/** A store as the proxy holds it. */
interface StoreSlot {
  id: string;
  ref: StoreRef;
  /** The first segment(s) clients use for a root array's name. */
  name: string;
  store: Promise<Store>;
  owned: boolean;
  /** Which metadata name this store answered last, to ask for it first next time. */
  prefersV3: boolean;
}

class ProxyCore {
  readonly #options: RechunkProxyOptions;
  readonly #limits: ProxyLimits;
  readonly #table: RouteTable;
  readonly #hosts: Map<string, AllowedHost>;
  readonly #slots = new Map<string, StoreSlot>();
  readonly #chunks: ByteLruCache<SourceChunk>;
  readonly #served: ByteLruCache<ServedBody>;
  readonly #metadata: MetadataCache;
  readonly #upstream: Semaphore;
  readonly #metrics = new MetricsRegistry();
  readonly #decompressors: Decompressors;
  readonly #cors: CorsOptions;
  readonly #openStore: (url: string, options?: OpenOptions) => Promise<Store>;
  readonly #specs = new Map<string, ChunkOverrides>();
  readonly #routes = new Map<string, Route>();
  readonly #servedForms = new WeakMap<SourceArray, Map<string, ServedArray>>();
  readonly #encoders = new Map<number, Promise<ByteCodec>>();
  // 64 MiB of idle response buffers: 256 of the usual 256 KiB chunks.
  readonly #buffers = new BufferPool(64 * 1024 * 1024);
  readonly #chunkCacheControl: string;
  readonly #metadataCacheControl: string;
  #inflight = 0;

  constructor(options: RechunkProxyOptions) {
    this.#options = options;
    const env = options.env ?? processEnv();
    this.#limits = resolveLimits(options.limits, env);
    this.#openStore = options.openStore ?? openNeutral;
    this.#decompressors = { ...defaultDecompressors(), ...options.decompressors };
    this.#cors = options.cors ?? {};
    this.#chunkCacheControl = options.cacheControl?.chunks ?? DEFAULT_CHUNK_CACHE_CONTROL;
    this.#metadataCacheControl = options.cacheControl?.metadata ?? "no-cache";
    const cacheBytes = parseByteSize(options.cacheBytes ?? DEFAULT_CACHE_BYTES, "cache size");
    const servedBytes = Math.min(
      cacheBytes,
      parseByteSize(options.servedCacheBytes ?? Math.floor(cacheBytes / 4), "served cache size"),
    );
    this.#chunks = new ByteLruCache(cacheBytes - servedBytes);
    this.#served = new ByteLruCache(servedBytes);
    this.#metadata = new MetadataCache({
      ttlMs: options.metadataTtlMs ?? DEFAULT_METADATA_TTL_MS,
      maxEntries: 10_000,
      now: options.now,
    });
    this.#upstream = new Semaphore(this.#limits.upstreamConcurrency);
    for (const [name, store] of Object.entries(options.mounts ?? {})) {
      checkMountName(name);
      const owned = typeof store === "string";
      this.#slots.set(`mount:${name}`, {
        id: `mount:${name}`,
        ref: { kind: "mount", name },
        name,
        store: owned ? this.#open(store, name) : Promise.resolve(store),
        owned,
        prefersV3: false,
      });
    }
    this.#hosts = new Map();
    for (const entry of options.allow ?? []) {
      const host = parseAllowEntry(entry);
      if (this.#slots.has(`mount:${host.address}`)) {
        throw badRequest(`the allowed host ${host.address} has the name of a mount`);
      }
      this.#hosts.set(host.address, host);
    }
    this.#table = {
      mounts: new Set(Object.keys(options.mounts ?? {})),
      hosts: this.#hosts,
    };
  }

  async handle(request: ProxyRequest): Promise<ProxyResponse> {
    const started = this.#metrics.now();
    let kind = "other";
    let response: ProxyResponse;
    this.#inflight++;
    try {
      const route = this.#route(request);
      kind = route === undefined ? "preflight" : route.kind;
      response =
        route === undefined
          ? preflight(this.#cors)
          : await this.#dispatch(request, route, (k) => {
              kind = k;
            });
    } catch (error) {
      response = this.#errorResponse(error);
    } finally {
      this.#inflight--;
    }
    response.headers = { ...corsHeaders(this.#cors), ...response.headers };
    this.#metrics.observe(kind, response, started);
    return response;
  }

  stats(): ProxyStats {
    return {
      chunks: this.#chunks.stats(),
      served: this.#served.stats(),
      metadata: this.#metadata.stats(),
      inflight: this.#inflight,
    };
  }

  clearCache(): void {
    this.#chunks.clear();
    this.#served.clear();
    this.#metadata.clear();
  }

  async close(): Promise<void> {
    const owned = [...this.#slots.values()].filter((s) => s.owned);
    this.#slots.clear();
    await Promise.all(
      owned.map(async (slot) => {
        const store = await slot.store.catch(() => undefined);
        await store?.close();
      }),
    );
  }

  // ---- routing ----

  // The route, or `undefined` for an OPTIONS request (answered before auth, as CORS requires).
  #route(request: ProxyRequest): Route | undefined {
    const method = request.method.toUpperCase();
    if (method === "OPTIONS") return undefined;
    if (method !== "GET" && method !== "HEAD") {
      throw new ProxyError(405, `the proxy only reads: ${method} is not allowed`, {
        allow: "GET, HEAD, OPTIONS",
      });
    }
    const route = this.#parseRoute(pathOf(request.url));
    if (route.kind !== "health") this.#authorize(request);
    return route;
  }

  // Routes are pure functions of the path: the few thousand paths of a busy dataset are parsed once.
  #parseRoute(path: string): Route {
    let route = this.#routes.get(path);
    if (route === undefined) {
      route = parseRoute(path, this.#table);
      if (this.#routes.size >= 4096) this.#routes.clear();
      this.#routes.set(path, route);
    }
    return route;
  }

  #authorize(request: ProxyRequest): void {
    const token = this.#options.token;
    if (token === undefined) return;
    const header = request.headers.get("authorization") ?? "";
    const given = /^Bearer\s+(.+)$/i.exec(header.trim())?.[1] ?? "";
    if (!sameText(given, token)) {
      throw new ProxyError(
        401,
        header ? "the bearer token is not valid" : "this proxy needs Authorization: Bearer <token>",
        { "www-authenticate": 'Bearer realm="zarrstore"' },
      );
    }
  }

  async #dispatch(
    request: ProxyRequest,
    route: Route,
    setKind: (kind: string) => void,
  ): Promise<ProxyResponse> {
    if (route.kind === "health") return jsonResponse(200, { status: "ok" }, NO_STORE);
    if (route.kind === "metrics") {
      const body = new TextEncoder().encode(this.#metrics.render(this.stats()));
      return {
        status: 200,
        headers: { "content-type": "text/plain; version=0.0.4", ...NO_STORE },
        body: request.method === "HEAD" ? undefined : body,
      };
    }
    if (route.kind === "index" && this.#options.page !== undefined) {
      if (request.headers.get("accept")?.includes("text/html")) {
        const body = new TextEncoder().encode(this.#options.page);
        return bodyResponse(request, body, {
          "content-type": "text/html; charset=utf-8",
          ...NO_STORE,
        });
      }
    }
    if (route.kind === "index") return jsonResponse(200, this.#index(), NO_STORE);
    if (this.#inflight > this.#limits.maxConcurrentRequests) {
      throw new ProxyError(503, "the proxy is busy: try again shortly", { "retry-after": "1" });
    }
    const response = await withTimeout(
      this.#storeRequest(request, route, setKind),
      this.#limits.requestTimeoutMs,
    );
    response.headers.vary = "chunks";
    return response;
  }

  #index(): unknown {
    return {
      service: "zarrstore rechunking proxy",
      mounts: [...this.#table.mounts].sort(),
      allowedHosts: [...this.#hosts.values()].map((h) => `${h.scheme}://${h.address}`),
      usage: [
        "GET /{mount}/{key} or /{host}/{path}/{key} for allowed hosts",
        "header 'chunks: name=n1,n2,…' or path segment /{store}/@chunks=name=n1,n2,…/{key}",
        "path segment @codec=zstd re-encodes served chunks",
      ],
    };
  }

  // ---- store requests ----

  async #storeRequest(
    request: ProxyRequest,
    route: Extract<Route, { kind: "store" }>,
    setKind: (kind: string) => void,
  ): Promise<ProxyResponse> {
    const key = route.key;
    if (key === undefined) {
      throw notFound(
        `${route.base} is a store address: request a key under it, such as ${route.base}/.zmetadata`,
      );
    }
    const slot = this.#slot(route.store);
    const context = this.#context(request, route, slot);
    const name = key.slice(key.lastIndexOf("/") + 1);
    if (METADATA_NAMES.has(name)) {
      setKind("metadata");
      return this.#metadataRequest(request, slot, key, name, context);
    }
    const found = await this.#findArray(slot, key);
    if (found !== undefined && found.source.decode.kind !== "none") {
      setKind("chunk");
      return this.#chunkRequest(request, slot, found.source, found.name, context);
    }
    setKind("raw");
    return this.#rawRequest(request, slot, key);
  }

  #context(
    request: ProxyRequest,
    route: Extract<Route, { kind: "store" }>,
    slot: StoreSlot,
  ): ServeContext {
    const header = request.headers.get("chunks")?.trim() ?? "";
    const path = route.chunksSpec?.trim() ?? "";
    if (header !== "" && path !== "") {
      throw badRequest(
        "chunk overrides came both in the chunks header and in an @chunks= path segment: use one",
      );
    }
    const spec = header || path;
    const overrides = spec === "" ? EMPTY_OVERRIDES : this.#parseSpec(spec, header !== "");
    return {
      specKey: spec,
      overrides,
      codec: route.codec,
      limits: this.#limits,
      matchPath: (prefix: Prefix) => (prefix === "/" ? `/${slot.name}` : prefix.slice(0, -1)),
    };
  }

  // The served form of an array for a request's overrides, computed once per spec and version.
  #serve(source: SourceArray, context: ServeContext): ServedArray {
    let forms = this.#servedForms.get(source);
    if (forms === undefined) {
      forms = new Map();
      this.#servedForms.set(source, forms);
    }
    const key = `${context.specKey}|${context.codec ? context.codec.level : ""}`;
    let served = forms.get(key);
    if (served === undefined) {
      served = serveArray(source, context);
      if (forms.size >= 64) forms.clear();
      forms.set(key, served);
    }
    return served;
  }

  #parseSpec(spec: string, fromHeader: boolean): ChunkOverrides {
    const cacheKey = `${fromHeader ? "h" : "p"}${spec}`;
    let overrides = this.#specs.get(cacheKey);
    if (overrides === undefined) {
      overrides = parseChunksSpec(spec, fromHeader ? "chunks header" : "@chunks= path segment");
      if (this.#specs.size >= 256) this.#specs.clear();
      this.#specs.set(cacheKey, overrides);
    }
    return overrides;
  }

  async #metadataRequest(
    request: ProxyRequest,
    slot: StoreSlot,
    key: AbsolutePath,
    name: string,
    context: ServeContext,
  ): Promise<ProxyResponse> {
    const prefix = parentOf(key);
    const doc = await this.#doc(slot, key);
    if (doc.bytes === undefined) throw notFound(`no ${name} at ${key}`);
    let body: Uint8Array = doc.bytes;
    if (name === ".zmetadata") {
      body = encodeJson(rewriteZmetadata(parseJson(doc.bytes, key), prefix, context));
    } else if (name === ".zarray") {
      const source = this.#sourceFrom(slot, prefix, "v2", doc) as SourceArray;
      const served = this.#serve(source, context);
      if (served.rechunked) body = encodeJson(servedArrayDocument(served));
    } else if (name === "zarr.json") {
      const rewritten = rewriteZarrJson(
        parseJson(doc.bytes, key),
        doc.bytes,
        doc.hash,
        prefix,
        context,
      );
      body = encodeJson(rewritten);
    }
    return bodyResponse(request, body, {
      "content-type": "application/json",
      "cache-control": this.#metadataCacheControl,
      etag: etag("m", hashBytes(body), hashBytes(body, 0x9e3779b9)),
    });
  }

  async #chunkRequest(
    request: ProxyRequest,
    slot: StoreSlot,
    source: SourceArray,
    name: string,
    context: ServeContext,
  ): Promise<ProxyResponse> {
    const served = this.#serve(source, context);
    const planned = parseServedChunkKey(served, name);
    const entries = await this.#loadSources(slot, source, planned, request.signal);
    let h1 = combine(served.tag, 0x63686e6b);
    let h2 = combine(served.tag, 0x9e3779b9);
    for (const c of planned.coords) {
      h1 = combine(h1, c);
      h2 = combine(h2, c ^ 0x5bd1e995);
    }
    for (const entry of entries) {
      h1 = combine(h1, entry.id);
      h2 = combine(h2, entry.id ^ 0x27d4eb2f);
    }
    const tag = etag("c", h1, h2);
    const headers = {
      "content-type": "application/octet-stream",
      "cache-control": this.#chunkCacheControl,
      etag: tag,
    };
    if (notModified(request.headers.get("if-none-match"), tag)) {
      return { status: 304, headers, body: undefined };
    }
    const layout = {
      chunks: served.chunks,
      order: source.order,
      itemSize: source.itemSize,
      fill: source.fill,
    };
    // The ETag names the exact bytes, so it is the key of the served-chunk cache.
    const cacheable = served.chunkBytes <= this.#served.stats().maxBytes;
    if (cacheable) {
      const body = await this.#served.load(tag, async () => {
        const raw = assembleChunk(planned.plan, layout, source.sourceChunks, entries);
        const bytes = served.codec === undefined ? raw : await this.#encode(served.codec, raw);
        return { bytes, size: bytes.byteLength };
      });
      return bodyResponse(request, body.bytes, headers);
    }
    // Too large to keep: assemble into a pooled buffer, handed back once it is written.
    const buffer = this.#buffers.acquire(served.chunkBytes);
    const raw = assembleChunk(planned.plan, layout, source.sourceChunks, entries, buffer);
    if (served.codec !== undefined) {
      const encoded = await this.#encode(served.codec, raw);
      this.#buffers.release(raw);
      return bodyResponse(request, encoded, headers);
    }
    const response = bodyResponse(request, raw, headers);
    response.release = () => this.#buffers.release(raw);
    return response;
  }

  async #loadSources(
    slot: StoreSlot,
    source: SourceArray,
    planned: PlannedChunk,
    signal: AbortSignal | undefined,
  ): Promise<SourceChunk[]> {
    const reader = await this.#reader(slot, source);
    const base = `${slot.id}|${source.node.prefix}|${source.hash}|`;
    const loads: (SourceChunk | Promise<SourceChunk>)[] = [];
    let pending = false;
    for (const coords of planned.plan.sources) {
      const value = this.#chunks.load(base + coords.join(","), () =>
        this.#upstream.run(() => reader.read(coords, timeoutSignal(this.#limits.requestTimeoutMs))),
      );
      if (value instanceof Promise) pending = true;
      loads.push(value);
    }
    void signal;
    return pending ? Promise.all(loads) : (loads as SourceChunk[]);
  }

  async #reader(slot: StoreSlot, source: SourceArray): Promise<SourceReader> {
    const store = await slot.store;
    const memo = this.#readers.get(source);
    if (memo !== undefined) return memo;
    const reader = createSourceReader(store, source, this.#decompressors);
    this.#readers.set(source, reader);
    return reader;
  }

  readonly #readers = new WeakMap<SourceArray, SourceReader>();

  async #rawRequest(
    request: ProxyRequest,
    slot: StoreSlot,
    key: AbsolutePath,
  ): Promise<ProxyResponse> {
    const store = await slot.store;
    const bytes = await store.get(key, { signal: request.signal });
    if (bytes === undefined) throw notFound(`no value at ${key}`);
    return bodyResponse(request, bytes, {
      "content-type": "application/octet-stream",
      "cache-control": this.#chunkCacheControl,
      etag: etag("r", hashBytes(bytes), hashBytes(bytes, 0x9e3779b9)),
    });
  }

  async #encode(codec: CodecChoice, bytes: Uint8Array): Promise<Uint8Array> {
    let encoder = this.#encoders.get(codec.level);
    if (encoder === undefined) {
      encoder = loadNumcodec("zstd", { level: codec.level });
      this.#encoders.set(codec.level, encoder);
    }
    return (await encoder).encode(bytes);
  }

  // ---- arrays and metadata ----

  /**
   * Finds the array a key belongs to: a folder holding array metadata such that the rest of
   * the key looks like a chunk key. A key whose last segment is not chunk-like but
   * whose folder is an array is a 400 (a bad chunk key), not a raw read.
   */
  async #findArray(
    slot: StoreSlot,
    key: AbsolutePath,
  ): Promise<{ source: SourceArray; name: string } | undefined> {
    const segments = key.slice(1).split("/");
    const n = segments.length;
    // Arrays are leaves, so the shallowest folder below which every segment is chunk-like is
    // tried first (one lookup for the usual keys, however many dimensions they have).
    let first = n;
    while (first > 0 && n - first < MAX_RANK + 1 && CHUNKISH.test(segments[first - 1] as string)) {
      first--;
    }
    for (let j = first; j < n; j++) {
      const prefix = prefixOf(segments, j);
      const source = await this.#sourceAt(slot, prefix);
      if (source !== undefined) return { source, name: segments.slice(j).join("/") };
    }
    const parent = prefixOf(segments, n - 1);
    const owner = await this.#sourceAt(slot, parent);
    if (owner !== undefined && owner.decode.kind !== "none") {
      throw badRequest(
        `${key} is not a chunk key of the array ${parent}: ${JSON.stringify(segments[n - 1])} is not a chunk index`,
      );
    }
    return undefined;
  }

  async #sourceAt(slot: StoreSlot, prefix: Prefix): Promise<SourceArray | undefined> {
    const order: ("v2" | "v3")[] = slot.prefersV3 ? ["v3", "v2"] : ["v2", "v3"];
    for (const version of order) {
      const name = version === "v2" ? ".zarray" : "zarr.json";
      const key = `${prefix}${name}` as AbsolutePath;
      const doc = await this.#doc(slot, key);
      if (doc.bytes === undefined) continue;
      slot.prefersV3 = version === "v3";
      return this.#sourceFrom(slot, prefix, version, doc);
    }
    return undefined;
  }

  // The source array a metadata document describes (`undefined` for a v3 group), memoised on
  // the document so that it is parsed once per version.
  #sourceFrom(
    slot: StoreSlot,
    prefix: Prefix,
    version: "v2" | "v3",
    doc: CachedDoc,
  ): SourceArray | undefined {
    if (doc.memo.has("source")) return doc.memo.get("source") as SourceArray | undefined;
    const bytes = doc.bytes as Uint8Array;
    const key = `${prefix}${version === "v2" ? ".zarray" : "zarr.json"}`;
    const json = parseJson(bytes, key);
    const matchPath = prefix === "/" ? `/${slot.name}` : prefix.slice(0, -1);
    const source =
      version === "v2"
        ? describeV2Source(json, bytes, doc.hash, prefix, matchPath)
        : describeV3Source(json, bytes, doc.hash, prefix, matchPath);
    doc.memo.set("source", source);
    return source;
  }

  async #doc(slot: StoreSlot, key: AbsolutePath) {
    return this.#metadata.get(`${slot.id}|${key}`, async () => {
      const store = await slot.store;
      return store.get(key, { signal: timeoutSignal(this.#limits.requestTimeoutMs) });
    });
  }

  #slot(ref: StoreRef): StoreSlot {
    const id = ref.kind === "mount" ? `mount:${ref.name}` : `host:${ref.address}`;
    let slot = this.#slots.get(id);
    if (slot === undefined && ref.kind === "host") {
      const url = `${ref.scheme}://${ref.address}/`;
      slot = {
        id,
        ref,
        name: ref.address,
        store: this.#open(url, ref.address),
        owned: true,
        prefersV3: false,
      };
      this.#slots.set(id, slot);
    }
    if (slot === undefined) throw notFound(`no store ${id}`);
    return slot;
  }

  #open(url: string, name: string): Promise<Store> {
    const opened = this.#openStore(url, { readOnly: true }).catch((error: unknown) => {
      // Forget a store that failed to open so the next request tries again.
      for (const [id, slot] of this.#slots) if (slot.store === opened) this.#slots.delete(id);
      throw new ProxyError(
        502,
        `cannot open the store behind ${name}: ${error instanceof Error ? error.message : String(error)}`,
        {},
        error,
      );
    });
    opened.catch(() => {});
    return opened;
  }

  #errorResponse(error: unknown): ProxyResponse {
    const failure = toProxyError(error);
    return jsonResponse(
      failure.status,
      { message: failure.message },
      {
        ...NO_STORE,
        ...failure.headers,
      },
    );
  }
}

const NO_STORE = { "cache-control": "no-store" };

/** An assembled served chunk (re-encoded when asked), as cached. */
interface ServedBody {
  bytes: Uint8Array;
  size: number;
}
const EMPTY_OVERRIDES: ChunkOverrides = new Map();
const encoder = new TextEncoder();
const decoder = new TextDecoder();

function encodeJson(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value, null, 2));
}

function parseJson(bytes: Uint8Array, key: string): unknown {
  try {
    return JSON.parse(decoder.decode(bytes));
  } catch {
    throw new ProxyError(502, `upstream ${key} is not valid JSON`);
  }
}

function prefixOf(segments: readonly string[], count: number): Prefix {
  return count === 0 ? "/" : (`/${segments.slice(0, count).join("/")}/` as Prefix);
}

// Compares without stopping at the first difference, so timing tells nothing about the token.
function sameText(a: string, b: string): boolean {
  let diff = a.length ^ b.length;
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    diff |= (a.charCodeAt(i) || 0) ^ (b.charCodeAt(i) || 0);
  }
  return diff === 0;
}

function timeoutSignal(ms: number): AbortSignal {
  return AbortSignal.timeout(ms);
}

async function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new ProxyError(504, `the request took longer than ${ms} ms`)),
      ms,
    );
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function processEnv(): Record<string, string | undefined> {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process
    ?.env;
  return env ?? {};
}

export type { ServedArray };
