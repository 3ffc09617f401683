/**
 * The worker behind `withSync`: opens the async store it is told to, then answers one request at
 * a time on its port, bumping the shared counter and waking the blocked caller after each reply.
 */
import { type MessagePort, workerData } from "node:worker_threads";
import { StoreError } from "../errors.js";
import { listAll } from "../helpers.js";
import type { AbsolutePath } from "../keys.js";
import type { OpenOptions } from "../open.js";
import type { RangeQuery, SetOptions, Store } from "../store.js";

/** What the caller's thread hands the worker. */
export interface SyncWorkerInit {
  port: MessagePort;
  /** Int32Array over a SharedArrayBuffer: [replies sent]. */
  signal: Int32Array;
  source: SyncSourceSpec;
  open: OpenOptions;
}

/** Where the worker gets its store: an `openStore` URL, or a module export it constructs. */
export type SyncSourceSpec = { url: string } | { module: string; export: string; args: unknown[] };

/** One request. */
export interface SyncRequest {
  id: number;
  op:
    | "get"
    | "getRange"
    | "stat"
    | "put"
    | "delete"
    | "deletePrefix"
    | "list"
    | "listDir"
    | "close";
  key?: string;
  range?: RangeQuery;
  value?: Uint8Array;
  options?: SetOptions;
}

/** One reply (id 0 answers the start-up). */
export type SyncReply =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: SerializedError };

/** A StoreError as it crosses threads. */
export interface SerializedError {
  code: StoreError["code"];
  message: string;
  operation?: string | undefined;
  key?: string | undefined;
  backend?: string | undefined;
  status?: number | undefined;
  retryable: boolean;
  retryAfterMs?: number | undefined;
}

const init = workerData as SyncWorkerInit;

function reply(message: SyncReply): void {
  init.port.postMessage(message);
  Atomics.add(init.signal, 0, 1);
  Atomics.notify(init.signal, 0);
}

function serialize(error: unknown): SerializedError {
  if (error instanceof StoreError) {
    return {
      code: error.code,
      message: error.message,
      operation: error.operation,
      key: error.key,
      backend: error.backend,
      status: error.status,
      retryable: error.retryable,
      retryAfterMs: error.retryAfterMs,
    };
  }
  const what = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return { code: "Unexpected", message: what, retryable: false };
}

async function openSource(spec: SyncSourceSpec, options: OpenOptions): Promise<Store> {
  if ("url" in spec) {
    const { openStore } = await import("../open.node.js");
    return openStore(spec.url, options);
  }
  const loaded = (await import(spec.module)) as Record<string, unknown>;
  const made = loaded[spec.export];
  if (typeof made !== "function") {
    if (isStore(made)) return made;
    throw new StoreError({
      code: "Config",
      message: `withSync: ${spec.module} has no export ${JSON.stringify(spec.export)} that makes a store`,
      operation: "open",
    });
  }
  // A class is constructed; any other function is called as a factory (and may be async).
  const isClass = /^class[\s{]/.test(Function.prototype.toString.call(made));
  const store: unknown = isClass
    ? Reflect.construct(made, spec.args)
    : await (made as (...args: unknown[]) => unknown)(...spec.args);
  if (!isStore(store)) {
    throw new StoreError({
      code: "Config",
      message: `withSync: ${spec.module}#${spec.export} did not make a store`,
      operation: "open",
    });
  }
  return store;
}

function isStore(value: unknown): value is Store {
  return typeof value === "object" && value !== null && "get" in value && "capabilities" in value;
}

async function answer(store: Store, request: SyncRequest): Promise<unknown> {
  const key = request.key as AbsolutePath;
  switch (request.op) {
    case "get":
      return store.get(key);
    case "getRange":
      return store.getRange(key, request.range as RangeQuery);
    case "stat":
      return store.stat(key);
    case "put":
      return store.put(key, request.value as Uint8Array, request.options);
    case "delete":
      return store.delete(key);
    case "deletePrefix":
      return store.deletePrefix(request.key ?? "/");
    case "list":
      return listAll(store, request.key);
    case "listDir":
      return store.listDir(request.key);
    case "close":
      return store.close();
  }
}

async function serve(): Promise<void> {
  let store: Store;
  try {
    store = await openSource(init.source, init.open);
  } catch (error) {
    reply({ id: 0, ok: false, error: serialize(error) });
    return;
  }
  init.port.on("message", async (request: SyncRequest) => {
    try {
      reply({ id: request.id, ok: true, value: await answer(store, request) });
    } catch (error) {
      reply({ id: request.id, ok: false, error: serialize(error) });
    }
    if (request.op === "close") init.port.close();
  });
  reply({ id: 0, ok: true, value: store.capabilities });
}

void serve();
