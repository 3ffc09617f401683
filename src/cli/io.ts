/** Where a command reads its environment and writes its output; tests pass their own. */
export interface CliIO {
  /** Takes text, or bytes for commands that pass values through (`cat`). */
  stdout: { write(chunk: string | Uint8Array): unknown; isTTY?: boolean };
  stderr: { write(chunk: string | Uint8Array): unknown; isTTY?: boolean };
  env: Record<string, string | undefined>;
  cwd: string;
  /** Aborted on Ctrl-C. */
  signal: AbortSignal;
}

/** A command of the `zarrstore` CLI. It returns the process exit code. */
export interface Command {
  summary: string;
  usage: string;
  run(args: string[], io: CliIO): Promise<number>;
}

/** Exit codes: 0 success, 1 failure of the work, 2 a usage mistake. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

/** A mistake in how the command was called (exit code 2). */
export class UsageError extends Error {
  override readonly name = "UsageError";
}
