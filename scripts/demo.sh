#!/usr/bin/env bash
# The main demo, with its own set-up: installs liburing2 and the npm toolchains if missing, prints what
# this kernel's io_uring can do, then runs the echo server (examples/echo.ts) until Ctrl-C.
#   bash scripts/demo.sh               # on Deno
#   RUNTIME=bun bash scripts/demo.sh   # on Bun
#   bash scripts/demo.sh --port 9100   # extra arguments go to examples/echo.ts
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export DENO_NO_UPDATE_CHECK=1 DENO_NO_PROMPT=1
case "${RUNTIME:-deno}" in
  deno) run=(node_modules/.bin/deno run --allow-ffi --allow-read --allow-env) ;;
  bun) run=(node_modules/.bin/bun) ;;
  *) echo "RUNTIME must be deno or bun" >&2; exit 2 ;;
esac
"${run[@]}" examples/probe.ts
# The address the hint names: the last --host and --port given (as --x V or --x=V), else echo.ts's defaults.
host=127.0.0.1
port=9000
prev=""
for a in "$@"; do
  case "$a" in --port=*) port=${a#--port=} ;; --host=*) host=${a#--host=} ;; esac
  [ "$prev" = --port ] && port=$a
  [ "$prev" = --host ] && host=$a
  prev=$a
done
case "$host" in 0.0.0.0 | :: | "[::]" | localhost) host=127.0.0.1 ;; esac # reached through loopback
host=${host#[}
host=${host%]}
[ "$port" = 0 ] && port='PORT' # the kernel picks it: echo.ts prints it below
echo "Echo server: talk to it with e.g.  python3 -c 'import socket; s=socket.create_connection((\"$host\", $port)); s.send(b\"hi\"); print(s.recv(9))'" >&2
echo "Ctrl-C stops it and prints its buffer-pool stats." >&2
exec "${run[@]}" examples/echo.ts "$@"
