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

/** Options for `withTimeout`. */
export interface TimeoutOptions {
  /** The deadline of each call in milliseconds; for `list`, of each step to the next key. */
  ms: number;
}

/**
 * Gives every call a deadline. The inner store gets a signal that aborts when the deadline
 * passes or when the caller's own signal aborts (combined with `AbortSignal.any`), so the inner
 * request is cancelled, not merely abandoned. A call past its deadline rejects with `Timeout`
 * (retryable) even if the inner store ignores the signal; a caller's abort stays `Aborted`.
 */
export class TimeoutStore extends ForwardingStore {
  readonly ms: number;

  constructor(inner: Store, options: TimeoutOptions) {
    super(inner);
    if (!(options.ms > 0) || !Number.isFinite(options.ms)) {
      throw new StoreError({
        code: "Config",
        message: `withTimeout: ms must be a positive number of milliseconds, got ${options.ms}`,
        backend: "withTimeout",
      });
    }
    this.ms = options.ms;
  }

  override get(key: AbsolutePath, options?: CallOptions): Promise<Uint8Array | undefined> {
    return this.#deadline("get", key, options, (o) => this.inner.get(key, o));
  }

  override getRange(
    key: AbsolutePath,
    range: RangeQuery,
    options?: CallOptions,
  ): Promise<Uint8Array | undefined> {
    return this.#deadline("getRange", key, options, (o) => this.inner.getRange(key, range, o));
  }

  override stat(key: AbsolutePath, options?: CallOptions): Promise<StatResult | undefined> {
    return this.#deadline("stat", key, options, (o) => this.inner.stat(key, o));
  }

  override put(key: AbsolutePath, value: Uint8Array, options?: SetOptions): Promise<SetResult> {
    return this.#deadline("set", key, options, (o) =>
      this.inner.put(key, value, { ...options, ...o }),
    );
  }

  override delete(key: AbsolutePath, options?: CallOptions): Promise<void> {
    return this.#deadline("delete", key, options, (o) => this.inner.delete(key, o));
  }

  override deletePrefix(prefix: string, options?: CallOptions): Promise<void> {
    return this.#deadline("deletePrefix", prefix, options, (o) =>
      this.inner.deletePrefix(prefix, o),
    );
  }

  override listDir(prefix?: string, options?: CallOptions): Promise<ListDirResult> {
    return this.#deadline("listDir", prefix ?? "/", options, (o) => this.inner.listDir(prefix, o));
  }

  override async *list(prefix?: string, options?: CallOptions): AsyncIterable<AbsolutePath> {
    const where = prefix ?? "/";
    throwIfAborted(options?.signal, "list", where);
    const controller = new AbortController();
    const signal = combine(options?.signal, controller.signal);
    const keys = this.inner.list(prefix, { signal })[Symbol.asyncIterator]();
    let finished = false;
    try {
      for (;;) {
        const step = await this.#race("list", where, controller, keys.next());
        if (step.done) {
          finished = true;
          return;
        }
        yield step.value;
      }
    } finally {
      if (!finished) {
        controller.abort(timeoutReason(this.ms));
        // The inner listing may still be stuck in its step: do not wait for it.
        keys.return?.().catch(() => {});
      }
    }
  }

  #deadline<T>(
    operation: string,
    key: string,
    options: CallOptions | undefined,
    call: (options: CallOptions) => Promise<T>,
  ): Promise<T> {
    const caller = options?.signal;
    if (caller?.aborted) return Promise.reject(abortError(caller, operation, key));
    const controller = new AbortController();
    return this.#race(
      operation,
      key,
      controller,
      call({ signal: combine(caller, controller.signal) }),
    );
  }

  // Settles with the work, or rejects with Timeout and aborts the work when the deadline passes.
  #race<T>(
    operation: string,
    key: string,
    controller: AbortController,
    work: Promise<T>,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        // Reject first, so the caller sees Timeout whatever the inner store makes of the abort.
        reject(timeoutError(operation, key, this.ms));
        controller.abort(timeoutReason(this.ms));
      }, this.ms);
      work.then(
        (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        (error: unknown) => {
          clearTimeout(timer);
          reject(error);
        },
      );
    });
  }
}

/**
 * Bounds every call by a deadline and cancels the inner request when it passes. Stack it
 * inside `withRetry`, so that a timed-out attempt is retried with a fresh deadline.
 *
 * @example
 * const store = withRetry(withTimeout(http, { ms: 5_000 }));
 */
export function withTimeout(inner: Store, options: TimeoutOptions): TimeoutStore {
  return new TimeoutStore(inner, options);
}

function combine(caller: AbortSignal | undefined, own: AbortSignal): AbortSignal {
  return caller === undefined ? own : AbortSignal.any([caller, own]);
}

function timeoutReason(ms: number): DOMException {
  return new DOMException(`the call took longer than ${ms} ms`, "TimeoutError");
}

function timeoutError(operation: string, key: string, ms: number): StoreError {
  return new StoreError({
    code: "Timeout",
    message: `${operation} ${key} timed out after ${ms} ms (withTimeout)`,
    operation,
    key,
    backend: "withTimeout",
  });
}
