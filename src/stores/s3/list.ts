/**
 * ListObjectsV2 paging: follow `NextContinuationToken` until `IsTruncated` is false, so a
 * listing is never capped at one page (1,000 keys on AWS).
 */
import type { StoreOperation } from "../../errors.js";
import { readS3Body, type S3Call, type S3Client } from "./client.js";
import { s3Error, xmlBlocks, xmlText } from "./errors.js";

/** One listing entry: an object, or (with a delimiter) a common prefix. */
export type S3ListEntry =
  | { kind: "object"; name: string; size: number; etag: string | undefined }
  | { kind: "prefix"; name: string };

/** What to list. */
export interface S3ListOptions {
  prefix: string;
  delimiter?: string | undefined;
  /** Keys per page (at most 1,000 on AWS). */
  maxKeys?: number | undefined;
  signal?: AbortSignal | undefined;
  operation: StoreOperation;
  key?: string | undefined;
}

/** Lists the bucket page by page, in S3's order (by UTF-8 bytes). */
export async function* listObjects(
  client: S3Client,
  options: S3ListOptions,
): AsyncGenerator<S3ListEntry> {
  let token: string | undefined;
  for (;;) {
    const query: [string, string][] = [["list-type", "2"]];
    if (options.prefix) query.push(["prefix", options.prefix]);
    if (options.delimiter) query.push(["delimiter", options.delimiter]);
    if (options.maxKeys) query.push(["max-keys", String(options.maxKeys)]);
    if (token) query.push(["continuation-token", token]);
    const call: S3Call = {
      method: "GET",
      query,
      signal: options.signal,
      operation: options.operation,
      key: options.key,
    };
    const response = await client.expect(call, (status) => status === 200);
    const xml = new TextDecoder().decode(await readS3Body(response, call, client.bucket));
    for (const block of xmlBlocks(xml, "Contents")) {
      const name = xmlText(block, "Key");
      if (name === undefined) continue;
      yield {
        kind: "object",
        name,
        size: Number(xmlText(block, "Size") ?? 0),
        etag: xmlText(block, "ETag")?.replace(/"/g, ""),
      };
    }
    for (const block of xmlBlocks(xml, "CommonPrefixes")) {
      const name = xmlText(block, "Prefix");
      if (name !== undefined) yield { kind: "prefix", name };
    }
    const truncated = xmlText(xml, "IsTruncated") === "true";
    if (!truncated) return;
    token = xmlText(xml, "NextContinuationToken");
    if (!token) {
      throw s3Error(
        "Unexpected",
        "the listing is truncated but has no NextContinuationToken; does the server speak ListObjectsV2?",
        { operation: options.operation, key: options.key, bucket: client.bucket },
      );
    }
  }
}
