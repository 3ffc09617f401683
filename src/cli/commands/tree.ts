import { toPrefix } from "../../keys.js";
import type { ZarrNode } from "../../zarr/metadata.js";
import {
  columns,
  compressionSummary,
  formatShape,
  nodeToJson,
  parseCommandArgs,
  writeJson,
} from "../format.js";
import { type Command, EXIT } from "../io.js";
import { loadHierarchy, openTarget } from "../target.js";

const OPTIONS = { json: { type: "boolean" } } as const;

/** `zarrstore tree <url> [path]`: the Zarr hierarchy, groups and arrays with shape, dtype, chunks. */
export const command: Command = {
  summary:
    "Show the Zarr hierarchy: groups, and arrays with their dtype, shape, chunks and compression.",
  usage:
    "zarrstore tree <url> [path] [--json]\n\n" +
    "Stores that cannot list (plain HTTP) are read from consolidated metadata (a note on stderr says so).",
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
          nodes: nodes.map((n) => nodeToJson(n, "summary")),
        });
      } else {
        for (const line of renderTree(nodes, path ? `${url} ${path}` : url, nodePath(path)))
          io.stdout.write(`${line}\n`);
      }
      return EXIT.ok;
    } finally {
      await store.close();
    }
  },
};

/**
 * Draws nodes (root first, in tree order) as a tree with aligned columns:
 *
 *     air.zarr  group (v2)
 *     ├── air   float32  [20, 25, 53]  chunks [5, 10, 20]  zlib  (time, lat, lon)
 *     └── lon   float32  [53]          chunks [53]         blosc  (lon)
 */
export function renderTree(nodes: ZarrNode[], rootLabel: string, rootPath = "/"): string[] {
  const rows: string[][] = [];
  const children = childrenByParent(nodes);
  const visit = (node: ZarrNode, parent: string | undefined, indent: string, branch: string) => {
    rows.push([`${indent}${branch}${label(node, parent, rootPath, rootLabel)}`, ...describe(node)]);
    const kids = children.get(node.path) ?? [];
    const nextIndent = branch === "" ? indent : `${indent}${branch === "└── " ? "    " : "│   "}`;
    kids.forEach((kid, i) => {
      visit(kid, node.path, nextIndent, i === kids.length - 1 ? "└── " : "├── ");
    });
  };
  for (const top of children.get(undefined) ?? []) visit(top, undefined, "", "");
  return columns(rows);
}

/** The node path a folder argument names (`grp/` → `/grp`, none → `/`). */
function nodePath(path: string | undefined): string {
  const folder = toPrefix(path);
  return folder === "/" ? "/" : folder.slice(0, -1);
}

/** A node's name relative to its parent (`air`, or `a/b` across folders without metadata). */
function label(
  node: ZarrNode,
  parent: string | undefined,
  rootPath: string,
  rootLabel: string,
): string {
  if (node.path === rootPath) return rootLabel;
  const relative =
    parent === undefined || parent === "/"
      ? node.path.slice(1)
      : node.path.slice(parent.length + 1);
  return node.kind === "group" ? `${relative}/` : relative;
}

function describe(node: ZarrNode): string[] {
  if (node.kind === "group") return [`group (v${node.zarrFormat})`];
  const chunks = node.sharding
    ? `shards ${formatShape(node.chunks)} of ${formatShape(node.innerChunks)}`
    : `chunks ${formatShape(node.chunks)}`;
  const dims = node.dimensionNames
    ? `(${node.dimensionNames.map((d) => d ?? "-").join(", ")})`
    : "";
  return [node.dtype.name, formatShape(node.shape), chunks, compressionSummary(node), dims];
}

/** Groups nodes under their nearest ancestor in the list (`undefined` for the tops). */
function childrenByParent(nodes: ZarrNode[]): Map<string | undefined, ZarrNode[]> {
  const present = new Set<string>(nodes.map((n) => n.path));
  const map = new Map<string | undefined, ZarrNode[]>();
  for (const node of nodes) {
    let parent: string | undefined;
    let path: string = node.path;
    while (path !== "/" && parent === undefined) {
      path = path.slice(0, path.lastIndexOf("/")) || "/";
      if (present.has(path)) parent = path;
    }
    const list = map.get(parent) ?? [];
    list.push(node);
    map.set(parent, list);
  }
  return map;
}
