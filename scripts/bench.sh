#!/usr/bin/env bash
# Runs one benchmark: `npm run bench -- <name> [args]` -> bench/<name>.ts with the remaining arguments.
# Every benchmark prints its result as one JSON object on its last line (docs: /work/shared/BENCHMARKS.md).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=node22.sh
source scripts/node22.sh
name="${1:-}"
if [ -z "$name" ] || [ ! -f "bench/$name.ts" ]; then
  echo "usage: npm run bench -- <name> [args]; available: $(cd bench && ls -- *.ts 2>/dev/null | sed 's/\.ts$//' | tr '\n' ' ')" >&2
  exit 2
fi
exec node "$pitwall_node_heap" --import tsx "bench/$name.ts" "${@:2}"
