/**
 * Container listings paged with `marker`: Swift returns at most 10,000 names per page (a
 * larger `limit` is 412), so a listing follows the last name until a short page.
 */
import type { StoreOperation } from "../../errors.js";
import { errorFrom, readBody, type SwiftClient } from "./client.js";
import { swiftError } from "./errors.js";

/** Swift's own cap on names per listing page. */
export const SWIFT_PAGE_LIMIT = 10_000;

/** One listing entry: an object, or (with a delimiter) a folder. */
export type SwiftListEntry =
  | {
      kind: "object";
      name: string;
      bytes: number;
      hash: string;
      lastModified: string;
      slo: boolean;
    }
  | { kind: "prefix"; name: string };

interface RawEntry {
  name?: string;
  subdir?: string;
  bytes?: number;
  hash?: string;
  last_modified?: string;
  slo_etag?: string;
}

/** What to list. */
export interface ListOptions {
  container: string;
  prefix?: string | undefined;
  delimiter?: string | undefined;
  /** Names per page (at most 10,000). */
  limit?: number | undefined;
  signal?: AbortSignal | undefined;
  operation: StoreOperation;
  key?: string | undefined;
  /** Called on 404 (the container is missing); its result ends the listing quietly or throws. */
  onMissingContainer: () => Promise<void>;
}

/** Lists a container page by page, in Swift's order (by UTF-8 bytes), never capped. */
export async function* listContainer(
  client: SwiftClient,
  options: ListOptions,
): AsyncGenerator<SwiftListEntry> {
  const limit = Math.min(options.limit ?? SWIFT_PAGE_LIMIT, SWIFT_PAGE_LIMIT);
  let marker: string | undefined;
  for (;;) {
    const call = {
      method: "GET" as const,
      container: options.container,
      query: {
        format: "json",
        limit: String(limit),
        prefix: options.prefix || undefined,
        delimiter: options.delimiter,
        marker,
      },
      headers: { Accept: "application/json" },
      signal: options.signal,
      operation: options.operation,
      key: options.key,
    };
    const response = await client.send(call);
    if (response.status === 404) {
      await response.discard();
      await options.onMissingContainer();
      return;
    }
    if (response.status === 204) {
      await response.discard();
      return;
    }
    if (response.status !== 200) throw await errorFrom(response, call);
    const page = parsePage(await readBody(response, call), options);
    for (const entry of page) yield entry;
    const last = page[page.length - 1];
    if (page.length < limit || last === undefined) return;
    marker = last.name;
  }
}

function parsePage(body: Uint8Array, options: ListOptions): SwiftListEntry[] {
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder().decode(body));
  } catch (cause) {
    throw swiftError(
      "Unexpected",
      "the listing is not JSON; is this a Swift storage URL?",
      { operation: options.operation, key: options.key, container: options.container },
      { cause },
    );
  }
  if (!Array.isArray(raw)) {
    throw swiftError("Unexpected", "the listing is not a JSON array", {
      operation: options.operation,
      key: options.key,
      container: options.container,
    });
  }
  return (raw as RawEntry[]).map((entry) =>
    entry.subdir !== undefined
      ? { kind: "prefix", name: entry.subdir }
      : {
          kind: "object",
          name: entry.name ?? "",
          bytes: entry.bytes ?? 0,
          hash: entry.hash ?? "",
          lastModified: entry.last_modified ?? "",
          slo: entry.slo_etag !== undefined,
        },
  );
}
