import {
  acquireToken,
  getenvAuth,
  isPublic,
  parseSwiftUrl,
  SwiftStore,
  setPublic,
} from "../../stores/swift/index.node.js";
import { parseCommandArgs } from "../format.js";
import { type CliIO, type Command, EXIT, UsageError } from "../io.js";

const TOKEN_OPTIONS = {
  authurl: { type: "string", short: "A" },
  user: { type: "string", short: "U" },
  key: { type: "string", short: "K" },
} as const;

const USAGE =
  "zarrstore swift token [-A AUTH_URL] [-U account:user] [-K KEY]\n" +
  "zarrstore swift public on|off|status swift://container[/prefix]\n\n" +
  "token    authenticates (v1: ST_AUTH, ST_USER, ST_KEY unless given) and prints\n" +
  "         `export OS_STORAGE_URL=… OS_AUTH_TOKEN=…` lines and the expiry, so that\n" +
  '         eval "$(zarrstore swift token)" lets the swift CLI and zarrstore reuse the token.\n' +
  "public   shows or sets whether anyone may read the container without a token:\n" +
  "         on adds .r:* and .rlistings to its read ACL, off removes exactly those (other ACL\n" +
  "         entries stay). Credentials come from the environment (see `token`).";

/** `zarrstore swift token|public`: the seed's acquire_token and toggle_public, from a shell. */
export const command: Command = {
  summary: "Swift helpers: print a pre-authenticated token, show or set a container's public read.",
  usage: USAGE,
  async run(args, io) {
    const [action, ...rest] = args;
    if (action === "token") return token(rest, io);
    if (action === "public") return publicAccess(rest, io);
    throw new UsageError(
      action === undefined ? "missing action (token or public)" : `unknown action '${action}'`,
    );
  },
};

async function token(args: string[], io: CliIO): Promise<number> {
  const { values } = parseCommandArgs(args, TOKEN_OPTIONS, { min: 0, max: 0, names: "" });
  const authurl = values.authurl ?? io.env.ST_AUTH;
  const user = values.user ?? io.env.ST_USER;
  const key = values.key ?? io.env.ST_KEY;
  if (!authurl || !user || !key) {
    throw new UsageError(
      "needs the auth URL, user and key: set ST_AUTH, ST_USER, ST_KEY or pass -A, -U, -K",
    );
  }
  const auth = await acquireToken({ authurl, user, key, signal: io.signal });
  io.stdout.write(`export OS_STORAGE_URL=${shellQuote(auth.preauthurl)}\n`);
  io.stdout.write(`export OS_AUTH_TOKEN=${shellQuote(auth.preauthtoken)}\n`);
  if (auth.expiresAt) {
    const seconds = Math.max(0, Math.round((auth.expiresAt.getTime() - Date.now()) / 1000));
    io.stdout.write(`# Token expires in: ${duration(seconds)} (${auth.expiresAt.toISOString()})\n`);
  }
  return EXIT.ok;
}

async function publicAccess(args: string[], io: CliIO): Promise<number> {
  const { positionals } = parseCommandArgs(
    args,
    {},
    { min: 2, max: 2, names: "on|off|status and a swift:// URL" },
  );
  const [mode, url] = positionals as [string, string];
  if (mode !== "on" && mode !== "off" && mode !== "status") {
    throw new UsageError(`expected on, off or status, got '${mode}'`);
  }
  const { container, prefix } = parseSwiftUrl(url);
  const store = new SwiftStore({ container, prefix, storageOptions: getenvAuth(io.env) });
  try {
    if (mode !== "status") await setPublic(store, mode === "on", { signal: io.signal });
    const state = (await isPublic(store, { signal: io.signal })) ? "public" : "private";
    io.stdout.write(`${state}\t${await store.url()}\n`);
    return EXIT.ok;
  } finally {
    // Idle keep-alive sockets would hold the process open for seconds.
    await store.close();
  }
}

/** Single-quotes a value for POSIX shells. */
function shellQuote(value: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, "'\\''")}'`;
}

/** `HH:MM:SS`, as the seed's acquire_token prints the remaining lifetime. */
function duration(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return [h, m, s].map((n) => String(n).padStart(2, "0")).join(":");
}
