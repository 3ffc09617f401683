import { StoreError } from "../../errors.js";
import type { Store } from "../../store.js";
import {
  disposeIcechunk,
  type IcechunkDiff,
  IcechunkStore,
  type IcechunkVersion,
  parseVersion,
} from "../../stores/icechunk/index.js";
import { type CopyOptions, type CopySummary, copyStore } from "../../zarr/copy.js";
import { parseCommandArgs, writeJson } from "../format.js";
import { type CliIO, type Command, EXIT, UsageError } from "../io.js";
import { openTarget } from "../target.js";

const OPTIONS = {
  message: { type: "string", short: "m" },
  from: { type: "string" },
  to: { type: "string" },
  delete: { type: "boolean" },
  json: { type: "boolean" },
} as const;

const SUBCOMMANDS = ["init", "log", "commit", "branch", "tag", "checkout", "diff"] as const;
type Subcommand = (typeof SUBCOMMANDS)[number];

type Values = { message?: string; from?: string; to?: string; delete?: boolean; json?: boolean };

/** `zarrstore icechunk <init|log|commit|branch|tag|checkout|diff> <repo-url> …` */
export const command: Command = {
  summary: "Icechunk repositories on any store: create, commit, branch, tag, check out, diff.",
  usage:
    "zarrstore icechunk init <repo>\n" +
    "       zarrstore icechunk log <repo> [<ref>] [--json]\n" +
    "       zarrstore icechunk commit <repo> --from <src-url> -m <message> [--json]\n" +
    "       zarrstore icechunk branch <repo> [<name> [--from <ref>] | --delete <name>]\n" +
    "       zarrstore icechunk tag <repo> [<name> [--from <ref>] | --delete <name>]\n" +
    "       zarrstore icechunk checkout <repo> <ref> [--to <dst-url>]\n" +
    "       zarrstore icechunk diff <repo> <from-ref> [<to-ref>] [--json]\n\n" +
    "<repo> is icechunk+<any store URL> (icechunk+file:///data/repo, icechunk+swift://c/p,\n" +
    "icechunk+s3://bucket/p) or a plain store URL holding the repository. A <ref> is a branch,\n" +
    "a tag or a snapshot id (branch=…, tag=…, snapshot=… when a name is ambiguous).\n" +
    "commit copies a Zarr store into the branch (default main; <repo>#branch=dev for another)\n" +
    "and commits it; checkout prints a version and with --to copies it out.",
  async run(args, io) {
    const { positionals, values } = parseCommandArgs(args, OPTIONS, {
      min: 2,
      max: 4,
      names: `a subcommand (${SUBCOMMANDS.join(", ")}) and the repository URL`,
    });
    const [sub, url, ...rest] = positionals as [string, string, ...string[]];
    if (!(SUBCOMMANDS as readonly string[]).includes(sub)) {
      throw new UsageError(`unknown subcommand '${sub}' (use ${SUBCOMMANDS.join(", ")})`);
    }
    try {
      return await runSubcommand(sub as Subcommand, repoUrl(url), rest, values, io);
    } finally {
      await releaseIcechunk(io);
    }
  },
};

/**
 * Lets the process exit: the WASM build's worker threads would keep it alive. Only when the
 * command runs as the process itself (its IO is the process's), since nothing in this process
 * can use Icechunk afterwards; a caller running the CLI in-process (tests) keeps it.
 */
export async function releaseIcechunk(io: CliIO): Promise<void> {
  if (io.stdout === process.stdout) await disposeIcechunk();
}

async function runSubcommand(
  sub: Subcommand,
  url: string,
  rest: string[],
  values: Values,
  io: CliIO,
): Promise<number> {
  if (sub === "init") {
    const store = await openRepo(url, io, { mode: "w" });
    io.stdout.write(`Icechunk repository at ${url}: main at ${store.snapshotId}\n`);
    return EXIT.ok;
  }
  if (sub === "commit") return commitFrom(url, values, io);
  const store = await openRepo(url, io, { readOnly: sub !== "branch" && sub !== "tag" });
  switch (sub) {
    case "log":
      return printLog(store, rest[0], values, io);
    case "branch":
      return refs(store, "branch", rest[0], values, io);
    case "tag":
      return refs(store, "tag", rest[0], values, io);
    case "checkout":
      return checkout(store, url, need(rest[0], "the version to check out"), values, io);
    default:
      return printDiff(store, need(rest[0], "the version to diff from"), rest[1], values, io);
  }
}

async function openRepo(url: string, io: CliIO, options: Record<string, unknown>) {
  const store = await openTarget(url, io, options);
  if (!(store instanceof IcechunkStore)) {
    throw new UsageError(`${url} is not an Icechunk repository URL`);
  }
  return store;
}

/** Accepts `icechunk+<url>` as it is, and a plain store URL as the place of the repository. */
function repoUrl(url: string): string {
  return /^icechunk\+/i.test(url) ? url : `icechunk+${url}`;
}

function need(value: string | undefined, what: string): string {
  if (value === undefined) throw new UsageError(`missing ${what}`);
  return value;
}

/** A ref as typed: `branch=…`, `tag=…`, `snapshot=…`, or a bare name looked up in that order. */
export async function resolveRef(store: IcechunkStore, text: string): Promise<IcechunkVersion> {
  if (text.includes("=")) return parseVersion(text);
  if ((await store.branches()).includes(text)) return { branch: text };
  if ((await store.tags()).includes(text)) return { tag: text };
  if (/^[0-9A-Z]{20}$/.test(text)) return { snapshot: text };
  throw new StoreError({
    code: "NotFound",
    message: `no branch, tag or snapshot named '${text}' (see 'zarrstore icechunk branch|tag <repo>')`,
    operation: "resolve",
  });
}

async function printLog(
  store: IcechunkStore,
  ref: string | undefined,
  values: Values,
  io: CliIO,
): Promise<number> {
  const log = await store.log(ref ? await resolveRef(store, ref) : undefined);
  if (values.json) {
    writeJson(io, log);
    return EXIT.ok;
  }
  for (const snapshot of log) {
    io.stdout.write(`${snapshot.id}  ${snapshot.writtenAt.toISOString()}  ${snapshot.message}\n`);
  }
  return EXIT.ok;
}

async function refs(
  store: IcechunkStore,
  kind: "branch" | "tag",
  name: string | undefined,
  values: Values,
  io: CliIO,
): Promise<number> {
  if (name === undefined) {
    if (values.delete) throw new UsageError(`name the ${kind} to delete`);
    const names = kind === "branch" ? await store.branches() : await store.tags();
    for (const each of names) {
      const id = await store.resolve(kind === "branch" ? { branch: each } : { tag: each });
      io.stdout.write(`${each}  ${id}\n`);
    }
    return EXIT.ok;
  }
  if (values.delete) {
    await (kind === "branch" ? store.deleteBranch(name) : store.deleteTag(name));
    io.stdout.write(`deleted ${kind} ${name}\n`);
    return EXIT.ok;
  }
  const from = values.from ? await resolveRef(store, values.from) : undefined;
  const id =
    kind === "branch" ? await store.createBranch(name, from) : await store.createTag(name, from);
  io.stdout.write(`${kind} ${name} at ${id}\n`);
  return EXIT.ok;
}

async function checkout(
  store: IcechunkStore,
  url: string,
  ref: string,
  values: Values,
  io: CliIO,
): Promise<number> {
  const version = await resolveRef(store, ref);
  await store.checkout(version);
  const [snapshot] = await store.log(version);
  const [kind, name] = Object.entries(version)[0] as [string, string];
  const base = url.split("#")[0];
  io.stdout.write(
    `${kind} ${name}: snapshot ${store.snapshotId}  ${snapshot?.message ?? ""}\n` +
      `open it as ${base}#${kind}=${name}\n`,
  );
  if (values.to === undefined) return EXIT.ok;
  const dst = await openTarget(values.to, io, { mode: "w" });
  try {
    const summary = await copyStore(store, dst, { signal: io.signal });
    io.stdout.write(`copied ${summary.copied} keys to ${values.to}\n`);
    return summary.ok ? EXIT.ok : EXIT.failed;
  } finally {
    await dst.close();
  }
}

async function printDiff(
  store: IcechunkStore,
  fromRef: string,
  toRef: string | undefined,
  values: Values,
  io: CliIO,
): Promise<number> {
  const from = await resolveRef(store, fromRef);
  const to = toRef ? await resolveRef(store, toRef) : store.version;
  const diff = await store.diff(from, to);
  if (values.json) writeJson(io, diff);
  else io.stdout.write(formatDiff(diff));
  return EXIT.ok;
}

/** A diff as lines: `+ /a (group)`, `- /b (array)`, `M /c (array)`, `M /c chunks: 3`. */
export function formatDiff(diff: IcechunkDiff): string {
  const lines: string[] = [];
  for (const path of diff.newGroups) lines.push(`+ ${path} (group)`);
  for (const path of diff.newArrays) lines.push(`+ ${path} (array)`);
  for (const path of diff.deletedGroups) lines.push(`- ${path} (group)`);
  for (const path of diff.deletedArrays) lines.push(`- ${path} (array)`);
  for (const path of diff.updatedGroups) lines.push(`M ${path} (group)`);
  for (const path of diff.updatedArrays) lines.push(`M ${path} (array)`);
  const chunks = (diff.updatedChunks ?? {}) as Record<string, unknown[]>;
  for (const [path, list] of Object.entries(chunks)) {
    lines.push(`M ${path} chunks: ${list.length}`);
  }
  for (const moved of diff.movedNodes) lines.push(`R ${moved.from} -> ${moved.to}`);
  return lines.length === 0 ? "no changes\n" : `${lines.sort().join("\n")}\n`;
}

async function commitFrom(url: string, values: Values, io: CliIO): Promise<number> {
  const from = need(values.from, "--from <src-url>: the Zarr store to commit");
  const message = need(values.message, "-m <message>");
  const src = await openTarget(from, io, { readOnly: true });
  try {
    const store = await openRepo(url, io, {});
    const summary = await copyIntoIcechunk(src, store, { signal: io.signal });
    if (!summary.ok) {
      io.stderr.write(`zarrstore icechunk: the copy failed, nothing committed\n`);
      return EXIT.failed;
    }
    const id = await store.commit(message);
    if (values.json) writeJson(io, { snapshot: id, copied: summary.copied });
    else io.stdout.write(`committed ${summary.copied} keys as ${id} on ${store.branch}\n`);
    return EXIT.ok;
  } finally {
    await src.close();
  }
}

/**
 * Copies a store into an Icechunk session: metadata first (Icechunk takes a chunk only under an
 * existing array; nothing is visible before the commit anyway), then the chunks. The caller
 * commits.
 */
export async function copyIntoIcechunk(
  src: Store,
  dst: IcechunkStore,
  options: CopyOptions,
): Promise<CopySummary> {
  const target = probeFree(dst);
  const metadata = await copyStore(src, target, { ...options, metadata: "only" });
  if (!metadata.ok) return metadata;
  const chunks = await copyStore(src, target, { ...options, metadata: "skip" });
  return { ...chunks, copied: chunks.copied + metadata.copied, metadata: "written" };
}

const PROBE = /^\/\.zarrstore-probe-/;

/**
 * The session as the copy engine's destination. The engine first writes and deletes a probe key
 * to catch refused credentials early; a session holds Zarr keys only and writes nothing to the
 * storage before the commit, so the probe could only fail for the wrong reason. The probe is
 * skipped here; the storage's permissions are tested when the commit writes.
 */
function probeFree(store: IcechunkStore): Store {
  return {
    capabilities: store.capabilities,
    get: (key, options) => store.get(key, options),
    getRange: (key, range, options) => store.getRange(key, range, options),
    stat: (key, options) => store.stat(key, options),
    set: async (key, value, options) => {
      if (!PROBE.test(key)) await store.set(key, value, options);
    },
    put: async (key, value, options) => (PROBE.test(key) ? {} : store.put(key, value, options)),
    delete: async (key, options) => {
      if (!PROBE.test(key)) await store.delete(key, options);
    },
    deletePrefix: (prefix, options) => store.deletePrefix(prefix, options),
    list: (prefix, options) => store.list(prefix, options),
    listDir: (prefix, options) => store.listDir(prefix, options),
    close: async () => {},
  };
}
