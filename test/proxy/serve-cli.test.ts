/**
 * `zarrstore serve` as users run it: mounts opened through openStore, the ready-to-paste
 * examples printed with the real address, and the examples doing what they say.
 */
import { execFile } from "node:child_process";
import { describe, expect, it } from "vitest";
import type { CliIO } from "../../src/cli/io.js";
import { main } from "../../src/cli/main.js";
import { REPO_ROOT, runCli } from "../support/cli.js";
import { PYTHON, pythonZarrAvailable } from "../support/python.js";

/** Runs `zarrstore serve …` in this process until `stop()`, collecting its output. */
function startServe(args: string[], env: Record<string, string> = {}) {
  const controller = new AbortController();
  let stdout = "";
  let stderr = "";
  const io: CliIO = {
    stdout: {
      write: (chunk) =>
        (stdout += typeof chunk === "string" ? chunk : new TextDecoder().decode(chunk)),
    },
    stderr: {
      write: (chunk) =>
        (stderr += typeof chunk === "string" ? chunk : new TextDecoder().decode(chunk)),
    },
    env,
    cwd: REPO_ROOT,
    signal: controller.signal,
  };
  const exit = main(["serve", "--port", "0", ...args], io);
  const ready = async (): Promise<string> => {
    for (let i = 0; i < 400; i++) {
      const match = /listening on (\S+)/.exec(stdout);
      if (match && (stdout.includes("Try it") || !args.includes("--mount")))
        return match[1] as string;
      if (stderr) throw new Error(stderr);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    throw new Error(`serve did not start: ${stdout}${stderr}`);
  };
  return {
    ready,
    output: () => stdout,
    async stop(): Promise<number> {
      controller.abort();
      return exit;
    },
  };
}

describe("zarrstore serve", () => {
  it("serves the air sample and prints examples that work", async () => {
    const serve = startServe(["--mount", "air=sample/air.zarr"]);
    const url = await serve.ready();
    try {
      const out = serve.output();
      expect(out).toContain("mount  /air/  ->  sample/air.zarr");
      expect(out).toContain(
        `curl -s -H 'chunks: air=10,20,40' ${url}/air/air/0.0.0 | wc -c   # 32000 bytes`,
      );
      expect(out).toContain(`new zarr.FetchStore("${url}/air/@chunks=air=10,20,40")`);
      expect(out).toContain(
        `zarr.storage.FSStore("${url}/air", client_kwargs={"headers": {"chunks": "air=10,20,40"}})`,
      );
      const chunk = await fetch(`${url}/air/air/0.0.0`, { headers: { chunks: "air=10,20,40" } });
      expect((await chunk.arrayBuffer()).byteLength).toBe(32000);
      if (pythonZarrAvailable() === true) {
        // The printed Python example, run as printed.
        const script = out.slice(out.indexOf("import xarray"), out.indexOf("\nEOF"));
        const printed = await new Promise<string>((resolve, reject) =>
          execFile(PYTHON, ["-c", script], { cwd: REPO_ROOT }, (error, stdout, stderr) =>
            error ? reject(new Error(stderr)) : resolve(stdout),
          ),
        );
        expect(printed).toMatch(/^\(10, 20, 40\) \d+\.\d+/);
      }
    } finally {
      expect(await serve.stop()).toBe(0);
    }
    expect(serve.output()).toContain("stopping");
  }, 60_000);

  it("takes a token from the environment and keeps it and URL credentials out of the output", async () => {
    const serve = startServe(
      ["--mount", "air=sample/air.zarr", "--mount", "m=memory://user:pw-secret@x/?sig=abc"],
      {
        ZARRSTORE_PROXY_TOKEN: "tok-123456",
      },
    );
    const url = await serve.ready();
    try {
      expect((await fetch(`${url}/air/.zmetadata`)).status).toBe(401);
      const ok = await fetch(`${url}/air/.zmetadata`, {
        headers: { authorization: "Bearer tok-123456" },
      });
      expect(ok.status).toBe(200);
      expect(serve.output()).not.toContain("tok-123456");
      expect(serve.output()).not.toMatch(/pw-secret|sig=abc/);
      expect(serve.output()).toMatch(/mount {2}\/m\/ {2}-> {2}\S*\?sig=\*\*\*/);
      expect(serve.output()).toContain("Authorization: Bearer <token>");
    } finally {
      await serve.stop();
    }
  }, 60_000);

  it.each([
    [[], /nothing to serve/],
    [["--mount", "air"], /name=url/],
    [["--mount", "a=x", "--mount", "a=y"], /two mounts are named 'a'/],
    [["--mount", "health=sample/air.zarr"], /invalid mount name/],
    [["--allow", "http://"], /invalid allowed host/],
    [["--mount", "a=sample/air.zarr", "--cert", "c.pem"], /--cert and --key go together/],
    [["--mount", "a=sample/air.zarr", "--payload-limit", "lots"], /payload limit/],
    [["--bogus"], /Unknown option/],
  ])("refuses %j", async (args, message) => {
    const result = await runCli(["serve", "--port", "0", ...args]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(message);
  });
});
