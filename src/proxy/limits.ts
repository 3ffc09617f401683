/**
 * The proxy's limits: how large an answer may be and how much work one request may cause.
 * Every limit is checked from metadata alone (shape × item size, chunk counts) before any
 * chunk is read upstream.
 */
import { StoreError } from "../errors.js";

/** The seed's default payload limit: 2,000,000 bytes per served chunk. */
export const DEFAULT_PAYLOAD_LIMIT = 2_000_000;

/** The environment variable the seed reads the payload limit from. */
export const PAYLOAD_LIMIT_ENV = "ZARR_PROXY_PAYLOAD_SIZE_LIMIT";

/** Limits for one proxy. */
export interface ProxyLimits {
  /** Largest served chunk, in bytes before any re-encoding (`2 mb`, `10kib`, `1GB` or a number). */
  payloadBytes: number;
  /** Most source chunks one served chunk may be assembled from. */
  maxSourceChunks: number;
  /** Largest decoded source chunk the proxy will hold in memory. */
  maxSourceChunkBytes: number;
  /** A request that takes longer is answered 504. */
  requestTimeoutMs: number;
  /** Requests in progress beyond this are answered 503 with `Retry-After`. */
  maxConcurrentRequests: number;
  /** Source chunks read and decoded at the same time, across all requests. */
  upstreamConcurrency: number;
}

/** What callers may pass: any subset, sizes as numbers or with units. */
export type ProxyLimitsInit = {
  [K in keyof ProxyLimits]?: K extends "payloadBytes" | "maxSourceChunkBytes"
    ? number | string
    : number;
};

const DEFAULTS: Omit<ProxyLimits, "payloadBytes"> = {
  // 1024: a 256×256 chunk over 8×8 source chunks needs 1,024; more is a sign of a mistake.
  maxSourceChunks: 1024,
  // 256 MiB: one decoded source chunk larger than this would crowd out the whole cache.
  maxSourceChunkBytes: 256 * 1024 * 1024,
  // 30 s: long enough for a slow object store, short enough that clients do not hang.
  requestTimeoutMs: 30_000,
  maxConcurrentRequests: 512,
  // 16: enough to keep two cores busy decoding while upstream round trips are in flight.
  upstreamConcurrency: 16,
};

/**
 * Resolves limits: explicit options first, then `ZARR_PROXY_PAYLOAD_SIZE_LIMIT` from `env`
 * for the payload limit, then the defaults.
 */
export function resolveLimits(
  init: ProxyLimitsInit = {},
  env: Record<string, string | undefined> = {},
): ProxyLimits {
  const fromEnv = env[PAYLOAD_LIMIT_ENV];
  const payload = init.payloadBytes ?? (fromEnv?.trim() ? fromEnv : DEFAULT_PAYLOAD_LIMIT);
  const limits: ProxyLimits = {
    payloadBytes: parseByteSize(payload, "payload limit"),
    maxSourceChunks: init.maxSourceChunks ?? DEFAULTS.maxSourceChunks,
    maxSourceChunkBytes: parseByteSize(
      init.maxSourceChunkBytes ?? DEFAULTS.maxSourceChunkBytes,
      "source chunk limit",
    ),
    requestTimeoutMs: init.requestTimeoutMs ?? DEFAULTS.requestTimeoutMs,
    maxConcurrentRequests: init.maxConcurrentRequests ?? DEFAULTS.maxConcurrentRequests,
    upstreamConcurrency: init.upstreamConcurrency ?? DEFAULTS.upstreamConcurrency,
  };
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw configError(`the proxy limit ${name} must be a whole number ≥ 1, got ${value}`);
    }
  }
  return limits;
}

const UNIT_POWERS: Record<string, number> = { "": 0, k: 1, m: 2, g: 3, t: 4, p: 5 };
const SIZE = /^(\d+(?:\.\d+)?)\s*(?:([kmgtp])(i)?(?:b|bytes?)?|(b|bytes?))?$/i;

/**
 * Parses a byte size the way the seed does: a number with an optional unit, case-insensitive,
 * space optional. `k`, `kb`, `m`, `mb`, `g`, `gb`, `t`, `tb` are powers of 1000; `kib`, `mib`,
 * `gib`, `tib` powers of 1024; `b` or no unit are bytes. Examples: `2 mb` = 2,000,000,
 * `10kib` = 10,240, `1GB` = 1,000,000,000, `2000000` = 2,000,000. Numbers pass through.
 */
export function parseByteSize(value: string | number, what = "size"): number {
  if (typeof value === "number") {
    if (Number.isSafeInteger(value) && value >= 0) return value;
    throw configError(`the ${what} must be a whole number of bytes, got ${value}`);
  }
  const match = SIZE.exec(value.trim());
  if (!match) {
    throw configError(
      `cannot read the ${what} ${JSON.stringify(value)}: write a number with an optional unit, e.g. 2000000, "2 mb", "10kib", "1GB"`,
    );
  }
  const [, number = "0", prefix = "", binary] = match;
  const base = binary ? 1024 : 1000;
  const bytes = Math.round(Number(number) * base ** (UNIT_POWERS[prefix.toLowerCase()] ?? 0));
  if (!Number.isSafeInteger(bytes)) throw configError(`the ${what} ${value} is too large`);
  return bytes;
}

function configError(message: string): StoreError {
  return new StoreError({ code: "Config", message, operation: "configure proxy" });
}

/** Runs at most `limit` tasks at a time; the rest wait in order. */
export class Semaphore {
  readonly #limit: number;
  readonly #waiting: (() => void)[] = [];
  #running = 0;

  constructor(limit: number) {
    this.#limit = limit;
  }

  /** Runs `task` when a slot is free. */
  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.#running >= this.#limit) {
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    } else {
      this.#running++;
    }
    try {
      return await task();
    } finally {
      const next = this.#waiting.shift();
      if (next) next();
      else this.#running--;
    }
  }
}
