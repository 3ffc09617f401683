/**
 * S3 errors: the XML `<Error><Code>` of a reply decides the `StoreError` code (S3 answers 403
 * for both a wrong secret and a denied bucket, 404 for a missing bucket and a missing key), the
 * shared HTTP table (src/http/status.ts) covers replies without one.
 */
import { StoreError, type StoreErrorCode, type StoreOperation } from "../../errors.js";
import { mapHttpStatus, mapTransportError } from "../../http/status.js";

export const BACKEND = "S3Store";

/** Where a failed call went: bucket and key, never credentials or signatures. */
export interface S3ErrorContext {
  operation: StoreOperation;
  bucket: string;
  key?: string | undefined;
  /** The object name in the bucket (`prefix/key`). */
  object?: string | undefined;
  retryAfter?: string | null | undefined;
  region?: string | undefined;
  /** The request went unsigned. */
  anonymous?: boolean | undefined;
}

/** An S3 error reply's fields. */
export interface S3ErrorBody {
  code?: string | undefined;
  message?: string | undefined;
  /** For redirects and wrong regions: where the bucket lives. */
  region?: string | undefined;
  endpoint?: string | undefined;
}

interface S3Rule {
  code: StoreErrorCode;
  retryable: boolean;
  hint: string;
}

// S3 error codes → what they mean for a caller. Rows with "credentials" hints are the ones a
// user fixes in their configuration; "retryable" rows are cured by waiting.
const S3_RULES: Readonly<Record<string, S3Rule>> = {
  InvalidAccessKeyId: {
    code: "Unauthenticated",
    retryable: false,
    hint: "the access key id is unknown; check AWS_ACCESS_KEY_ID or the profile",
  },
  SignatureDoesNotMatch: {
    code: "Unauthenticated",
    retryable: false,
    hint: "the signature does not match; check the secret access key (and the region and endpoint)",
  },
  AuthorizationHeaderMalformed: {
    code: "Unauthenticated",
    retryable: false,
    hint: "the request was signed for the wrong region; set region (AWS_REGION) to the bucket's",
  },
  AuthorizationQueryParametersError: {
    code: "Unauthenticated",
    retryable: false,
    hint: "the presigned URL is malformed or signed for the wrong region",
  },
  InvalidToken: {
    code: "Unauthenticated",
    retryable: false,
    hint: "the session token is invalid; check AWS_SESSION_TOKEN",
  },
  ExpiredToken: {
    code: "Unauthenticated",
    retryable: false,
    hint: "the session token has expired; renew the credentials",
  },
  TokenRefreshRequired: {
    code: "Unauthenticated",
    retryable: false,
    hint: "the session token must be renewed",
  },
  MissingSecurityHeader: {
    code: "Unauthenticated",
    retryable: false,
    hint: "the request is missing credentials",
  },
  RequestTimeTooSkewed: {
    code: "Config",
    retryable: false,
    hint: "this machine's clock is too far from the server's; fix the clock",
  },
  AccessDenied: {
    code: "PermissionDenied",
    retryable: false,
    hint: "the credentials are valid but may not do this on this bucket/key (policy or ACL)",
  },
  AllAccessDisabled: {
    code: "PermissionDenied",
    retryable: false,
    hint: "all access to this bucket is disabled",
  },
  AccountProblem: {
    code: "PermissionDenied",
    retryable: false,
    hint: "the account has a problem that blocks this operation",
  },
  NoSuchBucket: {
    code: "NotFound",
    retryable: false,
    hint: "the bucket does not exist; check the bucket name, endpoint and region",
  },
  NoSuchKey: { code: "NotFound", retryable: false, hint: "no value at this key" },
  NoSuchUpload: {
    code: "Conflict",
    retryable: false,
    hint: "the multipart upload was aborted or completed elsewhere",
  },
  PreconditionFailed: {
    code: "ConditionFailed",
    retryable: false,
    hint: "the value changed or exists (If-Match / If-None-Match)",
  },
  ConditionalRequestConflict: {
    code: "ConditionFailed",
    retryable: true,
    hint: "a concurrent conditional write to the same key is in progress",
  },
  InvalidRange: {
    code: "RangeNotSatisfiable",
    retryable: false,
    hint: "the range starts at or past the end of the value",
  },
  BadDigest: {
    code: "Integrity",
    retryable: true,
    hint: "the server received different bytes than were sent",
  },
  InvalidDigest: { code: "Integrity", retryable: true, hint: "the body's digest is malformed" },
  IncompleteBody: {
    code: "Integrity",
    retryable: true,
    hint: "the body was shorter than its Content-Length",
  },
  InvalidPart: {
    code: "Integrity",
    retryable: false,
    hint: "a multipart part is missing or its ETag does not match",
  },
  EntityTooLarge: {
    code: "Config",
    retryable: false,
    hint: "the value is larger than the server accepts in one request",
  },
  EntityTooSmall: {
    code: "Config",
    retryable: false,
    hint: "a multipart part is smaller than the server's minimum (5 MiB)",
  },
  InvalidBucketName: { code: "Config", retryable: false, hint: "the bucket name is not valid" },
  KeyTooLongError: { code: "InvalidKey", retryable: false, hint: "the key is too long" },
  PermanentRedirect: {
    code: "Config",
    retryable: false,
    hint: "the bucket lives in another region or endpoint; set region/endpoint to it",
  },
  TemporaryRedirect: {
    code: "Unavailable",
    retryable: true,
    hint: "the bucket is being moved; retry later",
  },
  NotImplemented: {
    code: "Unsupported",
    retryable: false,
    hint: "the server does not implement this (e.g. conditional writes)",
  },
  SlowDown: { code: "RateLimited", retryable: true, hint: "too many requests; slow down" },
  ServiceUnavailable: {
    code: "Unavailable",
    retryable: true,
    hint: "the service is unavailable; retry later",
  },
  InternalError: {
    code: "Unavailable",
    retryable: true,
    hint: "the server failed; retry later",
  },
  RequestTimeout: {
    code: "Timeout",
    retryable: true,
    hint: "the server timed out reading the request",
  },
};

/** Reads `<Error><Code>…</Code><Message>…</Message></Error>` out of an S3 error body. */
export function parseS3Error(text: string): S3ErrorBody {
  return {
    code: xmlText(text, "Code"),
    message: xmlText(text, "Message"),
    region: xmlText(text, "Region"),
    endpoint: xmlText(text, "Endpoint"),
  };
}

/** Turns an S3 error reply into a `StoreError` naming the bucket and key. */
export function mapS3Error(status: number, body: S3ErrorBody, ctx: S3ErrorContext): StoreError {
  const rule = body.code ? S3_RULES[body.code] : undefined;
  const where = `bucket '${ctx.bucket}'${ctx.object !== undefined ? `, object '${ctx.object}'` : ""}`;
  let hint = rule?.hint;
  if (body.code === "AuthorizationHeaderMalformed" && body.region) {
    hint = `the request was signed for region '${ctx.region}' but the bucket is in '${body.region}'; set region to it`;
  } else if (body.code === "PermanentRedirect" && body.endpoint) {
    hint = `the bucket must be addressed through ${body.endpoint}; set endpoint/region to it`;
  } else if (ctx.anonymous && (status === 401 || status === 403)) {
    hint =
      "the request went unsigned (anonymous) and the bucket does not allow that; pass credentials";
  }
  const base = mapHttpStatus(status, {
    backend: BACKEND,
    operation: ctx.operation,
    key: ctx.key,
    url: where,
    retryAfter: ctx.retryAfter,
    detail: [body.code, body.message].filter(Boolean).join(": "),
    hint,
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

/** Turns a transport failure into a `StoreError` naming the bucket. */
export function mapS3Transport(
  cause: unknown,
  ctx: S3ErrorContext,
  signal?: AbortSignal,
): StoreError {
  return mapTransportError(
    cause,
    { backend: BACKEND, operation: ctx.operation, key: ctx.key, url: `bucket '${ctx.bucket}'` },
    signal,
  );
}

/** A `StoreError` of this backend whose message names the bucket. */
export function s3Error(
  code: StoreErrorCode,
  message: string,
  ctx: Pick<S3ErrorContext, "operation" | "key" | "bucket">,
  extra: { status?: number; retryable?: boolean; cause?: unknown } = {},
): StoreError {
  return new StoreError({
    code,
    message: `${BACKEND} ${ctx.operation}${ctx.key ? ` ${ctx.key}` : ""} (bucket '${ctx.bucket}'): ${message}`,
    operation: ctx.operation,
    key: ctx.key,
    backend: BACKEND,
    status: extra.status,
    retryable: extra.retryable,
    cause: extra.cause,
  });
}

/** The text of the first `<tag>` element, entities decoded. */
export function xmlText(xml: string, tag: string): string | undefined {
  const match = new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`).exec(xml);
  return match ? decodeXml(match[1] as string) : undefined;
}

/** Every `<tag>…</tag>` block's inner text, raw. */
export function xmlBlocks(xml: string, tag: string): string[] {
  const out: string[] = [];
  const pattern = new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, "g");
  for (let m = pattern.exec(xml); m !== null; m = pattern.exec(xml)) out.push(m[1] as string);
  return out;
}

/** Decodes XML character references and the five predefined entities. */
export function decodeXml(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#\d+|amp|lt|gt|quot|apos);/gi, (_, entity: string) => {
    const lower = entity.toLowerCase();
    if (lower.startsWith("#x")) return String.fromCodePoint(Number.parseInt(lower.slice(2), 16));
    if (lower.startsWith("#")) return String.fromCodePoint(Number.parseInt(lower.slice(1), 10));
    return { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" }[lower] as string;
  });
}

/** Escapes text for an XML element. */
export function escapeXml(text: string): string {
  return text.replace(
    /[&<>"']/g,
    (c) => `&${{ "&": "amp", "<": "lt", ">": "gt", '"': "quot", "'": "apos" }[c]};`,
  );
}
