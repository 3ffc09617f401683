/**
 * How CLI commands open the store a URL names and find the Zarr nodes in it, with messages a
 * user can act on.
 */
import { isAbsolute, resolve } from "node:path";
import { StoreError } from "../errors.js";
import { type AbsolutePath, type Prefix, toPrefix } from "../keys.js";
import { type OpenOptions, schemeOf } from "../open.js";
import { openStore } from "../open.node.js";
import type { Store } from "../store.js";
import { type HierarchySource, readConsolidated, readHierarchy } from "../zarr/hierarchy.js";
import type { ZarrNode } from "../zarr/metadata.js";
import type { CliIO } from "./io.js";

/**
 * Opens a URL with `openStore`. Relative paths (`sample/air.zarr`, `data.zip`) are taken from
 * the command's working directory, not the process's.
 */
export async function openTarget(
  url: string,
  io: CliIO,
  options: OpenOptions = {},
): Promise<Store> {
  return openStore(resolveLocal(url, io.cwd), { env: io.env, ...options });
}

/**
 * Makes a relative local path absolute against `cwd` (`data.zarr`, `x.zip`, `zip://x.zip`);
 * other URLs pass unchanged.
 */
export function resolveLocal(url: string, cwd: string): string {
  const archive = /^(zip|car):\/\/(.*)$/i.exec(url);
  if (archive) {
    const [, scheme, path = ""] = archive;
    return isAbsolute(path) ? url : `${scheme}://${resolve(cwd, path)}`;
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) return url;
  const scheme = schemeOf(url);
  if ((scheme === "file" || scheme === "zip" || scheme === "car") && !isAbsolute(url)) {
    return resolve(cwd, url);
  }
  return url;
}

/** The nodes under a path of a store, with where they came from. */
export interface LoadedHierarchy {
  source: HierarchySource;
  /** Where consolidated metadata was read from, when it was. */
  consolidatedKey?: string | undefined;
  /** The nodes at and below the folder asked for; paths are relative to the store's root. */
  nodes: ZarrNode[];
}

/**
 * Reads the hierarchy at `path` inside the store: by listing when the store can, else from
 * consolidated metadata at `path` or, failing that, at the store's root (filtered to `path`).
 * Writes a note to stderr when consolidated metadata stands in for a listing, and fails with
 * an actionable `NotFound` when there are no Zarr nodes at all.
 */
export async function loadHierarchy(
  store: Store,
  url: string,
  path: string | undefined,
  io: CliIO,
): Promise<LoadedHierarchy> {
  const folder = toPrefix(path);
  const where = path ? `${url} (${folder})` : url;
  const loaded: LoadedHierarchy = store.capabilities.list
    ? await readHierarchy(store, folder, { signal: io.signal, use: "listing" })
    : await loadConsolidated(store, folder, where, io);
  if (loaded.nodes.length === 0) {
    throw new StoreError({
      code: "NotFound",
      message: `no Zarr metadata at ${where}: expected .zgroup, .zarray or zarr.json (is the path right?)`,
      key: folder,
    });
  }
  if (loaded.source === "consolidated") {
    io.stderr.write(
      `note: ${url} cannot be listed; reading consolidated metadata (${loaded.consolidatedKey})\n`,
    );
  }
  // Paths stay relative to the URL's root, so `info <url> grp` shows /grp/counts, not /counts.
  if (folder !== "/") loaded.nodes = loaded.nodes.map((n) => underFolder(n, folder));
  return loaded;
}

function underFolder(node: ZarrNode, folder: Prefix): ZarrNode {
  const base = folder.slice(0, -1);
  return { ...node, path: (node.path === "/" ? base : `${base}${node.path}`) as AbsolutePath };
}

async function loadConsolidated(
  store: Store,
  folder: Prefix,
  where: string,
  io: CliIO,
): Promise<LoadedHierarchy> {
  const options = { signal: io.signal };
  const here = await readConsolidated(store, folder, options);
  if (here) return { source: "consolidated", consolidatedKey: here.key, nodes: here.nodes };
  const root = folder === "/" ? undefined : await readConsolidated(store, "/", options);
  if (root) {
    const inside = `/${folder.slice(1, -1)}`;
    const nodes = root.nodes
      .filter((n) => n.path === inside || n.path.startsWith(`${inside}/`))
      .map(
        (n) => ({ ...n, path: n.path === inside ? "/" : n.path.slice(inside.length) }) as ZarrNode,
      );
    return { source: "consolidated", consolidatedKey: root.key, nodes };
  }
  throw new StoreError({
    code: "NotFound",
    message:
      `${where} cannot be listed and has no consolidated metadata ` +
      "(.zmetadata, or consolidated_metadata in zarr.json): point at the dataset's root, " +
      "consolidate it where it can be listed (zarrstore consolidate <url>), or open it through a store that lists",
    key: folder,
  });
}
