import type { Prefix } from "../keys.js";
import type { Store } from "../store.js";
import { type CaseContext, CONFORMANCE_CASES, type ConformanceCase, type Tier } from "./cases.js";

/** Options for a conformance run. */
export interface ConformanceOptions {
  /** `quick` (the default) or `heavy`, which runs the quick cases too. */
  tier?: Tier;
  /** A writable store over the same data, to seed fixtures when the store under test is read-only. */
  writer?: Store;
  /** The folder to run under; a random one (`/zs-conf-xxxxxxxx/`) by default. */
  root?: string;
  /** Run only cases whose name contains this text. */
  filter?: string;
  /** Remove the run's folder afterwards when the store can (default true). */
  cleanup?: boolean;
  /** Called after each case. */
  onResult?: (result: CaseResult) => void;
}

/** The outcome of one case. */
export interface CaseResult {
  name: string;
  status: "passed" | "failed" | "skipped";
  /** Why it was skipped or how it failed. */
  reason?: string;
  ms: number;
}

/** A conformance report. */
export interface ConformanceReport {
  passed: number;
  failed: number;
  skipped: number;
  results: CaseResult[];
}

/** A fresh random folder name, so runs never see each other's keys. */
export function randomRoot(): Prefix {
  const id = Math.floor(Math.random() * 0xffffffff)
    .toString(16)
    .padStart(8, "0");
  return `/zs-conf-${id}/`;
}

/** Why a case cannot run against this store, or undefined when it can. */
export function skipReason(
  c: ConformanceCase,
  store: Store,
  writer: Store | undefined,
  tier: Tier,
): string | undefined {
  if (c.tier === "heavy" && tier !== "heavy") return "heavy tier";
  const missing = c.requires.filter((cap) => !store.capabilities[cap]);
  if (missing.length > 0) return `needs ${missing.join(", ")}`;
  const present = (c.requiresAbsent ?? []).filter((cap) => store.capabilities[cap]);
  if (present.length > 0) return `only for stores without ${present.join(", ")}`;
  if (c.seeds && !(writer ?? store).capabilities.write) return "needs a writer for fixtures";
  return undefined;
}

/** The context a case runs in: its own numbered folder under the run's root. */
export function caseContext(
  store: Store,
  writer: Store | undefined,
  root: Prefix,
  index: number,
): CaseContext {
  const folder = `${root}${String(index).padStart(2, "0")}/` as Prefix;
  return {
    store,
    writer: writer ?? store,
    root: folder,
    key: (name) => `${folder}${name}` as `/${string}`,
  };
}

/** Runs the conformance cases against a store and returns a report; it never throws for a failed case. */
export async function runConformance(
  store: Store,
  options: ConformanceOptions = {},
): Promise<ConformanceReport> {
  const tier = options.tier ?? "quick";
  const root = (options.root ?? randomRoot()) as Prefix;
  const report: ConformanceReport = { passed: 0, failed: 0, skipped: 0, results: [] };
  for (const [index, c] of CONFORMANCE_CASES.entries()) {
    if (options.filter && !c.name.includes(options.filter)) continue;
    const result = await runCase(c, store, options.writer, root, index, tier);
    report[result.status] += 1;
    report.results.push(result);
    options.onResult?.(result);
  }
  if (options.cleanup !== false) await removeRoot(options.writer ?? store, root);
  return report;
}

async function runCase(
  c: ConformanceCase,
  store: Store,
  writer: Store | undefined,
  root: Prefix,
  index: number,
  tier: Tier,
): Promise<CaseResult> {
  const reason = skipReason(c, store, writer, tier);
  if (reason) return { name: c.name, status: "skipped", reason, ms: 0 };
  const started = performance.now();
  try {
    await c.run(caseContext(store, writer, root, index));
    return { name: c.name, status: "passed", ms: performance.now() - started };
  } catch (error) {
    const why = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    return { name: c.name, status: "failed", reason: why, ms: performance.now() - started };
  }
}

/** Deletes a run's folder where the store can; a best effort that never hides a test result. */
export async function removeRoot(store: Store, root: string): Promise<void> {
  if (!store.capabilities.delete || !store.capabilities.list) return;
  try {
    await store.deletePrefix(root);
  } catch {
    // Cleanup is best effort: the run's result stands whatever happens here.
  }
}
