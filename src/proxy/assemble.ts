/**
 * Target chunks from source chunks: which source chunks a served chunk overlaps, and the copy
 * of every overlapped region into the served chunk's bytes, in its memory order, with the
 * fill value wherever no source data lies (edge padding and missing source chunks).
 */

/** A decoded source chunk, as cached. */
export interface SourceChunk {
  /** Element bytes in served byte order; `undefined` for a missing chunk (all fill value). */
  readonly bytes: Uint8Array | undefined;
  /** Element strides of `bytes` (C or F order, or a transpose's). */
  readonly strides: readonly number[];
  /** A content identity for ETags (0 for a missing chunk). */
  readonly id: number;
  /** Bytes held, for the cache's bound. */
  readonly size: number;
}

/** The part of the array one served chunk covers, and the source chunks it overlaps. */
export interface TargetPlan {
  /** First element per dimension, in array coordinates. */
  start: number[];
  /** One past the last element per dimension, clipped to the array's shape. */
  end: number[];
  /** Coordinates of every overlapped source chunk, in C order. */
  sources: number[][];
  /** True when the chunk reaches past the array's end (an edge chunk, padded). */
  padded: boolean;
}

/** The layout of a served chunk. */
export interface TargetLayout {
  chunks: readonly number[];
  order: "C" | "F";
  itemSize: number;
  /** One element of the fill value, in served byte order. */
  fill: Uint8Array;
}

/** Plans the served chunk at `coords` (which must lie in the served grid). */
export function planTargetChunk(
  shape: readonly number[],
  chunks: readonly number[],
  sourceChunks: readonly number[],
  coords: readonly number[],
): TargetPlan {
  const start: number[] = [];
  const end: number[] = [];
  const ranges: [number, number][] = [];
  let padded = false;
  for (let d = 0; d < shape.length; d++) {
    const c = chunks[d] as number;
    const s = sourceChunks[d] as number;
    const lo = (coords[d] as number) * c;
    const hi = Math.min(lo + c, shape[d] as number);
    if (lo + c > (shape[d] as number)) padded = true;
    start.push(lo);
    end.push(hi);
    ranges.push(hi > lo ? [Math.floor(lo / s), Math.floor((hi - 1) / s)] : [0, -1]);
  }
  return { start, end, sources: product(ranges), padded };
}

/** The strides, in elements, of a contiguous chunk in C or F order. */
export function contiguousStrides(shape: readonly number[], order: "C" | "F"): number[] {
  const strides = new Array<number>(shape.length);
  let step = 1;
  if (order === "C") {
    for (let d = shape.length - 1; d >= 0; d--) {
      strides[d] = step;
      step *= shape[d] as number;
    }
  } else {
    for (let d = 0; d < shape.length; d++) {
      strides[d] = step;
      step *= shape[d] as number;
    }
  }
  return strides;
}

/**
 * Assembles the served chunk's bytes from its source chunks (`entries` in the order of
 * `plan.sources`, each a whole source chunk of shape `sourceChunks`).
 */
export function assembleChunk(
  plan: TargetPlan,
  layout: TargetLayout,
  sourceChunks: readonly number[],
  entries: readonly SourceChunk[],
  into?: { bytes: Uint8Array; zeroed: boolean },
): Uint8Array {
  const { chunks, itemSize } = layout;
  const size = chunks.reduce((a, b) => a * b, itemSize);
  const out = into?.bytes ?? new Uint8Array(size);
  if (out.byteLength !== size) throw new RangeError(`a ${size}-byte buffer is needed`);
  // Without padding and with every source present, the copies tile the whole chunk.
  const needsFill = plan.padded || entries.some((e) => e.bytes === undefined);
  if (needsFill) fillWith(out, layout.fill, into === undefined || into.zeroed);
  const dst = contiguousStrides(chunks, layout.order);
  for (let k = 0; k < entries.length; k++) {
    const entry = entries[k] as SourceChunk;
    if (entry.bytes === undefined) continue;
    copyRegion(
      out,
      dst,
      plan,
      entry,
      plan.sources[k] as number[],
      sourceChunks,
      itemSize,
      layout.order,
    );
  }
  return out;
}

// Copies the overlap of one source chunk into the served chunk.
function copyRegion(
  out: Uint8Array,
  dst: readonly number[],
  plan: TargetPlan,
  entry: SourceChunk,
  coords: readonly number[],
  sourceChunks: readonly number[],
  itemSize: number,
  order: "C" | "F",
): void {
  const src = entry.bytes as Uint8Array;
  const rank = dst.length;
  if (rank === 0) {
    out.set(src.subarray(0, itemSize), 0);
    return;
  }
  const lengths: number[] = [];
  let srcBase = 0;
  let dstBase = 0;
  for (let d = 0; d < rank; d++) {
    const origin = (coords[d] as number) * (sourceChunks[d] as number);
    const lo = Math.max(plan.start[d] as number, origin);
    const hi = Math.min(plan.end[d] as number, origin + (sourceChunks[d] as number));
    if (hi <= lo) return;
    lengths.push(hi - lo);
    srcBase += (lo - origin) * (entry.strides[d] as number);
    dstBase += (lo - (plan.start[d] as number)) * (dst[d] as number);
  }
  // Dimensions from the slowest to the fastest varying in the served layout.
  const dims = order === "C" ? range(rank) : range(rank).reverse();
  const inner = dims[rank - 1] as number;
  if (entry.strides[inner] !== 1) {
    copyElements(out, src, dst, entry.strides, lengths, dims, srcBase, dstBase, itemSize);
    return;
  }
  // Runs along the fastest dimension; merge the next dimension while both sides stay contiguous.
  let run = lengths[inner] as number;
  let outerCount = rank - 1;
  while (outerCount > 0) {
    const next = dims[outerCount - 1] as number;
    if (entry.strides[next] !== run || dst[next] !== run) break;
    run *= lengths[next] as number;
    outerCount--;
  }
  const runBytes = run * itemSize;
  if (outerCount === 0) {
    out.set(src.subarray(srcBase * itemSize, srcBase * itemSize + runBytes), dstBase * itemSize);
    return;
  }
  // An odometer over the outer dimensions, innermost last (no closure: this is the hot loop).
  const outer = dims.slice(0, outerCount);
  const index = new Array<number>(outerCount).fill(0);
  let s = srcBase * itemSize;
  let o = dstBase * itemSize;
  const srcStep = outer.map((d) => (entry.strides[d] as number) * itemSize);
  const dstStep = outer.map((d) => (dst[d] as number) * itemSize);
  const counts = outer.map((d) => lengths[d] as number);
  for (;;) {
    out.set(src.subarray(s, s + runBytes), o);
    let i = outerCount - 1;
    for (; i >= 0; i--) {
      index[i] = (index[i] as number) + 1;
      s += srcStep[i] as number;
      o += dstStep[i] as number;
      if ((index[i] as number) < (counts[i] as number)) break;
      s -= (srcStep[i] as number) * (counts[i] as number);
      o -= (dstStep[i] as number) * (counts[i] as number);
      index[i] = 0;
    }
    if (i < 0) return;
  }
}

// The general case (source and served layouts disagree on the fastest dimension): element by element.
function copyElements(
  out: Uint8Array,
  src: Uint8Array,
  dst: readonly number[],
  strides: readonly number[],
  lengths: readonly number[],
  dims: readonly number[],
  srcBase: number,
  dstBase: number,
  itemSize: number,
): void {
  forEachOffset(dims, lengths, strides, dst, srcBase, dstBase, (s, o) => {
    const from = s * itemSize;
    const to = o * itemSize;
    for (let b = 0; b < itemSize; b++) out[to + b] = src[from + b] as number;
  });
}

// Calls `visit` with the source and served element offsets of every index of `dims`.
function forEachOffset(
  dims: readonly number[],
  lengths: readonly number[],
  srcStrides: readonly number[],
  dstStrides: readonly number[],
  srcBase: number,
  dstBase: number,
  visit: (src: number, dst: number) => void,
): void {
  const n = dims.length;
  const index = new Array<number>(n).fill(0);
  let s = srcBase;
  let o = dstBase;
  for (;;) {
    visit(s, o);
    let i = n - 1;
    for (; i >= 0; i--) {
      const d = dims[i] as number;
      index[i] = (index[i] as number) + 1;
      s += srcStrides[d] as number;
      o += dstStrides[d] as number;
      if ((index[i] as number) < (lengths[d] as number)) break;
      s -= (srcStrides[d] as number) * (lengths[d] as number);
      o -= (dstStrides[d] as number) * (lengths[d] as number);
      index[i] = 0;
    }
    if (i < 0) return;
  }
}

/** Fills `out` with repetitions of one element (`zeroed`: it holds only zeros already). */
export function fillWith(out: Uint8Array, element: Uint8Array, zeroed = false): void {
  const zero = element.every((b) => b === 0);
  if (zero && zeroed) return;
  if (zero || element.byteLength === 1) {
    out.fill(element[0] ?? 0);
    return;
  }
  out.set(element.subarray(0, Math.min(element.byteLength, out.byteLength)), 0);
  let filled = element.byteLength;
  while (filled < out.byteLength) {
    const n = Math.min(filled, out.byteLength - filled);
    out.copyWithin(filled, 0, n);
    filled += n;
  }
}

/** Reverses the byte order of every `itemSize`-byte element (a new buffer). */
export function swapBytes(bytes: Uint8Array, itemSize: number): Uint8Array {
  const out = new Uint8Array(bytes.byteLength);
  for (let i = 0; i < bytes.byteLength; i += itemSize) {
    for (let b = 0; b < itemSize; b++) out[i + b] = bytes[i + itemSize - 1 - b] as number;
  }
  return out;
}

function product(ranges: readonly [number, number][]): number[][] {
  let result: number[][] = [[]];
  for (const [lo, hi] of ranges) {
    const next: number[][] = [];
    for (const prefix of result) for (let i = lo; i <= hi; i++) next.push([...prefix, i]);
    result = next;
  }
  return result;
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}
