import { describe, expect, it } from "vitest";
import {
  assembleChunk,
  contiguousStrides,
  fillWith,
  planTargetChunk,
  type SourceChunk,
  swapBytes,
} from "../../src/proxy/assemble.js";

/** A deterministic array: element at flat C index i has the value i (as `itemSize` bytes). */
function element(index: number, itemSize: number): number[] {
  return Array.from({ length: itemSize }, (_, b) => (index * 7 + b * 31 + 1) & 0xff);
}

function flatIndex(coords: number[], shape: readonly number[]): number {
  return coords.reduce((acc, c, d) => acc * (shape[d] as number) + c, 0);
}

/** Each source chunk, whole, in the given order, holding the array's values (none past the end). */
function sourceChunk(
  shape: readonly number[],
  chunks: readonly number[],
  coords: readonly number[],
  itemSize: number,
  order: "C" | "F",
  missing: boolean,
): SourceChunk {
  const strides = contiguousStrides(chunks, order);
  if (missing) return { bytes: undefined, strides, id: 0, size: 0 };
  const bytes = new Uint8Array(chunks.reduce((a, b) => a * b, itemSize)).fill(0xee);
  forEachIndex(chunks, (local) => {
    const global = local.map((l, d) => l + (coords[d] as number) * (chunks[d] as number));
    if (global.some((g, d) => g >= (shape[d] as number))) return; // stored padding: junk
    const offset = local.reduce((acc, l, d) => acc + l * (strides[d] as number), 0) * itemSize;
    bytes.set(element(flatIndex(global, shape), itemSize), offset);
  });
  return { bytes, strides, id: 1, size: bytes.byteLength };
}

/** The served chunk computed the slow, obvious way. */
function expected(
  shape: readonly number[],
  target: readonly number[],
  coords: readonly number[],
  itemSize: number,
  order: "C" | "F",
  fill: number[],
  isMissing: (global: number[]) => boolean,
): Uint8Array {
  const out = new Uint8Array(target.reduce((a, b) => a * b, itemSize));
  const strides = contiguousStrides(target, order);
  forEachIndex(target, (local) => {
    const global = local.map((l, d) => l + (coords[d] as number) * (target[d] as number));
    const outside = global.some((g, d) => g >= (shape[d] as number));
    const offset = local.reduce((acc, l, d) => acc + l * (strides[d] as number), 0) * itemSize;
    out.set(
      outside || isMissing(global) ? fill : element(flatIndex(global, shape), itemSize),
      offset,
    );
  });
  return out;
}

function forEachIndex(shape: readonly number[], visit: (index: number[]) => void): void {
  const total = shape.reduce((a, b) => a * b, 1);
  for (let flat = 0; flat < total; flat++) {
    const index: number[] = [];
    let rest = flat;
    for (let d = shape.length - 1; d >= 0; d--) {
      index[d] = rest % (shape[d] as number);
      rest = Math.floor(rest / (shape[d] as number));
    }
    visit(index);
  }
}

interface Case {
  name: string;
  shape: number[];
  source: number[];
  target: number[];
  itemSize: number;
  sourceOrder: "C" | "F";
  targetOrder: "C" | "F";
  missing?: number[][];
}

const CASES: Case[] = [
  {
    name: "2-d, sizes that do not divide",
    shape: [10, 13],
    source: [4, 5],
    target: [3, 7],
    itemSize: 4,
    sourceOrder: "C",
    targetOrder: "C",
  },
  {
    name: "2-d, target larger than source",
    shape: [9, 11],
    source: [2, 3],
    target: [8, 8],
    itemSize: 8,
    sourceOrder: "C",
    targetOrder: "C",
  },
  {
    name: "3-d like air (20×25×53)",
    shape: [20, 25, 53],
    source: [5, 10, 20],
    target: [10, 20, 40],
    itemSize: 4,
    sourceOrder: "C",
    targetOrder: "C",
  },
  {
    name: "F order in and out",
    shape: [7, 9, 5],
    source: [3, 4, 2],
    target: [5, 2, 5],
    itemSize: 2,
    sourceOrder: "F",
    targetOrder: "F",
  },
  {
    name: "C source served as F",
    shape: [6, 7],
    source: [4, 3],
    target: [5, 5],
    itemSize: 4,
    sourceOrder: "C",
    targetOrder: "F",
  },
  {
    name: "F source served as C",
    shape: [6, 7],
    source: [4, 3],
    target: [5, 5],
    itemSize: 1,
    sourceOrder: "F",
    targetOrder: "C",
  },
  {
    name: "1-d",
    shape: [100],
    source: [7],
    target: [33],
    itemSize: 8,
    sourceOrder: "C",
    targetOrder: "C",
  },
  {
    name: "chunks larger than the array",
    shape: [3, 4],
    source: [5, 5],
    target: [6, 6],
    itemSize: 4,
    sourceOrder: "C",
    targetOrder: "C",
  },
  {
    name: "missing source chunks",
    shape: [10, 10],
    source: [4, 4],
    target: [6, 6],
    itemSize: 4,
    sourceOrder: "C",
    targetOrder: "C",
    missing: [
      [0, 1],
      [2, 2],
    ],
  },
  {
    name: "aligned, whole rows merge",
    shape: [8, 8],
    source: [2, 8],
    target: [4, 8],
    itemSize: 4,
    sourceOrder: "C",
    targetOrder: "C",
  },
];

describe("assembleChunk", () => {
  for (const c of CASES) {
    it(`matches the obvious copy: ${c.name}`, () => {
      const fill = Array.from({ length: c.itemSize }, (_, b) => 0xa0 + b);
      const missingSet = new Set((c.missing ?? []).map((m) => m.join(",")));
      const isMissing = (global: number[]) =>
        missingSet.has(global.map((g, d) => Math.floor(g / (c.source[d] as number))).join(","));
      const grid = c.shape.map((s, d) => Math.ceil(s / (c.target[d] as number)));
      forEachIndex(grid, (coords) => {
        const plan = planTargetChunk(c.shape, c.target, c.source, coords);
        const entries = plan.sources.map((sc) =>
          sourceChunk(
            c.shape,
            c.source,
            sc,
            c.itemSize,
            c.sourceOrder,
            missingSet.has(sc.join(",")),
          ),
        );
        const layout = {
          chunks: c.target,
          order: c.targetOrder,
          itemSize: c.itemSize,
          fill: Uint8Array.from(fill),
        };
        const got = assembleChunk(plan, layout, c.source, entries);
        const want = expected(
          c.shape,
          c.target,
          coords,
          c.itemSize,
          c.targetOrder,
          fill,
          isMissing,
        );
        expect(Buffer.from(got).equals(Buffer.from(want)), `chunk ${coords.join(".")}`).toBe(true);
        // A reused (dirty) buffer gives the same bytes.
        const dirty = new Uint8Array(want.byteLength).fill(0x55);
        assembleChunk(plan, layout, c.source, entries, { bytes: dirty, zeroed: false });
        expect(Buffer.from(dirty).equals(Buffer.from(want)), `reused ${coords.join(".")}`).toBe(
          true,
        );
      });
    });
  }

  it("plans which source chunks a served chunk overlaps, and whether it is padded", () => {
    expect(planTargetChunk([1000, 1000], [256, 256], [100, 100], [1, 3])).toEqual({
      start: [256, 768],
      end: [512, 1000],
      sources: [2, 3, 4, 5].flatMap((i) => [7, 8, 9].map((j) => [i, j])),
      padded: true,
    });
    expect(planTargetChunk([4], [2], [2], [1]).padded).toBe(false);
    expect(planTargetChunk([], [], [], [])).toEqual({
      start: [],
      end: [],
      sources: [[]],
      padded: false,
    });
  });

  it("assembles a 0-d array", () => {
    const plan = planTargetChunk([], [], [], []);
    const entry: SourceChunk = { bytes: Uint8Array.of(1, 2), strides: [], id: 1, size: 2 };
    const layout = { chunks: [], order: "C" as const, itemSize: 2, fill: Uint8Array.of(9, 9) };
    expect(assembleChunk(plan, layout, [], [entry])).toEqual(Uint8Array.of(1, 2));
  });
});

describe("byte helpers", () => {
  it("fills with a repeated element of any size", () => {
    for (const size of [1, 2, 3, 4, 8, 16]) {
      const element = Uint8Array.from({ length: size }, (_, i) => i + 1);
      const out = new Uint8Array(size * 37 + 0);
      fillWith(out, element);
      for (let i = 0; i < out.length; i++) expect(out[i]).toBe((i % size) + 1);
    }
    const dirty = new Uint8Array(8).fill(7);
    fillWith(dirty, new Uint8Array(4), false);
    expect(dirty).toEqual(new Uint8Array(8));
  });

  it("swaps byte order per element", () => {
    expect(swapBytes(Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8), 4)).toEqual(
      Uint8Array.of(4, 3, 2, 1, 8, 7, 6, 5),
    );
    expect(swapBytes(Uint8Array.of(1, 2, 3, 4), 2)).toEqual(Uint8Array.of(2, 1, 4, 3));
  });
});
