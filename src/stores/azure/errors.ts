/**
 * Azure's error codes on top of the shared HTTP table (src/http/status.ts). Azure names each
 * failure in the `x-ms-error-code` header (also on HEAD, which has no body) and in the XML
 * body's `<Code>`; the rows below turn the codes that matter into a `StoreError` code, a
 * retryable flag and a hint that says what to do.
 */
import { StoreError, type StoreErrorCode, type StoreOperation } from "../../errors.js";
import { mapHttpStatus } from "../../http/status.js";

export const BACKEND = "AzureBlobStore";

/** What a failed call was about: names only, never a key, token or signature. */
export interface AzureErrorContext {
  operation: StoreOperation;
  account: string;
  container: string;
  /** The store key (`/foo/.zgroup`), when the call was about one. */
  key?: string | undefined;
  /** How the store authenticates, to pick the hint for auth failures. */
  credential: "sharedKey" | "sas" | "bearer" | "anonymous";
  /** A SAS token's validity window (its `st=` and `se=`), to tell an expired token apart. */
  sasWindow?: { start?: Date | undefined; expiry?: Date | undefined } | undefined;
}

/** The parts of a failed response the table reads. */
export interface AzureErrorResponse {
  status: number;
  /** `x-ms-error-code`, or the body's `<Code>`. */
  errorCode?: string | undefined;
  /** The body's `<Message>` and `<AuthenticationErrorDetail>`. */
  message?: string | undefined;
  retryAfter?: string | undefined;
}

interface AzureRule {
  code: StoreErrorCode | ((ctx: AzureErrorContext, response: AzureErrorResponse) => StoreErrorCode);
  retryable: boolean;
  hint: (ctx: AzureErrorContext, response: AzureErrorResponse) => string;
}

const AUTH_HINTS: Record<AzureErrorContext["credential"], string> = {
  sharedKey:
    "the request signature did not match: check the account name and key (AZURE_STORAGE_ACCOUNT / AZURE_STORAGE_KEY, or AccountName / AccountKey in AZURE_STORAGE_CONNECTION_STRING)",
  sas: "the SAS token was rejected: check that it is complete and belongs to this account (AZURE_STORAGE_SAS_TOKEN), or generate a new one",
  bearer:
    "the bearer token was rejected: it may be expired or issued for another resource (scope https://storage.azure.com/.default)",
  anonymous:
    "the container does not allow anonymous access: pass a credential (account key, SAS or token)",
};

const permissionHint = (ctx: AzureErrorContext): string =>
  ctx.credential === "sas"
    ? "the SAS token lacks a permission for this operation (sp=r to read, w to write, d to delete, l to list) or does not cover this resource"
    : ctx.credential === "bearer"
      ? "the identity lacks a data role on this container (e.g. Storage Blob Data Reader or Contributor)"
      : "the credential may not do this on this container";

// Keyed by Azure's error code; statuses without a row here fall back to the HTTP table.
const AZURE_RULES: Readonly<Record<string, AzureRule>> = {
  AuthenticationFailed: {
    code: "Unauthenticated",
    retryable: false,
    hint: (ctx, response) => sasWindowHint(ctx, response) ?? AUTH_HINTS[ctx.credential],
  },
  NoAuthenticationInformation: {
    code: "Unauthenticated",
    retryable: false,
    hint: (ctx) => AUTH_HINTS[ctx.credential],
  },
  InvalidAuthenticationInfo: {
    code: "Unauthenticated",
    retryable: false,
    hint: (ctx) => AUTH_HINTS[ctx.credential],
  },
  // Azurite (and some gateways) say AuthorizationFailure for a bad signature too; the message tells.
  AuthorizationFailure: {
    code: (ctx, response) =>
      failedToAuthenticate(ctx, response.message) ? "Unauthenticated" : "PermissionDenied",
    retryable: false,
    hint: (ctx, response) =>
      failedToAuthenticate(ctx, response.message)
        ? (sasWindowHint(ctx, response) ?? AUTH_HINTS[ctx.credential])
        : permissionHint(ctx),
  },
  AuthorizationPermissionMismatch: {
    code: "PermissionDenied",
    retryable: false,
    hint: permissionHint,
  },
  AuthorizationResourceTypeMismatch: {
    code: "PermissionDenied",
    retryable: false,
    hint: () =>
      "the SAS token does not cover this kind of resource (srt= needs s, c and o for a store)",
  },
  AuthorizationServiceMismatch: {
    code: "PermissionDenied",
    retryable: false,
    hint: () => "the SAS token is not for the blob service (ss= must include b)",
  },
  AuthorizationProtocolMismatch: {
    code: "PermissionDenied",
    retryable: false,
    hint: () => "the SAS token allows https only (spr=https) but the endpoint is http",
  },
  AuthorizationSourceIPMismatch: {
    code: "PermissionDenied",
    retryable: false,
    hint: () => "the SAS token is limited to other IP addresses (sip=)",
  },
  AccountIsDisabled: {
    code: "PermissionDenied",
    retryable: false,
    hint: () => "the storage account is disabled",
  },
  PublicAccessNotPermitted: {
    code: "PermissionDenied",
    retryable: false,
    hint: () => "the account does not allow anonymous access: pass a credential",
  },
  ContainerNotFound: {
    code: "NotFound",
    retryable: false,
    hint: (ctx) =>
      `the container '${ctx.container}' does not exist in account '${ctx.account}': check its name, or create it (writes create it unless createContainer is false)`,
  },
  ResourceNotFound: {
    code: "NotFound",
    retryable: false,
    hint: (ctx) =>
      ctx.credential === "anonymous"
        ? `the container '${ctx.container}' does not exist or is private: anonymous access needs a container with public read access`
        : `the resource does not exist in account '${ctx.account}'`,
  },
  ContainerBeingDeleted: {
    code: "Conflict",
    retryable: true,
    hint: (ctx) =>
      `the container '${ctx.container}' is being deleted; a container of the same name can be created about 30 s later`,
  },
  BlobAlreadyExists: {
    code: "ConditionFailed",
    retryable: false,
    hint: () => "the key already exists (ifNoneMatch: '*')",
  },
  ConditionNotMet: {
    code: "ConditionFailed",
    retryable: false,
    hint: () => "the value changed or exists (ifMatch / ifNoneMatch)",
  },
  LeaseIdMissing: {
    code: "Conflict",
    retryable: false,
    hint: () => "the blob is leased by another client; break the lease or wait for it to end",
  },
  LeaseIdMismatchWithBlobOperation: {
    code: "Conflict",
    retryable: false,
    hint: () => "the blob is leased by another client",
  },
  InvalidRange: {
    code: "RangeNotSatisfiable",
    retryable: false,
    hint: () => "the range starts at or past the end of the value",
  },
  ServerBusy: {
    code: "RateLimited",
    retryable: true,
    hint: () => "the account is throttled (ServerBusy); slow down and retry after the wait asked",
  },
  IngressOverAccountLimit: {
    code: "RateLimited",
    retryable: true,
    hint: () => "the account's ingress limit is reached; slow down",
  },
  EgressOverAccountLimit: {
    code: "RateLimited",
    retryable: true,
    hint: () => "the account's egress limit is reached; slow down",
  },
  TpsOverAccountLimit: {
    code: "RateLimited",
    retryable: true,
    hint: () => "the account's request-rate limit is reached; slow down",
  },
  OperationTimedOut: {
    code: "Timeout",
    retryable: true,
    hint: () => "the service timed out on this operation; retry",
  },
  InternalError: {
    code: "Unavailable",
    retryable: true,
    hint: () => "the service failed internally; retry",
  },
  RequestBodyTooLarge: {
    code: "Config",
    retryable: false,
    hint: () => "the request body is larger than the service accepts; lower blockSize",
  },
  InvalidBlockList: {
    code: "Integrity",
    retryable: true,
    hint: () => "a staged block is missing (it may have expired); write the value again",
  },
};

// An account key may do anything, so a refusal under one is always a bad signature; HEAD
// answers carry no message, so the credential kind is what tells them apart there.
function failedToAuthenticate(ctx: AzureErrorContext, message: string | undefined): boolean {
  return (
    ctx.credential === "sharedKey" ||
    (message !== undefined && /failed to authenticate/i.test(message))
  );
}

/**
 * The hint for a SAS outside its validity window: from the token's own `se=`/`st=` (Azurite
 * gives no detail) or from Azure's AuthenticationErrorDetail ("…time frame", "expiry").
 */
function sasWindowHint(ctx: AzureErrorContext, response: AzureErrorResponse): string | undefined {
  if (ctx.credential !== "sas") return undefined;
  const now = Date.now();
  const { start, expiry } = ctx.sasWindow ?? {};
  if (expiry !== undefined && expiry.getTime() <= now) {
    return `the SAS token expired at ${expiry.toISOString()} (se=): generate a new one`;
  }
  if (start !== undefined && start.getTime() > now) {
    return `the SAS token is not valid before ${start.toISOString()} (st=): wait, or generate one that starts now`;
  }
  if (response.message !== undefined && /expir|time frame/i.test(response.message)) {
    return "the SAS token has expired or is not yet valid (its se=/st= times): generate a new one";
  }
  return undefined;
}

/** Reads the validity window of a SAS token (`st=`, `se=`); unparsable times are left out. */
export function sasWindow(sasToken: string): { start?: Date; expiry?: Date } {
  const params = new URLSearchParams(sasToken.replace(/^\?/, ""));
  const out: { start?: Date; expiry?: Date } = {};
  const start = Date.parse(params.get("st") ?? "");
  const expiry = Date.parse(params.get("se") ?? "");
  if (!Number.isNaN(start)) out.start = new Date(start);
  if (!Number.isNaN(expiry)) out.expiry = new Date(expiry);
  return out;
}

/** Turns a failed Azure response into a `StoreError` naming the account, container and key. */
export function mapAzureError(response: AzureErrorResponse, ctx: AzureErrorContext): StoreError {
  const rule = response.errorCode ? AZURE_RULES[response.errorCode] : undefined;
  const base = mapHttpStatus(response.status, {
    backend: BACKEND,
    operation: ctx.operation,
    key: ctx.key,
    retryAfter: response.retryAfter,
    detail: [response.errorCode, response.message].filter(Boolean).join(": ") || undefined,
    hint: rule?.hint(ctx, response),
  });
  const where = ` [account ${ctx.account}, container ${ctx.container}]`;
  return new StoreError({
    code:
      rule === undefined
        ? base.code
        : typeof rule.code === "function"
          ? rule.code(ctx, response)
          : rule.code,
    message: base.message + where,
    operation: ctx.operation,
    key: ctx.key,
    backend: BACKEND,
    status: response.status,
    retryable: rule?.retryable ?? base.retryable,
    retryAfterMs: base.retryAfterMs,
  });
}

/** Reads Azure's XML error body: `<Code>`, `<Message>` and `<AuthenticationErrorDetail>`. */
export function parseErrorBody(text: string): { code?: string; message?: string } {
  const pick = (tag: string) => {
    const match = new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`).exec(text);
    return match ? (match[1] as string).replace(/\s+/g, " ").trim() : undefined;
  };
  const code = pick("Code");
  const parts = [pick("Message"), pick("AuthenticationErrorDetail")].filter(
    (part): part is string => part !== undefined,
  );
  const out: { code?: string; message?: string } = {};
  if (code !== undefined) out.code = code;
  if (parts.length > 0) {
    // The service appends RequestId and Time to every message: noise for a user.
    out.message = redactSignatures(parts.join(" ").replace(/\s*RequestId:\S+\s*Time:\S+/, ""));
  }
  return out;
}

/** A StoreError of this backend, for failures found before any request. */
export function azureError(
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

// Azure echoes the request's signature in AuthenticationErrorDetail ("The MAC signature found
// in the HTTP request '…'"); a signature can be replayed for a while, so it never reaches a message.
function redactSignatures(text: string): string {
  return text.replace(/'[A-Za-z0-9+/]{20,}={0,2}'/g, "'***'").replace(/sig=[^&\s']+/gi, "sig=***");
}
