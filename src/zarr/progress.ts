/**
 * Progress of long store work (copy, sync, delete): counters, rates over a sliding window and an
 * ETA, reported through a callback at most every `intervalMs`. Runtime-neutral; the CLI draws it.
 */

/** What the work is doing now. */
export type CopyPhase = "copying" | "metadata" | "deleting" | "done";

/** One progress report. Counts are totals since the start. */
export interface CopyProgress {
  phase: CopyPhase;
  /** Keys to handle; `undefined` until the source listing has ended. */
  keysTotal: number | undefined;
  /** Keys handled (copied + skipped + failed). */
  keysDone: number;
  keysCopied: number;
  /** Keys already at the destination and identical (resume, sync). */
  keysSkipped: number;
  keysFailed: number;
  /** Keys removed from the destination (sync --delete, rm). */
  keysDeleted: number;
  /** Bytes written to the destination. */
  bytesCopied: number;
  /** Bytes found identical and not sent again. */
  bytesSkipped: number;
  /** Bytes written per second over the last few seconds. */
  bytesPerSecond: number;
  /** Keys handled per second over the last few seconds. */
  keysPerSecond: number;
  /** Seconds left at the current rate; `undefined` while the total or the rate is unknown. */
  etaSeconds: number | undefined;
  elapsedMs: number;
}

/** Options for a `ProgressTracker`. */
export interface ProgressTrackerOptions {
  onProgress?: ((progress: CopyProgress) => void) | undefined;
  /** Least time between two reports (default 250 ms: smooth on a terminal, cheap anywhere). */
  intervalMs?: number | undefined;
  /** Rates are measured over this window (default 5 s: steady, yet quick to follow a change). */
  windowMs?: number | undefined;
  /** The clock, in milliseconds (tests pass their own). */
  now?: (() => number) | undefined;
}

interface Sample {
  at: number;
  keys: number;
  bytes: number;
}

/** Counts work done and reports it, throttled, with rates and an ETA. */
export class ProgressTracker {
  readonly #onProgress: ((progress: CopyProgress) => void) | undefined;
  readonly #intervalMs: number;
  readonly #windowMs: number;
  readonly #now: () => number;
  readonly #started: number;
  #samples: Sample[] = [];
  #lastEmit = Number.NEGATIVE_INFINITY;
  #phase: CopyPhase = "copying";
  #total: number | undefined;
  #copied = 0;
  #skipped = 0;
  #failed = 0;
  #deleted = 0;
  #bytesCopied = 0;
  #bytesSkipped = 0;

  constructor(options: ProgressTrackerOptions = {}) {
    this.#onProgress = options.onProgress;
    this.#intervalMs = options.intervalMs ?? 250;
    this.#windowMs = options.windowMs ?? 5000;
    this.#now = options.now ?? (() => performance.now());
    this.#started = this.#now();
    this.#samples.push({ at: this.#started, keys: 0, bytes: 0 });
  }

  /** Moves to a new phase and reports it at once. */
  phase(phase: CopyPhase): void {
    this.#phase = phase;
    this.emit();
  }

  /** Sets (or raises) the number of keys to handle. */
  total(keys: number): void {
    this.#total = keys;
    this.#tick();
  }

  copied(bytes: number): void {
    this.#copied += 1;
    this.#bytesCopied += bytes;
    this.#tick();
  }

  skipped(bytes: number): void {
    this.#skipped += 1;
    this.#bytesSkipped += bytes;
    this.#tick();
  }

  failed(): void {
    this.#failed += 1;
    this.#tick();
  }

  deleted(): void {
    this.#deleted += 1;
    this.#tick();
  }

  /** The numbers now. */
  snapshot(): CopyProgress {
    const now = this.#now();
    const done = this.#copied + this.#skipped + this.#failed;
    const { keysPerSecond, bytesPerSecond } = this.#rates(now, done);
    const left = this.#total === undefined ? undefined : Math.max(0, this.#total - done);
    return {
      phase: this.#phase,
      keysTotal: this.#total,
      keysDone: done,
      keysCopied: this.#copied,
      keysSkipped: this.#skipped,
      keysFailed: this.#failed,
      keysDeleted: this.#deleted,
      bytesCopied: this.#bytesCopied,
      bytesSkipped: this.#bytesSkipped,
      bytesPerSecond,
      keysPerSecond,
      etaSeconds:
        left === undefined
          ? undefined
          : left === 0
            ? 0
            : keysPerSecond > 0
              ? left / keysPerSecond
              : undefined,
      elapsedMs: now - this.#started,
    };
  }

  /** Reports now, whatever the interval. */
  emit(): void {
    this.#lastEmit = this.#now();
    this.#onProgress?.(this.snapshot());
  }

  #tick(): void {
    if (this.#onProgress === undefined) return;
    if (this.#now() - this.#lastEmit >= this.#intervalMs) this.emit();
  }

  #rates(now: number, done: number): { keysPerSecond: number; bytesPerSecond: number } {
    const bytes = this.#bytesCopied;
    const last = this.#samples[this.#samples.length - 1] as Sample;
    // One sample per 100 ms is plenty for a 5 s window and keeps the array short.
    if (now - last.at >= 100) this.#samples.push({ at: now, keys: done, bytes });
    while (this.#samples.length > 2 && now - (this.#samples[1] as Sample).at > this.#windowMs) {
      this.#samples.shift();
    }
    const first = this.#samples[0] as Sample;
    const seconds = (now - first.at) / 1000;
    if (seconds <= 0) return { keysPerSecond: 0, bytesPerSecond: 0 };
    return {
      keysPerSecond: (done - first.keys) / seconds,
      bytesPerSecond: (bytes - first.bytes) / seconds,
    };
  }
}
