import { redactUrl } from "../../http/status.js";
import type { OpenOptions } from "../../open.js";
import { isAbandonable, type Store } from "../../store.js";
import { IcechunkStore } from "../../stores/icechunk/index.js";
import { type CopyOptions, type CopySummary, copyStore } from "../../zarr/copy.js";
import { note, parseCommandArgs, parseCount, writeJson } from "../format.js";
import { type CliIO, type Command, EXIT, UsageError } from "../io.js";
import { createProgressReporter, formatBytes, formatDuration } from "../progress.js";
import { openTarget, resolveLocal } from "../target.js";
import { copyIntoIcechunk, releaseIcechunk } from "./icechunk.js";

const OPTIONS = {
  concurrency: { type: "string", short: "j" },
  verify: { type: "boolean" },
  resume: { type: "boolean" },
  partition: { type: "string" },
  metadata: { type: "string" },
  prefix: { type: "string" },
  retries: { type: "string" },
  json: { type: "boolean" },
  quiet: { type: "boolean", short: "q" },
  message: { type: "string", short: "m" },
} as const;

/** `zarrstore cp <src> <dst>`: copies a store (or a folder of it) into another. */
export const command: Command = {
  summary:
    "Copy a Zarr store between any two URLs: chunks first, metadata last, verified, resumable.",
  usage:
    "zarrstore cp <src> <dst> [--concurrency N] [--verify] [--resume] [--partition I/N]\n" +
    "                        [--metadata last|skip|only] [--prefix P] [--retries N] [--json] [-q]\n\n" +
    "  --concurrency N  keys in flight (default 16)\n" +
    "  --verify         check every value written: MD5 etags where the destination has them\n" +
    "                   (Swift, S3), else read back and compare\n" +
    "  --resume         skip keys already at the destination and identical\n" +
    "  --partition I/N  copy only share I of N (0-based; a hash of each key). Partition 0 writes\n" +
    "                   the metadata: run it after the others, or run them all with\n" +
    "                   --metadata skip and finish with --metadata only\n" +
    "  --prefix P       copy only the folder P (keys keep their names)\n" +
    "  --json           print the summary as JSON on stdout\n" +
    "  -m, --message M  into an icechunk+… destination: commit the copy with this message\n\n" +
    "Progress goes to stderr. Exit 0 when everything was copied, 1 with a list of failed keys\n" +
    "(re-run with --resume to finish), 2 for a usage mistake. Ctrl-C stops cleanly.",
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
      resume: values.resume === true,
      partition: parsePartition(values.partition),
      metadata: parseMetadataChoice(values.metadata),
      prefix: values.prefix,
    };
    return runCopy("cp", src, dst, options, args, values, io);
  },
};

/** Flags every copying command shares. */
export interface CopyFlags {
  json?: boolean | undefined;
  quiet?: boolean | undefined;
  /** The commit message when the destination is an Icechunk repository. */
  message?: string | undefined;
}

/**
 * Opens both stores, copies with progress on stderr, prints the summary, and returns the exit
 * code. Shared by `cp` and `sync`.
 */
export async function runCopy(
  name: string,
  srcUrl: string,
  dstUrl: string,
  options: CopyOptions,
  args: string[],
  flags: CopyFlags,
  io: CliIO,
): Promise<number> {
  if (
    resolveLocal(srcUrl, io.cwd).replace(/\/+$/, "") ===
    resolveLocal(dstUrl, io.cwd).replace(/\/+$/, "")
  ) {
    throw new UsageError("the source and the destination are the same store");
  }
  const src = await openTarget(srcUrl, io, { readOnly: true });
  let dst: Store | undefined;
  const reporter = createProgressReporter(io, {
    label: name === "sync" ? "syncing" : "copying",
    quiet: flags.quiet,
  });
  try {
    dst = await openTarget(dstUrl, io, destinationOptions());
    const copyOptions: CopyOptions = {
      ...options,
      signal: io.signal,
      onProgress: (progress) => reporter.update(progress),
    };
    const summary =
      dst instanceof IcechunkStore
        ? await copyAndCommit(src, dst, copyOptions, flags, io)
        : await copyStore(src, dst, copyOptions);
    reporter.stop();
    const closing = dst;
    dst = undefined;
    if (!summary.ok && (await abandonOutput(closing, dstUrl, io))) {
      printSummary(name, summary, options, args, flags, io, { discarded: true });
      return EXIT.failed;
    }
    // Closing finishes what some destinations write last (a zip's central directory): its
    // failure is the command's failure.
    await closing.close();
    printSummary(name, summary, options, args, flags, io);
    return summary.ok ? EXIT.ok : EXIT.failed;
  } finally {
    reporter.stop();
    // Still set: the copy threw. A zip or CAR being written is dropped, not installed half done.
    if (dst) await abandonOutput(dst, dstUrl, io).catch(() => {});
    await Promise.allSettled([src.close(), dst?.close()]);
    if (src instanceof IcechunkStore || dst instanceof IcechunkStore) await releaseIcechunk(io);
  }
}

/**
 * Drops what a write-on-close destination (a zip or CAR file) gathered, so that a failed copy
 * leaves the file as it was; says so on stderr. `false` for other stores (they keep what landed).
 */
export async function abandonOutput(dst: Store, url: string, io: CliIO): Promise<boolean> {
  if (!isAbandonable(dst)) return false;
  await dst.abandon();
  io.stderr.write(`${url} was not written (left as it was): the copy did not complete\n`);
  return true;
}

/** Into Icechunk: metadata first (it takes chunks only under existing arrays), then commit. */
async function copyAndCommit(
  src: Store,
  dst: IcechunkStore,
  options: CopyOptions,
  flags: CopyFlags,
  io: CliIO,
): Promise<CopySummary> {
  const summary = await copyIntoIcechunk(src, dst, options);
  if (summary.ok) {
    const id = await dst.commit(flags.message ?? "zarrstore cp");
    io.stderr.write(`committed as ${id} on branch ${dst.branch}\n`);
  }
  return summary;
}

// Mode "w" creates archives (zip, car) and makes HTTP stores writable; the others ignore it.
function destinationOptions(): OpenOptions {
  return { mode: "w" };
}

/** Parses `--partition 3/16` into `{index: 3, count: 16}`. */
export function parsePartition(value: string | undefined): CopyOptions["partition"] {
  if (value === undefined) return undefined;
  const match = /^(\d+)\/(\d+)$/.exec(value);
  const index = Number(match?.[1]);
  const count = Number(match?.[2]);
  if (!match || count < 1 || index >= count) {
    throw new UsageError(
      `--partition must be I/N with 0 <= I < N (e.g. 3/16 for the fourth of 16), got '${value}'`,
    );
  }
  return { index, count };
}

function parseMetadataChoice(value: string | undefined): CopyOptions["metadata"] {
  if (value === undefined) return undefined;
  if (value === "last" || value === "skip" || value === "only") return value;
  throw new UsageError(`--metadata must be last, skip or only, got '${value}'`);
}

// Failed keys listed on a terminal; --json carries up to 1,000.
const FAILED_SHOWN = 20;

function printSummary(
  name: string,
  summary: CopySummary,
  options: CopyOptions,
  args: string[],
  flags: CopyFlags,
  io: CliIO,
  outcome: { discarded?: boolean } = {},
): void {
  if (flags.json) {
    writeJson(io, summary);
  } else {
    io.stdout.write(`${summaryLine(summary)}\n`);
  }
  if (summary.keysTotal === 0 && summary.ok) {
    note(
      io,
      `nothing to copy: the source has no keys under ${options.prefix ?? "/"} (is the URL right?)`,
    );
  }
  if (summary.metadata === "skipped" && options.partition && options.partition.index > 0) {
    note(
      io,
      `partition ${options.partition.index}/${options.partition.count} copies chunks only; ` +
        "partition 0 writes the metadata: run it after every other partition has finished",
    );
  }
  if (summary.failedCount > 0) {
    io.stderr.write(`zarrstore ${name}: ${summary.failedCount} keys failed:\n`);
    for (const failed of summary.failed.slice(0, FAILED_SHOWN)) {
      io.stderr.write(`  ${failed.key}  ${failed.code}  ${failed.message}\n`);
    }
    if (summary.failedCount > FAILED_SHOWN) {
      io.stderr.write(`  … and ${summary.failedCount - FAILED_SHOWN} more (--json lists them)\n`);
    }
  }
  if (summary.error) {
    io.stderr.write(
      `zarrstore ${name}: stopped: ${summary.error.message} [${summary.error.code}]\n`,
    );
  }
  if (summary.aborted) io.stderr.write(`zarrstore ${name}: interrupted\n`);
  if (summary.metadata === "withheld") {
    io.stderr.write(
      `zarrstore ${name}: metadata not written, so no reader takes the copy for complete\n`,
    );
  }
  if (outcome.discarded) {
    // An archive is written whole or not at all: there is nothing to resume.
    io.stderr.write(`to copy again: zarrstore ${name} ${args.join(" ")}\n`);
  } else if (!summary.ok) {
    io.stderr.write(`to finish, run: ${resumeCommand(name, args)}\n`);
  }
}

/** The human summary: what was copied, skipped and verified, how fast. */
function summaryLine(summary: CopySummary): string {
  const seconds = summary.elapsedMs / 1000;
  const rate = seconds > 0 ? summary.bytesCopied / seconds : 0;
  const parts = [
    `copied ${summary.copied} keys (${formatBytes(summary.bytesCopied)}) in ${formatDuration(seconds)}` +
      ` (${formatBytes(rate)}/s)`,
  ];
  if (summary.skipped > 0) {
    parts.push(`${summary.skipped} identical skipped (${formatBytes(summary.bytesSkipped)})`);
  }
  if (summary.verified > 0) parts.push(`${summary.verified} verified`);
  if (summary.deleted > 0) parts.push(`${summary.deleted} extra deleted`);
  if (summary.vanished > 0) parts.push(`${summary.vanished} absent at the source`);
  if (summary.retries > 0) parts.push(`${summary.retries} retries`);
  parts.push(`metadata ${summary.metadata}`);
  return parts.join(", ");
}

/**
 * The command line to finish the work: the same arguments with --resume (sync always
 * resumes). URLs lose user info and query values, so no credential reaches the terminal.
 */
export function resumeCommand(name: string, args: string[]): string {
  const safe = args.map((word) => (/^[a-z][a-z0-9+.-]*:\/\//i.test(word) ? redactUrl(word) : word));
  const words = ["zarrstore", name, ...safe];
  if (name === "cp" && !args.includes("--resume")) words.push("--resume");
  return words.map(shellQuote).join(" ");
}

function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, "'\\''")}'`;
}
