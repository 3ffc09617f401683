/**
 * The zarrstore conformance suite: cases as data, a plain runner, and (in `zarrstore/testing/vitest`)
 * a vitest runner. Any third-party store can run it.
 *
 * @example
 * const report = await runConformance(myStore, { tier: "quick" });
 * if (report.failed) console.error(report.results.filter((r) => r.status === "failed"));
 */
export { ConformanceFailure, check, checkBytes, checkEqual, checkRejects } from "./assert.js";
export {
  type CaseContext,
  CONFORMANCE_CASES,
  type ConformanceCase,
  patternBytes,
  type Tier,
} from "./cases.js";
export {
  type CaseResult,
  type ConformanceOptions,
  type ConformanceReport,
  caseContext,
  randomRoot,
  removeRoot,
  runConformance,
  skipReason,
} from "./run.js";
