/**
 * List Blobs: `GET /{container}?restype=container&comp=list&prefix=…&delimiter=…&marker=…`,
 * paged by `NextMarker` until it comes back empty. The XML is read with a few regular
 * expressions (no DOMParser on Node, and the shape is fixed).
 */
import type { HttpResponse } from "../http-transport.js";
import type { AzureCall, AzureClient } from "./client.js";

/** One entry of a listing: a blob, or a virtual folder when a delimiter was given. */
export type AzureListEntry =
  | { kind: "object"; name: string; size: number; etag: string | undefined }
  | { kind: "prefix"; name: string };

/** What `listBlobs` needs from the store. */
export interface ListBlobsRequest {
  container: string;
  /** The name prefix (`zarr-demo/foo/`), `""` for everything. */
  prefix: string;
  /** `/` for one level, undefined for every blob at any depth. */
  delimiter?: string | undefined;
  signal?: AbortSignal | undefined;
  operation: string;
  key?: string | undefined;
  /** Names per page (the service's maximum, 5,000, by default). */
  pageSize?: number | undefined;
  /** Hears a 404: returns to end the listing empty, or throws. */
  missing?(response: HttpResponse, call: AzureCall): Promise<undefined>;
  /** Turns a failed page into the error to throw. */
  fail(response: HttpResponse, call: AzureCall): Promise<Error>;
}

// 5,000: the most the service returns per page, so the fewest round trips.
const PAGE_SIZE = 5000;

/** Yields every entry under a prefix, page after page, in the service's (code-point) order. */
export async function* listBlobs(
  client: AzureClient,
  request: ListBlobsRequest,
): AsyncGenerator<AzureListEntry> {
  let marker: string | undefined;
  do {
    const call: AzureCall = {
      method: "GET",
      container: request.container,
      query: {
        restype: "container",
        comp: "list",
        prefix: request.prefix === "" ? undefined : request.prefix,
        delimiter: request.delimiter,
        marker,
        maxresults: String(request.pageSize ?? PAGE_SIZE),
      },
      signal: request.signal,
      operation: request.operation,
      key: request.key,
    };
    const response = await client.send(call);
    if (response.status === 404 && request.missing !== undefined) {
      // The store decides: an empty listing (a container a write will create) or an error.
      await request.missing(response, call);
      return;
    }
    if (response.status !== 200) throw await request.fail(response, call);
    const page = parseListPage(new TextDecoder().decode(await client.read(response, call)));
    yield* page.entries;
    marker = page.nextMarker;
  } while (marker);
}

/** One page of List Blobs XML: its entries and the marker of the next page. */
export function parseListPage(xml: string): {
  entries: AzureListEntry[];
  nextMarker: string | undefined;
} {
  const entries: AzureListEntry[] = [];
  const item = /<(Blob|BlobPrefix)>([\s\S]*?)<\/\1>/g;
  for (let match = item.exec(xml); match !== null; match = item.exec(xml)) {
    const body = match[2] as string;
    const name = readName(body);
    if (name === undefined) continue;
    if (match[1] === "BlobPrefix") {
      entries.push({ kind: "prefix", name });
    } else {
      const size = Number(readTag(body, "Content-Length") ?? 0);
      const etag = readTag(body, "Etag");
      entries.push({ kind: "object", name, size, etag: etag?.replace(/^"|"$/g, "") });
    }
  }
  // Names are XML-escaped, so the one literal <NextMarker> is the top-level one.
  const next = readTag(xml, "NextMarker");
  return { entries, nextMarker: next === "" ? undefined : next };
}

// Since 2020-10-02, names with characters XML cannot carry come percent-encoded with Encoded="true".
function readName(body: string): string | undefined {
  const match = /<Name( Encoded="true")?>([\s\S]*?)<\/Name>/.exec(body);
  if (!match) return undefined;
  const text = decodeXml(match[2] as string);
  return match[1] ? decodeURIComponent(text) : text;
}

function readTag(body: string, tag: string): string | undefined {
  const match = new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>|<${tag}\\s*/>`).exec(body);
  if (!match) return undefined;
  return decodeXml(match[1] ?? "");
}

const ENTITIES: Record<string, string> = {
  amp: "&",
  lt: "<",
  gt: ">",
  quot: '"',
  apos: "'",
};

/** Decodes XML character references and the five named entities. */
export function decodeXml(text: string): string {
  if (!text.includes("&")) return text;
  return text.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);/gi, (whole, ref: string) => {
    if (ref[0] === "#") {
      const code =
        ref[1] === "x" || ref[1] === "X" ? Number.parseInt(ref.slice(2), 16) : Number(ref.slice(1));
      return Number.isFinite(code) ? String.fromCodePoint(code) : whole;
    }
    return ENTITIES[ref.toLowerCase()] ?? whole;
  });
}
