/**
 * Blob Batch (`POST …?restype=container&comp=batch`): up to 256 Delete Blob calls in one
 * request, each authorised on its own, as a `multipart/mixed` body; the answer is a
 * `multipart/mixed` body with one HTTP response per sub-request, matched by Content-ID.
 */

/** At most this many sub-requests per batch (the service's limit). */
export const BATCH_LIMIT = 256;

/** The result of one sub-request, or of the whole batch when `id` is missing (it was refused). */
export interface BatchResult {
  id: number | undefined;
  status: number;
  errorCode: string | undefined;
}

/** The request body: each sub-request (request line and headers) as a numbered part. */
export function batchBody(boundary: string, subrequests: string[]): string {
  const parts = subrequests.map(
    (text, id) =>
      `--${boundary}\r\ncontent-type: application/http\r\ncontent-transfer-encoding: binary\r\n` +
      `content-id: ${id}\r\n\r\n${text}\r\n`,
  );
  return `${parts.join("")}--${boundary}--\r\n`;
}

/** The boundary of a `multipart/mixed` Content-Type, or `undefined`. */
export function boundaryOf(contentType: string | undefined): string | undefined {
  const match = /boundary=("?)([^";]+)\1/i.exec(contentType ?? "");
  return match?.[2];
}

/** The sub-responses of a batch response body. */
export function parseBatchResponse(text: string, boundary: string): BatchResult[] {
  const results: BatchResult[] = [];
  for (const part of text.split(`--${boundary}`)) {
    const status = /^HTTP\/1\.[01] (\d{3})/m.exec(part);
    if (!status) continue;
    const id = /^content-id:\s*(\d+)\s*$/im.exec(part);
    const code = /^x-ms-error-code:\s*(\S+)\s*$/im.exec(part);
    results.push({
      id: id ? Number(id[1]) : undefined,
      status: Number(status[1]),
      errorCode: code?.[1],
    });
  }
  return results;
}
