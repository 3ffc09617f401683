import { whenAborted } from "../abort.js";
import { abortError, StoreError, throwIfAborted } from "../errors.js";
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

/** What `onRetry` hears before each retry. */
export interface RetryEvent {
  operation: string;
  key: string;
  /** 1 for the first retry, 2 for the second… */
  attempt: number;
  /** How long the adapter waits before sending the call again. */
  delayMs: number;
  /** The retryable error the previous attempt ended with. */
  error: StoreError;
}

/** Options for `withRetry`. */
export interface RetryOptions {
  /** Retries after the first attempt (default 5). */
  retries?: number;
  /** The backoff ceiling of the first retry, doubling after each (default 50 ms). */
  baseDelayMs?: number;
  /** The largest backoff (default 5,000 ms). */
  maxDelayMs?: number;
  /**
   * The longest `Retry-After` honoured (default 60,000 ms); a server asking for more ends the
   * call with its error rather than stalling it.
   */
  maxRetryAfterMs?: number;
  /**
   * Retries this adapter may spend beyond what successes earn back (default 100), shared by
   * every call through it, so an outage does not multiply the load on a struggling server.
   * `Infinity` turns the budget off.
   */
  budget?: number;
  /** Budget a successful call earns back (default 0.1: one retry per ten successes). */
  budgetRefill?: number;
  /** Hears each retry before its delay. */
  onRetry?: (event: RetryEvent) => void;
  /** Returns a number in [0, 1) for the jitter (default Math.random). */
  random?: () => number;
  /** Waits `ms`, rejecting when `signal` aborts (default a timer). */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/**
 * Retries calls that fail with a retryable `StoreError` (5xx, 429, resets, timeouts, truncated
 * bodies: whatever the backend marked `retryable`), waiting a full-jitter backoff
 * (`random() × min(maxDelayMs, baseDelayMs × 2^n)`) or the server's `retryAfterMs` when longer.
 * Every other error, and any error once the caller's signal has aborted, ends the call at once.
 *
 * A conditional write (`ifNoneMatch`/`ifMatch`) whose attempt failed may or may not have landed,
 * so it is never sent again blindly: the adapter first stats the key. If the key is still as the
 * condition expects (absent, or holding the `ifMatch` etag) the write is sent again; if it holds
 * exactly the bytes being written, the earlier attempt landed and the call succeeds with the
 * current etag; otherwise another writer got there first and the call fails `ConditionFailed`.
 *
 * `list` restarts the inner listing after a failure and skips keys it has already yielded
 * (remembering them costs memory in proportion to the listing).
 */
export class RetryStore extends ForwardingStore {
  readonly #retries: number;
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #maxRetryAfterMs: number;
  readonly #budget: number;
  readonly #budgetRefill: number;
  readonly #onRetry: ((event: RetryEvent) => void) | undefined;
  readonly #random: () => number;
  readonly #sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  #tokens: number;

  constructor(inner: Store, options: RetryOptions = {}) {
    super(inner);
    this.#retries = options.retries ?? 5;
    this.#baseDelayMs = options.baseDelayMs ?? 50;
    this.#maxDelayMs = options.maxDelayMs ?? 5_000;
    this.#maxRetryAfterMs = options.maxRetryAfterMs ?? 60_000;
    this.#budget = options.budget ?? 100;
    this.#budgetRefill = options.budgetRefill ?? 0.1;
    this.#onRetry = options.onRetry;
    this.#random = options.random ?? Math.random;
    this.#sleep = options.sleep ?? sleep;
    this.#tokens = this.#budget;
  }

  /** Retries the budget allows right now. */
  get budgetLeft(): number {
    return this.#tokens;
  }

  override get(key: AbsolutePath, options?: CallOptions): Promise<Uint8Array | undefined> {
    return this.#run("get", key, options?.signal, () => this.inner.get(key, options));
  }

  override getRange(
    key: AbsolutePath,
    range: RangeQuery,
    options?: CallOptions,
  ): Promise<Uint8Array | undefined> {
    return this.#run("getRange", key, options?.signal, () =>
      this.inner.getRange(key, range, options),
    );
  }

  override stat(key: AbsolutePath, options?: CallOptions): Promise<StatResult | undefined> {
    return this.#run("stat", key, options?.signal, () => this.inner.stat(key, options));
  }

  override put(key: AbsolutePath, value: Uint8Array, options?: SetOptions): Promise<SetResult> {
    if (options?.ifNoneMatch === undefined && options?.ifMatch === undefined) {
      // Sending an unconditional write again leaves the same value: safe to repeat.
      return this.#run("set", key, options?.signal, () => this.inner.put(key, value, options));
    }
    return this.#conditionalPut(key, value, options);
  }

  override delete(key: AbsolutePath, options?: CallOptions): Promise<void> {
    return this.#run("delete", key, options?.signal, () => this.inner.delete(key, options));
  }

  override deletePrefix(prefix: string, options?: CallOptions): Promise<void> {
    return this.#run("deletePrefix", prefix, options?.signal, () =>
      this.inner.deletePrefix(prefix, options),
    );
  }

  override listDir(prefix?: string, options?: CallOptions): Promise<ListDirResult> {
    return this.#run("listDir", prefix ?? "/", options?.signal, () =>
      this.inner.listDir(prefix, options),
    );
  }

  override async *list(prefix?: string, options?: CallOptions): AsyncIterable<AbsolutePath> {
    const seen = new Set<string>();
    let failures = 0;
    for (;;) {
      try {
        for await (const key of this.inner.list(prefix, options)) {
          if (seen.has(key)) continue;
          seen.add(key);
          failures = 0;
          yield key;
        }
        this.#earn();
        return;
      } catch (error) {
        const delay = this.#delayFor(error, failures, options?.signal);
        if (delay === undefined) throw error;
        failures += 1;
        await this.#pause("list", prefix ?? "/", failures, delay, error as StoreError, options);
      }
    }
  }

  async #run<T>(
    operation: string,
    key: string,
    signal: AbortSignal | undefined,
    attempt: () => Promise<T>,
  ): Promise<T> {
    for (let failures = 0; ; failures++) {
      try {
        const result = await attempt();
        this.#earn();
        return result;
      } catch (error) {
        const delay = this.#delayFor(error, failures, signal);
        if (delay === undefined) throw error;
        await this.#pause(operation, key, failures + 1, delay, error as StoreError, { signal });
      }
    }
  }

  async #conditionalPut(
    key: AbsolutePath,
    value: Uint8Array,
    options: SetOptions,
  ): Promise<SetResult> {
    let uncertain: StoreError | undefined;
    return this.#run("set", key, options.signal, async () => {
      if (uncertain !== undefined) {
        const landed = await this.#recheck(key, value, options, uncertain);
        if (landed !== undefined) return landed;
      }
      try {
        return await this.inner.put(key, value, options);
      } catch (error) {
        if (error instanceof StoreError && error.retryable) uncertain = error;
        throw error;
      }
    });
  }

  // After a conditional write failed in an unknown way: undefined means "send it again",
  // a result means the earlier attempt landed; anything else throws.
  async #recheck(
    key: AbsolutePath,
    value: Uint8Array,
    options: SetOptions,
    uncertain: StoreError,
  ): Promise<SetResult | undefined> {
    const call = { signal: options.signal };
    const stat = await this.inner.stat(key, call);
    if (options.ifNoneMatch === "*") {
      if (stat === undefined) return undefined;
    } else {
      if (stat === undefined) throw conditionFailed(key, "the value to replace is gone");
      // Without etags nothing tells an untouched value from ours: leave the outcome open.
      if (stat.etag === undefined) throw uncertain;
      if (stat.etag === options.ifMatch) return undefined;
    }
    const current = await this.inner.get(key, call);
    if (current !== undefined && sameBytes(current, value)) return { etag: stat.etag };
    throw conditionFailed(key, "another writer changed it while the outcome of ours was unknown");
  }

  // The wait before the next attempt, or undefined when the error must end the call.
  #delayFor(error: unknown, failures: number, signal: AbortSignal | undefined): number | undefined {
    if (!(error instanceof StoreError) || !error.retryable) return undefined;
    if (failures >= this.#retries || signal?.aborted || this.#tokens < 1) return undefined;
    const ceiling = Math.min(this.#maxDelayMs, this.#baseDelayMs * 2 ** failures);
    const backoff = this.#random() * ceiling;
    const asked = error.retryAfterMs;
    if (asked !== undefined && asked > this.#maxRetryAfterMs) return undefined;
    this.#tokens -= 1;
    return asked === undefined ? backoff : Math.max(backoff, asked);
  }

  async #pause(
    operation: string,
    key: string,
    attempt: number,
    delayMs: number,
    error: StoreError,
    options: CallOptions | undefined,
  ): Promise<void> {
    this.#onRetry?.({ operation, key, attempt, delayMs, error });
    await this.#sleep(delayMs, options?.signal);
    throwIfAborted(options?.signal, operation, key);
  }

  #earn(): void {
    if (this.#tokens < this.#budget) {
      this.#tokens = Math.min(this.#budget, this.#tokens + this.#budgetRefill);
    }
  }
}

/**
 * Retries temporary failures with jittered exponential backoff and a shared retry budget.
 * Stack it outside `withTimeout`, so that each attempt has its own deadline.
 *
 * @example
 * const store = withRetry(withTimeout(swift, { ms: 10_000 }), { retries: 4 });
 */
export function withRetry(inner: Store, options: RetryOptions = {}): RetryStore {
  return new RetryStore(inner, options);
}

/** Waits `ms` milliseconds; rejects with `Aborted`/`Timeout` when the signal aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortError(signal));
      return;
    }
    const timer = setTimeout(() => {
      stopWaiting();
      resolve();
    }, ms);
    const stopWaiting = signal
      ? whenAborted(signal, () => {
          clearTimeout(timer);
          reject(abortError(signal));
        })
      : () => {};
  });
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

function conditionFailed(key: string, why: string): StoreError {
  return new StoreError({
    code: "ConditionFailed",
    message: `cannot set ${key}: ${why}`,
    operation: "set",
    key,
    backend: "withRetry",
  });
}
