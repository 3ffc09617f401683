/**
 * Cloud Storage's errors on top of the shared HTTP table (src/http/status.ts). The JSON API
 * answers `{"error": {"code", "message", "errors": [{"reason", …}]}}`; the `reason` picks the
 * row, and the hint says what to do about it.
 */
import { StoreError, type StoreErrorCode, type StoreOperation } from "../../errors.js";
import { mapHttpStatus } from "../../http/status.js";

export const BACKEND = "GcsStore";

/** What a failed call was about: names only, never a token. */
export interface GcsErrorContext {
  operation: StoreOperation;
  bucket: string;
  key?: string | undefined;
  /** How the store authenticates, to pick the hint for auth failures. */
  credential: "token" | "anonymous";
}

/** The parts of a failed response the table reads. */
export interface GcsErrorResponse {
  status: number;
  reason?: string | undefined;
  message?: string | undefined;
  retryAfter?: string | undefined;
}

interface GcsRule {
  code: StoreErrorCode;
  retryable: boolean;
  hint: (ctx: GcsErrorContext) => string;
}

const RULES_BY_STATUS: Readonly<Record<number, GcsRule>> = {
  401: {
    code: "Unauthenticated",
    retryable: false,
    hint: (ctx) =>
      ctx.credential === "anonymous"
        ? "the bucket does not allow anonymous reads: pass a token (token, tokenProvider or GOOGLE_OAUTH_ACCESS_TOKEN)"
        : "the access token was rejected (expired or malformed): get a new one (gcloud auth print-access-token) or pass a tokenProvider",
  },
  403: {
    code: "PermissionDenied",
    retryable: false,
    hint: (ctx) =>
      `the caller lacks a permission on bucket '${ctx.bucket}' (storage.objects.get, create, delete or list; e.g. the Storage Object User role)`,
  },
  404: {
    code: "NotFound",
    retryable: false,
    hint: (ctx) => `the bucket '${ctx.bucket}' does not exist: check its name`,
  },
  412: {
    code: "ConditionFailed",
    retryable: false,
    hint: () => "the value changed or exists (ifMatch / ifNoneMatch)",
  },
  429: {
    code: "RateLimited",
    retryable: true,
    hint: () => "too many requests (rateLimitExceeded); slow down and retry",
  },
};

const RULES_BY_REASON: Readonly<Record<string, GcsRule>> = {
  userProjectMissing: {
    code: "Config",
    retryable: false,
    hint: () => "the bucket is requester-pays: a billing project is required",
  },
  accountDisabled: {
    code: "PermissionDenied",
    retryable: false,
    hint: () => "the project or account is disabled",
  },
};

/** Turns a failed JSON API response into a `StoreError` naming the bucket and key. */
export function mapGcsError(response: GcsErrorResponse, ctx: GcsErrorContext): StoreError {
  const rule =
    (response.reason ? RULES_BY_REASON[response.reason] : undefined) ??
    RULES_BY_STATUS[response.status];
  const base = mapHttpStatus(response.status, {
    backend: BACKEND,
    operation: ctx.operation,
    key: ctx.key,
    retryAfter: response.retryAfter,
    detail: [response.reason, response.message].filter(Boolean).join(": ") || undefined,
    hint: rule?.hint(ctx),
  });
  return new StoreError({
    code: rule?.code ?? base.code,
    message: `${base.message} [bucket ${ctx.bucket}]`,
    operation: ctx.operation,
    key: ctx.key,
    backend: BACKEND,
    status: response.status,
    retryable: rule?.retryable ?? base.retryable,
    retryAfterMs: base.retryAfterMs,
  });
}

/** Reads the JSON API's error body (`error.message`, `error.errors[0].reason`). */
export function parseGcsError(text: string): { reason?: string; message?: string } {
  try {
    const body = JSON.parse(text) as {
      error?: { message?: unknown; errors?: { reason?: unknown }[] };
    };
    const out: { reason?: string; message?: string } = {};
    const reason = body.error?.errors?.[0]?.reason;
    if (typeof reason === "string") out.reason = reason;
    if (typeof body.error?.message === "string") out.message = body.error.message;
    return out;
  } catch {
    return text.trim() ? { message: text.trim().slice(0, 200) } : {};
  }
}

/** A StoreError of this backend, for failures found before any request. */
export function gcsError(
  code: StoreErrorCode,
  message: string,
  ctx: { operation: StoreOperation; key?: string | undefined },
): StoreError {
  return new StoreError({
    code,
    message: `${BACKEND} ${ctx.operation}${ctx.key ? ` ${ctx.key}` : ""}: ${message}`,
    operation: ctx.operation,
    key: ctx.key,
    backend: BACKEND,
  });
}
