/**
 * The proxy on Node: `serve(handler, {port, host, cert, key})` runs any fetch-style handler on
 * `node:http` (or `node:https` with a certificate), and `nodeDecompressors` gives the proxy
 * `node:zlib` for zlib and gzip chunks (several times faster than `DecompressionStream`).
 *
 * @example
 * import { createRechunkProxy } from "zarrstore/proxy";
 * import { nodeDecompressors, serve } from "zarrstore/proxy/node";
 * const proxy = createRechunkProxy({ mounts: { air: "./air.zarr" }, decompressors: nodeDecompressors });
 * const server = await serve(proxy, { port: 8000 });
 */
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type ServerResponse,
} from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { gunzipSync, inflateSync } from "node:zlib";
import type { Decompressors } from "./codecs.js";
import type { ProxyRequest, ProxyResponse } from "./http.js";

/** `node:zlib` decompressors for the proxy's fast path. */
export const nodeDecompressors: Decompressors = Object.freeze({
  zlib: (bytes: Uint8Array) => inflateSync(bytes),
  gzip: (bytes: Uint8Array) => gunzipSync(bytes),
});

/** A fetch-style handler; the proxy's also has `handle`, which skips `Request`/`Response`. */
export type Handler = ((request: Request) => Promise<Response>) & {
  handle?: (request: ProxyRequest) => Promise<ProxyResponse>;
};

/** Options for `serve`. */
export interface ServeOptions {
  /** Port to listen on (default 8000; 0 picks a free one). */
  port?: number;
  /** Interface to listen on (default `127.0.0.1`; `0.0.0.0` for every interface). */
  host?: string;
  /** PEM certificate chain: serve https. */
  cert?: string | Uint8Array;
  /** PEM private key for `cert`. */
  key?: string | Uint8Array;
  /** Stops the server when aborted. */
  signal?: AbortSignal;
}

/** A running server. */
export interface RunningServer {
  /** `http://127.0.0.1:8000` (or https). */
  url: string;
  port: number;
  host: string;
  /** Stops accepting connections, closes idle ones, and resolves when all are closed. */
  close(): Promise<void>;
}

/** Runs a handler on Node until `close()` (or the signal). */
export async function serve(handler: Handler, options: ServeOptions = {}): Promise<RunningServer> {
  const host = options.host ?? "127.0.0.1";
  if ((options.cert === undefined) !== (options.key === undefined)) {
    throw new Error("serve: give both cert and key for https, or neither");
  }
  const tls = options.cert !== undefined;
  const listener = (req: IncomingMessage, res: ServerResponse) => {
    answer(handler, req, res, tls).catch((error: unknown) => {
      // Only a failure to write the response itself lands here (the handler answers errors).
      res.destroy(error instanceof Error ? error : new Error(String(error)));
    });
  };
  const server = tls
    ? createHttpsServer({ cert: toPem(options.cert), key: toPem(options.key) }, listener)
    : createHttpServer(listener);
  // Keep connections of busy clients open between requests (Node's default is 5 s).
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 8000, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const shown = host.includes(":") ? `[${host}]` : host;
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
    });
    return closing;
  };
  options.signal?.addEventListener("abort", () => void close(), { once: true });
  return { url: `${tls ? "https" : "http"}://${shown}:${port}`, port, host, close };
}

async function answer(
  handler: Handler,
  req: IncomingMessage,
  res: ServerResponse,
  tls: boolean,
): Promise<void> {
  if (handler.handle !== undefined) {
    // No per-request AbortController here: it costs more than a warm chunk's assembly, and the
    // proxy bounds every upstream read with its own timeout.
    const response = await handler.handle({
      method: req.method ?? "GET",
      url: req.url ?? "/",
      headers: { get: (name) => headerOf(req, name) },
    });
    res.writeHead(response.status, response.headers);
    const release = response.release;
    if (release === undefined) res.end(response.body);
    else if (response.body === undefined) {
      res.end();
      release();
    } else {
      // Written means handed to the socket: only then may the buffer serve another response.
      res.end(response.body, release);
    }
    return;
  }
  const controller = new AbortController();
  res.once("close", () => {
    if (!res.writableFinished) controller.abort(new Error("the client went away"));
  });
  const request = new Request(
    `${tls ? "https" : "http"}://${req.headers.host ?? "localhost"}${req.url ?? "/"}`,
    {
      method: req.method ?? "GET",
      headers: toHeaders(req),
      signal: controller.signal,
    },
  );
  const response = await handler(request);
  const headers: Record<string, string> = {};
  response.headers.forEach((value, name) => {
    headers[name] = value;
  });
  res.writeHead(response.status, headers);
  res.end(request.method === "HEAD" ? undefined : new Uint8Array(await response.arrayBuffer()));
}

function headerOf(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(", ") : value;
}

function toHeaders(req: IncomingMessage): Headers {
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    headers.set(name, Array.isArray(value) ? value.join(", ") : value);
  }
  return headers;
}

function toPem(value: string | Uint8Array | undefined): string | Buffer | undefined {
  return typeof value === "string" || value === undefined ? value : Buffer.from(value);
}
