#!/usr/bin/env bash
# Installs what the project needs on Debian/Ubuntu, only where it is missing:
#   liburing2 (runtime), and with --dev also liburing-dev + gcc (the C oracle test, bench/ tools);
#   the npm devDependencies (deno, bun, bun-types, typescript) into node_modules.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
# The list read whole first: `ldconfig -p | grep -q` under pipefail fails at random when grep's early exit
# kills ldconfig with SIGPIPE, and the package would be reinstalled.
libs=$(ldconfig -p 2>/dev/null || true)
[[ $libs == *"liburing.so.2 "* ]] || need+=(liburing2)
if [ "${1:-}" = "--dev" ]; then
  [ -f /usr/include/liburing.h ] || need+=(liburing-dev)
  command -v gcc >/dev/null || need+=(gcc libc6-dev)
fi
if [ ${#need[@]} -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
  echo "setup: installing ${need[*]}" >&2
  $sudo_cmd apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need[@]}" >&2
fi

# The lock file's hash, stamped after each install: a checkout or copy with a newer mtime but the same lock
# file installs nothing again.
stamp=node_modules/.uring-buffers-lock.sha256
lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -x node_modules/.bin/deno ] || [ ! -x node_modules/.bin/bun ] || [ "$(cat "$stamp" 2>/dev/null)" != "$lock_hash" ]; then
  echo "setup: npm ci" >&2
  npm ci --no-audit --no-fund --loglevel=error >&2
  echo "$lock_hash" >"$stamp"
fi
