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

ensure_postgis() {
  local version
  version="$(ls /etc/postgresql | sort -n | tail -1)"
  if ls /usr/share/postgresql/"$version"/extension/postgis.control >/dev/null 2>&1; then return; fi
  say "installing PostGIS for PostgreSQL $version from Debian"
  sudo_if_needed apt-get update -qq
  DEBIAN_FRONTEND=noninteractive sudo_if_needed apt-get install -y -qq "postgresql-$version-postgis-3" >/dev/null
}

ensure_redis() {
  if redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then return; fi
  say "starting Redis"
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
  for _ in $(seq 1 40); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && return; sleep 0.25; done
  say "Redis did not come up on 127.0.0.1:6379"; exit 1
}

ensure_chromium() {
  if command -v chromium >/dev/null 2>&1; then return; fi
  say "installing Debian's chromium for the browser tests"
  sudo_if_needed apt-get update -qq
  DEBIAN_FRONTEND=noninteractive sudo_if_needed apt-get install -y -qq chromium >/dev/null
}

# Only the binary: tests start their own server on a free port (test/support/clickhouse-server.ts), so nothing here
# starts the package's service (on these machines policy-rc.d keeps apt from starting it too). Debian's 18.16 lives
# in /usr/sbin, which is not on every PATH.
ensure_clickhouse() {
  if command -v clickhouse-server >/dev/null 2>&1 || [ -x /usr/sbin/clickhouse-server ]; then return; fi
  say "installing Debian's clickhouse-server for the analytics export tests"
  sudo_if_needed apt-get update -qq
  DEBIAN_FRONTEND=noninteractive sudo_if_needed apt-get install -y -qq clickhouse-server >/dev/null
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

ensure_postgres
ensure_postgis
ensure_redis
if [ "${PITWALL_SKIP_CLICKHOUSE:-0}" != 1 ]; then ensure_clickhouse; fi
if [ "${PITWALL_SKIP_BROWSER:-0}" != 1 ]; then ensure_chromium; fi
# shellcheck source=node22.sh
source "$root/scripts/node22.sh"
ensure_npm_tree "$root"
ensure_isolated_vm "$root"
if [ "${PITWALL_SKIP_DIRECTUS12:-0}" != 1 ]; then
  ensure_npm_tree "$root/compat/directus12"
  ensure_isolated_vm "$root/compat/directus12"
fi
if [ ! -f extensions/pitwall/dist/api.js ] || [ -n "$(find extensions/pitwall/src extensions/pitwall/package.json src -newer extensions/pitwall/dist/api.js -print -quit)" ]; then
  say "building the Directus bundle"
  npm run build --silent >/dev/null
fi
