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

/** Options for `withConcurrency`. */
export interface ConcurrencyOptions {
  /** Most calls in the inner store at once (a whole number ≥ 1). */
  limit: number;
}

interface Waiter {
  resolve: () => void;
}

/**
 * Lets at most `limit` calls into the inner store at once; the rest wait in arrival order.
 * A waiting call whose signal aborts leaves the queue with `Aborted`. A `list` holds a slot only
 * while it fetches its next key, not while the caller works on the keys it has.
 */
export class ConcurrencyStore extends ForwardingStore {
  readonly limit: number;
  // A Set keeps arrival order and removes an aborted waiter in O(1).
  readonly #waiting = new Set<Waiter>();
  #free: number;

  constructor(inner: Store, options: ConcurrencyOptions) {
    super(inner);
    if (!Number.isSafeInteger(options.limit) || options.limit < 1) {
      throw new StoreError({
        code: "Config",
        message: `withConcurrency: limit must be a whole number ≥ 1, got ${options.limit}`,
        backend: "withConcurrency",
      });
    }
    this.limit = options.limit;
    this.#free = options.limit;
  }

  /** Calls running in the inner store now. */
  get active(): number {
    return this.limit - this.#free;
  }

  /** Calls waiting for a slot now. */
  get waiting(): number {
    return this.#waiting.size;
  }

  override get(key: AbsolutePath, options?: CallOptions): Promise<Uint8Array | undefined> {
    return this.#limited("get", key, options, () => this.inner.get(key, options));
  }

  override getRange(
    key: AbsolutePath,
    range: RangeQuery,
    options?: CallOptions,
  ): Promise<Uint8Array | undefined> {
    return this.#limited("getRange", key, options, () => this.inner.getRange(key, range, options));
  }

  override stat(key: AbsolutePath, options?: CallOptions): Promise<StatResult | undefined> {
    return this.#limited("stat", key, options, () => this.inner.stat(key, options));
  }

  override put(key: AbsolutePath, value: Uint8Array, options?: SetOptions): Promise<SetResult> {
    return this.#limited("set", key, options, () => this.inner.put(key, value, options));
  }

  override delete(key: AbsolutePath, options?: CallOptions): Promise<void> {
    return this.#limited("delete", key, options, () => this.inner.delete(key, options));
  }

  override deletePrefix(prefix: string, options?: CallOptions): Promise<void> {
    return this.#limited("deletePrefix", prefix, options, () =>
      this.inner.deletePrefix(prefix, options),
    );
  }

  override listDir(prefix?: string, options?: CallOptions): Promise<ListDirResult> {
    return this.#limited("listDir", prefix ?? "/", options, () =>
      this.inner.listDir(prefix, options),
    );
  }

  override async *list(prefix?: string, options?: CallOptions): AsyncIterable<AbsolutePath> {
    const keys = this.inner.list(prefix, options)[Symbol.asyncIterator]();
    try {
      for (;;) {
        const step = await this.#limited("list", prefix ?? "/", options, () => keys.next());
        if (step.done) return;
        yield step.value;
      }
    } finally {
      await keys.return?.();
    }
  }

  async #limited<T>(
    operation: string,
    key: string,
    options: CallOptions | undefined,
    call: () => Promise<T>,
  ): Promise<T> {
    if (this.#free > 0) this.#free -= 1;
    else await this.#acquire(operation, key, options?.signal);
    try {
      return await call();
    } finally {
      this.#release();
    }
  }

  #acquire(operation: string, key: string, signal: AbortSignal | undefined): Promise<void> {
    throwIfAborted(signal, operation, key);
    return new Promise((resolve, reject) => {
      const stopWaiting = signal
        ? whenAborted(signal, () => {
            this.#waiting.delete(waiter);
            reject(abortError(signal, operation, key));
          })
        : () => {};
      const waiter: Waiter = {
        resolve: () => {
          stopWaiting();
          resolve();
        },
      };
      this.#waiting.add(waiter);
    });
  }

  // Hands the slot straight to the next waiter, so a newcomer cannot overtake the queue.
  #release(): void {
    const next = this.#waiting.values().next();
    if (next.done) {
      this.#free += 1;
      return;
    }
    this.#waiting.delete(next.value);
    next.value.resolve();
  }
}

/**
 * Bounds the calls in flight to the inner store.
 *
 * @example
 * const store = withConcurrency(swift, { limit: 16 });
 */
export function withConcurrency(inner: Store, options: ConcurrencyOptions): ConcurrencyStore {
  return new ConcurrencyStore(inner, options);
}
