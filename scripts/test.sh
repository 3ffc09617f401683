#!/usr/bin/env bash
# The whole test suite: Debian packages, lint, type-check, then vitest (unit, conformance,
# live servers, interop). When CI is set, live suites that cannot start their server fail.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
npx biome check .
npx tsc -p tsconfig.json --noEmit
npx vitest run "$@"
