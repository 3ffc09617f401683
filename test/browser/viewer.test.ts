/**
 * The page `zarrstore serve` answers at `/` for browsers, in headless Chromium: it lists the
 * mounts and the hierarchy, shows an array's metadata, and draws a 2-D slice through the colour
 * map. The pixels (read back from the canvas and decoded from a screenshot PNG) match the data:
 * a [3, 20, 30] float32 array stored in [2, 8, 16] chunks holds t·1000 + y·30 + x, so in every
 * slice each pixel's colour is the map at (y·30 + x) / 599. The slider moves to another slice.
 */
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { inflateSync } from "node:zlib";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { CliIO } from "../../src/cli/io.js";
import { main } from "../../src/cli/main.js";
import { COLOR_STOPS } from "../../src/proxy/ui/page.js";
import { type Browser, chromiumAvailable, launchBrowser } from "../support/browser.js";
import { REPO_ROOT } from "../support/cli.js";
import { describeLive } from "../support/live.js";
import { tempDir } from "../support/static-server.js";

const SHAPE = [3, 20, 30] as const;
const CHUNKS = [2, 8, 16] as const;
const value = (t: number, y: number, x: number) => t * 1000 + y * 30 + x;

/** The expected colour of t in [0, 1], interpolated from the stops independently of the page. */
function expected(t: number): number[] {
  const x = t * (COLOR_STOPS.length - 1);
  const i = Math.min(Math.floor(x), COLOR_STOPS.length - 2);
  const a = COLOR_STOPS[i] as readonly number[];
  const b = COLOR_STOPS[i + 1] as readonly number[];
  return [0, 1, 2].map((c) =>
    Math.round((a[c] as number) + ((b[c] as number) - (a[c] as number)) * (x - i)),
  );
}

function writeDataset(root: string): void {
  const zarray = {
    zarr_format: 2,
    shape: SHAPE,
    chunks: CHUNKS,
    dtype: "<f4",
    compressor: null,
    fill_value: 0,
    filters: null,
    order: "C",
  };
  const zattrs = { _ARRAY_DIMENSIONS: ["t", "y", "x"], units: "K" };
  const meta = {
    ".zgroup": { zarr_format: 2 },
    "grp/.zgroup": { zarr_format: 2 },
    "grp/grid/.zarray": zarray,
    "grp/grid/.zattrs": zattrs,
  };
  mkdirSync(join(root, "grp/grid"), { recursive: true });
  for (const [key, doc] of Object.entries(meta))
    writeFileSync(join(root, key), JSON.stringify(doc));
  writeFileSync(
    join(root, ".zmetadata"),
    JSON.stringify({ zarr_consolidated_format: 1, metadata: meta }),
  );
  const grid = SHAPE.map((s, d) => Math.ceil(s / (CHUNKS[d] as number)));
  for (let ct = 0; ct < (grid[0] as number); ct++)
    for (let cy = 0; cy < (grid[1] as number); cy++)
      for (let cx = 0; cx < (grid[2] as number); cx++) {
        const out = new Float32Array(CHUNKS[0] * CHUNKS[1] * CHUNKS[2]);
        let i = 0;
        for (let t = 0; t < CHUNKS[0]; t++)
          for (let y = 0; y < CHUNKS[1]; y++)
            for (let x = 0; x < CHUNKS[2]; x++, i++) {
              const [gt, gy, gx] = [ct * CHUNKS[0] + t, cy * CHUNKS[1] + y, cx * CHUNKS[2] + x];
              if (gt < SHAPE[0] && gy < SHAPE[1] && gx < SHAPE[2]) out[i] = value(gt, gy, gx);
            }
        writeFileSync(join(root, `grp/grid/${ct}.${cy}.${cx}`), new Uint8Array(out.buffer));
      }
}

/** `zarrstore serve` in this process until `stop()`. */
function startServe(args: string[]) {
  const controller = new AbortController();
  let stdout = "";
  let stderr = "";
  const text = (chunk: string | Uint8Array) =>
    typeof chunk === "string" ? chunk : new TextDecoder().decode(chunk);
  const io: CliIO = {
    stdout: { write: (chunk) => (stdout += text(chunk)) },
    stderr: { write: (chunk) => (stderr += text(chunk)) },
    env: {},
    cwd: REPO_ROOT,
    signal: controller.signal,
  };
  const exit = main(["serve", "--port", "0", ...args], io);
  return {
    async ready(): Promise<string> {
      for (let i = 0; i < 400; i++) {
        const match = /listening on (\S+)/.exec(stdout);
        if (match && stdout.includes("Try it")) return match[1] as string;
        if (stderr) throw new Error(stderr);
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      throw new Error(`serve did not start: ${stdout}${stderr}`);
    },
    stop(): Promise<number> {
      controller.abort();
      return exit;
    },
  };
}

/** RGB(A) 8-bit PNG → width, height, RGBA pixels (enough for Chromium's screenshots). */
function decodePng(png: Uint8Array): { width: number; height: number; rgba: Uint8Array } {
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  let at = 8;
  let width = 0;
  let height = 0;
  let colorType = 0;
  const idat: Uint8Array[] = [];
  while (at < png.byteLength) {
    const length = view.getUint32(at);
    const type = new TextDecoder().decode(png.subarray(at + 4, at + 8));
    const data = png.subarray(at + 8, at + 8 + length);
    if (type === "IHDR") {
      width = view.getUint32(at + 8);
      height = view.getUint32(at + 12);
      expect(data[8], "bit depth").toBe(8);
      colorType = data[9] as number;
    } else if (type === "IDAT") idat.push(data);
    at += 12 + length;
  }
  const channels = colorType === 6 ? 4 : colorType === 2 ? 3 : 0;
  expect(channels, `PNG colour type ${colorType}`).toBeGreaterThan(0);
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const out = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)] as number;
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let i = 0; i < stride; i++) {
      const a = i >= channels ? (out[y * stride + i - channels] as number) : 0;
      const b = y > 0 ? (out[(y - 1) * stride + i] as number) : 0;
      const c = y > 0 && i >= channels ? (out[(y - 1) * stride + i - channels] as number) : 0;
      const p = a + b - c;
      const [pa, pb, pc] = [Math.abs(p - a), Math.abs(p - b), Math.abs(p - c)];
      const paeth = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      const predictor = [0, a, b, (a + b) >> 1, paeth][filter] as number;
      out[y * stride + i] = ((line[i] as number) + predictor) & 0xff;
    }
  }
  const rgba = new Uint8Array(width * height * 4);
  for (let i = 0; i < width * height; i++) {
    rgba.set(out.subarray(i * channels, i * channels + 3), i * 4);
    rgba[i * 4 + 3] = channels === 4 ? (out[i * channels + 3] as number) : 255;
  }
  return { width, height, rgba };
}

const POSITIONS: [number, number][] = [
  [0, 0],
  [0, 29],
  [7, 13],
  [10, 0],
  [19, 29],
  [15, 22],
];

describeLive("zarrstore serve: the web page at /", chromiumAvailable, () => {
  const root = tempDir("zs-viewer");
  let serve: ReturnType<typeof startServe>;
  let url: string;
  let browser: Browser;

  beforeAll(async () => {
    writeDataset(root);
    serve = startServe(["--mount", `demo=${root}`, "--mount", "air=sample/air.zarr"]);
    url = await serve.ready();
    browser = await launchBrowser();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await serve?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  it("keeps the JSON index for clients that do not ask for HTML", async () => {
    const response = await fetch(`${url}/`);
    expect(response.headers.get("content-type")).toContain("application/json");
    expect(((await response.json()) as { mounts: string[] }).mounts).toEqual(["air", "demo"]);
    const html = await fetch(`${url}/`, { headers: { accept: "text/html" } });
    expect(html.headers.get("content-type")).toContain("text/html");
    expect(await html.text()).toContain("<canvas");
  });

  it("shows mounts, tree and metadata, and draws slices whose pixels match the data", async () => {
    const tab = await browser.context.newPage();
    const failed: string[] = [];
    tab.on("pageerror", (error) => failed.push(String(error)));
    await tab.goto(`${url}/`);
    // The first mount is shown; pick the dataset.
    await tab.getByRole("button", { name: "demo", exact: true }).click();
    await tab.waitForSelector('body[data-drawn="grp/grid@0"]');
    expect(await tab.locator("#mounts button").allTextContents()).toEqual(["air", "demo"]);
    const tree = await tab.locator("#tree button").allTextContents();
    expect(tree.map((t) => t.slice(2))).toEqual(["/", "grp", "grid"]);
    const meta = JSON.parse((await tab.locator("#meta").textContent()) ?? "{}");
    expect(meta).toMatchObject({ shape: [3, 20, 30], chunks: [2, 8, 16], dtype: "<f4" });
    expect(meta.attributes.units).toBe("K");

    for (const t of [0, 2]) {
      if (t > 0) {
        await tab.locator("#slider").fill(String(t));
        await tab.waitForSelector(`body[data-drawn="grp/grid@${t}"]`);
      }
      const state = await tab.evaluate(() => {
        const canvas = document.getElementById("canvas") as HTMLCanvasElement;
        const ctx = canvas.getContext("2d") as CanvasRenderingContext2D;
        return {
          width: canvas.width,
          height: canvas.height,
          data: canvas.dataset,
          range: document.getElementById("range")?.textContent,
          pixels: Array.from(ctx.getImageData(0, 0, canvas.width, canvas.height).data),
        };
      });
      expect([state.height, state.width]).toEqual([20, 30]);
      expect(state.data).toMatchObject({
        min: String(value(t, 0, 0)),
        max: String(value(t, 19, 29)),
      });
      expect(state.range).toBe(`min ${value(t, 0, 0)} · max ${value(t, 19, 29)}`);
      for (let y = 0; y < 20; y++)
        for (let x = 0; x < 30; x++) {
          const at = (y * 30 + x) * 4;
          expect(state.pixels.slice(at, at + 4), `canvas (${y}, ${x}) of slice ${t}`).toEqual([
            ...expected((y * 30 + x) / 599),
            255,
          ]);
        }

      // What is on screen: a screenshot of the canvas, scaled up with square pixels.
      const png = decodePng(new Uint8Array(await tab.locator("#canvas").screenshot()));
      const [sx, sy] = [png.width / 30, png.height / 20];
      expect(sx).toBeGreaterThanOrEqual(1);
      for (const [y, x] of POSITIONS) {
        const px = Math.floor((x + 0.5) * sx);
        const py = Math.floor((y + 0.5) * sy);
        const at = (py * png.width + px) * 4;
        const got = Array.from(png.rgba.subarray(at, at + 3));
        const want = expected((y * 30 + x) / 599);
        for (let c = 0; c < 3; c++) {
          expect(
            Math.abs((got[c] as number) - (want[c] as number)),
            `screenshot (${y}, ${x}): ${got} vs ${want}`,
          ).toBeLessThanOrEqual(2);
        }
      }
    }

    // Another mount: the air sample's 3-D array draws too.
    await tab.getByRole("button", { name: "air", exact: true }).click();
    await tab.waitForSelector('body[data-drawn="air@0"]');
    expect(
      await tab.locator("#canvas").evaluate((c: HTMLCanvasElement) => [c.height, c.width]),
    ).toEqual([25, 53]);
    expect(failed).toEqual([]);
    await tab.close();
  }, 60_000);
});
