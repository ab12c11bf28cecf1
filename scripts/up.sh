#!/usr/bin/env bash
# Quick start: installs what is missing, then brings up Directus (:8055) with the demo race, the processor, the
# gateway, the exporter and the simulator. Run it again at any time; what is running stays running.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PITWALL_SKIP_DIRECTUS12=1 PITWALL_SKIP_BROWSER=1 PITWALL_SKIP_CLICKHOUSE=1 bash "$root/scripts/prepare.sh"
exec "$root/bin/pitwall" up
