import { StoreError } from "../../errors.js";
import { bytesToText } from "../../helpers.js";
import { toKey } from "../../keys.js";
import type { RangeQuery } from "../../store.js";
import { parseCommandArgs, parseCount, writeJson } from "../format.js";
import { type Command, EXIT, UsageError } from "../io.js";
import { openTarget } from "../target.js";

const OPTIONS = {
  json: { type: "boolean" },
  offset: { type: "string" },
  length: { type: "string" },
  suffix: { type: "string" },
} as const;

/** `zarrstore cat <url> <key>`: a value's bytes on stdout, as they are (or pretty JSON with `--json`). */
export const command: Command = {
  summary: "Write a value's bytes to stdout, unchanged (--json pretty-prints a JSON value).",
  usage:
    "zarrstore cat <url> <key> [--json] [--offset N --length N | --suffix N]\n\n" +
    "--offset/--length and --suffix read a byte range (HTTP semantics: a range past the end\n" +
    "returns the bytes that exist). Exit code 1 when the key holds no value.",
  async run(args, io) {
    const { positionals, values } = parseCommandArgs(args, OPTIONS, {
      min: 2,
      max: 2,
      names: "the key to read (zarrstore cat <url> <key>)",
    });
    const [url, name] = positionals as [string, string];
    const key = toKey(name);
    const range = parseRange(values);
    if (range && values.json)
      throw new UsageError("--json reads a whole value: drop the range options");
    const store = await openTarget(url, io, { readOnly: true });
    try {
      const options = { signal: io.signal };
      const bytes = range
        ? await store.getRange(key, range, options)
        : await store.get(key, options);
      if (bytes === undefined) {
        io.stderr.write(`zarrstore cat: no value at ${key} in ${url}\n`);
        return EXIT.failed;
      }
      if (values.json) writeJson(io, parseJson(bytes, key));
      else io.stdout.write(bytes);
      return EXIT.ok;
    } finally {
      await store.close();
    }
  },
};

function parseRange(values: {
  offset?: string;
  length?: string;
  suffix?: string;
}): RangeQuery | undefined {
  const offset = parseCount(values.offset, "offset");
  const length = parseCount(values.length, "length");
  const suffix = parseCount(values.suffix, "suffix");
  if (suffix !== undefined) {
    if (offset !== undefined || length !== undefined) {
      throw new UsageError("--suffix cannot be combined with --offset or --length");
    }
    return { suffixLength: suffix };
  }
  if (offset === undefined && length === undefined) return undefined;
  if (length === undefined) throw new UsageError("--offset needs --length (or use --suffix)");
  return { offset: offset ?? 0, length };
}

function parseJson(bytes: Uint8Array, key: string): unknown {
  try {
    return JSON.parse(bytesToText(bytes));
  } catch (cause) {
    throw new StoreError({
      code: "Integrity",
      message: `${key} is not JSON (${bytes.byteLength} bytes); drop --json to write its bytes as they are`,
      key,
      operation: "get",
      cause,
    });
  }
}
