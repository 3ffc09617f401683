import { createReadStream } from "node:fs";
import { open, rename, rm, writeFile } from "node:fs/promises";
import { resolve } from "node:path";
import { StoreError } from "../../errors.js";
import { createGatewayHandler } from "../../ipfs/gateway.js";
import { serveHandler } from "../../ipfs/serve.node.js";
import type { Store } from "../../store.js";
import { IPLDStore, type IPLDStoreOptions } from "../../stores/ipld/ipld-store.js";
import { carToReferences } from "../../stores/ipld/references.js";
import { copyStore } from "../../zarr/copy.js";
import { parseCommandArgs, parseCount, writeJson } from "../format.js";
import { type CliIO, type Command, EXIT, UsageError } from "../io.js";
import { openTarget } from "../target.js";
import { abandonOutput } from "./cp.js";

const OPTIONS = {
  "inline-zarr-json": { type: "boolean" },
  "max-block-size": { type: "string" },
  concurrency: { type: "string", short: "j" },
  url: { type: "string" },
  port: { type: "string" },
  host: { type: "string" },
  json: { type: "boolean" },
} as const;

type Values = {
  "inline-zarr-json"?: boolean | undefined;
  "max-block-size"?: string | undefined;
  concurrency?: string | undefined;
  url?: string | undefined;
  port?: string | undefined;
  host?: string | undefined;
  json?: boolean | undefined;
};

const USAGE =
  "zarrstore car export <url> <out.car> [--inline-zarr-json] [--max-block-size N] [-j N] [--json]\n" +
  "zarrstore car import <in.car> <dst-url> [-j N] [--json]\n" +
  "zarrstore car refs <in.car> <out.json> [--url U]\n" +
  "zarrstore car serve <in.car> [--port N] [--host H]\n\n" +
  "export   copies any store into an IPLD tree (the original ipldstore's format) and writes it\n" +
  "         as a CARv1; prints the root CID. An IPLD source (car://, ipfs://) is written as it is.\n" +
  "         --max-block-size 1048576 keeps every block under 1 MiB (for IPFS peers);\n" +
  "         --inline-zarr-json inlines Zarr v3 metadata too.\n" +
  "import   verifies every block of a CAR and copies its tree into any store.\n" +
  "refs     writes fsspec ReferenceFileSystem JSON pointing into the CAR (for kerchunk/xarray);\n" +
  "         --url names the CAR in the JSON (default: its absolute path).\n" +
  "serve    serves the CAR's blocks as an IPFS trustless gateway (/ipfs/{cid}?format=raw|car)\n" +
  "         until Ctrl-C; port 8080 and host 127.0.0.1 by default.";

/** `zarrstore car export|import|refs|serve`: CAR files of IPLD trees. */
export const command: Command = {
  summary: "Export a store as a CAR (IPLD, content-addressed), import one, reference or serve it.",
  usage: USAGE,
  async run(args, io) {
    const [action, ...rest] = args;
    const { positionals, values } = parseCommandArgs(rest, OPTIONS, {
      min: action === "serve" ? 1 : 2,
      max: action === "serve" ? 1 : 2,
      names: action === "serve" ? "the CAR file" : "the input and the output",
    });
    switch (action) {
      case "export":
        return exportCar(positionals[0] as string, positionals[1] as string, values, io);
      case "import":
        return importCar(positionals[0] as string, positionals[1] as string, values, io);
      case "refs":
        return writeRefs(positionals[0] as string, positionals[1] as string, values, io);
      case "serve":
        return serveCar(positionals[0] as string, values, io);
      default:
        throw new UsageError(`unknown action '${action ?? ""}': use export, import, refs or serve`);
    }
  },
};

function storeOptions(values: Values): IPLDStoreOptions {
  const max = parseCount(values["max-block-size"], "max-block-size");
  return {
    ...(values["inline-zarr-json"] ? { inlineZarrJson: true } : {}),
    ...(max !== undefined ? { maxBlockSize: max } : {}),
  };
}

async function exportCar(url: string, out: string, values: Values, io: CliIO): Promise<number> {
  const target = resolve(io.cwd, out);
  const src = await openTarget(url, io, { readOnly: true });
  try {
    const options = storeOptions(values);
    // An IPLD source with no layout options is written as it is: its root CID is kept.
    let ipld: IPLDStore;
    let copied = 0;
    if (src instanceof IPLDStore && Object.keys(options).length === 0) {
      ipld = src;
    } else {
      ipld = new IPLDStore(undefined, options);
      const summary = await copyStore(src, ipld, {
        concurrency: parseCount(values.concurrency, "concurrency"),
        signal: io.signal,
      });
      if (!summary.ok) {
        io.stderr.write(
          `zarrstore car export: ${summary.failed.length} keys failed to copy; no CAR written\n`,
        );
        return EXIT.failed;
      }
      copied = summary.copied;
    }
    const root = await ipld.freeze({ signal: io.signal });
    const bytes = await writeAtomically(target, ipld.toCarStream({ signal: io.signal }));
    if (values.json) writeJson(io, { root: root.toString(), car: target, bytes, keys: copied });
    else io.stdout.write(`${root}\n`);
    return EXIT.ok;
  } finally {
    await src.close();
  }
}

async function importCar(car: string, url: string, values: Values, io: CliIO): Promise<number> {
  const source = await openCar(resolve(io.cwd, car), io);
  let dst: Store | undefined;
  try {
    dst = await openTarget(url, io, { mode: "w" });
    const summary = await copyStore(source.store, dst, {
      concurrency: parseCount(values.concurrency, "concurrency"),
      signal: io.signal,
    });
    const root = source.root;
    const written = dst;
    dst = undefined;
    // A failed import leaves a zip or CAR file as it was; other stores keep what landed.
    if (summary.ok || !(await abandonOutput(written, url, io))) await written.close();
    if (values.json) {
      writeJson(io, {
        root,
        copied: summary.copied,
        failed: summary.failed.length,
        ok: summary.ok,
      });
    } else {
      io.stdout.write(`${root}\n`);
      io.stderr.write(`imported ${summary.copied} keys of ${root} into ${url}\n`);
    }
    return summary.ok ? EXIT.ok : EXIT.failed;
  } finally {
    // Still set: the import threw. A zip or CAR being written is dropped, not installed half done.
    if (dst) await abandonOutput(dst, url, io).catch(() => {});
    await Promise.allSettled([source.store.close(), dst?.close()]);
  }
}

async function writeRefs(car: string, out: string, values: Values, io: CliIO): Promise<number> {
  const path = resolve(io.cwd, car);
  const refs = await carToReferences(
    createReadStream(path, { highWaterMark: 1 << 20 }),
    values.url ?? path,
    {
      signal: io.signal,
    },
  );
  await writeFile(resolve(io.cwd, out), `${JSON.stringify(refs)}\n`);
  io.stderr.write(`wrote ${Object.keys(refs.refs).length} references to ${out}\n`);
  return EXIT.ok;
}

async function serveCar(car: string, values: Values, io: CliIO): Promise<number> {
  const source = await openCar(resolve(io.cwd, car), io);
  const port = parseCount(values.port, "port") ?? 8080;
  const server = await serveHandler(createGatewayHandler(source.store.castore), {
    port,
    host: values.host ?? "127.0.0.1",
  });
  io.stdout.write(`${server.url}/ipfs/${source.root}?format=car\n`);
  io.stderr.write(
    `serving the blocks of ${car} as a trustless gateway at ${server.url} (Ctrl-C stops)\n`,
  );
  await new Promise<void>((done) => {
    if (io.signal.aborted) done();
    else io.signal.addEventListener("abort", () => done(), { once: true });
  });
  await server.close();
  return EXIT.ok;
}

async function openCar(path: string, io: CliIO): Promise<{ store: IPLDStore; root: string }> {
  const store = new IPLDStore(undefined, { readOnly: true });
  try {
    const root = await store.importCar(createReadStream(path, { highWaterMark: 1 << 20 }), {
      signal: io.signal,
      adopt: true,
    });
    return { store, root: root.toString() };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") {
      throw new StoreError({
        code: "NotFound",
        message: `no CAR file at ${path}`,
        operation: "open",
      });
    }
    throw error;
  }
}

/** Writes chunks to a temp file beside `path`, then renames it over `path`; returns the size. */
async function writeAtomically(path: string, chunks: AsyncIterable<Uint8Array>): Promise<number> {
  const temp = `${path}.${process.pid}.${Date.now().toString(36)}.tmp`;
  const handle = await open(temp, "wx");
  let size = 0;
  try {
    for await (const chunk of chunks) {
      await handle.write(chunk);
      size += chunk.byteLength;
    }
    await handle.close();
    await rename(temp, path);
    return size;
  } catch (error) {
    await handle.close().catch(() => {});
    await rm(temp, { force: true });
    throw error;
  }
}
