import { execFileSync } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { Agent, request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRechunkProxy } from "../../src/proxy/index.js";
import { nodeDecompressors, serve } from "../../src/proxy/node.js";
import { tempDir } from "../support/static-server.js";
import { datasetStore, readArray } from "./fixtures.js";

describe("serve on Node", () => {
  const dir = tempDir("proxy-tls");
  let cert: Buffer;
  let key: Buffer;
  beforeAll(() => {
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=127.0.0.1",
        "-addext",
        "subjectAltName=IP:127.0.0.1",
        "-keyout",
        join(dir, "key.pem"),
        "-out",
        join(dir, "cert.pem"),
      ],
      { stdio: "ignore" },
    );
    cert = readFileSync(join(dir, "cert.pem"));
    key = readFileSync(join(dir, "key.pem"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("serves https with a certificate, and the data reads the same", async () => {
    const source = await datasetStore();
    const proxy = createRechunkProxy({ mounts: { ds: source }, decompressors: nodeDecompressors });
    const server = await serve(proxy, { port: 0, cert, key });
    const agent = new Agent({ connect: { ca: cert } });
    try {
      expect(server.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
      const response = await request(`${server.url}/ds/air/0.0.0`, {
        dispatcher: agent,
        headers: { chunks: "air=20,25,53" },
      });
      expect(response.statusCode).toBe(200);
      const whole = new Float32Array(await response.body.arrayBuffer());
      const want = (await readArray(source, "air")).values;
      expect(Array.from(whole)).toEqual(want);
      await expect(fetch(`${server.url.replace("https", "http")}/health`)).rejects.toThrow();
    } finally {
      await agent.close();
      await server.close();
      await proxy.close();
    }
  });

  it("runs any fetch-style handler, and stops when its signal aborts", async () => {
    const controller = new AbortController();
    const server = await serve(
      async (req: Request) =>
        new Response(`${req.method} ${new URL(req.url).pathname} ${req.headers.get("x-a")}`, {
          status: 201,
          headers: { "x-b": "2" },
        }),
      { port: 0, signal: controller.signal },
    );
    const response = await fetch(`${server.url}/p/q`, { headers: { "x-a": "1" } });
    expect(response.status).toBe(201);
    expect(response.headers.get("x-b")).toBe("2");
    expect(await response.text()).toBe("GET /p/q 1");
    const head = await fetch(`${server.url}/p`, { method: "HEAD" });
    expect(await head.text()).toBe("");
    controller.abort();
    await server.close();
    await expect(fetch(`${server.url}/p`)).rejects.toThrow();
  });

  it("rejects a certificate without its key", async () => {
    await expect(serve(async () => new Response(), { port: 0, cert })).rejects.toThrow(
      /both cert and key/,
    );
  });
});
