/**
 * Served chunk keys: the name of a chunk under its array folder, read with the array's own
 * chunk key encoding (v2 `0.1` or `0/1`, v3 `c/0/1` or `c.0.1`), checked against the served
 * grid. Anything else is a 400 that shows what a key of this array looks like.
 */
import { chunkKeyName } from "../zarr/metadata.js";
import { planTargetChunk, type TargetPlan } from "./assemble.js";
import { badRequest } from "./errors.js";
import type { ServedArray } from "./metadata.js";

/** A served chunk: its grid coordinates and the source chunks it is made from. */
export interface PlannedChunk {
  coords: number[];
  plan: TargetPlan;
}

const INDEX = /^(0|[1-9][0-9]*)$/;

/** Reads `name` (relative to the array folder) as a served chunk key and plans the chunk. */
export function parseServedChunkKey(served: ServedArray, name: string): PlannedChunk {
  const { node } = served.source;
  const coords = readCoords(served, name);
  return {
    coords,
    plan: planTargetChunk(node.shape, served.chunks, served.source.sourceChunks, coords),
  };
}

function readCoords(served: ServedArray, name: string): number[] {
  const { node } = served.source;
  const encoding = node.chunkKeyEncoding;
  const rank = node.shape.length;
  const example = chunkKeyName(encoding, new Array<number>(rank).fill(0));
  const bad = (why: string) =>
    badRequest(
      `${JSON.stringify(name)} is not a chunk key of the array ${node.prefix.slice(0, -1) || "/"}: ${why} (its keys look like ${JSON.stringify(example)}, grid [${served.grid.join(", ")}])`,
    );
  let body = name;
  if (encoding.name === "default") {
    if (rank === 0) {
      if (name === "c") return [];
      throw bad("expected c");
    }
    if (!name.startsWith(`c${encoding.separator}`)) throw bad(`expected c${encoding.separator}…`);
    body = name.slice(2);
  } else if (rank === 0) {
    if (name === "0") return [];
    throw bad("expected 0");
  }
  const parts = body.split(encoding.separator);
  if (parts.length !== rank) throw bad(`expected ${rank} indexes, got ${parts.length}`);
  const coords: number[] = [];
  for (const [d, part] of parts.entries()) {
    if (!INDEX.test(part)) throw bad(`${JSON.stringify(part)} is not a chunk index`);
    const index = Number(part);
    if (index >= (served.grid[d] as number)) {
      throw bad(`index ${index} along dimension ${d} is outside the grid`);
    }
    coords.push(index);
  }
  return coords;
}
