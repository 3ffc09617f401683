#!/usr/bin/env bash
# npm run bench: every benchmark in bench/*.bench.ts, or only those named (e.g. `npm run bench fs`).
set -euo pipefail
cd "$(dirname "$0")/.."
shopt -s nullglob
files=(bench/*.bench.ts)
if [ $# -gt 0 ]; then
  files=()
  for name in "$@"; do files+=("bench/$name.bench.ts"); done
fi
for f in "${files[@]}"; do
  echo "# $f"
  node --import tsx "$f"
done
