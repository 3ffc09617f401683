/**
 * Real HTTP servers for HttpStore tests, on 127.0.0.1 and a free port:
 * - `startNginx(dir)`: Debian's nginx serving a directory (byte ranges, ETag, HEAD), in its own
 *   process under a watchdog shell, stopped by PID (and by the watchdog if we die first);
 * - `startFileServer(dir, options)`: a small node:http server over a directory that implements
 *   GET/HEAD/Range faithfully and, when `writable`, PUT (atomic, If-Match/If-None-Match) and
 *   DELETE (nginx-light has no WebDAV module); with range modes that imitate weaker servers
 *   (`no-suffix`: refuses `bytes=-n`; `ignore`: answers every range with 200 and the whole body)
 *   and an `intercept` hook to inject faults.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import {
  createReadStream,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import * as fs from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createNetServer, Socket } from "node:net";
import { tmpdir } from "node:os";
import * as path from "node:path";

/** A server the tests started; `stop()` ends it (by PID for child processes). */
export interface RunningServer {
  /** The base URL, ending in `/`. */
  url: string;
  port: number;
  /** The served directory. */
  root: string;
  /** The server process, for servers in a process of their own. */
  pid?: number | undefined;
  stop(): Promise<void>;
}

export const NGINX = "/usr/sbin/nginx";

/** True when Debian's nginx is installed, else the reason it is not. */
export function nginxAvailable(): true | string {
  return existsSync(NGINX) ? true : `${NGINX} not found (run scripts/install-deps.sh: nginx-light)`;
}

/** A port that was free a moment ago. */
export async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

/** Options for `startNginx`. */
export interface NginxOptions {
  /** Worker processes (default 1: the tests' client needs the other core). */
  workers?: number;
}

/**
 * Starts nginx in the foreground (`daemon off`) serving `root` on 127.0.0.1. Directories are
 * 404 (no index, no autoindex) so a folder never reads as a value. Retries on a port race.
 */
export async function startNginx(root: string, options: NginxOptions = {}): Promise<RunningServer> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    try {
      return await launchNginx(root, port, options.workers ?? 1);
    } catch (error) {
      lastError = error;
      if (!String(error).includes("Address already in use")) break;
    }
  }
  throw lastError;
}

async function launchNginx(root: string, port: number, workers: number): Promise<RunningServer> {
  const prefix = mkdtempSync(path.join(tmpdir(), "zs-nginx-"));
  const conf = path.join(prefix, "nginx.conf");
  const errorLog = path.join(prefix, "error.log");
  const asRoot = process.getuid?.() === 0;
  writeFileSync(
    conf,
    `daemon off;
${asRoot ? "user root;" : ""}
worker_processes ${workers};
pid ${prefix}/nginx.pid;
error_log ${errorLog} warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${prefix}/body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
  default_type application/octet-stream;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000;
  keepalive_timeout 75s;
  server {
    listen 127.0.0.1:${port};
    root ${path.resolve(root)};
    location / { try_files $uri =404; }
  }
}
`,
  );
  // A watchdog shell owns nginx: stopping it (by PID) stops nginx, and when this process dies
  // without cleaning up (SIGKILL, a killed test worker) nginx goes within half a second.
  const watchdog = [
    `"$0" -p "$1" -c "$2" -e "$3" & n=$!`,
    `trap 'kill $n 2>/dev/null; wait $n; exit 0' TERM INT`,
    `while kill -0 ${process.pid} 2>/dev/null && kill -0 $n 2>/dev/null; do sleep 0.5; done`,
    "kill $n 2>/dev/null; wait $n",
  ].join("\n");
  const child = spawn("/bin/sh", ["-c", watchdog, NGINX, prefix, conf, errorLog], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr?.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) =>
    child.once("exit", (code) => resolve(code)),
  );
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);
  const stop = async () => {
    process.removeListener("exit", killOnExit);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(prefix, { recursive: true, force: true });
  };
  const ready = await Promise.race([
    waitForPort(port, 10_000).then(() => true),
    exited.then(() => false),
  ]);
  if (!ready) {
    const log = existsSync(errorLog) ? readFileSync(errorLog, "utf8") : "";
    await stop();
    throw new Error(`nginx did not start on port ${port}: ${stderr}${log}`);
  }
  return { url: `http://127.0.0.1:${port}/`, port, root, pid: child.pid, stop };
}

async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = new Socket();
      socket.once("connect", () => {
        socket.destroy();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
      socket.connect(port, "127.0.0.1");
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`port ${port} did not open in ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** How the node server answers Range requests. */
export type RangeMode = "full" | "no-suffix" | "ignore";

/** Options for `startFileServer`. */
export interface FileServerOptions {
  /** Accept PUT and DELETE (default false: 405). */
  writable?: boolean;
  /** `full` (default), `no-suffix` (416 to `bytes=-n`), `ignore` (200 and the whole body). */
  ranges?: RangeMode;
  /** Runs first; answer the request there and return true to skip the file logic. */
  intercept?: (req: IncomingMessage, res: ServerResponse) => boolean | Promise<boolean>;
}

/** What the node server saw, for assertions. */
export interface FileServerStats {
  requests: { method: string; url: string; range: string | undefined }[];
  /** TCP connections accepted. */
  connections: number;
  /** Responses whose connection closed before the body was fully sent. */
  cutShort: number;
  /** Body bytes read from disk for responses (what a cancelled body did not need). */
  bodyBytesRead: number;
}

/** A running node file server. */
export interface FileServer extends RunningServer {
  stats: FileServerStats;
  server: Server;
}

/** Starts the node:http file server over `root` on 127.0.0.1 and a free port. */
export async function startFileServer(
  root: string,
  options: FileServerOptions = {},
): Promise<FileServer> {
  const stats: FileServerStats = { requests: [], connections: 0, cutShort: 0, bodyBytesRead: 0 };
  const sockets = new Set<Socket>();
  const locks = new Map<string, Promise<void>>();
  const handler = new FileHandler(path.resolve(root), options, stats, locks);
  const server = createServer((req, res) => {
    stats.requests.push({
      method: req.method ?? "",
      url: req.url ?? "",
      range: req.headers.range,
    });
    handler.handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) {
        res.writeHead(500, { "content-type": "text/plain" });
        res.end(String(error));
      } else {
        res.destroy();
      }
    });
  });
  server.keepAliveTimeout = 75_000;
  server.on("connection", (socket) => {
    stats.connections += 1;
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const address = server.address();
  if (address === null || typeof address === "string") throw new Error("no address");
  const port = address.port;
  return {
    url: `http://127.0.0.1:${port}/`,
    port,
    root,
    stats,
    server,
    async stop() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

class FileHandler {
  constructor(
    readonly root: string,
    readonly options: FileServerOptions,
    readonly stats: FileServerStats,
    readonly locks: Map<string, Promise<void>>,
  ) {}

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.options.intercept && (await this.options.intercept(req, res))) return;
    const file = this.fileOf(req.url ?? "/");
    if (file === undefined) {
      res.writeHead(400, { "content-type": "text/plain" });
      res.end("bad path");
      return;
    }
    switch (req.method) {
      case "GET":
      case "HEAD":
        return this.read(req, res, file);
      case "PUT":
        if (this.options.writable) return this.locked(file, () => this.put(req, res, file));
        break;
      case "DELETE":
        if (this.options.writable) return this.locked(file, () => this.remove(res, file));
        break;
    }
    req.resume();
    const allow = this.options.writable ? "GET, HEAD, PUT, DELETE" : "GET, HEAD";
    res.writeHead(405, { allow, "content-type": "text/plain" });
    res.end("method not allowed");
  }

  /** The file for a URL path: each segment percent-decoded, no `.`/`..`/empty segment, inside root. */
  fileOf(url: string): string | undefined {
    const pathname = url.split("?")[0] ?? "/";
    const segments = pathname.split("/").slice(1);
    const decoded: string[] = [];
    for (const segment of segments) {
      let name: string;
      try {
        name = decodeURIComponent(segment);
      } catch {
        return undefined;
      }
      if (
        name === "" ||
        name === "." ||
        name === ".." ||
        name.includes("/") ||
        name.includes("\0")
      ) {
        return undefined;
      }
      decoded.push(name);
    }
    const file = path.join(this.root, ...decoded);
    return file.startsWith(`${this.root}${path.sep}`) ? file : undefined;
  }

  async read(req: IncomingMessage, res: ServerResponse, file: string): Promise<void> {
    const stat = await fs.stat(file).catch(() => undefined);
    if (stat === undefined || !stat.isFile()) {
      res.writeHead(404, { "content-type": "text/plain" });
      res.end("not found");
      return;
    }
    const size = stat.size;
    const headers: Record<string, string | number> = {
      "content-type": "application/octet-stream",
      etag: await etagOf(file),
      "last-modified": stat.mtime.toUTCString(),
    };
    const mode = this.options.ranges ?? "full";
    if (mode !== "ignore") headers["accept-ranges"] = "bytes";
    const range = mode === "ignore" ? undefined : parseRange(req.headers.range, size, mode);
    if (range === "unsatisfiable") {
      res.writeHead(416, { ...headers, "content-range": `bytes */${size}`, "content-length": 0 });
      res.end();
      return;
    }
    const [start, end] = range ?? [0, size];
    headers["content-length"] = end - start;
    if (range) headers["content-range"] = `bytes ${start}-${end - 1}/${size}`;
    res.writeHead(range ? 206 : 200, headers);
    if (req.method === "HEAD" || end === start) {
      res.end();
      return;
    }
    const stream = createReadStream(file, { start, end: end - 1 });
    stream.on("data", (chunk) => {
      this.stats.bodyBytesRead += chunk.length;
    });
    res.once("close", () => {
      if (!res.writableFinished) {
        this.stats.cutShort += 1;
        stream.destroy();
      }
    });
    stream.pipe(res);
  }

  async put(req: IncomingMessage, res: ServerResponse, file: string): Promise<void> {
    const body = await readBody(req);
    const announced = Number(req.headers["content-length"] ?? body.byteLength);
    if (body.byteLength !== announced) {
      res.writeHead(400, { "content-type": "text/plain" });
      res.end("body shorter than Content-Length");
      return;
    }
    const stat = await fs.stat(file).catch(() => undefined);
    if (stat?.isDirectory()) {
      res.writeHead(409, { "content-type": "text/plain" });
      res.end("a folder has this name");
      return;
    }
    const current = stat ? await etagOf(file) : undefined;
    const ifNoneMatch = req.headers["if-none-match"];
    const ifMatch = req.headers["if-match"];
    if (ifNoneMatch === "*" && current !== undefined) return preconditionFailed(res);
    if (ifMatch !== undefined && !etagMatches(ifMatch, current)) return preconditionFailed(res);
    try {
      await fs.mkdir(path.dirname(file), { recursive: true });
    } catch {
      res.writeHead(409, { "content-type": "text/plain" });
      res.end("a parent of this key is a value");
      return;
    }
    const temp = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
    await fs.writeFile(temp, body);
    await fs.rename(temp, file);
    res.writeHead(current === undefined ? 201 : 204, { etag: etagOfBytes(body) });
    res.end();
  }

  async remove(res: ServerResponse, file: string): Promise<void> {
    const removed = await fs.unlink(file).then(
      () => true,
      () => false,
    );
    res.writeHead(removed ? 204 : 404);
    res.end();
  }

  /** Serialises writes to one file so conditional PUTs are checked and applied atomically. */
  async locked(file: string, work: () => Promise<void>): Promise<void> {
    const previous = this.locks.get(file) ?? Promise.resolve();
    const next = previous.then(work, work);
    const settled = next.then(
      () => {},
      () => {},
    );
    this.locks.set(file, settled);
    try {
      await next;
    } finally {
      if (this.locks.get(file) === settled) this.locks.delete(file);
    }
  }
}

/** Parses a single `bytes=` range into `[start, end)`; undefined means "serve it all". */
function parseRange(
  header: string | undefined,
  size: number,
  mode: RangeMode,
): [number, number] | "unsatisfiable" | undefined {
  if (header === undefined) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match || (match[1] === "" && match[2] === "")) return undefined; // ignore what we do not parse
  if (match[1] === "") {
    if (mode === "no-suffix") return "unsatisfiable";
    const suffix = Number(match[2]);
    if (suffix === 0 || size === 0) return "unsatisfiable";
    return [Math.max(0, size - suffix), size];
  }
  const start = Number(match[1]);
  const last = match[2] === "" ? size - 1 : Number(match[2]);
  if (last < start) return undefined;
  if (start >= size) return "unsatisfiable";
  return [start, Math.min(size, last + 1)];
}

function preconditionFailed(res: ServerResponse): void {
  res.writeHead(412, { "content-type": "text/plain" });
  res.end("precondition failed");
}

function etagMatches(header: string, current: string | undefined): boolean {
  if (current === undefined) return false;
  if (header.trim() === "*") return true;
  return header.split(",").some((tag) => tag.trim() === current);
}

async function etagOf(file: string): Promise<string> {
  return etagOfBytes(await fs.readFile(file));
}

function etagOfBytes(bytes: Uint8Array): string {
  return `"${createHash("sha1").update(bytes).digest("hex")}"`;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** A fresh temporary directory. */
export function tempDir(name: string): string {
  return mkdtempSync(path.join(tmpdir(), `zs-${name}-`));
}
