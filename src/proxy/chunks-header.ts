/**
 * The `chunks` override: the seed's header grammar, extended so that a name may be a path.
 *
 * Grammar (whitespace around tokens is ignored):
 * - a spec is a comma-separated list of entries `name=n1,n2,…`, e.g.
 *   `temperature=256,256,30,pressure=256,256,30`;
 * - a token holding `=` starts a new entry, any other token is one more number of the entry
 *   before it; a trailing comma is ignored;
 * - a name holds word characters, spaces, `.`, `-` and `/` (`grp/t` names the array `t` in the
 *   group `grp`); a leading `/` is dropped;
 * - numbers are decimal integers ≥ 1;
 * - a later entry for the same name replaces an earlier one.
 *
 * Matching: a name matches an array when its `/`-separated segments equal the last segments of
 * the array's path, so a bare name matches every array of that name and `grp/t` only the one in
 * `grp`. When several names match one array, the longest wins.
 *
 * Unlike the seed, which dropped what it could not read (and answered 500 to some of it), any
 * malformed spec is a 400 that points at the mistake, so a typo never passes unnoticed.
 */
import { badRequest } from "./errors.js";

/** Parsed overrides: array name (as written) → chunk shape. */
export type ChunkOverrides = ReadonlyMap<string, readonly number[]>;

/** An override that applies to an array: the name that matched and its chunk shape. */
export interface MatchedOverride {
  name: string;
  chunks: readonly number[];
}

const NAME = /^[\w .\-/]+$/;
const NUMBER = /^[0-9]+$/;
// Guards against absurd headers: no real dataset needs more (the HTTP header itself is capped).
const MAX_SPEC_LENGTH = 16 * 1024;

/**
 * Parses a spec from the `chunks` header or a `@chunks=` path segment.
 * `where` names its source in error messages ("chunks header", "@chunks= segment").
 */
export function parseChunksSpec(spec: string, where = "chunks header"): ChunkOverrides {
  if (spec.length > MAX_SPEC_LENGTH) {
    throw badRequest(`the ${where} is longer than ${MAX_SPEC_LENGTH} characters`);
  }
  const overrides = new Map<string, number[]>();
  if (spec.trim() === "") return overrides;
  const tokens = spec.split(",");
  if (tokens.length > 1 && tokens[tokens.length - 1]?.trim() === "") tokens.pop();
  let current: number[] | undefined;
  for (const [index, raw] of tokens.entries()) {
    const token = raw.trim();
    const equals = token.indexOf("=");
    if (equals === -1) {
      if (current === undefined) {
        // In a path segment, a name's own "/" splits the segment: it must be written %2F.
        const hint = where.startsWith("@") ? " (in a path, write a name's '/' as %2F)" : "";
        throw badSpec(where, spec, `expected name=n1,n2,… but found ${quote(token)} first${hint}`);
      }
      current.push(parseNumber(token, where, spec, index));
      continue;
    }
    const name = parseName(token.slice(0, equals), where, spec);
    current = [parseNumber(token.slice(equals + 1), where, spec, index)];
    overrides.delete(name); // a later entry wins and keeps the later position
    overrides.set(name, current);
  }
  return overrides;
}

/** The override for the array at `arrayPath` (`/grp/t`), if a name matches it. */
export function overrideFor(
  overrides: ChunkOverrides,
  arrayPath: string,
): MatchedOverride | undefined {
  let best: MatchedOverride | undefined;
  let bestDepth = 0;
  for (const [name, chunks] of overrides) {
    const depth = matchDepth(name, arrayPath);
    if (depth > bestDepth) {
      best = { name, chunks };
      bestDepth = depth;
    }
  }
  return best;
}

/** The names that match none of the arrays (paths such as `/grp/t`). */
export function unknownNames(overrides: ChunkOverrides, arrayPaths: readonly string[]): string[] {
  return [...overrides.keys()].filter((name) => !arrayPaths.some((p) => matchDepth(name, p) > 0));
}

/** Writes overrides back as a spec (a stable form for cache keys and examples). */
export function formatChunksSpec(overrides: ChunkOverrides): string {
  return [...overrides].map(([name, chunks]) => `${name}=${chunks.join(",")}`).join(",");
}

// The number of segments the name matches at the end of the path, 0 when it does not match.
function matchDepth(name: string, arrayPath: string): number {
  const nameParts = name.split("/");
  const pathParts = arrayPath.split("/").filter((s) => s !== "");
  if (nameParts.length > pathParts.length) return 0;
  const offset = pathParts.length - nameParts.length;
  for (let i = 0; i < nameParts.length; i++) {
    if (nameParts[i] !== pathParts[offset + i]) return 0;
  }
  return nameParts.length;
}

function parseName(raw: string, where: string, spec: string): string {
  const name = raw.trim().replace(/^\/+/, "");
  if (name === "") throw badSpec(where, spec, "an entry has no name before '='");
  if (!NAME.test(name)) {
    throw badSpec(
      where,
      spec,
      `the name ${quote(name)} may only hold letters, digits, '_', '.', '-', spaces and '/'`,
    );
  }
  const segments = name.split("/").map((s) => s.trim());
  if (segments.some((s) => s === "" || s === "." || s === "..")) {
    throw badSpec(where, spec, `the name ${quote(name)} has an empty, '.' or '..' path segment`);
  }
  return segments.join("/");
}

function parseNumber(raw: string, where: string, spec: string, index: number): number {
  const token = raw.trim();
  if (token === "") {
    throw badSpec(where, spec, `number ${index + 1} is empty (two commas in a row?)`);
  }
  if (!NUMBER.test(token)) {
    throw badSpec(where, spec, `${quote(token)} is not a whole number`);
  }
  const value = Number(token);
  if (value < 1 || !Number.isSafeInteger(value)) {
    throw badSpec(where, spec, `chunk sizes must be whole numbers ≥ 1, got ${token}`);
  }
  return value;
}

function badSpec(where: string, spec: string, why: string) {
  return badRequest(
    `cannot read the ${where} ${quote(spec)}: ${why}. Write name=n1,n2,… entries separated by commas, e.g. temperature=256,256,30,pressure=256,256,30`,
  );
}

function quote(text: string): string {
  return JSON.stringify(text.length > 200 ? `${text.slice(0, 200)}…` : text);
}
