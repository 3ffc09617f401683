/**
 * A streaming `multipart/form-data` reader and writer: enough for the Kubo RPC API, whose
 * uploads (`block/put`, `dag/put`, `dag/import`) are multipart bodies of one or more files.
 * Parts stream: a CAR of gigabytes passes through without being held in memory.
 */

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** One part of a multipart body: its headers and its bytes, which must be read before the next part. */
export interface MultipartPart {
  headers: Record<string, string>;
  body: AsyncIterable<Uint8Array>;
}

/** The boundary of a `multipart/form-data; boundary=…` content type, or undefined. */
export function boundaryOf(contentType: string | null): string | undefined {
  if (contentType === null || !/^multipart\//i.test(contentType)) return undefined;
  const match = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType);
  return match?.[1] ?? match?.[2]?.trim();
}

/** Finds `needle` in `haystack` from `from`; -1 when absent. */
function indexOf(haystack: Uint8Array, needle: Uint8Array, from = 0): number {
  const first = needle[0];
  const last = haystack.byteLength - needle.byteLength;
  outer: for (
    let i = haystack.indexOf(first as number, from);
    i !== -1 && i <= last;
    i = haystack.indexOf(first as number, i + 1)
  ) {
    for (let j = 1; j < needle.byteLength; j++) {
      if (haystack[i + j] !== needle[j]) continue outer;
    }
    return i;
  }
  return -1;
}

function join(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.byteLength === 0) return b;
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a);
  out.set(b, a.byteLength);
  return out;
}

/** Malformed multipart input. */
export class MultipartError extends Error {
  override readonly name = "MultipartError";
}

/**
 * Reads the parts of a multipart body as they stream in. Each part's body must be consumed
 * (or abandoned) before asking for the next part.
 */
export async function* readMultipart(
  body: AsyncIterable<Uint8Array>,
  boundary: string,
): AsyncGenerator<MultipartPart> {
  const source = body[Symbol.asyncIterator]();
  let buffer: Uint8Array = new Uint8Array(0);
  let ended = false;
  const pull = async (): Promise<boolean> => {
    if (ended) return false;
    const next = await source.next();
    if (next.done) {
      ended = true;
      return false;
    }
    buffer = join(buffer, next.value);
    return true;
  };
  const opening = encoder.encode(`--${boundary}`);
  const delimiter = encoder.encode(`\r\n--${boundary}`);

  // The preamble up to the first boundary is ignored.
  for (;;) {
    const at = indexOf(buffer, opening);
    if (at !== -1) {
      buffer = buffer.subarray(at + opening.byteLength);
      break;
    }
    if (!(await pull())) throw new MultipartError("no multipart boundary in the body");
  }
  for (;;) {
    while (buffer.byteLength < 2)
      if (!(await pull())) throw new MultipartError("truncated multipart body");
    if (buffer[0] === 0x2d && buffer[1] === 0x2d) return; // "--": the closing boundary
    // Headers end at an empty line.
    const headerEnd = encoder.encode("\r\n\r\n");
    let end = indexOf(buffer, headerEnd);
    while (end === -1) {
      if (!(await pull())) throw new MultipartError("truncated multipart part headers");
      end = indexOf(buffer, headerEnd);
    }
    const headers = parseHeaders(decoder.decode(buffer.subarray(0, end)));
    buffer = buffer.subarray(end + 4);
    let done = false;
    const partBody = async function* (): AsyncGenerator<Uint8Array> {
      for (;;) {
        const at = indexOf(buffer, delimiter);
        if (at !== -1) {
          if (at > 0) yield buffer.subarray(0, at);
          buffer = buffer.subarray(at + delimiter.byteLength);
          done = true;
          return;
        }
        // Keep a delimiter's length back: it may straddle the next chunk.
        const safe = buffer.byteLength - delimiter.byteLength;
        if (safe > 0) {
          const out = buffer.subarray(0, safe);
          buffer = buffer.slice(safe);
          yield out;
        }
        if (!(await pull())) throw new MultipartError("truncated multipart part");
      }
    };
    yield { headers, body: partBody() };
    if (!done)
      for await (const _ of partBody()) {
        /* skip what the reader left */
      }
  }
}

function parseHeaders(text: string): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const line of text.split("\r\n")) {
    const colon = line.indexOf(":");
    if (colon > 0)
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return headers;
}

/** Collects a part's bytes. */
export async function readAll(
  body: AsyncIterable<Uint8Array>,
  limit = Number.POSITIVE_INFINITY,
): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.byteLength;
    if (size > limit) throw new MultipartError(`the upload is larger than ${limit} bytes`);
    parts.push(chunk);
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/**
 * A multipart body of one file (as Kubo's clients send uploads), streamed from `content`:
 * returns the content type and the body chunks.
 */
export function multipartBody(
  content: Uint8Array | AsyncIterable<Uint8Array>,
  boundary = `zarrstore-${Math.random().toString(16).slice(2)}${Date.now().toString(16)}`,
): { contentType: string; body: AsyncGenerator<Uint8Array> } {
  const head = encoder.encode(
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="file"\r\nContent-Type: application/octet-stream\r\n\r\n`,
  );
  const tail = encoder.encode(`\r\n--${boundary}--\r\n`);
  async function* body(): AsyncGenerator<Uint8Array> {
    yield head;
    if (content instanceof Uint8Array) yield content;
    else yield* content;
    yield tail;
  }
  return { contentType: `multipart/form-data; boundary=${boundary}`, body: body() };
}

/** The chunks of a web `ReadableStream` as an async iterable. */
export async function* streamChunks(
  stream: ReadableStream<Uint8Array>,
): AsyncGenerator<Uint8Array> {
  const reader = stream.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  } finally {
    reader.releaseLock();
  }
}
