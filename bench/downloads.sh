#!/usr/bin/env bash
# Downloads of a value the server keeps in memory (a cache's GET, a file read into memory): each
# request asks for one copy of a SIZE-byte value, DEPTH requests in flight on each of CONNS
# connections, every byte checked by the client (bench/bulk_get_client.mjs, run by Node). Servers:
# bench/bulk_get_server.ts on Deno and on Bun, copying the value for each reply (`ours-*`) or sending
# it in place (`ours-*-inplace`: `write(value, { copy: false })`), against the same server on node:net
# (bench/peers/bulk-get-node.js) run by Bun and by Node. Reported per server: MiB/s sent and the
# server's CPU (all its threads, from /proc) per KiB sent; the best of RUNS runs by throughput.
#
#   bash bench/downloads.sh
#   SERVERS="ours-bun ours-bun-inplace node-net-bun" RUNS=5 bash bench/downloads.sh
#
# Server pinned to CPU $SRV_CPU (0), client to $CLI_CPU (1). Knobs: SERVERS, RUNS (3), DURATION (4),
# SIZE (1048576), CONNS (4), DEPTH (8), PORT_BASE (23500), SRV_CPU, CLI_CPU.
set -u
BENCH=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$BENCH")
cd "$ROOT" || exit 1
SERVERS=${SERVERS:-"ours-deno ours-deno-inplace ours-bun ours-bun-inplace node-net-bun node-net-node"}
RUNS=${RUNS:-3}
DURATION=${DURATION:-4}
SIZE=${SIZE:-1048576}
CONNS=${CONNS:-4}
DEPTH=${DEPTH:-8}
PORT=${PORT_BASE:-23500}
SRV_CPU=${SRV_CPU:-0}
CLI_CPU=${CLI_CPU:-1}
# shellcheck source=bench/lib.sh
. "$BENCH/lib.sh" # cpu_ticks, toolchains (its server_cmd, for the echo servers, is replaced below)
toolchains downloads.sh

die() { echo "bench/downloads.sh: $*" >&2; exit 1; }
[ -n "$NODE" ] || die "the client runs on Node: node not found"


server_cmd() { # name port
    local ours="bench/bulk_get_server.ts --port $2 --size $SIZE"
    case $1 in
    ours-deno) echo "$DENO run --allow-ffi --allow-read $ours" ;;
    ours-deno-inplace) echo "$DENO run --allow-ffi --allow-read $ours --copy false" ;;
    ours-bun) echo "$BUN $ours" ;;
    ours-bun-inplace) echo "$BUN $ours --copy false" ;;
    node-net-bun) echo "$BUN bench/peers/bulk-get-node.js $2 $SIZE" ;;
    node-net-node) echo "$NODE bench/peers/bulk-get-node.js $2 $SIZE" ;;
    esac
}

HZ=$(getconf CLK_TCK)
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
echo "size=$SIZE conns=$CONNS depth=$DEPTH duration=${DURATION}s runs=$RUNS (best by MiB/s)"
printf '%-20s %10s %14s %6s\n' server "MiB/s" "ns/KiB sent" bad
for s in $SERVERS; do
    best_mibs=0 best_ns=0 bad=0
    for run in $(seq 1 "$RUNS"); do
        PORT=$((PORT + 1))
        cmd=$(server_cmd "$s" "$PORT")
        [ -n "$cmd" ] || { echo "$s: unknown server"; continue 2; }
        timeout 60 taskset -c "$SRV_CPU" $cmd >"$OUT/server.log" 2>&1 &
        srv=$!
        for _ in $(seq 1 150); do grep -q "listening on" "$OUT/server.log" && break; sleep 0.1; done
        grep -q "listening on" "$OUT/server.log" || { echo "$s: did not start: $(head -3 "$OUT/server.log")"; kill $srv; continue 2; }
        pid=$(pgrep -P "$srv" | head -1) # timeout's child: the server itself
        t0=$(cpu_ticks "$pid")
        line=$(timeout 60 taskset -c "$CLI_CPU" "$NODE" bench/bulk_get_client.mjs "$PORT" "$CONNS" "$DEPTH" "$DURATION" "$SIZE")
        t1=$(cpu_ticks "$pid")
        kill "$srv" 2>/dev/null
        wait 2>/dev/null
        mibs=$(sed -n 's/.*MiB_per_s=\([0-9]*\).*/\1/p' <<<"$line")
        secs=$(sed -n 's/.*secs=\([0-9.]*\).*/\1/p' <<<"$line")
        b=$(sed -n 's/.* bad=\([0-9]*\).*/\1/p' <<<"$line")
        [ -n "$mibs" ] && [ -n "$secs" ] || { echo "$s: no result: $line"; continue; }
        bad=$((bad + ${b:-0}))
        ns=$(python3 -c "print(round($((t1 - t0)) / $HZ * 1e9 / ($mibs * 1024 * $secs)) if $mibs else 0)")
        if [ "$mibs" -gt "$best_mibs" ]; then best_mibs=$mibs best_ns=$ns; fi
    done
    printf '%-20s %10s %14s %6s\n' "$s" "$best_mibs" "$best_ns" "$bad"
done
