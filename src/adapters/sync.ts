/**
 * `zarrstore/sync`: a synchronous face over any async store (Node only). The store runs in a
 * worker thread; each call posts a request and blocks the calling thread with `Atomics.wait`
 * until the worker replies, the role zarrs' async-to-sync adapter plays.
 */
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";
import {
  MessageChannel,
  type MessagePort,
  receiveMessageOnPort,
  Worker,
} from "node:worker_threads";
import { StoreError } from "../errors.js";
import type { AbsolutePath } from "../keys.js";
import type { OpenOptions } from "../open.js";
import type { Capabilities, ListDirResult, RangeQuery, SetResult, StatResult } from "../store.js";
import type { SyncStore } from "../stores/memory.js";

export type { SyncStore } from "../stores/memory.js";

import type {
  SerializedError,
  SyncReply,
  SyncRequest,
  SyncSourceSpec,
  SyncWorkerInit,
} from "./sync-worker.js";

/**
 * The store to run in the worker: an `openStore` URL (`memory://`, a path, `https://…`), or a
 * module (absolute path, `file:` URL or package name) and the export that makes the store: a
 * class is constructed with `args`, a function is called with them (and may return a promise),
 * and a store instance is used as it is. `args` must survive `structuredClone`.
 */
export type SyncSource = string | { module: string | URL; export?: string; args?: unknown[] };

/** Options for `withSync`. */
export interface SyncOptions {
  /** Options for `openStore` when the source is a URL; they must survive `structuredClone`. */
  open?: OpenOptions;
  /**
   * The longest one call may block (default 60,000 ms); past it the call fails with `Timeout`
   * and the worker's late reply is discarded.
   */
  timeoutMs?: number;
  /** The longest wait for the worker to start and open the store (default 60,000 ms). */
  openTimeoutMs?: number;
}

/** Write conditions for the synchronous `set`/`put` (no signal: a blocked thread cannot abort). */
export interface SyncSetOptions {
  ifNoneMatch?: "*" | undefined;
  ifMatch?: string | undefined;
}

// 60 s: longer than any sane single request, short enough that a dead worker is noticed.
const DEFAULT_TIMEOUT_MS = 60_000;

/**
 * A synchronous store face backed by a worker thread: zarrita's `SyncReadable` and
 * `SyncMutable`, plus `stat`, `put`, `deletePrefix`, `list` (an array) and `listDir`.
 * Values cross threads by copy. Call `close()` to stop the worker (it does not keep the
 * process alive meanwhile).
 */
export class WorkerSyncStore implements SyncStore {
  /** The capabilities of the store in the worker. */
  readonly capabilities: Capabilities;
  readonly #worker: Worker;
  readonly #port: MessagePort;
  readonly #signal: Int32Array;
  readonly #timeoutMs: number;
  #next = 1;
  #closed = false;

  constructor(source: SyncSource, options: SyncOptions = {}) {
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#signal = new Int32Array(new SharedArrayBuffer(4));
    const { port1, port2 } = new MessageChannel();
    this.#port = port1;
    const init: SyncWorkerInit = {
      port: port2,
      signal: this.#signal,
      source: toSpec(source),
      open: options.open ?? {},
    };
    const seen = Atomics.load(this.#signal, 0);
    this.#worker = new Worker(workerScript(), {
      eval: true,
      workerData: init,
      transferList: [port2],
    });
    this.#worker.unref();
    this.#port.unref();
    try {
      const wait = options.openTimeoutMs ?? DEFAULT_TIMEOUT_MS;
      this.capabilities = this.#await(0, seen, "open", "", wait) as Capabilities;
    } catch (error) {
      void this.#worker.terminate();
      this.#port.close();
      throw error;
    }
  }

  get(key: AbsolutePath, _options?: unknown): Uint8Array | undefined {
    return this.#call({ op: "get", key }) as Uint8Array | undefined;
  }

  getRange(key: AbsolutePath, range: RangeQuery, _options?: unknown): Uint8Array | undefined {
    return this.#call({ op: "getRange", key, range }) as Uint8Array | undefined;
  }

  stat(key: AbsolutePath): StatResult | undefined {
    return this.#call({ op: "stat", key }) as StatResult | undefined;
  }

  set(key: AbsolutePath, value: Uint8Array, options?: SyncSetOptions): void {
    this.put(key, value, options);
  }

  put(key: AbsolutePath, value: Uint8Array, options?: SyncSetOptions): SetResult {
    const request: Omit<SyncRequest, "id"> = { op: "put", key, value };
    if (options !== undefined) request.options = { ...options };
    return this.#call(request) as SetResult;
  }

  delete(key: AbsolutePath): void {
    this.#call({ op: "delete", key });
  }

  deletePrefix(prefix: string): void {
    this.#call({ op: "deletePrefix", key: prefix });
  }

  /** Every key under the folder, sorted. */
  list(prefix?: string): AbsolutePath[] {
    return this.#call(
      prefix === undefined ? { op: "list" } : { op: "list", key: prefix },
    ) as AbsolutePath[];
  }

  listDir(prefix?: string): ListDirResult {
    return this.#call(
      prefix === undefined ? { op: "listDir" } : { op: "listDir", key: prefix },
    ) as ListDirResult;
  }

  /** Closes the store in the worker and stops the worker. Idempotent. */
  close(): void {
    if (this.#closed) return;
    try {
      this.#call({ op: "close" });
    } finally {
      this.#closed = true;
      this.#port.close();
      void this.#worker.terminate();
    }
  }

  #call(request: Omit<SyncRequest, "id">): unknown {
    if (this.#closed) {
      throw new StoreError({
        code: "Config",
        message: `withSync: the store is closed (${request.op} ${request.key ?? ""})`,
        operation: request.op,
        key: request.key,
        backend: "withSync",
      });
    }
    const id = this.#next++;
    const seen = Atomics.load(this.#signal, 0);
    this.#port.postMessage({ ...request, id } satisfies SyncRequest);
    return this.#await(id, seen, request.op, request.key ?? "", this.#timeoutMs);
  }

  // Blocks until the reply to `id` arrives; replies to earlier, timed-out calls are dropped.
  #await(id: number, seen: number, operation: string, key: string, timeoutMs: number): unknown {
    const deadline = performance.now() + timeoutMs;
    let count = seen;
    for (;;) {
      for (
        let message = receiveMessageOnPort(this.#port);
        message;
        message = receiveMessageOnPort(this.#port)
      ) {
        const reply = message.message as SyncReply;
        if (reply.id !== id) continue;
        if (reply.ok) return reply.value;
        throw deserialize(reply.error);
      }
      const left = deadline - performance.now();
      if (left <= 0) {
        throw new StoreError({
          code: "Timeout",
          message: `withSync: ${operation} ${key} got no answer from the worker within ${timeoutMs} ms`,
          operation,
          key,
          backend: "withSync",
        });
      }
      Atomics.wait(this.#signal, 0, count, left);
      count = Atomics.load(this.#signal, 0);
    }
  }
}

/**
 * Gives synchronous code (zarrita's sync API, a synchronous callback) a store that lives behind
 * an async API: the store runs in a worker thread and each call blocks until it answers.
 * Blocking costs a thread hop per call (tens of microseconds), so prefer the async store
 * wherever the caller can await; MemoryStore and FileSystemStore offer cheaper native `.sync()`
 * faces.
 *
 * @example
 * const store = withSync("https://example.org/data.zarr");
 * const bytes = store.get("/zarr.json"); // no await
 * store.close();
 */
export function withSync(source: SyncSource, options: SyncOptions = {}): WorkerSyncStore {
  return new WorkerSyncStore(source, options);
}

function toSpec(source: SyncSource): SyncSourceSpec {
  if (typeof source === "string") return { url: source };
  const module = source.module instanceof URL ? source.module.href : source.module;
  return { module, export: source.export ?? "default", args: source.args ?? [] };
}

function deserialize(error: SerializedError): StoreError {
  return new StoreError({ ...error, message: error.message });
}

// The worker's bootstrap: import sync-worker, and report a failure to load it at once instead
// of leaving the caller blocked until its timeout. From the sources (tests, tsx) it registers
// tsx first: a worker's `--import tsx` does not cover its entry on Node 20.
function workerScript(): string {
  const fromSource = import.meta.url.endsWith(".ts");
  const worker = JSON.stringify(
    new URL(fromSource ? "./sync-worker.ts" : "./sync-worker.js", import.meta.url).href,
  );
  const load = fromSource
    ? `import(${JSON.stringify(tsxEsmApi())}).then((tsx) => { tsx.register(); return import(${worker}); })`
    : `import(${worker})`;
  return `${load}.catch((error) => {
    const { workerData } = require("node:worker_threads");
    const message = "withSync: the worker failed to start: " + (error && error.stack || error);
    workerData.port.postMessage({ id: 0, ok: false, error: { code: "Unexpected", message, retryable: false } });
    Atomics.add(workerData.signal, 0, 1);
    Atomics.notify(workerData.signal, 0);
  });`;
}

// The ESM build of tsx's API (resolving "tsx/esm/api" from here would pick its CommonJS build,
// whose `register` does not cover `import`).
function tsxEsmApi(): string {
  const require = createRequire(import.meta.url);
  const manifest = require("tsx/package.json") as {
    exports: Record<string, { import: { default: string } }>;
  };
  const entry = manifest.exports["./esm/api"]?.import.default ?? "./dist/esm/api/index.mjs";
  return new URL(entry, pathToFileURL(require.resolve("tsx/package.json"))).href;
}
