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

/** Options for `withTimeout`. */
export interface TimeoutOptions {
  /** The deadline of each call in milliseconds; for `list`, of each step to the next key. */
  ms: number;
}

/**
 * Gives every call a deadline. The inner store gets a signal that aborts when the deadline
 * passes or when the caller's own signal aborts, so the inner request is cancelled, not merely
 * abandoned. A call past its deadline rejects with `Timeout` (retryable) even if the inner store
 * ignores the signal; a caller's abort stays `Aborted`.
 *
 * The caller's signal is linked to the call's own by a listener removed when the call settles,
 * not by `AbortSignal.any`: on Node 20 every `any()` stays registered on a long-lived caller
 * signal (nodejs/node#55351), which cost over 100 µs per call here and grew with each call.
 *
 * Calls without a signal of their own share one AbortController and one timer per sixteenth of
 * the deadline (making a signal and a timer for each call cost ~20 µs here): every call still
 * gets at least `ms`, and at most `ms × 17/16`, before it is aborted.
 */
export class TimeoutStore extends ForwardingStore {
  readonly ms: number;
  readonly #slice: number;
  #batch: Batch | undefined;

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
    this.#slice = options.ms / 16;
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
    const unlink = link(options?.signal, controller);
    const keys = this.inner.list(prefix, { signal: controller.signal })[Symbol.asyncIterator]();
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
      unlink();
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
    if (caller === undefined) return this.#batched(operation, key, call);
    if (caller.aborted) return Promise.reject(abortError(caller, operation, key));
    const controller = new AbortController();
    const unlink = link(caller, controller);
    return this.#race(operation, key, controller, call({ signal: controller.signal })).finally(
      unlink,
    );
  }

  // A call in the current batch: its deadline is the batch's.
  #batched<T>(
    operation: string,
    key: string,
    call: (options: CallOptions) => Promise<T>,
  ): Promise<T> {
    const batch = this.#currentBatch();
    return new Promise<T>((resolve, reject) => {
      const expire = () => reject(timeoutError(operation, key, this.ms));
      batch.pending.add(expire);
      if (batch.pending.size === 1) keepAlive(batch.timer, true);
      const leave = () => {
        batch.pending.delete(expire);
        if (batch.pending.size === 0) keepAlive(batch.timer, false);
      };
      call({ signal: batch.controller.signal }).then(
        (value) => {
          leave();
          resolve(value);
        },
        (error: unknown) => {
          leave();
          reject(error);
        },
      );
    });
  }

  #currentBatch(): Batch {
    const now = performance.now();
    const open = this.#batch;
    if (open !== undefined && now < open.closesAt) return open;
    const batch: Batch = {
      controller: new AbortController(),
      pending: new Set(),
      closesAt: now + this.#slice,
      timer: undefined,
    };
    batch.timer = setTimeout(() => this.#expire(batch), this.ms + this.#slice);
    keepAlive(batch.timer, false);
    this.#batch = batch;
    return batch;
  }

  #expire(batch: Batch): void {
    if (this.#batch === batch) this.#batch = undefined;
    // Reject first, so callers see Timeout whatever the inner store makes of the abort.
    for (const expire of batch.pending) expire();
    batch.pending.clear();
    batch.controller.abort(timeoutReason(this.ms));
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

// Calls that started within one slice of time share a controller and a timer.
interface Batch {
  controller: AbortController;
  /** Rejecters of the calls still running. */
  pending: Set<() => void>;
  /** When the batch stops taking calls (performance.now() time). */
  closesAt: number;
  timer: ReturnType<typeof setTimeout> | undefined;
}

// On Node, a batch's timer keeps the process alive only while calls are pending in it.
function keepAlive(timer: ReturnType<typeof setTimeout> | undefined, on: boolean): void {
  const handle = timer as { ref?: () => void; unref?: () => void } | undefined;
  if (on) handle?.ref?.();
  else handle?.unref?.();
}

const NOTHING = () => {};

// Aborts `own` when the caller's signal aborts; returns the function that undoes the link.
function link(caller: AbortSignal | undefined, own: AbortController): () => void {
  if (caller === undefined) return NOTHING;
  return whenAborted(caller, () => own.abort(caller.reason));
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
