import { spawn } from "node:child_process";
import { dirname, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { CliIO } from "../../src/cli/io.js";
import { main } from "../../src/cli/main.js";

/** The repository root (tests run the CLI from here unless told otherwise). */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
/** The CLI's source entry, run by `node --import tsx`. */
export const CLI_MAIN = resolve(REPO_ROOT, "src/cli/main.ts");
// tsx by absolute URL, so a subprocess started in a temporary folder still finds it.
const TSX_LOADER = pathToFileURL(resolve(REPO_ROOT, "node_modules/tsx/dist/loader.mjs")).href;

/** What a CLI run produced. */
export interface CliResult {
  /** The exit code (0 ok, 1 failure, 2 usage). */
  code: number;
  /** Everything written to stdout, decoded as UTF-8. */
  stdout: string;
  /** Everything written to stdout, as bytes (for `cat` of binary values). */
  stdoutBytes: Uint8Array;
  stderr: string;
}

/** Options for a CLI run. */
export interface RunCliOptions {
  /** Environment of the run; the in-process runner does not inherit the test's environment. */
  env?: Record<string, string | undefined>;
  /** Working directory (default: the repository root). */
  cwd?: string;
  /** Pretend stdout and stderr are terminals. */
  tty?: boolean;
  /** Abort signal handed to the command (Ctrl-C). */
  signal?: AbortSignal;
}

/** A stream that remembers what was written to it, as `CliIO` expects. */
class Capture {
  readonly #chunks: Uint8Array[] = [];
  readonly isTTY: boolean;
  constructor(tty: boolean) {
    this.isTTY = tty;
  }
  write(chunk: string | Uint8Array): boolean {
    this.#chunks.push(typeof chunk === "string" ? new TextEncoder().encode(chunk) : chunk.slice());
    return true;
  }
  bytes(): Uint8Array {
    return new Uint8Array(Buffer.concat(this.#chunks));
  }
}

/** Runs the CLI in this process with captured output; fast, and errors keep their stacks. */
export async function runCli(args: string[], options: RunCliOptions = {}): Promise<CliResult> {
  const stdout = new Capture(options.tty ?? false);
  const stderr = new Capture(options.tty ?? false);
  const io: CliIO = {
    stdout,
    stderr,
    env: options.env ?? {},
    cwd: options.cwd ?? REPO_ROOT,
    signal: options.signal ?? new AbortController().signal,
  };
  const code = await main(args, io);
  const out = stdout.bytes();
  return { code, stdout: decode(out), stdoutBytes: out, stderr: decode(stderr.bytes()) };
}

/** Options for a CLI subprocess. */
export interface RunCliProcessOptions {
  /** Extra environment variables (the test's environment is inherited). */
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Kill the process after this many milliseconds (default 30 s). */
  timeoutMs?: number;
  /** Bytes to write to the process's stdin. */
  input?: string | Uint8Array;
}

/**
 * Runs the CLI as a real process (`node --import tsx src/cli/main.ts …`), to check exit codes,
 * stdout/stderr separation and signal handling as a user sees them.
 */
export function runCliProcess(
  args: string[],
  options: RunCliProcessOptions = {},
): Promise<CliResult> {
  const child = spawn(process.execPath, ["--import", TSX_LOADER, CLI_MAIN, ...args], {
    cwd: options.cwd ?? REPO_ROOT,
    env: { ...process.env, ...options.env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on("data", (chunk: Buffer) => out.push(chunk));
  child.stderr.on("data", (chunk: Buffer) => err.push(chunk));
  child.stdin.end(options.input ?? "");
  const timeoutMs = options.timeoutMs ?? 30_000;
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`zarrstore ${args.join(" ")} did not finish within ${timeoutMs} ms`));
    }, timeoutMs);
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      const stdoutBytes = new Uint8Array(Buffer.concat(out));
      resolvePromise({
        code: code ?? (signal ? 128 : 1),
        stdout: decode(stdoutBytes),
        stdoutBytes,
        stderr: Buffer.concat(err).toString("utf8"),
      });
    });
  });
}

function decode(bytes: Uint8Array): string {
  return new TextDecoder().decode(bytes);
}
