/**
 * Progress of long CLI work on stderr: a bar drawn by `cli-progress` on a terminal, plain
 * periodic lines otherwise (logs, CI, pipes), nothing with `--quiet`. Stdout stays free for
 * results and `--json`.
 */
import cliProgress from "cli-progress";
import type { CopyProgress } from "../zarr/progress.js";
import type { CliIO } from "./io.js";

/** Draws progress reports and clears up when the work ends. */
export interface ProgressReporter {
  update(progress: CopyProgress): void;
  /** Ends the bar (or prints the last plain line). Idempotent. */
  stop(): void;
}

/** Options for `createProgressReporter`. */
export interface ProgressReporterOptions {
  /** The verb of the work, for plain lines (`copying`, `syncing`, `removing`). */
  label: string;
  quiet?: boolean | undefined;
  /**
   * Least time between plain lines (default 5 s, or `ZARRSTORE_PROGRESS_INTERVAL_MS`): often
   * enough to show life in a CI log, rarely enough not to flood it.
   */
  intervalMs?: number | undefined;
}

const DEFAULT_PLAIN_INTERVAL_MS = 5000;

/** Chooses the reporter for the terminal (or not) that stderr is. */
export function createProgressReporter(
  io: CliIO,
  options: ProgressReporterOptions,
): ProgressReporter {
  if (options.quiet) return { update() {}, stop() {} };
  if (io.stderr.isTTY) return new BarReporter(io);
  const fromEnv = Number(io.env.ZARRSTORE_PROGRESS_INTERVAL_MS);
  const interval =
    options.intervalMs ??
    (Number.isFinite(fromEnv) && fromEnv >= 0 ? fromEnv : DEFAULT_PLAIN_INTERVAL_MS);
  return new PlainReporter(io, options.label, interval);
}

/** A terminal bar: keys done of the total, bytes, rate and ETA, redrawn in place. */
class BarReporter implements ProgressReporter {
  readonly #bar: cliProgress.SingleBar;
  #started = false;
  #stopped = false;

  constructor(io: CliIO) {
    this.#bar = new cliProgress.SingleBar(
      {
        // cli-progress only needs write, isTTY and columns of the stream it draws on.
        stream: io.stderr as unknown as NodeJS.WritableStream,
        format: "{phase} [{bar}] {keys} keys | {bytes} | {rate} | ETA {etaText}",
        barsize: 24,
        hideCursor: true,
        clearOnComplete: false,
        // Our own ETA (sliding window, known total) replaces cli-progress's.
        etaBuffer: 1,
      },
      cliProgress.Presets.shades_classic,
    );
  }

  update(progress: CopyProgress): void {
    if (this.#stopped) return;
    const total = Math.max(progress.keysTotal ?? progress.keysDone + 1, 1);
    const payload = tokens(progress);
    if (!this.#started) {
      this.#started = true;
      this.#bar.start(total, progress.keysDone, payload);
      return;
    }
    this.#bar.setTotal(total);
    this.#bar.update(progress.keysDone, payload);
  }

  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#started) this.#bar.stop();
  }
}

/** One line every `intervalMs`, and one at each phase change. */
class PlainReporter implements ProgressReporter {
  readonly #io: CliIO;
  readonly #label: string;
  readonly #intervalMs: number;
  #lastLine = Number.NEGATIVE_INFINITY;
  #lastPhase: string | undefined;
  #printed = false;
  #stopped = false;

  constructor(io: CliIO, label: string, intervalMs: number) {
    this.#io = io;
    this.#label = label;
    this.#intervalMs = intervalMs;
  }

  update(progress: CopyProgress): void {
    if (this.#stopped) return;
    const now = progress.elapsedMs;
    if (this.#lastPhase === undefined) {
      // The start says nothing yet: the first line comes after one interval or a phase change.
      this.#lastPhase = progress.phase;
      this.#lastLine = now;
      return;
    }
    // A phase change is worth a line only in work long enough to have shown one already.
    const phaseChanged =
      this.#printed && progress.phase !== this.#lastPhase && progress.phase !== "done";
    if (!phaseChanged && now - this.#lastLine < this.#intervalMs) return;
    this.#printed = true;
    this.#lastPhase = progress.phase;
    this.#lastLine = now;
    this.#io.stderr.write(`${plainLine(this.#label, progress)}\n`);
  }

  stop(): void {
    this.#stopped = true;
  }
}

function tokens(progress: CopyProgress): Record<string, string> {
  return {
    phase: progress.phase.padEnd(8),
    keys: keysText(progress),
    bytes: formatBytes(progress.bytesCopied),
    rate: `${formatBytes(progress.bytesPerSecond)}/s`,
    etaText: progress.etaSeconds === undefined ? "?" : formatDuration(progress.etaSeconds),
  };
}

/** A plain progress line: `copying: 1200/5000 keys (24 %), 18.8 MiB, 4.1 MiB/s, ETA 0:52`. */
export function plainLine(label: string, progress: CopyProgress): string {
  const parts = [
    `${keysText(progress)} keys${percent(progress)}`,
    formatBytes(progress.bytesCopied),
    `${formatBytes(progress.bytesPerSecond)}/s`,
  ];
  if (progress.keysSkipped > 0) parts.push(`${progress.keysSkipped} skipped`);
  if (progress.keysFailed > 0) parts.push(`${progress.keysFailed} failed`);
  if (progress.keysDeleted > 0) parts.push(`${progress.keysDeleted} deleted`);
  if (progress.etaSeconds !== undefined) parts.push(`ETA ${formatDuration(progress.etaSeconds)}`);
  const phase = progress.phase === "copying" ? label : progress.phase;
  return `${phase}: ${parts.join(", ")}`;
}

function keysText(progress: CopyProgress): string {
  return `${progress.keysDone}/${progress.keysTotal ?? "?"}`;
}

function percent(progress: CopyProgress): string {
  if (!progress.keysTotal) return "";
  return ` (${Math.floor((100 * progress.keysDone) / progress.keysTotal)} %)`;
}

/** Bytes in binary units: `512 B`, `16.0 KiB`, `1.5 GiB`. */
export function formatBytes(bytes: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${Math.round(value)} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** Seconds as `4.2 s` under a minute, else `m:ss` or `h:mm:ss`. */
export function formatDuration(seconds: number): string {
  if (seconds < 60) return `${Math.max(0, seconds).toFixed(1)} s`;
  const total = Math.round(seconds);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}
