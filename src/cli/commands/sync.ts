import type { CopyOptions } from "../../zarr/copy.js";
import { parseCommandArgs, parseCount } from "../format.js";
import type { Command } from "../io.js";
import { runCopy } from "./cp.js";

const OPTIONS = {
  delete: { type: "boolean" },
  concurrency: { type: "string", short: "j" },
  verify: { type: "boolean" },
  prefix: { type: "string" },
  retries: { type: "string" },
  json: { type: "boolean" },
  quiet: { type: "boolean", short: "q" },
} as const;

/** `zarrstore sync <src> <dst>`: copies what differs; `--delete` removes what the source lacks. */
export const command: Command = {
  summary: "Make a destination match a source: copy only what differs, --delete removes extras.",
  usage:
    "zarrstore sync <src> <dst> [--delete] [--concurrency N] [--verify] [--prefix P]\n" +
    "                          [--retries N] [--json] [-q]\n\n" +
    "Keys of the same size and content (MD5 etags where both stores have them, the bytes\n" +
    "otherwise) are skipped. With --delete, destination keys the source lacks are removed\n" +
    "after a complete copy, metadata first. Exit 0 when the destination matches, 1 otherwise.",
  async run(args, io) {
    const { positionals, values } = parseCommandArgs(args, OPTIONS, {
      min: 2,
      max: 2,
      names: "the source and destination URLs",
    });
    const [src, dst] = positionals as [string, string];
    const options: CopyOptions = {
      concurrency: parseCount(values.concurrency, "concurrency"),
      retries: parseCount(values.retries, "retries"),
      verify: values.verify === true,
      resume: true,
      deleteExtra: values.delete === true,
      prefix: values.prefix,
    };
    return runCopy("sync", src, dst, options, args, values, io);
  },
};
