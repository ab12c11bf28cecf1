#!/usr/bin/env bash
# The one test command: installs or starts what the tests need, type-checks, then runs every suite
# (unit, integration against Directus 11.17.4, compatibility against Directus 12.4.0). Arguments go to vitest.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
bash scripts/prepare.sh
# shellcheck source=node22.sh
source scripts/node22.sh
npx tsc -p tsconfig.json
# The bundle's own settings (bundler resolution, DOM, Vue): the same sources seen as the extensions SDK builds them.
npx tsc -p extensions/pitwall/tsconfig.json
mkdir -p artifacts
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json=artifacts/vitest.json "$@" || status=$?
# The plain closing line CI reads, whatever the runner printed above it.
node -e '
  const r = JSON.parse(require("fs").readFileSync("artifacts/vitest.json", "utf8"));
  console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped`);
' || true
exit "$status"
