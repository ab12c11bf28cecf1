#!/usr/bin/env bash
# Starts or installs what Pitwall needs on a machine of this kind, and nothing that is already there:
# Postgres with PostGIS, Redis, ClickHouse's server binary, Node 22 (from the npm registry if the system Node is older),
# the npm dependencies from the lockfiles (isolated-vm compiled for Node 22), Directus 12 for the compatibility suite,
# the built bundle.
# Every step is idempotent, so the quick-start commands and .ci/run can all call it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
say() { echo "pitwall: $*" >&2; }

sudo_if_needed() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

ensure_postgres() {
  if pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then return; fi
  say "starting PostgreSQL"
  sudo_if_needed pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -n | tail -1)" main start
  for _ in $(seq 1 60); do pg_isready -h 127.0.0.1 -p 5432 -q && return; sleep 0.5; done
  say "PostgreSQL did not come up on 127.0.0.1:5432"; exit 1
}

ensure_redis() {
  if redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then return; fi
  say "starting Redis"
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
  for _ in $(seq 1 40); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && return; sleep 0.25; done
  say "Redis did not come up on 127.0.0.1:6379"; exit 1
}

# The Debian packages missing: PostGIS for the Postgres there; for the tests, chromium (browser tests) and ClickHouse's
# server binary (analytics export tests; only the binary: tests start their own server on a free port, see
# test/support/clickhouse-server.ts, and on these machines policy-rc.d keeps apt from starting the package's service).
# Debian's clickhouse-server lives in /usr/sbin, which is not on every PATH.
missing_debian_packages() {
  local version
  version="$(ls /etc/postgresql | sort -n | tail -1)"
  if [ ! -f /usr/share/postgresql/"$version"/extension/postgis.control ]; then echo "postgresql-$version-postgis-3"; fi
  if [ "${PITWALL_SKIP_CLICKHOUSE:-0}" != 1 ] && ! command -v clickhouse-server >/dev/null 2>&1 && [ ! -x /usr/sbin/clickhouse-server ]; then
    echo clickhouse-server
  fi
  if [ "${PITWALL_SKIP_BROWSER:-0}" != 1 ] && ! command -v chromium >/dev/null 2>&1; then echo chromium; fi
}

# One apt-get update and one install for all of them.
install_debian_packages() {
  say "installing $* from Debian"
  sudo_if_needed apt-get update -qq
  DEBIAN_FRONTEND=noninteractive sudo_if_needed apt-get install -y -qq "$@" >/dev/null
}

# Reinstalls when the lockfile changed since the last install, or when the install was for another Node.
ensure_npm_tree() {
  local dir="$1" stamp want
  stamp="$dir/node_modules/.pitwall-installed"
  want="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1) $(node -p process.versions.modules)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return; fi
  say "installing npm dependencies in ${dir#"$root"/} (a few minutes the first time)"
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$want" >"$stamp"
}

ensure_isolated_vm() {
  local dir="$1"
  if (cd "$dir" && node -e "require('isolated-vm')") >/dev/null 2>&1; then return; fi
  say "compiling isolated-vm for Node $(node -v) in ${dir#"$root"/}"
  (cd "$dir" && npm rebuild isolated-vm --loglevel=error)
}

# The slow steps overlap: apt and Directus 12's npm tree install in the background while the main tree is installed
# and the bundle built; each failure is reported.
background=()
wait_for_background() {
  local failed=0 pid
  for pid in "${background[@]}"; do wait "$pid" || failed=1; done
  background=()
  if [ "$failed" != 0 ]; then say "an install failed (its error is above)"; exit 1; fi
}

ensure_postgres
ensure_redis
mapfile -t packages < <(missing_debian_packages)
if [ "${#packages[@]}" -gt 0 ]; then install_debian_packages "${packages[@]}" & background+=($!); fi
# shellcheck source=node22.sh
source "$root/scripts/node22.sh"
if [ "${PITWALL_SKIP_DIRECTUS12:-0}" != 1 ]; then
  # Not joined by &&: that would turn off set -e inside the first, and a failed npm ci would be stamped as done.
  (
    ensure_npm_tree "$root/compat/directus12"
    ensure_isolated_vm "$root/compat/directus12"
  ) & background+=($!)
fi
ensure_npm_tree "$root"
ensure_isolated_vm "$root"
if [ ! -f extensions/pitwall/dist/api.js ] || [ -n "$(find extensions/pitwall/src extensions/pitwall/package.json src -newer extensions/pitwall/dist/api.js -print -quit)" ]; then
  say "building the Directus bundle"
  npm run build --silent >/dev/null
fi
wait_for_background
