/**
 * Objects: list — `GET /storage/v1/b/{bucket}/o?prefix=…&delimiter=…&pageToken=…`, paged by
 * `nextPageToken` until it is absent. Only the fields we read are asked for.
 */
import type { HttpResponse } from "../http-transport.js";
import type { GcsCall, GcsClient } from "./client.js";

/** One entry of a listing: an object, or a virtual folder when a delimiter was given. */
export type GcsListEntry =
  | { kind: "object"; name: string; size: number; generation: string | undefined }
  | { kind: "prefix"; name: string };

/** What `listObjects` needs from the store. */
export interface ListObjectsRequest {
  bucket: string;
  prefix: string;
  delimiter?: string | undefined;
  signal?: AbortSignal | undefined;
  operation: string;
  key?: string | undefined;
  /** Results per page (the API's maximum, 1,000, by default). */
  pageSize?: number | undefined;
  fail(response: HttpResponse, call: GcsCall): Promise<Error>;
}

interface ListPage {
  items?: { name: string; size?: string; generation?: string }[];
  prefixes?: string[];
  nextPageToken?: string;
}

// 1,000: the most the JSON API returns per page.
const PAGE_SIZE = 1000;

/**
 * Yields every entry under a prefix, page after page. Within a page objects and folders come
 * in two lists; they are merged here in code-point order, as the API orders each.
 */
export async function* listObjects(
  client: GcsClient,
  request: ListObjectsRequest,
): AsyncGenerator<GcsListEntry> {
  let pageToken: string | undefined;
  do {
    const call: GcsCall = {
      method: "GET",
      path: `/storage/v1/b/${encodeURIComponent(request.bucket)}/o`,
      query: {
        prefix: request.prefix === "" ? undefined : request.prefix,
        delimiter: request.delimiter,
        pageToken,
        maxResults: String(request.pageSize ?? PAGE_SIZE),
        fields: "items(name,size,generation),prefixes,nextPageToken",
      },
      signal: request.signal,
      operation: request.operation,
      key: request.key,
    };
    const response = await client.send(call);
    if (response.status !== 200) throw await request.fail(response, call);
    const page = await client.json<ListPage>(response, call);
    const entries: GcsListEntry[] = [
      ...(page.items ?? []).map(
        (item): GcsListEntry => ({
          kind: "object",
          name: item.name,
          size: Number(item.size ?? 0),
          generation: item.generation,
        }),
      ),
      ...(page.prefixes ?? []).map((name): GcsListEntry => ({ kind: "prefix", name })),
    ];
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    yield* entries;
    pageToken = page.nextPageToken || undefined;
  } while (pageToken);
}
