/**
 * Output helpers shared by the CLI's commands: argument parsing, notes, JSON, aligned columns,
 * and how Zarr nodes, shapes and codecs read on a terminal.
 */
import { type ParseArgsConfig, parseArgs } from "node:util";
import type { ArrayNode, CodecSpec, ZarrNode } from "../zarr/metadata.js";
import { chunkCount, chunkGridShape } from "../zarr/metadata.js";
import { type CliIO, UsageError } from "./io.js";

type Options = NonNullable<ParseArgsConfig["options"]>;

/** Parsed arguments: positionals and option values. */
export interface ParsedArgs<T> {
  positionals: string[];
  values: T;
}

/**
 * Parses a command's arguments with `util.parseArgs` (strict: unknown options are usage
 * errors), checking the number of positionals.
 */
export function parseCommandArgs<const O extends Options>(
  args: string[],
  options: O,
  positionals: { min: number; max: number; names: string },
): ParsedArgs<
  ReturnType<typeof parseArgs<{ options: O; allowPositionals: true; strict: true }>>["values"]
> {
  let parsed: ReturnType<typeof parseArgs<{ options: O; allowPositionals: true; strict: true }>>;
  try {
    parsed = parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const count = parsed.positionals.length;
  if (count < positionals.min) throw new UsageError(`missing ${positionals.names}`);
  if (count > positionals.max) {
    throw new UsageError(`unexpected argument '${parsed.positionals[positionals.max]}'`);
  }
  return { positionals: parsed.positionals, values: parsed.values };
}

/** Parses a non-negative integer option (`--offset 10`), or throws a usage error naming it. */
export function parseCount(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) {
    throw new UsageError(`--${name} must be a non-negative integer, got '${value}'`);
  }
  return Number(value);
}

/** Writes a note for the user to stderr, so stdout stays machine-readable. */
export function note(io: CliIO, text: string): void {
  io.stderr.write(`note: ${text}\n`);
}

/** Writes a value as pretty JSON with a final newline. */
export function writeJson(io: CliIO, value: unknown): void {
  io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Lays out rows as columns padded to the widest cell (the last column is not padded). */
export function columns(rows: string[][], gap = "  "): string[] {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  }
  return rows.map((row) =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join(gap)
      .trimEnd(),
  );
}

/** A shape as `[20, 25, 53]`. */
export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}

/**
 * A codec as `zlib(level=6)`; configuration values in JSON where they are not plain. The
 * sharding codec is named alone: its settings read better on lines of their own.
 */
export function formatCodec(codec: CodecSpec): string {
  if (codec.name === "sharding_indexed") return codec.name;
  const entries = Object.entries(codec.configuration).map(([key, value]) => {
    const text =
      typeof value === "string" || typeof value === "number"
        ? String(value)
        : JSON.stringify(value);
    return `${key}=${text}`;
  });
  return entries.length === 0 ? codec.name : `${codec.name}(${entries.join(", ")})`;
}

/** A codec list as `bytes(endian=little) → zstd(level=3)`, or `none`. */
export function formatCodecs(codecs: readonly CodecSpec[] | null | undefined): string {
  return codecs && codecs.length > 0 ? codecs.map(formatCodec).join(" → ") : "none";
}

/** The compression of an array in a word or two, for `tree`: `zlib`, `delta+blosc`, `sharded zstd`. */
export function compressionSummary(array: ArrayNode): string {
  const codecs = array.sharding ? array.sharding.codecs : array.codecs;
  const names = codecs.map((c) => c.name).filter((name) => name !== "bytes");
  const text = names.length === 0 ? "uncompressed" : names.join("+");
  return array.sharding ? `sharded, ${text}` : text;
}

/** The name a node is shown under: its last path segment (`/` for the root). */
export function nodeName(node: ZarrNode): string {
  return node.path === "/" ? "/" : node.path.slice(node.path.lastIndexOf("/") + 1);
}

/** A node as plain JSON for `--json`: everything but the raw document, plus the chunk grid. */
export function nodeToJson(node: ZarrNode, detail: "summary" | "full"): Record<string, unknown> {
  const base = { path: node.path, kind: node.kind, zarrFormat: node.zarrFormat };
  if (node.kind === "group") {
    return detail === "full" ? { ...base, attributes: node.attributes } : base;
  }
  const summary = {
    ...base,
    shape: node.shape,
    chunks: node.chunks,
    ...(node.sharding ? { innerChunks: node.innerChunks } : {}),
    dtype: node.dtype.name,
    ...(node.dimensionNames ? { dimensionNames: node.dimensionNames } : {}),
  };
  if (detail === "summary") return summary;
  return {
    ...summary,
    dtype: node.dtype,
    fillValue: node.fillValue,
    order: node.order,
    codecs: node.codecs,
    ...(node.zarrFormat === 2 ? { compressor: node.compressor, filters: node.filters } : {}),
    ...(node.sharding ? { sharding: node.sharding } : {}),
    chunkKeyEncoding: node.chunkKeyEncoding,
    chunkGrid: chunkGridShape(node),
    chunkCount: chunkCount(node),
    attributes: node.attributes,
  };
}
