/**
 * Large values as block blobs: each slice is staged with Put Block, then Put Block List
 * commits them in one step. Readers see the old value until the commit and the whole new one
 * after it; the commit carries the write's conditions, so `ifNoneMatch`/`ifMatch` hold for
 * large values too. Staged blocks that are never committed expire on their own (after a week).
 */
import type { HttpResponse } from "../http-transport.js";
import { type AzureCall, type AzureClient, bytesToBase64 } from "./client.js";

/** What `putBlocks` needs to write one value. */
export interface PutBlocksRequest {
  container: string;
  blob: string;
  key: string;
  /** Bytes per block (the last one may be shorter). */
  blockSize: number;
  /** Blocks in flight at once. */
  concurrency: number;
  /** Condition headers for the commit (`if-none-match`, `if-match`). */
  conditions: Record<string, string>;
  signal?: AbortSignal | undefined;
  /** Turns a failed response into the error to throw. */
  fail(response: HttpResponse, call: AzureCall): Promise<Error>;
}

const utf8 = new TextEncoder();

/**
 * Block IDs must be base64 and of one length within a blob. A random run tag keeps two
 * writers of the same key from committing each other's blocks.
 */
export function blockId(run: string, index: number): string {
  return bytesToBase64(utf8.encode(`${run}-${String(index).padStart(6, "0")}`));
}

/** Stages every block of `value`, commits the list, and returns the response of the commit. */
export async function putBlocks(
  client: AzureClient,
  request: PutBlocksRequest,
  value: Uint8Array,
): Promise<HttpResponse> {
  const count = Math.max(1, Math.ceil(value.byteLength / request.blockSize));
  const run = Math.random().toString(36).slice(2, 10).padEnd(8, "0");
  const ids = Array.from({ length: count }, (_, index) => blockId(run, index));
  let next = 0;
  const lane = async () => {
    while (next < count) {
      const index = next++;
      const start = index * request.blockSize;
      await stageBlock(
        client,
        request,
        ids[index] as string,
        value.subarray(start, start + request.blockSize),
      );
    }
  };
  await Promise.all(Array.from({ length: Math.min(request.concurrency, count) }, lane));
  const body = utf8.encode(
    `<?xml version="1.0" encoding="utf-8"?><BlockList>${ids.map((id) => `<Latest>${id}</Latest>`).join("")}</BlockList>`,
  );
  const commit: AzureCall = {
    method: "PUT",
    container: request.container,
    blob: request.blob,
    query: { comp: "blocklist" },
    headers: {
      "content-type": "application/xml",
      "x-ms-blob-content-type": "application/octet-stream",
      ...request.conditions,
    },
    body,
    signal: request.signal,
    operation: "set",
    key: request.key,
  };
  return client.send(commit);
}

async function stageBlock(
  client: AzureClient,
  request: PutBlocksRequest,
  id: string,
  bytes: Uint8Array,
): Promise<void> {
  const call: AzureCall = {
    method: "PUT",
    container: request.container,
    blob: request.blob,
    query: { comp: "block", blockid: id },
    headers: { "content-type": "application/octet-stream" },
    body: bytes,
    signal: request.signal,
    operation: "set",
    key: request.key,
  };
  const response = await client.send(call);
  if (response.status !== 201) throw await request.fail(response, call);
  await response.discard();
}
