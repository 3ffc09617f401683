import { consolidate } from "../../zarr/consolidate.js";
import { checkWritable } from "../../zarr/copy.js";
import { parseCommandArgs, writeJson } from "../format.js";
import { type Command, EXIT, UsageError } from "../io.js";
import { openTarget } from "../target.js";

const OPTIONS = {
  format: { type: "string" },
  json: { type: "boolean" },
} as const;

/** `zarrstore consolidate <url> [group]`: writes consolidated metadata. */
export const command: Command = {
  summary: "Write consolidated metadata: v2 .zmetadata, v3 consolidated_metadata in zarr.json.",
  usage:
    "zarrstore consolidate <url> [group] [--format auto|2|3] [--json]\n\n" +
    "Gathers the metadata of every group and array below the group (the store's root by\n" +
    "default) the way zarr-python does, so zarr.open_consolidated and zarrita's\n" +
    "withConsolidatedMetadata open the hierarchy with one read. auto writes each format the\n" +
    "group has.",
  async run(args, io) {
    const { positionals, values } = parseCommandArgs(args, OPTIONS, {
      min: 1,
      max: 2,
      names: "the store URL",
    });
    const [url, group] = positionals as [string, string | undefined];
    const format = parseFormat(values.format);
    const store = await openTarget(url, io);
    try {
      await checkWritable(store, { signal: io.signal, what: url });
      const result = await consolidate(store, { prefix: group, format, signal: io.signal });
      if (values.json) writeJson(io, result);
      else {
        io.stdout.write(
          `wrote ${result.written.join(" and ")} (${result.documents} metadata documents)\n`,
        );
      }
      return EXIT.ok;
    } finally {
      await store.close();
    }
  },
};

function parseFormat(value: string | undefined): "auto" | 2 | 3 {
  if (value === undefined || value === "auto") return "auto";
  if (value === "2" || value === "3") return Number(value) as 2 | 3;
  throw new UsageError(`--format must be auto, 2 or 3, got '${value}'`);
}
