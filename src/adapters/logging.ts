import type { Store } from "../store.js";
import { type Clock, ObservingStore, type UsageEvent } from "./observe.js";

/** Options for `withLogging`. */
export interface LoggingOptions {
  /** Receives one line per call, without a trailing newline (e.g. `(l) => stream.write(l + "\n")`). */
  log: (line: string) => void;
  /** `text` (default): the zarrs usage-log style; `json`: one JSON object per line. */
  format?: "text" | "json";
  /** Milliseconds since the epoch; for timestamps and durations (default: performance.now based). */
  clock?: Clock;
}

/**
 * A usage log of every store call: operation, key, range, sizes, duration and outcome, never
 * the values and never an error's message (only its code and HTTP status).
 */
export class LoggingStore extends ObservingStore {
  constructor(inner: Store, options: LoggingOptions) {
    const format = options.format === "json" ? jsonFormatter() : textFormatter();
    const log = options.log;
    super(inner, (event) => log(format(event)), options.clock);
  }
}

/**
 * Logs every store call, in the line style of zarrs' usage log by default:
 *
 * ```text
 * [23:41:19.885] set(/group/array/c/1/0, len=140) -> ok in 0.052ms
 * [23:41:19.886] getRange(/group/array/c/0/0, [52..104]) -> len=52 in 0.031ms
 * [23:41:19.887] get(/group/zarr.json) -> missing in 0.020ms
 * [23:41:19.891] listDir(/group/) -> keys=1, prefixes=1 in 0.044ms
 * [23:41:19.902] get(/group/array/c/9/9) -> error=Unavailable status=503 in 10.210ms
 * ```
 *
 * or as JSON lines (`format: "json"`):
 * `{"time":"2025-01-01T23:41:19.885Z","operation":"get","key":"/a","outcome":"ok","bytes":140,"ms":0.031}`.
 *
 * @example
 * const store = withLogging(inner, { log: (line) => process.stderr.write(`${line}\n`) });
 */
export function withLogging(inner: Store, options: LoggingOptions): LoggingStore {
  return new LoggingStore(inner, options);
}

/** Formats an event as a zarrs-style usage-log line: `[HH:MM:SS.mmm] op(args) -> result in Nms`. */
export function formatUsageText(event: UsageEvent): string {
  return lineOf(clockTime(Math.floor(event.endMs)), event);
}

// The text formatter of one logger: calls within one millisecond share the formatted time.
function textFormatter(): (event: UsageEvent) => string {
  let lastMs = Number.NaN;
  let stamp = "";
  return (event) => {
    const ms = Math.floor(event.endMs);
    if (ms !== lastMs) {
      lastMs = ms;
      stamp = clockTime(ms);
    }
    return lineOf(stamp, event);
  };
}

function lineOf(stamp: string, event: UsageEvent): string {
  return `[${stamp}] ${event.operation}(${argumentsOf(event)}) -> ${resultOf(event)} in ${event.durationMs.toFixed(3)}ms`;
}

/** Formats an event as one line of JSON. */
export function formatUsageJson(event: UsageEvent): string {
  return jsonOf(new Date(event.endMs).toISOString(), event);
}

// The JSON formatter of one logger: calls within one millisecond share the formatted time.
function jsonFormatter(): (event: UsageEvent) => string {
  let lastMs = Number.NaN;
  let time = "";
  return (event) => {
    const ms = Math.floor(event.endMs);
    if (ms !== lastMs) {
      lastMs = ms;
      time = new Date(ms).toISOString();
    }
    return jsonOf(time, event);
  };
}

function jsonOf(time: string, event: UsageEvent): string {
  const line: Record<string, unknown> = {
    time,
    operation: event.operation,
    key: event.key,
  };
  if (event.range !== undefined) line.range = event.range;
  if (event.condition !== undefined) line.condition = event.condition;
  line.outcome = event.outcome;
  if (event.bytes !== undefined) line.bytes = event.bytes;
  if (event.keys !== undefined) line.keys = event.keys;
  if (event.prefixes !== undefined) line.prefixes = event.prefixes;
  if (event.code !== undefined) line.code = event.code;
  if (event.status !== undefined) line.status = event.status;
  line.ms = Math.round(event.durationMs * 1000) / 1000;
  return JSON.stringify(line);
}

function argumentsOf(event: UsageEvent): string {
  let args = event.key;
  if (event.range !== undefined) {
    const r = event.range;
    args +=
      "suffixLength" in r ? `, [-${r.suffixLength}..]` : `, [${r.offset}..${r.offset + r.length}]`;
  }
  if (event.operation === "set") args += `, len=${event.bytes}`;
  if (event.condition !== undefined) args += `, ${event.condition}`;
  return args;
}

function resultOf(event: UsageEvent): string {
  if (event.outcome === "error") {
    return `error=${event.code}${event.status === undefined ? "" : ` status=${event.status}`}`;
  }
  if (event.outcome === "missing") return "missing";
  switch (event.operation) {
    case "get":
    case "getRange":
      return `len=${event.bytes}`;
    case "stat":
      return `size=${event.bytes}`;
    case "list":
      return `keys=${event.keys}`;
    case "listDir":
      return `keys=${event.keys}, prefixes=${event.prefixes}`;
    default:
      return "ok";
  }
}

// `HH:MM:SS.mmm` in UTC, as zarrs' example prefix `[%T%.3f] ` prints it.
function clockTime(ms: number): string {
  const d = new Date(ms);
  const two = (n: number) => (n < 10 ? `0${n}` : `${n}`);
  const millis = d.getUTCMilliseconds();
  const three = millis < 10 ? `00${millis}` : millis < 100 ? `0${millis}` : `${millis}`;
  return `${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())}.${three}`;
}
