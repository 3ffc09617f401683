#!/usr/bin/env node
import { realpathSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { isStoreError } from "../errors.js";
import { type CliIO, type Command, EXIT, UsageError } from "./io.js";

/** The commands, loaded on demand so `zarrstore ls` does not pay for the proxy or IPFS. */
const COMMANDS: Record<string, () => Promise<Command>> = {
  car: async () => (await import("./commands/car.js")).command,
  cat: async () => (await import("./commands/cat.js")).command,
  conformance: async () => (await import("./commands/conformance.js")).command,
  consolidate: async () => (await import("./commands/consolidate.js")).command,
  cp: async () => (await import("./commands/cp.js")).command,
  icechunk: async () => (await import("./commands/icechunk.js")).command,
  info: async () => (await import("./commands/info.js")).command,
  ls: async () => (await import("./commands/ls.js")).command,
  rm: async () => (await import("./commands/rm.js")).command,
  serve: async () => (await import("./commands/serve.js")).command,
  swift: async () => (await import("./commands/swift.js")).command,
  sync: async () => (await import("./commands/sync.js")).command,
  tree: async () => (await import("./commands/tree.js")).command,
};

function usage(): string {
  const names = Object.keys(COMMANDS).sort();
  return `usage: zarrstore <command> [options]\n\ncommands: ${names.join(", ")}\nRun 'zarrstore <command> --help' for a command's options.\n`;
}

/** Runs the CLI with the given arguments and returns the exit code. */
export async function main(argv: string[], io: CliIO): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    io.stdout.write(usage());
    return name === undefined ? EXIT.usage : EXIT.ok;
  }
  const load = COMMANDS[name];
  if (load === undefined) {
    io.stderr.write(`zarrstore: unknown command '${name}'\n${usage()}`);
    return EXIT.usage;
  }
  const command = await load();
  if (args.includes("--help") || args.includes("-h")) {
    io.stdout.write(`${command.summary}\n\nusage: ${command.usage}\n`);
    return EXIT.ok;
  }
  try {
    return await command.run(args, io);
  } catch (error) {
    return reportError(error, name, command, io);
  }
}

function reportError(error: unknown, name: string, command: Command, io: CliIO): number {
  if (error instanceof UsageError) {
    io.stderr.write(`zarrstore ${name}: ${error.message}\nusage: ${command.usage}\n`);
    return EXIT.usage;
  }
  if (isStoreError(error)) {
    io.stderr.write(`zarrstore ${name}: ${error.message} [${error.code}]\n`);
    return EXIT.failed;
  }
  const message = error instanceof Error ? error.message : String(error);
  io.stderr.write(`zarrstore ${name}: ${message}\n`);
  return EXIT.failed;
}

/**
 * The IO of the running process, with Ctrl-C (SIGINT) and SIGTERM (a service manager, `kill`,
 * a CI timeout) wired to the abort signal: a copy stops cleanly and says how to resume. Each
 * is caught once; a second one ends the process at once, and so does the end of a 5 s grace
 * after SIGTERM.
 */
export function processIO(): CliIO {
  const controller = new AbortController();
  process.once("SIGINT", () => controller.abort(new Error("interrupted (Ctrl-C)")));
  process.once("SIGTERM", () => {
    controller.abort(new Error("terminated (SIGTERM)"));
    // Commands that do not watch the signal (info, tree…) still end soon after one SIGTERM.
    setTimeout(() => process.exit(143), 5_000).unref();
  });
  // `zarrstore ls -r … | head` closes stdout early: stop quietly, as Unix tools do.
  process.stdout.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code !== "EPIPE") throw error;
    controller.abort(error);
    process.exit(0);
  });
  return {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
    signal: controller.signal,
  };
}

/** Tells whether this module is the process's entry (`node --import tsx src/cli/main.ts …`). */
function isEntry(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return import.meta.url === pathToFileURL(realpathSync(script)).href;
  } catch {
    return false;
  }
}

if (isEntry()) process.exitCode = await main(process.argv.slice(2), processIO());
