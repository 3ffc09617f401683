/**
 * Multipart uploads for large values: create, upload parts (≥ 5 MiB except the last) a few at a
 * time, complete. The value appears only when the upload completes; on any failure the upload
 * is aborted, so there is never a partial value and no parts are left billed.
 */
import { readS3Body, type S3Call, type S3Client } from "./client.js";
import { escapeXml, mapS3Error, parseS3Error, s3Error, xmlText } from "./errors.js";

/** S3's minimum part size (except the last part). */
export const MIN_PART_SIZE = 5 * 1024 * 1024;
/** S3's maximum number of parts per upload. */
export const MAX_PARTS = 10_000;
// 4: parts are large; a few in flight fill a link without holding many sockets per write.
const PART_CONCURRENCY = 4;

/** What a multipart write needs. */
export interface MultipartPlan {
  object: string;
  key: string;
  partSize: number;
  /** Headers for the final object (content type, conditions on completion). */
  headers: Record<string, string>;
  completeHeaders: Record<string, string>;
  signal?: AbortSignal | undefined;
}

/** Writes `value` as a multipart upload and returns the object's ETag. */
export async function putMultipart(
  client: S3Client,
  plan: MultipartPlan,
  value: Uint8Array,
): Promise<{ etag?: string | undefined }> {
  // Never more parts than S3 allows, never smaller than its minimum.
  const size = Math.max(plan.partSize, MIN_PART_SIZE, Math.ceil(value.byteLength / MAX_PARTS));
  const count = Math.max(1, Math.ceil(value.byteLength / size));
  const uploadId = await createUpload(client, plan);
  try {
    const etags: string[] = new Array(count);
    let next = 0;
    const lanes = Array.from({ length: Math.min(PART_CONCURRENCY, count) }, async () => {
      while (next < count) {
        const i = next++;
        const part = value.subarray(i * size, Math.min(value.byteLength, (i + 1) * size));
        etags[i] = await uploadPart(client, plan, uploadId, i + 1, part);
      }
    });
    await Promise.all(lanes);
    return await completeUpload(client, plan, uploadId, etags);
  } catch (error) {
    await abortUpload(client, plan, uploadId);
    throw error;
  }
}

async function createUpload(client: S3Client, plan: MultipartPlan): Promise<string> {
  const call: S3Call = {
    method: "POST",
    object: plan.object,
    query: [["uploads", ""]],
    headers: plan.headers,
    signal: plan.signal,
    operation: "set",
    key: plan.key,
  };
  const response = await client.expect(call, (s) => s === 200);
  const xml = new TextDecoder().decode(await readS3Body(response, call, client.bucket));
  const uploadId = xmlText(xml, "UploadId");
  if (!uploadId) {
    throw s3Error("Unexpected", "CreateMultipartUpload returned no UploadId", {
      operation: "set",
      key: plan.key,
      bucket: client.bucket,
    });
  }
  return uploadId;
}

async function uploadPart(
  client: S3Client,
  plan: MultipartPlan,
  uploadId: string,
  partNumber: number,
  body: Uint8Array,
): Promise<string> {
  const call: S3Call = {
    method: "PUT",
    object: plan.object,
    query: [
      ["partNumber", String(partNumber)],
      ["uploadId", uploadId],
    ],
    body,
    signal: plan.signal,
    operation: "set",
    key: plan.key,
  };
  const response = await client.expect(call, (s) => s === 200);
  await response.discard();
  const etag = response.header("etag");
  if (!etag) {
    throw s3Error("Unexpected", `part ${partNumber} was stored without an ETag`, {
      operation: "set",
      key: plan.key,
      bucket: client.bucket,
    });
  }
  return etag;
}

async function completeUpload(
  client: S3Client,
  plan: MultipartPlan,
  uploadId: string,
  etags: string[],
): Promise<{ etag?: string | undefined }> {
  const parts = etags
    .map(
      (etag, i) => `<Part><PartNumber>${i + 1}</PartNumber><ETag>${escapeXml(etag)}</ETag></Part>`,
    )
    .join("");
  const call: S3Call = {
    method: "POST",
    object: plan.object,
    query: [["uploadId", uploadId]],
    headers: { "Content-Type": "application/xml", ...plan.completeHeaders },
    body: new TextEncoder().encode(`<CompleteMultipartUpload>${parts}</CompleteMultipartUpload>`),
    signal: plan.signal,
    operation: "set",
    key: plan.key,
  };
  const response = await client.expect(call, (s) => s === 200);
  const xml = new TextDecoder().decode(await readS3Body(response, call, client.bucket));
  // S3 may answer 200 and put the failure in the body (the reply streams while it works).
  if (/<Error>/.test(xml)) {
    throw mapS3Error(500, parseS3Error(xml), {
      operation: "set",
      bucket: client.bucket,
      key: plan.key,
      object: plan.object,
    });
  }
  return { etag: xmlText(xml, "ETag")?.replace(/"/g, "") };
}

async function abortUpload(client: S3Client, plan: MultipartPlan, uploadId: string): Promise<void> {
  try {
    const response = await client.send({
      method: "DELETE",
      object: plan.object,
      query: [["uploadId", uploadId]],
      operation: "set",
      key: plan.key,
    });
    await response.discard();
  } catch {
    // Best effort: the write's own error is the one to report.
  }
}
