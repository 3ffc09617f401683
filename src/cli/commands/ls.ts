import { type Prefix, toPrefix } from "../../keys.js";
import { listDirFromKeys } from "../../listing.js";
import type { ListDirResult, Store } from "../../store.js";
import { readConsolidated } from "../../zarr/hierarchy.js";
import { note, parseCommandArgs, writeJson } from "../format.js";
import { type CliIO, type Command, EXIT } from "../io.js";
import { openTarget } from "../target.js";

const OPTIONS = {
  recursive: { type: "boolean", short: "r" },
  json: { type: "boolean" },
} as const;

/** `zarrstore ls <url> [prefix]`: one level of keys and folders, or every key with `-r`. */
export const command: Command = {
  summary: "List the keys and folders of a store (one level; -r for every key below).",
  usage:
    "zarrstore ls <url> [prefix] [-r|--recursive] [--json]\n\n" +
    "Folders end in '/'. Stores that cannot list (plain HTTP) show the metadata keys their\n" +
    "consolidated metadata records, with a note on stderr.",
  async run(args, io) {
    const { positionals, values } = parseCommandArgs(args, OPTIONS, {
      min: 1,
      max: 2,
      names: "the store URL",
    });
    const [url, path] = positionals as [string, string | undefined];
    const store = await openTarget(url, io, { readOnly: true });
    try {
      const prefix = toPrefix(path);
      if (!store.capabilities.list)
        return await listFromConsolidated(store, url, prefix, values, io);
      if (values.recursive) return await listRecursive(store, prefix, values.json === true, io);
      const listing = await store.listDir(prefix, { signal: io.signal });
      if (listing.keys.length === 0 && listing.prefixes.length === 0 && prefix !== "/") {
        io.stderr.write(`zarrstore ls: nothing under ${prefix} in ${url}\n`);
        return EXIT.failed;
      }
      printListing(listing, prefix, values.json === true, io);
      return EXIT.ok;
    } finally {
      await store.close();
    }
  },
};

function printListing(listing: ListDirResult, prefix: string, json: boolean, io: CliIO): void {
  if (json) {
    writeJson(io, { prefix, keys: listing.keys, prefixes: listing.prefixes });
    return;
  }
  for (const folder of listing.prefixes) io.stdout.write(`${folder.slice(prefix.length)}\n`);
  for (const key of listing.keys) io.stdout.write(`${key.slice(prefix.length)}\n`);
}

// Streams keys as the store pages them (never buffered, so a million keys cost no memory);
// --json collects them, since a JSON document cannot be streamed line by line.
async function listRecursive(
  store: Store,
  prefix: string,
  json: boolean,
  io: CliIO,
): Promise<number> {
  const keys: string[] = [];
  for await (const key of store.list(prefix, { signal: io.signal })) {
    if (json) keys.push(key);
    else io.stdout.write(`${key.slice(prefix.length)}\n`);
  }
  if (json) writeJson(io, { prefix, keys: keys.sort() });
  return EXIT.ok;
}

async function listFromConsolidated(
  store: Store,
  url: string,
  prefix: Prefix,
  values: { recursive?: boolean; json?: boolean },
  io: CliIO,
): Promise<number> {
  const consolidated = await readConsolidated(store, "/", { signal: io.signal });
  if (consolidated === undefined) {
    io.stderr.write(
      `zarrstore ls: ${url} cannot be listed and has no consolidated metadata at its root ` +
        "(.zmetadata or zarr.json with consolidated_metadata); name a key with 'zarrstore cat', " +
        "or open the data through a store that lists\n",
    );
    return EXIT.failed;
  }
  note(
    io,
    `${url} cannot be listed; showing the metadata keys recorded in ${consolidated.key} (chunk keys are not shown)`,
  );
  const keys = consolidated.keys.filter((key) => key.startsWith(prefix));
  if (values.recursive) {
    if (values.json) writeJson(io, { prefix, keys, source: "consolidated" });
    else for (const key of keys) io.stdout.write(`${key.slice(prefix.length)}\n`);
    return EXIT.ok;
  }
  const listing = listDirFromKeys(keys, prefix);
  if (values.json) writeJson(io, { prefix, ...listing, source: "consolidated" });
  else printListing(listing, prefix, false, io);
  return EXIT.ok;
}
