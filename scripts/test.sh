#!/usr/bin/env bash
# The whole test suite: Debian packages, lint, type-check, then vitest (unit, conformance,
# live servers, interop). When CI is set, live suites that cannot start their server fail.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
npx biome check .
npx tsc -p tsconfig.json --noEmit
status=0
npx vitest run --reporter=default --reporter=json --outputFile=.vitest-report.json "$@" || status=$?
# One plain closing line that any CI reads: "vitest: N passed, N failed, N skipped".
node -e 'const r = JSON.parse(require("node:fs").readFileSync(".vitest-report.json", "utf8"));
console.log(`vitest: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped`);' || true
exit "$status"
