/**
 * Runs a fetch-style handler (the Kubo RPC or gateway handler) on `node:http`, streaming
 * request and response bodies both ways (uploads and CARs of any size). Node only.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";

/** A fetch-style handler. */
export type FetchHandler = (request: Request) => Promise<Response>;

/** Options for `serveHandler`. */
export interface ServeHandlerOptions {
  /** Port (default 0: a free one). */
  port?: number;
  /** Interface (default `127.0.0.1`). */
  host?: string;
}

/** A running server: its URL and how to stop it. */
export interface HandlerServer {
  url: string;
  port: number;
  /** Stops listening, ends idle and busy connections, resolves when closed. */
  close(): Promise<void>;
}

/** Serves `handler` until `close()`. */
export async function serveHandler(
  handler: FetchHandler,
  options: ServeHandlerOptions = {},
): Promise<HandlerServer> {
  const host = options.host ?? "127.0.0.1";
  const server = createServer((req, res) => {
    answer(handler, req, res).catch((error: unknown) => {
      res.destroy(error instanceof Error ? error : new Error(String(error)));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host.includes(":") ? `[${host}]` : host}:${port}`,
    port,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}

async function answer(
  handler: FetchHandler,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const controller = new AbortController();
  res.once("close", () => {
    if (!res.writableFinished) controller.abort(new Error("the client went away"));
  });
  const method = req.method ?? "GET";
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(", ") : value);
  }
  const hasBody = method !== "GET" && method !== "HEAD";
  const request = new Request(`http://${req.headers.host ?? "localhost"}${req.url ?? "/"}`, {
    method,
    headers,
    signal: controller.signal,
    ...(hasBody ? { body: Readable.toWeb(req) as ReadableStream<Uint8Array>, duplex: "half" } : {}),
  } as RequestInit);
  const response = await handler(request);
  const out: Record<string, string> = {};
  response.headers.forEach((value, name) => {
    out[name] = value;
  });
  res.writeHead(response.status, out);
  if (response.body === null || method === "HEAD") {
    res.end();
    return;
  }
  const reader = response.body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (!res.write(value))
        await new Promise<void>((resolve) => res.once("drain", () => resolve()));
    }
    res.end();
  } catch (error) {
    // A stream that fails after the status was sent can only be cut off (the client sees a
    // truncated body, which CAR readers detect).
    res.destroy(error instanceof Error ? error : new Error(String(error)));
  } finally {
    reader.releaseLock();
  }
  // Drain an unread upload so the connection can be reused.
  if (hasBody && !req.readableEnded) req.resume();
}
