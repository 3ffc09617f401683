import { StoreError, type StoreErrorCode } from "../errors.js";
import type { AbsolutePath } from "../keys.js";
import type {
  CallOptions,
  ListDirResult,
  RangeQuery,
  SetOptions,
  SetResult,
  StatResult,
  Store,
} from "../store.js";
import { ForwardingStore } from "./forward.js";

/**
 * The store operations observers see. `set` and `put` are one write (`put` also returns the
 * etag), and both are reported as `set`, as errors name them.
 */
export type ObservedOperation =
  | "get"
  | "getRange"
  | "stat"
  | "set"
  | "delete"
  | "deletePrefix"
  | "list"
  | "listDir";

/** Every observed operation, in a fixed order (for tables and metrics). */
export const OBSERVED_OPERATIONS: readonly ObservedOperation[] = Object.freeze([
  "get",
  "getRange",
  "stat",
  "set",
  "delete",
  "deletePrefix",
  "list",
  "listDir",
]);

/**
 * One finished store call, as observers see it. It carries sizes and never values; errors
 * appear by code and status only.
 */
export interface UsageEvent {
  operation: ObservedOperation;
  /** The key, or the folder for `deletePrefix`, `list` and `listDir`, as the caller gave it. */
  key: string;
  range?: RangeQuery | undefined;
  /** The write condition, when there was one. */
  condition?: "ifNoneMatch" | "ifMatch" | undefined;
  /** `ok`; `missing` when a read found no value; `error` when the call failed. */
  outcome: "ok" | "missing" | "error";
  /** Bytes read (get, getRange), written (set, put: both reported as `set`) or reported by stat. */
  bytes?: number | undefined;
  /** Keys returned by `list` or `listDir`. */
  keys?: number | undefined;
  /** Folders returned by `listDir`. */
  prefixes?: number | undefined;
  /** When the call ended, in milliseconds since the epoch (from the adapter's clock). */
  endMs: number;
  durationMs: number;
  /** The error's code (`Unexpected` for errors that are not `StoreError`s). */
  code?: StoreErrorCode | undefined;
  /** The HTTP status behind the error, when there was one. */
  status?: number | undefined;
}

/** Hears each finished call. A hook that throws is ignored: observing never fails a call. */
export type UsageHook = (event: UsageEvent) => void;

/** Returns the time in milliseconds since the epoch (fractions allowed). */
export type Clock = () => number;

/** The default clock: sub-millisecond and monotonic within the process. */
export const preciseClock: Clock = () => performance.timeOrigin + performance.now();

/**
 * Reports every call to a hook with its outcome, sizes and duration. `withLogging` and
 * `withMetrics` are built on it; `withObserver` gives the events to your own code.
 */
export class ObservingStore extends ForwardingStore {
  readonly #hook: UsageHook;
  readonly #clock: Clock;

  constructor(inner: Store, hook: UsageHook, clock: Clock = preciseClock) {
    super(inner);
    this.#hook = hook;
    this.#clock = clock;
  }

  override async get(key: AbsolutePath, options?: CallOptions): Promise<Uint8Array | undefined> {
    const start = this.#clock();
    try {
      const value = await this.inner.get(key, options);
      this.#read("get", key, start, value);
      return value;
    } catch (error) {
      this.#failed(newEvent("get", key), start, error);
      throw error;
    }
  }

  override async getRange(
    key: AbsolutePath,
    range: RangeQuery,
    options?: CallOptions,
  ): Promise<Uint8Array | undefined> {
    const start = this.#clock();
    try {
      const value = await this.inner.getRange(key, range, options);
      this.#read("getRange", key, start, value, range);
      return value;
    } catch (error) {
      const event = newEvent("getRange", key);
      event.range = range;
      this.#failed(event, start, error);
      throw error;
    }
  }

  override async stat(key: AbsolutePath, options?: CallOptions): Promise<StatResult | undefined> {
    const start = this.#clock();
    try {
      const stat = await this.inner.stat(key, options);
      const event = newEvent("stat", key);
      if (stat === undefined) event.outcome = "missing";
      else event.bytes = stat.size;
      this.#done(event, start);
      return stat;
    } catch (error) {
      this.#failed(newEvent("stat", key), start, error);
      throw error;
    }
  }

  override async put(
    key: AbsolutePath,
    value: Uint8Array,
    options?: SetOptions,
  ): Promise<SetResult> {
    const start = this.#clock();
    const event = writeEvent(key, value, options);
    try {
      const result = await this.inner.put(key, value, options);
      this.#done(event, start);
      return result;
    } catch (error) {
      this.#failed(event, start, error);
      throw error;
    }
  }

  override async delete(key: AbsolutePath, options?: CallOptions): Promise<void> {
    const start = this.#clock();
    try {
      await this.inner.delete(key, options);
      this.#done(newEvent("delete", key), start);
    } catch (error) {
      this.#failed(newEvent("delete", key), start, error);
      throw error;
    }
  }

  override async deletePrefix(prefix: string, options?: CallOptions): Promise<void> {
    const start = this.#clock();
    try {
      await this.inner.deletePrefix(prefix, options);
      this.#done(newEvent("deletePrefix", prefix), start);
    } catch (error) {
      this.#failed(newEvent("deletePrefix", prefix), start, error);
      throw error;
    }
  }

  override async *list(prefix?: string, options?: CallOptions): AsyncIterable<AbsolutePath> {
    const start = this.#clock();
    const event = newEvent("list", prefix ?? "/");
    let keys = 0;
    let failed = false;
    try {
      for await (const found of this.inner.list(prefix, options)) {
        keys += 1;
        yield found;
      }
    } catch (error) {
      failed = true;
      event.keys = keys;
      this.#failed(event, start, error);
      throw error;
    } finally {
      // A caller that stops early still gets its event, with the keys it took.
      if (!failed) {
        event.keys = keys;
        this.#done(event, start);
      }
    }
  }

  override async listDir(prefix?: string, options?: CallOptions): Promise<ListDirResult> {
    const start = this.#clock();
    const key = prefix ?? "/";
    try {
      const result = await this.inner.listDir(prefix, options);
      const event = newEvent("listDir", key);
      event.keys = result.keys.length;
      event.prefixes = result.prefixes.length;
      this.#done(event, start);
      return result;
    } catch (error) {
      this.#failed(newEvent("listDir", key), start, error);
      throw error;
    }
  }

  #read(
    operation: "get" | "getRange",
    key: string,
    start: number,
    value: Uint8Array | undefined,
    range?: RangeQuery,
  ): void {
    const event = newEvent(operation, key);
    event.range = range;
    if (value === undefined) event.outcome = "missing";
    else event.bytes = value.byteLength;
    this.#done(event, start);
  }

  #failed(event: UsageEvent, start: number, error: unknown): void {
    event.outcome = "error";
    if (error instanceof StoreError) {
      event.code = error.code;
      event.status = error.status;
    } else {
      event.code = "Unexpected";
    }
    this.#done(event, start);
  }

  #done(event: UsageEvent, start: number): void {
    const end = this.#clock();
    event.endMs = end;
    event.durationMs = end - start;
    try {
      this.#hook(event);
    } catch {
      // Observing must never fail the call it observes.
    }
  }
}

/**
 * Calls `hook` after every store call with a typed `UsageEvent` (operation, key, range, sizes,
 * duration, outcome, error code). Values never reach the hook.
 *
 * @example
 * const store = withObserver(inner, (e) => { if (e.durationMs > 500) slow.push(e); });
 */
export function withObserver(inner: Store, hook: UsageHook, clock?: Clock): ObservingStore {
  return new ObservingStore(inner, hook, clock);
}

// Every event has every field, in one order, so that they all share one shape.
function newEvent(operation: ObservedOperation, key: string): UsageEvent {
  return {
    operation,
    key,
    range: undefined,
    condition: undefined,
    outcome: "ok",
    bytes: undefined,
    keys: undefined,
    prefixes: undefined,
    endMs: 0,
    durationMs: 0,
    code: undefined,
    status: undefined,
  };
}

function writeEvent(key: string, value: Uint8Array, options: SetOptions | undefined): UsageEvent {
  const event = newEvent("set", key);
  event.bytes = value.byteLength;
  if (options?.ifNoneMatch !== undefined) event.condition = "ifNoneMatch";
  else if (options?.ifMatch !== undefined) event.condition = "ifMatch";
  return event;
}
