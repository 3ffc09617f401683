/**
 * Fault injection for tests, deterministic by seed:
 * - `FaultStore`: wraps any Store and fails a share of its calls the way real backends do;
 * - `startFaultHttpServer`: a loopback HTTP object server (GET/HEAD/PUT/DELETE, ranges,
 *   conditional writes) that answers a share of requests with 503/429 + Retry-After, resets,
 *   slow responses or truncated bodies;
 * - `startFaultProxy`: a TCP proxy put in front of any HTTP server (e.g. a real Swift) that
 *   injects the same faults on the wire.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createRequire } from "node:module";
import {
  type AddressInfo,
  createConnection,
  createServer as createTcpServer,
  type Socket,
} from "node:net";
import { pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";
import { ForwardingStore } from "../../src/adapters/forward.js";
import { StoreError } from "../../src/errors.js";
import type { AbsolutePath } from "../../src/keys.js";
import type {
  CallOptions,
  ListDirResult,
  RangeQuery,
  SetOptions,
  SetResult,
  StatResult,
  Store,
} from "../../src/store.js";
import { patternBytes } from "../../src/testing/cases.js";

/** The faults a FaultStore can inject. */
export type StoreFault = "unavailable" | "rateLimited" | "reset" | "truncate" | "delay";

/** Options for `FaultStore`. */
export interface FaultStoreOptions {
  /** Seed of the fault sequence (default 1). */
  seed?: number;
  /** Share of calls that get a fault (default 0.1). */
  rate?: number;
  /** Faults to choose from, evenly (default all). */
  kinds?: StoreFault[];
  /** `retryAfterMs` of injected RateLimited errors (default 2). */
  retryAfterMs?: number;
  /** How long a `delay` fault stalls the call (default 3 ms). */
  delayMs?: number;
}

/** A seeded PRNG (mulberry32): numbers in [0, 1), the same sequence for the same seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const ALL_STORE_FAULTS: StoreFault[] = ["unavailable", "rateLimited", "reset", "truncate", "delay"];

/**
 * Fails a seeded share of calls: `unavailable` (503) and `rateLimited` (429 with
 * `retryAfterMs`) before the inner call; `reset` before a read but after a write or delete has
 * landed (the reply was lost: the outcome is unknown to the caller); `truncate` reads the value
 * and reports a short body (`Integrity`, retryable); `delay` stalls, then succeeds.
 * A faulty `list` yields a few keys, then fails.
 */
export class FaultStore extends ForwardingStore {
  /** Faults injected so far, by kind. */
  readonly injected: Record<StoreFault, number> = {
    unavailable: 0,
    rateLimited: 0,
    reset: 0,
    truncate: 0,
    delay: 0,
  };
  /** Calls seen, faulty or not. */
  calls = 0;
  /** Set false to pass every call through untouched. */
  enabled = true;
  readonly #random: () => number;
  readonly #rate: number;
  readonly #kinds: StoreFault[];
  readonly #retryAfterMs: number;
  readonly #delayMs: number;

  constructor(inner: Store, options: FaultStoreOptions = {}) {
    super(inner);
    this.#random = seededRandom(options.seed ?? 1);
    this.#rate = options.rate ?? 0.1;
    this.#kinds = options.kinds ?? ALL_STORE_FAULTS;
    this.#retryAfterMs = options.retryAfterMs ?? 2;
    this.#delayMs = options.delayMs ?? 3;
  }

  /** Total faults injected. */
  get faults(): number {
    return Object.values(this.injected).reduce((a, b) => a + b, 0);
  }

  override get(key: AbsolutePath, options?: CallOptions): Promise<Uint8Array | undefined> {
    return this.#read("get", key, () => this.inner.get(key, options));
  }

  override getRange(
    key: AbsolutePath,
    range: RangeQuery,
    options?: CallOptions,
  ): Promise<Uint8Array | undefined> {
    return this.#read("getRange", key, () => this.inner.getRange(key, range, options));
  }

  override async stat(key: AbsolutePath, options?: CallOptions): Promise<StatResult | undefined> {
    await this.#before("stat", key, this.#roll());
    return this.inner.stat(key, options);
  }

  override put(key: AbsolutePath, value: Uint8Array, options?: SetOptions): Promise<SetResult> {
    return this.#write("set", key, () => this.inner.put(key, value, options));
  }

  override delete(key: AbsolutePath, options?: CallOptions): Promise<void> {
    return this.#write("delete", key, () => this.inner.delete(key, options));
  }

  override deletePrefix(prefix: string, options?: CallOptions): Promise<void> {
    return this.#write("deletePrefix", prefix, () => this.inner.deletePrefix(prefix, options));
  }

  override async listDir(prefix?: string, options?: CallOptions): Promise<ListDirResult> {
    await this.#before("listDir", prefix ?? "/", this.#roll());
    return this.inner.listDir(prefix, options);
  }

  override async *list(prefix?: string, options?: CallOptions): AsyncIterable<AbsolutePath> {
    const fault = this.#roll();
    const failAfter = fault === undefined ? -1 : Math.floor(this.#random() * 5);
    let yielded = 0;
    for await (const key of this.inner.list(prefix, options)) {
      if (yielded === failAfter) await this.#before("list", prefix ?? "/", "unavailable");
      yielded += 1;
      yield key;
    }
    if (failAfter >= yielded) await this.#before("list", prefix ?? "/", "unavailable");
  }

  #roll(): StoreFault | undefined {
    this.calls += 1;
    if (!this.enabled || this.#random() >= this.#rate) return undefined;
    return this.#kinds[Math.floor(this.#random() * this.#kinds.length)];
  }

  async #read(
    operation: string,
    key: string,
    call: () => Promise<Uint8Array | undefined>,
  ): Promise<Uint8Array | undefined> {
    const fault = this.#roll();
    await this.#before(operation, key, fault === "truncate" ? undefined : fault);
    const value = await call();
    if (fault === "truncate" && value !== undefined) {
      this.injected.truncate += 1;
      throw new StoreError({
        code: "Integrity",
        message: `injected: body of ${key} truncated after ${value.byteLength >> 1} of ${value.byteLength} bytes`,
        operation,
        key,
        backend: "FaultStore",
        retryable: true,
      });
    }
    return value;
  }

  async #write<T>(operation: string, key: string, call: () => Promise<T>): Promise<T> {
    const fault = this.#roll();
    const after = fault === "reset" || fault === "truncate";
    await this.#before(operation, key, after ? undefined : fault);
    const result = await call();
    if (after) {
      this.injected.reset += 1;
      throw injected("Unavailable", operation, key, "connection reset after the request was sent");
    }
    return result;
  }

  // Throws the fault (or stalls for `delay`); does nothing without one.
  async #before(operation: string, key: string, fault: StoreFault | undefined): Promise<void> {
    if (fault === undefined) return;
    switch (fault) {
      case "delay":
        this.injected.delay += 1;
        await new Promise((resolve) => setTimeout(resolve, this.#delayMs));
        return;
      case "rateLimited":
        this.injected.rateLimited += 1;
        throw injected(
          "RateLimited",
          operation,
          key,
          "429 Too Many Requests",
          429,
          this.#retryAfterMs,
        );
      case "reset":
        this.injected.reset += 1;
        throw injected("Unavailable", operation, key, "connection reset");
      default:
        this.injected.unavailable += 1;
        throw injected("Unavailable", operation, key, "503 Service Unavailable", 503);
    }
  }
}

function injected(
  code: "Unavailable" | "RateLimited",
  operation: string,
  key: string,
  what: string,
  status?: number,
  retryAfterMs?: number,
): StoreError {
  return new StoreError({
    code,
    message: `injected: ${what} (${operation} ${key})`,
    operation,
    key,
    backend: "FaultStore",
    status,
    retryAfterMs,
  });
}

// ---------------------------------------------------------------------------------------------
// A fault-injecting loopback HTTP object server

/** The faults the HTTP server and the TCP proxy inject. */
export type WireFault = "unavailable" | "rateLimited" | "reset" | "slow" | "truncate";

const ALL_WIRE_FAULTS: WireFault[] = ["unavailable", "rateLimited", "reset", "slow", "truncate"];

/** Options for `startFaultHttpServer` and `startFaultProxy`. */
export interface WireFaultOptions {
  seed?: number;
  /** Share of requests that get a fault (default 0.1). */
  rate?: number;
  kinds?: WireFault[];
  /** Retry-After of 503 and 429 answers, in seconds (default 0). */
  retryAfterSeconds?: number;
  /** How long a slow response stalls (default 20 ms). */
  slowMs?: number;
  /** A shared on/off switch (index 0: 1 = faults on), for servers run in another thread. */
  control?: Int32Array;
}

/** Counters of a fault server or proxy. */
export interface WireFaultStats {
  requests: number;
  /** Requests whose client went away before the answer was complete (aborts, timeouts). */
  abandoned: number;
  injected: Record<WireFault, number>;
}

/** A running fault server. */
export interface FaultHttpServer {
  /** The base URL, e.g. `http://127.0.0.1:41234/`. */
  url: string;
  /** The objects it holds, by path without the leading `/` (e.g. `a/zarr.json`). */
  objects: Map<string, Uint8Array>;
  stats: WireFaultStats;
  /** Turns faults on or off. */
  faults: boolean;
  stop(): Promise<void>;
}

// The faults on/off switch, in shared memory so that another thread can flip it.
function faultSwitch(control: Int32Array | undefined): { faults: boolean } {
  const cell = control ?? new Int32Array(new SharedArrayBuffer(4));
  if (control === undefined) Atomics.store(cell, 0, 1);
  return {
    get faults() {
      return Atomics.load(cell, 0) === 1;
    },
    set faults(on: boolean) {
      Atomics.store(cell, 0, on ? 1 : 0);
    },
  };
}

function wireStats(): WireFaultStats {
  return {
    requests: 0,
    abandoned: 0,
    injected: { unavailable: 0, rateLimited: 0, reset: 0, slow: 0, truncate: 0 },
  };
}

function rollWire(
  random: () => number,
  options: WireFaultOptions,
  enabled: boolean,
): WireFault | undefined {
  if (!enabled || random() >= (options.rate ?? 0.1)) return undefined;
  const kinds = options.kinds ?? ALL_WIRE_FAULTS;
  return kinds[Math.floor(random() * kinds.length)];
}

/**
 * Starts a loopback object server on a free port: `GET`/`HEAD` (with `Range`: `bytes=a-b`,
 * `bytes=a-`, `bytes=-n`; 206/416), `PUT` (`If-None-Match: *`, `If-Match`; 412), `DELETE`,
 * quoted ETags. A seeded share of requests gets a fault: 503 or 429 with `Retry-After`, a reset
 * (for writes after the object was stored), a slow answer, or a body cut short of its
 * `Content-Length`.
 */
export async function startFaultHttpServer(
  options: WireFaultOptions = {},
): Promise<FaultHttpServer> {
  const random = seededRandom(options.seed ?? 1);
  const objects = new Map<string, Uint8Array>();
  const etags = new Map<string, string>();
  let version = 0;
  const stats = wireStats();
  const state = faultSwitch(options.control);
  const server: Server = createServer((req, res) => {
    stats.requests += 1;
    const fault = rollWire(random, options, state.faults);
    res.on("close", () => {
      const broken = fault === "reset" || fault === "truncate";
      if (!res.writableFinished && !broken) stats.abandoned += 1;
    });
    const body: Buffer[] = [];
    req.on("data", (chunk: Buffer) => body.push(chunk));
    req.on("end", () => {
      const respond = () =>
        answer(req, res, Buffer.concat(body), fault, {
          objects,
          etags,
          nextEtag: () => `"v${++version}"`,
          stats,
          retryAfter: String(options.retryAfterSeconds ?? 0),
        });
      if (fault === "slow") {
        stats.injected.slow += 1;
        setTimeout(respond, options.slowMs ?? 20);
      } else {
        respond();
      }
    });
  });
  // Longer than any client keeps an idle socket: the server never races a client reusing one.
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    objects,
    stats,
    get faults() {
      return state.faults;
    },
    set faults(on: boolean) {
      state.faults = on;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A fault server running in a worker thread (objects are reached over HTTP only). */
export interface FaultHttpServerThread {
  url: string;
  /** Turns faults on or off (shared memory: takes effect at the server's next request). */
  faults: boolean;
  /** The server's counters. */
  stats(): Promise<WireFaultStats>;
  stop(): Promise<void>;
}

/**
 * Starts `startFaultHttpServer` in a worker thread, for tests whose own thread blocks (a
 * synchronous store face waiting with `Atomics.wait` would otherwise starve a server living on
 * the same event loop).
 */
export async function startFaultHttpServerInThread(
  options: WireFaultOptions = {},
): Promise<FaultHttpServerThread> {
  const control = new Int32Array(new SharedArrayBuffer(4));
  Atomics.store(control, 0, 1);
  const state = faultSwitch(control);
  const worker = new Worker(threadBootstrap(), {
    eval: true,
    workerData: { options: { ...options, control } },
  });
  const url = await new Promise<string>((resolve, reject) => {
    worker.once("message", resolve);
    worker.once("error", reject);
  });
  return {
    url,
    get faults() {
      return state.faults;
    },
    set faults(on: boolean) {
      state.faults = on;
    },
    stats: () =>
      new Promise<WireFaultStats>((resolve) => {
        worker.once("message", resolve);
        worker.postMessage("stats");
      }),
    stop: async () => {
      await worker.terminate();
    },
  };
}

// Loads this module in the worker (through tsx, as the tests run from sources) and starts the
// server there; answers "stats" requests with the server's counters.
function threadBootstrap(): string {
  const require = createRequire(import.meta.url);
  const manifest = require("tsx/package.json") as {
    exports: Record<string, { import: { default: string } }>;
  };
  const entry = manifest.exports["./esm/api"]?.import.default ?? "./dist/esm/api/index.mjs";
  const tsx = new URL(entry, pathToFileURL(require.resolve("tsx/package.json"))).href;
  return `
    const { parentPort, workerData } = require("node:worker_threads");
    import(${JSON.stringify(tsx)})
      .then((tsx) => { tsx.register(); return import(${JSON.stringify(import.meta.url)}); })
      .then((faults) => faults.startFaultHttpServer(workerData.options))
      .then((server) => {
        parentPort.on("message", () => parentPort.postMessage(server.stats));
        parentPort.postMessage(server.url);
      });`;
}

interface ServerState {
  objects: Map<string, Uint8Array>;
  etags: Map<string, string>;
  nextEtag: () => string;
  stats: WireFaultStats;
  retryAfter: string;
}

function answer(
  req: IncomingMessage,
  res: ServerResponse,
  body: Buffer,
  fault: WireFault | undefined,
  state: ServerState,
): void {
  const path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname.slice(1));
  if (fault === "unavailable" || fault === "rateLimited") {
    state.stats.injected[fault] += 1;
    res.writeHead(fault === "unavailable" ? 503 : 429, {
      "retry-after": state.retryAfter,
      "content-length": "0",
    });
    res.end();
    return;
  }
  const write = req.method === "PUT" || req.method === "DELETE";
  if (fault === "reset" && !write) {
    state.stats.injected.reset += 1;
    req.socket.destroy();
    return;
  }
  const cut = fault === "truncate" && req.method === "GET";
  const status = serveObject(req, res, path, body, state, cut);
  if (cut && (status === 200 || status === 206)) state.stats.injected.truncate += 1;
  if (fault === "reset" && write) {
    // The write landed, the answer is lost: the client cannot know the outcome.
    state.stats.injected.reset += 1;
    req.socket.destroy();
  }
}

// Serves one request and returns the status it sent.
function serveObject(
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
  body: Buffer,
  state: ServerState,
  truncate: boolean,
): number {
  const { objects, etags } = state;
  const current = objects.get(path);
  let etag = etags.get(path);
  if (current !== undefined && etag === undefined) {
    // Objects a test put into the map directly get their etag on first sight.
    etag = state.nextEtag();
    etags.set(path, etag);
  }
  const send = (status: number, headers: Record<string, string> = {}, payload?: Uint8Array) => {
    if (req.socket.destroyed) return status;
    const length = payload?.byteLength ?? 0;
    res.writeHead(status, { ...headers, "content-length": String(length) });
    if (req.method === "HEAD" || payload === undefined) {
      res.end();
    } else if (truncate && length > 1) {
      res.write(payload.subarray(0, length >> 1));
      setImmediate(() => req.socket.destroy());
    } else {
      res.end(payload);
    }
    return status;
  };
  switch (req.method) {
    case "GET":
    case "HEAD": {
      if (current === undefined) return send(404);
      const headers = { etag: etag as string, "accept-ranges": "bytes" };
      // An empty value has no byte to range over: answer it whole, as servers that ignore Range do.
      const range =
        current.byteLength === 0 ? undefined : parseRange(req.headers.range, current.byteLength);
      if (range === undefined) return send(200, headers, current);
      if (range === "unsatisfiable") {
        return send(416, { "content-range": `bytes */${current.byteLength}` });
      }
      return send(
        206,
        {
          ...headers,
          "content-range": `bytes ${range.start}-${range.end - 1}/${current.byteLength}`,
        },
        current.subarray(range.start, range.end),
      );
    }
    case "PUT": {
      if (req.headers["if-none-match"] === "*" && current !== undefined) return send(412);
      const ifMatch = req.headers["if-match"];
      if (ifMatch !== undefined && ifMatch !== etag) return send(412);
      const next = state.nextEtag();
      objects.set(path, new Uint8Array(body));
      etags.set(path, next);
      return send(201, { etag: next });
    }
    case "DELETE":
      objects.delete(path);
      etags.delete(path);
      return send(204);
    default:
      return send(405);
  }
}

function parseRange(
  header: string | undefined,
  size: number,
): { start: number; end: number } | "unsatisfiable" | undefined {
  const match = header === undefined ? null : /^bytes=(\d*)-(\d*)$/.exec(header);
  if (match === null) return undefined;
  const [, first = "", last = ""] = match;
  if (first === "") {
    const suffix = Number(last);
    return { start: Math.max(0, size - suffix), end: size };
  }
  const start = Number(first);
  if (start >= size) return "unsatisfiable";
  const end = last === "" ? size : Math.min(size, Number(last) + 1);
  return { start, end };
}

// ---------------------------------------------------------------------------------------------
// A fault-injecting TCP proxy

/** A running fault proxy. */
export interface FaultProxy {
  /** `127.0.0.1` */
  host: string;
  port: number;
  stats: WireFaultStats;
  /** Turns faults on or off. */
  faults: boolean;
  stop(): Promise<void>;
}

// A chunk from the client that starts a request: HTTP/1.1 clients write the request head in
// one piece, and a body chunk starting with one of these words followed by a space and `/` is
// not something the tests send.
const REQUEST_START = /^(GET|HEAD|PUT|POST|DELETE|COPY|OPTIONS|PATCH) \//;

/**
 * Starts a TCP proxy on a free loopback port that forwards to `target` and injects faults per
 * HTTP request (it recognises a request by the method at the start of a client chunk):
 * `unavailable`/`rateLimited` answer 503/429 with `Retry-After` without forwarding; `reset`
 * drops both connections; `slow` holds the request back; `truncate` forwards the request and
 * cuts the response body short, then drops the connection.
 */
export async function startFaultProxy(
  target: { host: string; port: number },
  options: WireFaultOptions = {},
): Promise<FaultProxy> {
  const random = seededRandom(options.seed ?? 1);
  const stats = wireStats();
  const state = faultSwitch(options.control);
  const sockets = new Set<Socket>();
  const server = createTcpServer((client) => {
    const upstream = createConnection(target.port, target.host);
    sockets.add(client);
    sockets.add(upstream);
    const closeBoth = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("close", () => {
      sockets.delete(client);
      upstream.destroy();
    });
    upstream.on("close", () => {
      sockets.delete(upstream);
      client.destroy();
    });
    client.on("error", closeBoth);
    upstream.on("error", closeBoth);
    // Requests on one connection are sequential (no pipelining), so the response cut short is
    // the answer to the request that was marked.
    let cutNextResponse = false;
    let head = Buffer.alloc(0);
    let bodyLeft = -1;
    upstream.on("data", (chunk: Buffer) => {
      if (!cutNextResponse) {
        client.write(chunk);
        return;
      }
      if (bodyLeft < 0) {
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf("\r\n\r\n");
        if (end === -1) return;
        const length = Number(
          /content-length:\s*(\d+)/i.exec(head.toString("latin1", 0, end))?.[1] ?? 0,
        );
        chunk = head.subarray(end + 4);
        client.write(head.subarray(0, end + 4));
        head = Buffer.alloc(0);
        if (length < 2) {
          // No body worth cutting (or a chunked one): let this answer through untouched.
          cutNextResponse = false;
          bodyLeft = -1;
          client.write(chunk);
          return;
        }
        bodyLeft = length >> 1;
      }
      const take = Math.min(bodyLeft, chunk.byteLength);
      client.write(chunk.subarray(0, take));
      bodyLeft -= take;
      if (bodyLeft === 0) {
        stats.injected.truncate += 1;
        upstream.pause();
        client.end(() => closeBoth());
      }
    });
    client.on("data", (chunk: Buffer) => {
      if (!REQUEST_START.test(chunk.toString("latin1", 0, 16))) {
        upstream.write(chunk);
        return;
      }
      stats.requests += 1;
      const fault = rollWire(random, options, state.faults);
      switch (fault) {
        case "unavailable":
        case "rateLimited": {
          stats.injected[fault] += 1;
          const status =
            fault === "unavailable" ? "503 Service Unavailable" : "429 Too Many Requests";
          client.end(
            `HTTP/1.1 ${status}\r\nRetry-After: ${options.retryAfterSeconds ?? 0}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`,
          );
          upstream.destroy();
          return;
        }
        case "reset":
          stats.injected.reset += 1;
          closeBoth();
          return;
        case "slow":
          stats.injected.slow += 1;
          client.pause();
          setTimeout(() => {
            upstream.write(chunk);
            client.resume();
          }, options.slowMs ?? 20);
          return;
        case "truncate":
          // Only GET answers carry a body to cut.
          cutNextResponse = chunk.toString("latin1", 0, 4) === "GET ";
          upstream.write(chunk);
          return;
        default:
          upstream.write(chunk);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: "127.0.0.1",
    port,
    stats,
    get faults() {
      return state.faults;
    },
    set faults(on: boolean) {
      state.faults = on;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

// ---------------------------------------------------------------------------------------------
// The 1,000-key copy the fault tests run

/** The keys of the fault tests' copy: `/copy/c/<i/100>/<i%100>`, `n` of them (default 1,000). */
export function copyKeys(n = 1000): AbsolutePath[] {
  return Array.from(
    { length: n },
    (_, i) => `/copy/c/${Math.floor(i / 100)}/${i % 100}` as AbsolutePath,
  );
}

/** The value of the i-th copied key: 200 to 4,199 seeded bytes. */
export function bytesFor(i: number): Uint8Array {
  return patternBytes(200 + ((i * 97) % 4000), i + 1);
}

/** Runs `work` over `items` with `limit` in flight. */
export async function inParallel<T>(
  items: T[],
  limit: number,
  work: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < items.length) {
        const i = next++;
        await work(items[i] as T, i);
      }
    }),
  );
}

/** Tells whether `a` holds exactly the bytes of `b` (fast, unlike a deep equality). */
export function sameBytes(a: Uint8Array | undefined, b: Uint8Array): boolean {
  return a !== undefined && Buffer.compare(a, b) === 0;
}
