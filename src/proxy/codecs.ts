/**
 * Byte codecs the proxy runs itself: decompressors for the fast decode path (a chunk that is
 * only compressed, no filters) and the zstd encoder for `@codec=zstd`.
 *
 * numcodecs ships `.d.ts` files with extensionless imports, which `nodenext` cannot follow, so
 * its types arrive as `any`; this module gives it the small typed face the proxy needs.
 */

/** Compressed → raw bytes. zlib and gzip default to `DecompressionStream`; Node passes `node:zlib`. */
export type Decompress = (bytes: Uint8Array) => Uint8Array | Promise<Uint8Array>;

/** Decompressors by codec name (`zlib`, `gzip`, `zstd`, `blosc`, `lz4`). */
export type Decompressors = Readonly<Record<string, Decompress>>;

/** A bytes-to-bytes codec, as numcodecs implements it. */
export interface ByteCodec {
  encode(bytes: Uint8Array): Uint8Array | Promise<Uint8Array>;
  decode(bytes: Uint8Array): Uint8Array | Promise<Uint8Array>;
}

interface CodecConstructor {
  fromConfig(config: Record<string, unknown> & { id: string }): ByteCodec;
}

/** The codecs the fast path decodes; everything else goes through zarrita's codec pipeline. */
export const FAST_CODECS: ReadonlySet<string> = new Set(["zlib", "gzip", "zstd", "blosc", "lz4"]);

const NUMCODECS: Record<string, () => Promise<{ default: unknown }>> = {
  zstd: () => import("numcodecs/zstd"),
  blosc: () => import("numcodecs/blosc"),
  lz4: () => import("numcodecs/lz4"),
};

/** Loads a numcodecs codec (`zstd`, `blosc`, `lz4`) with its configuration. */
export async function loadNumcodec(
  id: string,
  configuration: Record<string, unknown> = {},
): Promise<ByteCodec> {
  const load = NUMCODECS[id];
  if (load === undefined) throw new Error(`numcodecs codec ${id} is not available here`);
  const ctor = (await load()).default as CodecConstructor;
  return ctor.fromConfig({ ...configuration, id });
}

/** Decompresses with the runtime's `DecompressionStream` (browsers, Deno, Bun, Node ≥ 18). */
export function streamDecompressor(format: "deflate" | "gzip"): Decompress {
  return async (bytes) => {
    const stream = new Blob([bytes as Uint8Array<ArrayBuffer>])
      .stream()
      .pipeThrough(new DecompressionStream(format));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  };
}

/** The decompressors available in every runtime. */
export function defaultDecompressors(): Decompressors {
  return {
    zlib: streamDecompressor("deflate"),
    gzip: streamDecompressor("gzip"),
  };
}

/**
 * A decompressor for one fast-path codec: the caller's (Node passes `node:zlib`), else the
 * default stream one for zlib/gzip, else numcodecs (zstd, blosc, lz4), loaded once.
 */
export function decompressorFor(
  name: string,
  configuration: Record<string, unknown>,
  supplied: Decompressors,
): Decompress {
  const given = supplied[name];
  if (given !== undefined) return given;
  let codec: Promise<ByteCodec> | undefined;
  return async (bytes) => {
    codec ??= loadNumcodec(name, configuration);
    return (await codec).decode(bytes);
  };
}
