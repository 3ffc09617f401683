/**
 * Swift's statuses on top of the shared HTTP table (src/http/status.ts): the rows where Swift
 * means something of its own, with hints that name what to do on a Swift cluster.
 */
import { StoreError, type StoreErrorCode, type StoreOperation } from "../../errors.js";
import { mapHttpStatus, mapTransportError } from "../../http/status.js";

export const BACKEND = "SwiftStore";

/** Where a failed call went: never a token or key, only names. */
export interface SwiftErrorContext {
  operation: StoreOperation;
  container: string;
  /** The store key (`/foo/.zgroup`), when the call was about one. */
  key?: string | undefined;
  /** The object name inside the container (`zarr-demo/foo/.zgroup`). */
  object?: string | undefined;
  retryAfter?: string | null | undefined;
  detail?: string | undefined;
  hint?: string | undefined;
}

interface SwiftRule {
  code: StoreErrorCode;
  retryable: boolean;
  hint: string;
}

// Rows where Swift differs from plain HTTP or where a Swift-specific hint helps.
const SWIFT_RULES: Readonly<Record<number, SwiftRule>> = {
  401: {
    code: "Unauthenticated",
    retryable: false,
    hint: "the token is invalid or expired, or user/key are wrong; check ST_USER/ST_KEY (or OS_* variables) or acquire a new token",
  },
  403: {
    code: "PermissionDenied",
    retryable: false,
    hint: "the user may not do this here: the container is private or its ACL does not include this user",
  },
  // Swift answers 422 when the body does not match the ETag sent with it.
  422: {
    code: "Integrity",
    retryable: true,
    hint: "the server received different bytes than were sent (ETag mismatch)",
  },
  // The ratelimit middleware's own status.
  498: { code: "RateLimited", retryable: true, hint: "Swift's rate limit; slow down" },
  // Insufficient storage: a disk is full or its xattrs have no room; waiting rarely helps.
  507: {
    code: "Unavailable",
    retryable: false,
    hint: "the object server has no room (disk full or metadata too large for its xattrs)",
  },
};

/** Turns a Swift error status into a `StoreError` naming the container and object. */
export function mapSwiftStatus(status: number, ctx: SwiftErrorContext): StoreError {
  const rule = SWIFT_RULES[status];
  const base = mapHttpStatus(status, {
    backend: BACKEND,
    operation: ctx.operation,
    key: ctx.key,
    url: where(ctx),
    retryAfter: ctx.retryAfter,
    detail: ctx.detail,
    hint: ctx.hint ?? rule?.hint,
  });
  if (rule === undefined) return base;
  return new StoreError({
    code: rule.code,
    message: base.message,
    operation: ctx.operation,
    key: ctx.key,
    backend: BACKEND,
    status,
    retryable: rule.retryable,
    retryAfterMs: base.retryAfterMs,
  });
}

/** Turns a transport failure (refused, reset, aborted…) into a `StoreError` naming the container. */
export function mapSwiftTransport(
  cause: unknown,
  ctx: SwiftErrorContext,
  signal?: AbortSignal,
): StoreError {
  return mapTransportError(
    cause,
    { backend: BACKEND, operation: ctx.operation, key: ctx.key, url: where(ctx) },
    signal,
  );
}

/** A `StoreError` of this backend with a message that names the container. */
export function swiftError(
  code: StoreErrorCode,
  message: string,
  ctx: Pick<SwiftErrorContext, "operation" | "key" | "container">,
  extra: { status?: number; retryable?: boolean; cause?: unknown } = {},
): StoreError {
  return new StoreError({
    code,
    message: `${BACKEND} ${ctx.operation}${ctx.key ? ` ${ctx.key}` : ""} (container '${ctx.container}'): ${message}`,
    operation: ctx.operation,
    key: ctx.key,
    backend: BACKEND,
    status: extra.status,
    retryable: extra.retryable,
    cause: extra.cause,
  });
}

// "container 'demo', object 'zarr-demo/foo/.zgroup'": names only, never the storage URL's token.
function where(ctx: SwiftErrorContext): string {
  return ctx.object === undefined
    ? `container '${ctx.container}'`
    : `container '${ctx.container}', object '${ctx.object}'`;
}
