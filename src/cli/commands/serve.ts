import { readFileSync } from "node:fs";
import { getJson } from "../../helpers.js";
import { redactUrl } from "../../http/status.js";
import { createRechunkProxy, type RechunkProxyOptions } from "../../proxy/index.js";
import { nodeDecompressors, serve } from "../../proxy/node.js";
import { VIEWER_PAGE } from "../../proxy/ui/page.js";
import type { Store } from "../../store.js";
import { parseCommandArgs, parseCount } from "../format.js";
import { type Command, EXIT, UsageError } from "../io.js";
import { openTarget } from "../target.js";

const OPTIONS = {
  mount: { type: "string", multiple: true },
  allow: { type: "string", multiple: true },
  port: { type: "string" },
  host: { type: "string" },
  "cache-bytes": { type: "string" },
  "payload-limit": { type: "string" },
  "metadata-ttl": { type: "string" },
  timeout: { type: "string" },
  token: { type: "string" },
  cert: { type: "string" },
  key: { type: "string" },
} as const;

/** The environment variable a token can come from, so that it stays out of the process list. */
const TOKEN_ENV = "ZARRSTORE_PROXY_TOKEN";

/** `zarrstore serve`: the rechunking proxy over named mounts and allow-listed hosts. */
export const command: Command = {
  summary: "Serve Zarr stores over HTTP, rechunked on the fly by the 'chunks' header.",
  usage:
    "zarrstore serve [--mount name=url]... [--allow host]... [--port N] [--host H]\n" +
    "                [--cache-bytes SIZE] [--payload-limit SIZE] [--metadata-ttl MS] [--timeout MS]\n" +
    "                [--token T] [--cert FILE --key FILE]\n\n" +
    "--mount air=./air.zarr serves any store openStore opens at /air/… (repeatable).\n" +
    "--allow host[:port] lets clients reach https://host/… as /host/…; http://host:port allows\n" +
    "plain http. Every other host is refused (403): the proxy is never an open proxy.\n" +
    "Clients override chunks with the header 'chunks: air=256,256' or the path /air/@chunks=air=256,256/….\n" +
    `SIZE takes units (2mb, 10kib, 1GB); the payload limit defaults to ZARR_PROXY_PAYLOAD_SIZE_LIMIT\n` +
    `or 2,000,000 bytes. --token (or ${TOKEN_ENV}) requires 'Authorization: Bearer <token>'.\n` +
    "Runs until Ctrl-C. Port 8000 and host 127.0.0.1 by default.",
  async run(args, io) {
    const { values } = parseCommandArgs(args, OPTIONS, { min: 0, max: 0, names: "" });
    const mounts = parseMounts(values.mount ?? []);
    const allow = values.allow ?? [];
    if (mounts.size === 0 && allow.length === 0) {
      throw new UsageError("nothing to serve: give at least one --mount name=url or --allow host");
    }
    if ((values.cert === undefined) !== (values.key === undefined)) {
      throw new UsageError("--cert and --key go together");
    }
    const token = values.token ?? io.env[TOKEN_ENV];
    const stores = new Map<string, Store>();
    try {
      for (const [name, url] of mounts) {
        stores.set(name, await openTarget(url, io, { readOnly: true }));
      }
      const options: RechunkProxyOptions = {
        mounts: Object.fromEntries(stores),
        allow,
        openStore: (url, opts) => openTarget(url, io, { ...opts, readOnly: true }),
        decompressors: nodeDecompressors,
        page: VIEWER_PAGE,
        env: io.env,
        limits: {
          ...(values["payload-limit"] && { payloadBytes: values["payload-limit"] }),
          ...(values.timeout && { requestTimeoutMs: count(values.timeout, "timeout") }),
        },
        ...(token && { token }),
        ...(values["cache-bytes"] && { cacheBytes: values["cache-bytes"] }),
        ...(values["metadata-ttl"] && {
          metadataTtlMs: count(values["metadata-ttl"], "metadata-ttl"),
        }),
      };
      const proxy = createRechunkProxy(options);
      const server = await serve(proxy, {
        port: count(values.port ?? "8000", "port"),
        host: values.host ?? "127.0.0.1",
        ...(values.cert && {
          cert: readFileSync(values.cert),
          key: readFileSync(values.key ?? ""),
        }),
      });
      const shown = server.url
        .replace("://0.0.0.0:", "://127.0.0.1:")
        .replace("://[::]:", "://[::1]:");
      io.stdout.write(`zarrstore proxy listening on ${server.url} (Ctrl-C stops it)\n`);
      for (const [name, url] of mounts)
        io.stdout.write(`  mount  /${name}/  ->  ${shownUrl(url)}\n`);
      for (const host of allow)
        io.stdout.write(`  allow  /${host.replace(/^https?:\/\//, "")}/…\n`);
      if (token) io.stdout.write("  clients must send 'Authorization: Bearer <token>'\n");
      const [first] = stores;
      if (first) io.stdout.write(await examples(shown, first[0], first[1], token !== undefined));
      await untilAborted(io.signal);
      io.stdout.write("stopping\n");
      await server.close();
      await proxy.close();
      return EXIT.ok;
    } finally {
      for (const store of stores.values()) await store.close();
    }
  },
};

function parseMounts(entries: string[]): Map<string, string> {
  const mounts = new Map<string, string>();
  for (const entry of entries) {
    const equals = entry.indexOf("=");
    if (equals <= 0 || equals === entry.length - 1) {
      throw new UsageError(`--mount takes name=url (e.g. air=./air.zarr), got '${entry}'`);
    }
    const name = entry.slice(0, equals);
    if (mounts.has(name)) throw new UsageError(`two mounts are named '${name}'`);
    mounts.set(name, entry.slice(equals + 1));
  }
  return mounts;
}

// A URL as it may be printed: no user info, no query values (signatures, tokens).
function shownUrl(url: string): string {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(url) ? redactUrl(url) : url;
}

function count(value: string, name: string): number {
  return parseCount(value, name) as number;
}

function untilAborted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) =>
    signal.addEventListener("abort", () => resolve(), { once: true }),
  );
}

interface ExampleArray {
  path: string;
  shape: number[];
  chunks: number[];
  itemSize: number;
}

/**
 * Ready-to-paste examples for the first mount: curl, zarrita and xarray through fsspec with a
 * `chunks` header, using its first multi-dimensional array and chunks that do not divide it.
 */
async function examples(url: string, mount: string, store: Store, auth: boolean): Promise<string> {
  const array = await firstArray(store);
  const base = `${url}/${mount}`;
  const bearer = auth ? " -H 'Authorization: Bearer <token>'" : "";
  const lines = ["", "Try it:", `  curl -s${bearer} ${base}/.zmetadata | head -c 400; echo`];
  if (array === undefined) return `${lines.join("\n")}\n`;
  const chunks = array.chunks.map((c, d) => Math.min(array.shape[d] as number, c * 2));
  const name = array.path;
  const spec = `${name}=${chunks.join(",")}`;
  const bytes = chunks.reduce((a, b) => a * b, array.itemSize);
  const zero = chunks.map(() => 0).join(".");
  const pyHeaders = auth
    ? `{"chunks": "${spec}", "Authorization": "Bearer <token>"}`
    : `{"chunks": "${spec}"}`;
  lines.push(
    `  curl -s${bearer} -H 'chunks: ${spec}' ${base}/${name}/.zarray; echo`,
    `  curl -s${bearer} -H 'chunks: ${spec}' ${base}/${name}/${zero} | wc -c   # ${bytes} bytes, decoded`,
    "",
    "  # zarrita (Node ≥ 20, from a folder where zarrita is installed, or a browser);\n  # the @chunks= path segment needs no header:",
    `  node --input-type=module -e 'import * as zarr from "zarrita";`,
    `    const store = new zarr.FetchStore("${base}/@chunks=${spec}"${auth ? ', { overrides: { headers: { Authorization: "Bearer <token>" } } }' : ""});`,
    `    const arr = await zarr.open(zarr.root(store).resolve("${name}"), { kind: "array" });`,
    `    console.log(arr.shape, arr.chunks, (await zarr.get(arr)).data.slice(0, 5));'`,
    "",
    "  # Python xarray + zarr 2 through fsspec, with the chunks header as in zarr-proxy:",
    "  /usr/bin/python3 - <<'EOF'",
    "import xarray as xr, zarr",
    `store = zarr.storage.FSStore("${base}", client_kwargs={"headers": ${pyHeaders}})`,
    'ds = xr.open_dataset(store, engine="zarr")',
    `print(ds["${name}"].encoding["chunks"], float(ds["${name}"].mean()))`,
    "EOF",
  );
  return `${lines.join("\n")}\n`;
}

// The first array with the most dimensions, from consolidated metadata (v2 or v3).
async function firstArray(store: Store): Promise<ExampleArray | undefined> {
  const found: ExampleArray[] = [];
  const zmetadata = await getJson<{ metadata?: Record<string, Record<string, unknown>> }>(
    store,
    "/.zmetadata",
  ).catch(() => undefined);
  for (const [key, doc] of Object.entries(zmetadata?.metadata ?? {})) {
    if (!key.endsWith("/.zarray")) continue;
    const itemSize = Number(/\d+$/.exec(String(doc.dtype))?.[0] ?? 0);
    found.push({
      path: key.slice(0, -"/.zarray".length),
      shape: doc.shape as number[],
      chunks: doc.chunks as number[],
      itemSize,
    });
  }
  if (found.length === 0) {
    const root = await getJson<{
      consolidated_metadata?: { metadata?: Record<string, Record<string, unknown>> };
    }>(store, "/zarr.json").catch(() => undefined);
    for (const [path, doc] of Object.entries(root?.consolidated_metadata?.metadata ?? {})) {
      if (doc.node_type !== "array") continue;
      const grid = doc.chunk_grid as { configuration?: { chunk_shape?: number[] } } | undefined;
      const size = /(\d+)$/.exec(String(doc.data_type))?.[1];
      found.push({
        path,
        shape: doc.shape as number[],
        chunks: grid?.configuration?.chunk_shape ?? (doc.shape as number[]),
        itemSize: size ? Number(size) / 8 : 1,
      });
    }
  }
  found.sort((a, b) => b.shape.length - a.shape.length || a.path.localeCompare(b.path));
  return found[0];
}
