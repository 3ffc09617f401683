/** Every failure a store reports is a `StoreError` with one of these codes. */
export type StoreErrorCode =
  | "NotFound"
  | "InvalidKey"
  | "ReadOnly"
  | "Unauthenticated"
  | "PermissionDenied"
  | "ConditionFailed"
  | "Conflict"
  | "RangeNotSatisfiable"
  | "Integrity"
  | "Unsupported"
  | "RateLimited"
  | "Unavailable"
  | "Timeout"
  | "Aborted"
  | "Config"
  | "Unexpected";

/** The store operation an error arose in. */
export type StoreOperation =
  | "get"
  | "getRange"
  | "stat"
  | "set"
  | "delete"
  | "deletePrefix"
  | "list"
  | "listDir"
  | "open"
  | "close"
  | "auth"
  | (string & {});

export interface StoreErrorInit {
  code: StoreErrorCode;
  message: string;
  operation?: StoreOperation | undefined;
  key?: string | undefined;
  backend?: string | undefined;
  /** HTTP status, when the error came from an HTTP response. */
  status?: number | undefined;
  /** Overrides the default for the code (see `isRetryableCode`). */
  retryable?: boolean | undefined;
  /** Milliseconds the server asked us to wait (Retry-After). */
  retryAfterMs?: number | undefined;
  cause?: unknown;
}

// Codes a retry can cure by itself. Everything else needs a person or a different request.
const RETRYABLE_CODES: ReadonlySet<StoreErrorCode> = new Set([
  "RateLimited",
  "Unavailable",
  "Timeout",
]);

/** Tells whether errors of this code are retryable unless a backend says otherwise. */
export function isRetryableCode(code: StoreErrorCode): boolean {
  return RETRYABLE_CODES.has(code);
}

/** The one error type of zarrstore: a code, a retryable flag and the context of the call. */
export class StoreError extends Error {
  override readonly name = "StoreError";
  readonly code: StoreErrorCode;
  readonly retryable: boolean;
  readonly operation: StoreOperation | undefined;
  readonly key: string | undefined;
  readonly backend: string | undefined;
  readonly status: number | undefined;
  readonly retryAfterMs: number | undefined;

  constructor(init: StoreErrorInit) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.code = init.code;
    this.retryable = init.retryable ?? isRetryableCode(init.code);
    this.operation = init.operation;
    this.key = init.key;
    this.backend = init.backend;
    this.status = init.status;
    this.retryAfterMs = init.retryAfterMs;
  }

  /** A plain object for logs: code, context and message, never the cause's internals. */
  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      code: this.code,
      message: this.message,
      retryable: this.retryable,
      operation: this.operation,
      key: this.key,
      backend: this.backend,
      status: this.status,
    };
  }
}

/** Tells whether `error` is a StoreError, optionally of the given code. */
export function isStoreError(error: unknown, code?: StoreErrorCode): error is StoreError {
  return error instanceof StoreError && (code === undefined || error.code === code);
}

/** The error for an operation a store does not support. */
export function unsupported(backend: string, operation: StoreOperation, hint = ""): StoreError {
  return new StoreError({
    code: "Unsupported",
    message: `${backend} does not support ${operation}${hint ? `: ${hint}` : ""}`,
    operation,
    backend,
  });
}

/** The error for a write to a store opened read-only. */
export function readOnlyError(
  backend: string,
  operation: StoreOperation,
  key?: string,
): StoreError {
  return new StoreError({
    code: "ReadOnly",
    message: `${backend} is read-only: cannot ${operation}${key ? ` ${key}` : ""}`,
    operation,
    key,
    backend,
  });
}

/** Turns an abort into a StoreError, keeping the reason as the cause. */
export function abortError(
  signal: AbortSignal,
  operation?: StoreOperation,
  key?: string,
): StoreError {
  const reason: unknown = signal.reason;
  const timeout = reason instanceof Error && reason.name === "TimeoutError";
  return new StoreError({
    code: timeout ? "Timeout" : "Aborted",
    message: timeout ? "the operation timed out" : "the operation was aborted",
    operation,
    key,
    cause: reason,
  });
}

/** Throws a StoreError when the signal is already aborted. */
export function throwIfAborted(
  signal: AbortSignal | undefined,
  operation?: StoreOperation,
  key?: string,
): void {
  if (signal?.aborted) throw abortError(signal, operation, key);
}
