import type { ArrayNode, ZarrNode } from "../../zarr/metadata.js";
import { chunkCount, chunkGridShape, chunkKeyName } from "../../zarr/metadata.js";
import {
  columns,
  formatCodec,
  formatCodecs,
  formatShape,
  nodeToJson,
  parseCommandArgs,
  writeJson,
} from "../format.js";
import { type Command, EXIT } from "../io.js";
import { loadHierarchy, openTarget } from "../target.js";

const OPTIONS = { json: { type: "boolean" } } as const;

/** `zarrstore info <url> [path]`: each node's metadata in full, v2 and v3. */
export const command: Command = {
  summary:
    "Describe every group and array: shape, dtype, chunks, codecs (compressor, filters, sharding) and attributes.",
  usage:
    "zarrstore info <url> [path] [--json]\n\n" +
    "With a path, only that node and what lies below it. Stores that cannot list are read from\n" +
    "consolidated metadata (a note on stderr says so).",
  async run(args, io) {
    const { positionals, values } = parseCommandArgs(args, OPTIONS, {
      min: 1,
      max: 2,
      names: "the store URL",
    });
    const [url, path] = positionals as [string, string | undefined];
    const store = await openTarget(url, io, { readOnly: true });
    try {
      const { source, nodes } = await loadHierarchy(store, url, path, io);
      if (values.json) {
        writeJson(io, {
          url,
          path: path ?? "/",
          source,
          nodes: nodes.map((n) => nodeToJson(n, "full")),
        });
      } else {
        io.stdout.write(nodes.map((n) => describeNode(n).join("\n")).join("\n\n"));
        io.stdout.write("\n");
      }
      return EXIT.ok;
    } finally {
      await store.close();
    }
  },
};

/** The lines `info` prints for one node. */
export function describeNode(node: ZarrNode): string[] {
  const title = `${node.path}  (${node.kind}, zarr v${node.zarrFormat})`;
  const rows = node.kind === "array" ? arrayRows(node) : [];
  const attributes = Object.entries(node.attributes).filter(
    ([name]) => name !== "_ARRAY_DIMENSIONS",
  );
  if (attributes.length > 0) {
    rows.push(["attributes", ""]);
    for (const [name, value] of attributes) rows.push([`  ${name}`, formatValue(value)]);
  }
  return [title, ...columns(rows).map((line) => `  ${line}`)];
}

function arrayRows(array: ArrayNode): string[][] {
  const dims = array.dimensionNames
    ? `  (${array.dimensionNames.map((d) => d ?? "-").join(", ")})`
    : "";
  const grid = chunkGridShape(array);
  const native =
    typeof array.dtype.native === "string"
      ? array.dtype.native
      : JSON.stringify(array.dtype.native);
  const rows: string[][] = [
    ["shape", `${formatShape(array.shape)}${dims}`],
    [
      "chunks",
      `${formatShape(array.chunks)}  (grid ${formatShape(grid)}, ${plural(chunkCount(array), array.sharding ? "shard" : "chunk")})`,
    ],
    ["dtype", native === array.dtype.name ? native : `${array.dtype.name}  (${native})`],
    ["fill value", formatValue(array.fillValue)],
    ["order", array.order],
  ];
  if (array.zarrFormat === 2) {
    rows.push(["compressor", array.compressor ? formatCodec(array.compressor) : "none"]);
    rows.push(["filters", formatCodecs(array.filters)]);
  } else {
    rows.push(["codecs", formatCodecs(array.codecs)]);
  }
  if (array.sharding) {
    const { chunkShape, codecs, indexCodecs, indexLocation } = array.sharding;
    rows.push([
      "sharding",
      `inner chunks ${formatShape(chunkShape)}, index at the ${indexLocation}`,
    ]);
    rows.push(["  inner codecs", formatCodecs(codecs)]);
    rows.push(["  index codecs", formatCodecs(indexCodecs)]);
  }
  const { name, separator } = array.chunkKeyEncoding;
  const example = chunkKeyName(
    array.chunkKeyEncoding,
    array.shape.map(() => 0),
  );
  rows.push(["chunk keys", `${name}, separator "${separator}"  (e.g. ${example})`]);
  return rows;
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? "" : "s"}`;
}

function formatValue(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}
