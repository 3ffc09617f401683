import { describe, expect, it } from "vitest";
import { StoreError } from "../../src/errors.js";
import {
  errorCodeOf,
  isMissingStatus,
  mapHttpStatus,
  mapTransportError,
  parseRetryAfter,
  redactUrl,
} from "../../src/http/status.js";

const ctx = { backend: "TestStore", operation: "get", key: "/a/b" } as const;

describe("mapHttpStatus", () => {
  it.each([
    [400, "Unexpected", false],
    [401, "Unauthenticated", false],
    [403, "PermissionDenied", false],
    [404, "NotFound", false],
    [405, "Unsupported", false],
    [408, "Timeout", true],
    [409, "Conflict", false],
    [410, "NotFound", false],
    [412, "ConditionFailed", false],
    [413, "Config", false],
    [416, "RangeNotSatisfiable", false],
    [418, "Unexpected", false],
    [429, "RateLimited", true],
    [500, "Unavailable", true],
    [501, "Unsupported", false],
    [502, "Unavailable", true],
    [503, "Unavailable", true],
    [504, "Unavailable", true],
    [599, "Unavailable", true],
    [302, "Unexpected", false],
  ])("maps %i to %s (retryable %s)", (status, code, retryable) => {
    const error = mapHttpStatus(status, ctx);
    expect(error).toBeInstanceOf(StoreError);
    expect(error.code).toBe(code);
    expect(error.retryable).toBe(retryable);
    expect(error.status).toBe(status);
    expect(error.operation).toBe("get");
    expect(error.key).toBe("/a/b");
    expect(error.backend).toBe("TestStore");
    expect(error.message).toContain(`HTTP ${status}`);
  });

  it("carries Retry-After, the server's detail (shortened) and a caller's hint", () => {
    const error = mapHttpStatus(503, {
      ...ctx,
      retryAfter: "7",
      detail: `<Error>\n  slow down ${"x".repeat(500)}</Error>`,
      hint: "try the mirror",
      url: "http://h/x",
    });
    expect(error.retryAfterMs).toBe(7000);
    expect(error.message).toContain("try the mirror");
    expect(error.message).toContain("wait 7000 ms");
    expect(error.message).toContain("(server said: <Error> slow down xxx");
    expect(error.message).toContain("(http://h/x)");
    expect(error.message.length).toBeLessThan(400);
  });

  it("knows which statuses mean missing", () => {
    expect([404, 410].map(isMissingStatus)).toEqual([true, true]);
    expect([401, 403, 500].map(isMissingStatus)).toEqual([false, false, false]);
  });
});

describe("parseRetryAfter", () => {
  const now = Date.parse("2024-01-01T00:00:00Z");
  it.each([
    ["0", 0],
    ["120", 120_000],
    [" 3 ", 3000],
    ["1.5", 1500],
    ["Mon, 01 Jan 2024 00:00:30 GMT", 30_000],
    ["Sun, 31 Dec 2023 23:00:00 GMT", 0],
    ["soon", undefined],
    ["-5", undefined],
    ["", undefined],
    [null, undefined],
    [undefined, undefined],
  ])("parses %j as %j ms", (value, expected) => {
    expect(parseRetryAfter(value, now)).toBe(expected);
  });
});

describe("mapTransportError", () => {
  const withCode = (code: string, message = "boom") => Object.assign(new Error(message), { code });
  it.each([
    ["ECONNRESET", "Unavailable", true],
    ["ECONNREFUSED", "Unavailable", true],
    ["UND_ERR_SOCKET", "Unavailable", true],
    ["ETIMEDOUT", "Timeout", true],
    ["UND_ERR_HEADERS_TIMEOUT", "Timeout", true],
    ["ENOTFOUND", "Config", false],
    ["SOMETHING_ELSE", "Unavailable", true],
  ])("maps %s to %s", (code, expected, retryable) => {
    const error = mapTransportError(withCode(code), ctx);
    expect(error.code).toBe(expected);
    expect(error.retryable).toBe(retryable);
    expect(error.message).toContain(code);
  });

  it("finds the code on a nested cause, as fetch reports it", () => {
    const fetchFailure = new TypeError("fetch failed", { cause: withCode("ECONNREFUSED") });
    expect(errorCodeOf(fetchFailure)).toBe("ECONNREFUSED");
    expect(mapTransportError(fetchFailure, ctx).code).toBe("Unavailable");
  });

  it("maps aborts and timeouts by the signal's reason", () => {
    const aborted = new AbortController();
    aborted.abort();
    expect(mapTransportError(new Error("x"), ctx, aborted.signal).code).toBe("Aborted");
    const timedOut = new AbortController();
    timedOut.abort(new DOMException("late", "TimeoutError"));
    const error = mapTransportError(new Error("x"), ctx, timedOut.signal);
    expect(error.code).toBe("Timeout");
    expect(error.retryable).toBe(true);
  });

  it("passes StoreErrors through", () => {
    const original = new StoreError({ code: "Integrity", message: "short" });
    expect(mapTransportError(original, ctx)).toBe(original);
  });
});

describe("redactUrl", () => {
  it("drops user info and query values", () => {
    expect(redactUrl("https://user:secret@h.example/a/b?X-Amz-Signature=abc&x=1")).toBe(
      "https://h.example/a/b?X-Amz-Signature=***&x=***",
    );
    expect(redactUrl("http://h/a")).toBe("http://h/a");
    expect(redactUrl("not a url")).toBe("<invalid URL>");
  });

  it("keeps the scheme and host of non-http URLs", () => {
    expect(redactUrl("s3://bucket/air.zarr?secret=abc")).toBe("s3://bucket/air.zarr?secret=***");
    expect(redactUrl("az://u:p@data/x?sig=s")).toBe("az://data/x?sig=***");
  });
});
