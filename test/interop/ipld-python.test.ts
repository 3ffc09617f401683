/**
 * Cross-checks IPLDStore against the original Python ipldstore's format. The original is not
 * installable here (it is not packaged for Debian and there is no PyPI), so Python does what it
 * did, from its source: Debian's zarr 2 and xarray write real datasets into a dict, and a
 * DAG-CBOR encoder written below (the canonical rules: keys by length then bytes, floats 64-bit,
 * tag 42 links) builds the tree the original builds (`json.loads` of the metadata names, a raw
 * sha2-256 block for everything else), its root CID, its CAR (root first, depth-first over
 * `dict.values()` of the decoded tree, each CID once) and its `__getitem__` output for metadata
 * (`json.dumps(json.loads(value))`). The TypeScript store replays the same writes and must agree
 * byte for byte.
 */

import { createHash } from "node:crypto";
import { expect, it } from "vitest";
import { isStoreError } from "../../src/errors.js";
import { IPLDStore } from "../../src/stores/ipld/index.js";
import { describeLive } from "../support/live.js";
import { pythonZarrAvailable, runPython } from "../support/python.js";

const SCRIPT = String.raw`
import base64, hashlib, json, struct, sys, warnings
import numpy as np, xarray as xr, zarr, numcodecs
warnings.simplefilter("ignore")

class Link:
    def __init__(self, cid): self.cid = cid
def cid_bytes(codec, data): return bytes([1, codec, 0x12, 0x20]) + hashlib.sha256(data).digest()
def cid_str(b): return "b" + base64.b32encode(b).decode().lower().rstrip("=")

def head(major, n):
    if n < 24: return bytes([major << 5 | n])
    if n < 0x100: return bytes([major << 5 | 24, n])
    if n < 0x10000: return bytes([major << 5 | 25]) + n.to_bytes(2, "big")
    if n < 0x100000000: return bytes([major << 5 | 26]) + n.to_bytes(4, "big")
    return bytes([major << 5 | 27]) + n.to_bytes(8, "big")

def enc(v):
    if v is None: return b"\xf6"
    if v is True: return b"\xf5"
    if v is False: return b"\xf4"
    if isinstance(v, Link): return b"\xd8\x2a" + head(2, len(v.cid) + 1) + b"\x00" + v.cid
    if isinstance(v, int):
        if not -(2**64) <= v < 2**64: raise ValueError("int beyond 64 bits")
        return head(0, v) if v >= 0 else head(1, -1 - v)
    if isinstance(v, float):
        if v != v or v in (float("inf"), float("-inf")): raise ValueError("NaN/Infinity")
        return b"\xfb" + struct.pack(">d", v)
    if isinstance(v, str):
        b = v.encode("utf-8")
        return head(3, len(b)) + b
    if isinstance(v, bytes): return head(2, len(v)) + v
    if isinstance(v, list): return head(4, len(v)) + b"".join(enc(x) for x in v)
    if isinstance(v, dict):
        items = sorted(((k.encode("utf-8"), x) for k, x in v.items()), key=lambda kv: (len(kv[0]), kv[0]))
        return head(5, len(items)) + b"".join(head(3, len(k)) + k + enc(x) for k, x in items)
    raise TypeError(type(v))

def varint(n):
    out = b""
    while True:
        b = n & 0x7f
        n >>= 7
        if n: out += bytes([b | 0x80])
        else: return out + bytes([b])

INLINE = {".zarray", ".zgroup", ".zattrs", ".zmetadata"}

def original(writes):
    tree, blocks = {}, {}
    for key, value in writes.items():
        parts = key.split("/")
        node = tree
        for p in parts[:-1]: node = node.setdefault(p, {})
        if parts[-1] in INLINE: node[parts[-1]] = json.loads(value)
        else:
            cid = cid_bytes(0x55, value)
            blocks[cid] = value
            node[parts[-1]] = Link(cid)
    root_block = enc(tree)
    root = cid_bytes(0x71, root_block)
    blocks[root] = root_block
    out = [varint(len(enc({"version": 1, "roots": [Link(root)]}))), enc({"version": 1, "roots": [Link(root)]})]
    written = set()
    def walk(cid):
        if cid in written: return
        written.add(cid)
        data = blocks[cid]
        out.append(varint(len(cid) + len(data)) + cid + data)
        if cid[1] == 0x71: links(tree if cid == root else None)
    def links(o):
        # dict.values() of the decoded block: the canonical (encoded) order
        if isinstance(o, dict):
            for k in sorted(o, key=lambda k: (len(k.encode()), k.encode())): links(o[k])
        elif isinstance(o, list):
            for x in o: links(x)
        elif isinstance(o, Link): walk(o.cid)
    walk(root)
    car = b"".join(out)
    return cid_str(root), car

def capture(fn):
    store = {}
    fn(store)
    return {k: bytes(v) for k, v in store.items()}

def readme(s):
    xr.Dataset({"a": ("a", [1, 2, 3])}).to_zarr(s, encoding={"a": {"compressor": None}}, consolidated=False)

def floats_and_groups(s):
    t = np.arange(4, dtype="f8") * 0.5
    ds = xr.Dataset(
        {"temp": (("t", "x"), np.arange(12, dtype="f4").reshape(4, 3) + 273.0, {"scale_factor": 1.0, "add_offset": 0.0, "valid_max": 40.0, "tiny": 1e-07, "huge": 1e16})},
        coords={"t": t, "x": [10, 20, 30]},
        attrs={"title": "Grüße ☃ 😀", "big": 2**60 + 1, "bigger": 2**64 - 1, "neg": -0.0, "nested": {"a": [1, 2.0, None, True]}},
    )
    ds.to_zarr(s, consolidated=True, encoding={"temp": {"chunks": (2, 3), "_FillValue": float("nan")}})
    sub = xr.Dataset({"v": ("y", np.array([1.5, -2.0, 0.0]))}, attrs={"level": 0.0})
    sub.to_zarr(s, group="grp/sub", consolidated=True)

def plain_zarr(s):
    root = zarr.group(store=s)
    a = root.create_dataset("ints", shape=(10,), chunks=(4,), dtype="i8", fill_value=2**62, compressor=numcodecs.Zlib(level=1))
    a[:] = np.arange(10) * (2**40)
    b = root.create_group("g1").create_group("g2").create_dataset("f", shape=(3, 3), chunks=(2, 2), dtype="f8", fill_value=0.0)
    b[:] = np.eye(3)
    root.attrs["pi"] = 3.141592653589793
    root.attrs["list"] = [0.0, 1, -1.5e-300]
    zarr.consolidate_metadata(s)

def nan_attr(s):
    zarr.group(store=s).attrs["bad"] = float("nan")

result = []
for name, fn in [("readme", readme), ("floats_and_groups", floats_and_groups), ("plain_zarr", plain_zarr), ("nan_attr", nan_attr)]:
    writes = capture(fn)
    case = {"name": name, "writes": {k: base64.b64encode(v).decode() for k, v in writes.items()}}
    try:
        root, car = original(writes)
        case.update(root=root, car_sha256=hashlib.sha256(car).hexdigest(), car_length=len(car))
        case["gets"] = {k: json.dumps(json.loads(v)) for k, v in writes.items() if k.split("/")[-1] in INLINE}
    except ValueError as e:
        case["error"] = str(e)
    result.append(case)
print(json.dumps(result))
`;

interface PythonCase {
  name: string;
  writes: Record<string, string>;
  root?: string;
  car_sha256?: string;
  car_length?: number;
  gets?: Record<string, string>;
  error?: string;
}

describeLive(
  "IPLDStore against the original format (Python zarr + xarray)",
  pythonZarrAvailable,
  () => {
    const cases = (): PythonCase[] => JSON.parse(runPython(SCRIPT)) as PythonCase[];
    let all: PythonCase[] | undefined;
    const load = () => {
      all ??= cases();
      return all;
    };

    async function replay(c: PythonCase): Promise<IPLDStore> {
      const store = new IPLDStore();
      for (const [key, b64] of Object.entries(c.writes)) {
        await store.set(`/${key}`, new Uint8Array(Buffer.from(b64, "base64")));
      }
      return store;
    }

    it("the Python side reproduces the README vector (so the encoder below is the original's)", () => {
      const readme = load().find((c) => c.name === "readme") as PythonCase;
      expect(readme.root).toBe("bafyreidn66mk3fktszrfwayonvpq6y3agtnb5e5o22ivof5tgikbxt7k6u");
      expect(readme.car_sha256).toBe(
        "3822e776b8f94ef214d53b568b533d6b4ec7112e6c9aa3b4ad8818f4dc3a00be",
      );
    }, 60_000);

    for (const name of ["readme", "floats_and_groups", "plain_zarr"]) {
      it(`${name}: same root CID, same CAR bytes, same metadata reads`, async () => {
        const c = load().find((x) => x.name === name) as PythonCase;
        const store = await replay(c);
        expect((await store.freeze()).toString()).toBe(c.root);
        const car = await store.toCar();
        expect(car.byteLength).toBe(c.car_length);
        expect(createHash("sha256").update(car).digest("hex")).toBe(c.car_sha256);
        for (const [key, text] of Object.entries(c.gets ?? {})) {
          expect(new TextDecoder().decode(await store.get(`/${key}`)), key).toBe(text);
        }
        // And through a CAR round trip the tree stays the same.
        const copy = await IPLDStore.fromCar(car);
        expect((await copy.freeze()).toString()).toBe(c.root);
      }, 60_000);
    }

    it("NaN in attributes: Python's encoder refuses it, and so does freeze()", async () => {
      const c = load().find((x) => x.name === "nan_attr") as PythonCase;
      expect(c.error).toContain("NaN");
      const store = await replay(c);
      try {
        await store.freeze();
        throw new Error("freeze should fail");
      } catch (error) {
        expect(isStoreError(error, "Unsupported")).toBe(true);
        expect((error as Error).message).toContain("/.zattrs");
      }
    });
  },
);
