import { toKey, toPrefix } from "../../keys.js";
import { checkWritable, deleteTree } from "../../zarr/copy.js";
import { isMetadataKey } from "../../zarr/metadata.js";
import { parseCommandArgs, parseCount, writeJson } from "../format.js";
import { type Command, EXIT, UsageError } from "../io.js";
import { openTarget } from "../target.js";

const OPTIONS = {
  recursive: { type: "boolean", short: "r" },
  concurrency: { type: "string", short: "j" },
  "dry-run": { type: "boolean", short: "n" },
  json: { type: "boolean" },
} as const;

/** `zarrstore rm <url> <key>…` and `zarrstore rm -r <url> [folder…]`. */
export const command: Command = {
  summary: "Remove keys, or with -r whole folders (the whole store without one), metadata first.",
  usage:
    "zarrstore rm <url> <key>... | zarrstore rm -r <url> [folder...] [-n|--dry-run] [--json]\n\n" +
    "With -r, every key under each folder goes (under the store's root when no folder is\n" +
    "given): metadata first, root first, so no reader finds an array whose chunks are going,\n" +
    "then the rest in bulk. --dry-run counts what would go and removes nothing.",
  async run(args, io) {
    const { positionals, values } = parseCommandArgs(args, OPTIONS, {
      min: 1,
      max: Number.POSITIVE_INFINITY,
      names: "the store URL",
    });
    const [url, ...paths] = positionals as [string, ...string[]];
    if (!values.recursive && paths.length === 0) {
      throw new UsageError("name the keys to remove, or use -r to remove folders");
    }
    const concurrency = parseCount(values.concurrency, "concurrency");
    const store = await openTarget(url, io);
    try {
      if (values["dry-run"]) {
        const counts = await countKeys(store, values.recursive === true, paths, io.signal);
        if (values.json) writeJson(io, { dryRun: true, ...counts });
        else io.stdout.write(`would remove ${counts.keys} keys (${counts.metadata} metadata)\n`);
        return EXIT.ok;
      }
      if (!store.capabilities.delete) {
        throw new UsageError(`${url} cannot delete keys (its store is read-only or append-only)`);
      }
      await checkWritable(store, { signal: io.signal, what: url });
      let removed = 0;
      let metadata = 0;
      if (values.recursive) {
        for (const folder of paths.length === 0 ? ["/"] : paths) {
          const result = await deleteTree(store, folder, { signal: io.signal, concurrency });
          removed += result.deleted;
          metadata += result.metadata;
        }
      } else {
        const keys = paths.map((path) => toKey(path));
        for (const key of keys) await store.delete(key, { signal: io.signal });
        removed = keys.length;
      }
      if (values.json) writeJson(io, { removed, metadata });
      else
        io.stdout.write(
          `removed ${removed} keys${values.recursive ? ` (${metadata} metadata)` : ""}\n`,
        );
      return EXIT.ok;
    } finally {
      await store.close();
    }
  },
};

async function countKeys(
  store: Awaited<ReturnType<typeof openTarget>>,
  recursive: boolean,
  paths: string[],
  signal: AbortSignal,
): Promise<{ keys: number; metadata: number }> {
  if (!recursive) {
    let keys = 0;
    for (const path of paths) if (await store.stat(toKey(path), { signal })) keys += 1;
    return { keys, metadata: 0 };
  }
  let keys = 0;
  let metadata = 0;
  for (const folder of paths.length === 0 ? ["/"] : paths) {
    for await (const key of store.list(toPrefix(folder), { signal })) {
      keys += 1;
      if (isMetadataKey(key)) metadata += 1;
    }
  }
  return { keys, metadata };
}
