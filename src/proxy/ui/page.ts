/**
 * The web page `zarrstore serve` answers at `/` for browsers (`Accept: text/html`): the mounts,
 * each mount's hierarchy as a tree (from consolidated metadata, v2 `.zmetadata` or v3
 * `zarr.json`), each array's metadata, and a 2-D slice of a numeric array drawn on a canvas
 * through a colour map, with its value range and a slider over a third dimension.
 *
 * One self-contained HTML document, no framework and no library: the page reads through the
 * proxy's own HTTP API. A slice is one request: the page asks for the array rechunked so that a
 * chunk is exactly the slice (`/{mount}/@chunks={name}=1,…,1,H,W/…`), which the proxy serves
 * decoded (raw C-order values); the page only has to read the numbers.
 */

/** The colour map (viridis, 9 stops), interpolated linearly between stops; NaN is drawn clear. */
export const COLOR_STOPS: readonly (readonly [number, number, number])[] = [
  [68, 1, 84],
  [71, 44, 122],
  [59, 81, 139],
  [44, 113, 142],
  [33, 144, 141],
  [39, 173, 129],
  [92, 200, 99],
  [170, 220, 50],
  [253, 231, 37],
];

/** The largest slice drawn per side; a larger array shows its top-left corner of this size. */
export const MAX_SIDE = 512;

const SCRIPT = String.raw`
const STOPS = ${JSON.stringify(COLOR_STOPS)};
const MAX_SIDE = ${MAX_SIDE};
const $ = (id) => document.getElementById(id);
const el = (tag, props = {}, ...children) => {
  const node = Object.assign(document.createElement(tag), props);
  node.append(...children);
  return node;
};
const join = (...parts) => parts.filter((p) => p !== "").join("/");

async function getJson(url) {
  const response = await fetch(url, { headers: { accept: "application/json" } });
  if (!response.ok) {
    let message = response.status + " " + response.statusText;
    try { message = (await response.json()).message || message; } catch {}
    throw new Error(url + ": " + message);
  }
  return response.json();
}

function colour(t) {
  if (!(t >= 0)) t = 0;
  if (t > 1) t = 1;
  const x = t * (STOPS.length - 1);
  const i = Math.min(Math.floor(x), STOPS.length - 2);
  const f = x - i, a = STOPS[i], b = STOPS[i + 1];
  return [0, 1, 2].map((c) => Math.round(a[c] + (b[c] - a[c]) * f));
}

// Data types: v2 strings (<f4, >i2, |u1) and v3 names (float32, int16, uint8, bool).
function parseType(meta) {
  const v2 = meta.zarr_format === 2;
  const text = String(v2 ? meta.dtype : meta.data_type);
  if (v2) {
    const m = /^([<>|])([fiub])(\d+)$/.exec(text);
    return m ? { kind: m[2], size: Number(m[3]), little: m[1] !== ">" } : undefined;
  }
  if (text === "bool") return { kind: "b", size: 1, little: true };
  const m = /^(float|int|uint)(\d+)$/.exec(text);
  return m ? { kind: m[1][0], size: Number(m[2]) / 8, little: true } : undefined;
}

function readValues(buffer, type, count) {
  const view = new DataView(buffer);
  const out = new Float64Array(count);
  const { kind, size, little } = type;
  for (let i = 0; i < count; i++) {
    const at = i * size;
    let v;
    if (kind === "f") v = size === 4 ? view.getFloat32(at, little) : size === 8 ? view.getFloat64(at, little) : NaN;
    else if (kind === "u" || kind === "b") v = size === 1 ? view.getUint8(at) : size === 2 ? view.getUint16(at, little) : size === 4 ? view.getUint32(at, little) : Number(view.getBigUint64(at, little));
    else v = size === 1 ? view.getInt8(at) : size === 2 ? view.getInt16(at, little) : size === 4 ? view.getInt32(at, little) : Number(view.getBigInt64(at, little));
    out[i] = v;
  }
  return out;
}

function chunkKey(meta, coords) {
  if (meta.zarr_format === 2) return coords.join(meta.dimension_separator || ".");
  const enc = meta.chunk_key_encoding || { name: "default" };
  const sep = (enc.configuration && enc.configuration.separator) || (enc.name === "v2" ? "." : "/");
  return enc.name === "v2" ? coords.join(sep) : ["c", ...coords].join(sep);
}

// The nodes of a mount from its consolidated metadata: path → { kind, meta, attrs }.
async function loadNodes(mount) {
  const nodes = new Map();
  try {
    const zm = await getJson("/" + mount + "/.zmetadata");
    for (const [key, doc] of Object.entries(zm.metadata || {})) {
      const slash = key.lastIndexOf("/");
      const path = slash < 0 ? "" : key.slice(0, slash), name = key.slice(slash + 1);
      const node = nodes.get(path) || { kind: "group", meta: undefined, attrs: {} };
      if (name === ".zarray") Object.assign(node, { kind: "array", meta: doc });
      else if (name === ".zgroup") node.meta = node.meta || doc;
      else if (name === ".zattrs") node.attrs = doc;
      nodes.set(path, node);
    }
    return nodes;
  } catch (v2error) {
    let root;
    try { root = await getJson("/" + mount + "/zarr.json"); } catch { throw v2error; }
    const { consolidated_metadata: cm, ...rootMeta } = root;
    nodes.set("", { kind: root.node_type, meta: rootMeta, attrs: root.attributes || {} });
    for (const [path, doc] of Object.entries((cm && cm.metadata) || {})) {
      nodes.set(path, { kind: doc.node_type, meta: doc, attrs: doc.attributes || {} });
    }
    return nodes;
  }
}

function showTree(mount, nodes) {
  const tree = $("tree");
  tree.replaceChildren();
  const paths = [...nodes.keys()].sort();
  for (const path of paths) {
    const node = nodes.get(path);
    const depth = path === "" ? 0 : path.split("/").length;
    const label = path === "" ? "/" : path.slice(path.lastIndexOf("/") + 1);
    const button = el("button", { className: "node " + node.kind, textContent: (node.kind === "array" ? "▦ " : "▸ ") + label });
    button.dataset.path = path;
    button.style.paddingLeft = 0.4 + depth * 1.1 + "em";
    button.onclick = () => {
      for (const b of tree.querySelectorAll("button")) b.classList.toggle("selected", b === button);
      showNode(mount, path, node);
    };
    tree.append(el("li", {}, button));
  }
  const first = paths.find((p) => nodes.get(p).kind === "array" && (nodes.get(p).meta.shape || []).length >= 2);
  if (first !== undefined) tree.querySelector('button[data-path="' + CSS.escape(first) + '"]').click();
}

function showNode(mount, path, node) {
  $("title").textContent = mount + "/" + path;
  $("meta").textContent = JSON.stringify({ ...node.meta, attributes: node.attrs }, null, 2);
  $("view").hidden = true;
  $("status").textContent = "";
  const shape = (node.meta && node.meta.shape) || [];
  if (node.kind !== "array" || shape.length < 2) return;
  const type = parseType(node.meta);
  if (!type) { $("status").textContent = "no picture: not a numeric array"; return; }
  const slider = $("slider");
  const third = shape.length - 3;
  $("sliderbox").hidden = third < 0;
  slider.min = 0;
  slider.max = third < 0 ? 0 : shape[third] - 1;
  slider.value = 0;
  slider.oninput = () => drawSlice(mount, path, node, Number(slider.value));
  drawSlice(mount, path, node, 0);
}

let drawing = 0;
async function drawSlice(mount, path, node, index) {
  const ticket = ++drawing;
  const meta = node.meta, shape = meta.shape, n = shape.length;
  const h = Math.min(shape[n - 2], MAX_SIDE), w = Math.min(shape[n - 1], MAX_SIDE);
  const chunks = shape.map((_, d) => (d === n - 2 ? h : d === n - 1 ? w : 1));
  const name = path.slice(path.lastIndexOf("/") + 1);
  const base = "/" + mount + (name ? "/@chunks=" + encodeURIComponent(name) + "=" + chunks.join(",") : "");
  const coords = shape.map((_, d) => (d === n - 3 ? index : 0));
  $("status").textContent = "loading…";
  try {
    const served = await getJson(join(base, path, meta.zarr_format === 2 ? ".zarray" : "zarr.json"));
    const type = parseType(served);
    const response = await fetch(join(base, path, chunkKey(served, coords)));
    if (!response.ok) throw new Error("chunk: " + response.status + " " + (await response.text()));
    const values = readValues(await response.arrayBuffer(), type, h * w);
    if (ticket !== drawing) return;
    let lo = Infinity, hi = -Infinity;
    for (const v of values) if (Number.isFinite(v)) { if (v < lo) lo = v; if (v > hi) hi = v; }
    const canvas = $("canvas");
    canvas.width = w;
    canvas.height = h;
    const scale = Math.max(1, Math.floor(Math.min(640 / w, 480 / h)));
    canvas.style.width = w * scale + "px";
    canvas.style.height = h * scale + "px";
    const ctx = canvas.getContext("2d");
    const image = ctx.createImageData(w, h);
    const span = hi > lo ? hi - lo : 1;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (!Number.isFinite(v)) continue;
      const [r, g, b] = colour((v - lo) / span);
      image.data.set([r, g, b, 255], i * 4);
    }
    ctx.putImageData(image, 0, 0);
    Object.assign(canvas.dataset, { min: String(lo), max: String(hi), index: String(index) });
    $("range").textContent = "min " + lo + " · max " + hi;
    $("where").textContent = (n > 2 ? "[" + coords.slice(0, n - 2).join(", ") + ", :, :]" : "[:, :]") +
      (h < shape[n - 2] || w < shape[n - 1] ? " (top-left " + h + "×" + w + ")" : "");
    $("view").hidden = false;
    $("status").textContent = "";
    document.body.dataset.drawn = path + "@" + index;
  } catch (error) {
    if (ticket === drawing) $("status").textContent = String(error.message || error);
  }
}

async function start() {
  const index = await getJson("/");
  const list = $("mounts");
  for (const mount of index.mounts) {
    const button = el("button", { textContent: mount });
    button.onclick = async () => {
      for (const b of list.querySelectorAll("button")) b.classList.toggle("selected", b === button);
      try { showTree(mount, await loadNodes(mount)); } catch (e) { $("status").textContent = String(e.message || e); }
    };
    list.append(el("li", {}, button));
  }
  const first = list.querySelector("button");
  if (first) first.click();
  else $("status").textContent = "no mounts";
}
start().catch((e) => { $("status").textContent = String(e.message || e); });
`;

const STYLE = `
body{font:14px system-ui,sans-serif;margin:0;display:grid;grid-template-columns:16em 1fr;min-height:100vh;color:#222}
nav{background:#f4f4f6;padding:.6em;border-right:1px solid #ddd;overflow:auto}
h1{font-size:1em;margin:.2em 0 .6em}h2{font-size:.8em;text-transform:uppercase;color:#777;margin:1em 0 .3em}
ul{list-style:none;margin:0;padding:0}button{font:inherit;background:none;border:0;padding:.15em .4em;cursor:pointer;width:100%;text-align:left;border-radius:3px}
button:hover{background:#e4e4ea}button.selected{background:#d0d4f0}
main{padding:1em;overflow:auto}pre{background:#f7f7f7;padding:.6em;max-height:18em;overflow:auto;font-size:12px}
canvas{image-rendering:pixelated;border:1px solid #ccc;display:block}#status{color:#a33}
`;

/** The whole page, as served. */
export const VIEWER_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>zarrstore</title><style>${STYLE}</style></head>
<body><nav><h1>zarrstore</h1><h2>Mounts</h2><ul id="mounts"></ul><h2>Hierarchy</h2><ul id="tree"></ul></nav>
<main><h2 id="title"></h2><p id="status"></p>
<section id="view" hidden><canvas id="canvas"></canvas><p><span id="range"></span> <span id="where"></span></p>
<label id="sliderbox">index <input id="slider" type="range" min="0" max="0" value="0"></label></section>
<h2>Metadata</h2><pre id="meta"></pre></main>
<script type="module">${SCRIPT}</script></body></html>
`;
