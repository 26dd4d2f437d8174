#!/usr/bin/env bash
# Server CPU at a steady, modest load: one client sends a 64-byte message every INTERVAL us and
# waits for its echo (bench/paced_client.c, which verifies every byte), against examples/echo.ts on
# Deno and on Bun and the Bun.listen / Deno.listen peers (any server name of bench/run.sh works).
# What a mostly idle server costs: the saturating cells of bench/run.sh do not show it. Server pinned to CPU 0, client to CPU 1; CPU is the
# server's utime+stime (all threads) over the timed window.
#   bash bench/paced.sh
#   SERVERS="ours-deno bun-listen" INTERVALS="1000" SECS=5 bash bench/paced.sh
# Prints per server and interval: msgs/s, server CPU %, server CPU us per message, p50/p99 round trip.
set -u
BENCH=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$BENCH")
cd "$ROOT" || exit 1
SERVERS=${SERVERS:-"ours-deno ours-bun bun-listen deno-listen"}
INTERVALS=${INTERVALS:-"1000 200 50"}
SECS=${SECS:-4}
PORT=${PORT_BASE:-24500}
SRV_CPU=${SRV_CPU:-0}
CLI_CPU=${CLI_CPU:-1}
# shellcheck source=bench/lib.sh
. "$BENCH/lib.sh"
toolchains paced.sh
NODE=${NODE:-node}

die() { echo "bench/paced.sh: $*" >&2; exit 1; }
BUILD=$BENCH/.build
mkdir -p "$BUILD"
if [ ! -x "$BUILD/paced-client" ] || [ "$BENCH/paced_client.c" -nt "$BUILD/paced-client" ]; then
    gcc -O2 -Wall -o "$BUILD/paced-client" "$BENCH/paced_client.c" || die "could not build paced_client.c (gcc)"
fi



HZ=$(getconf CLK_TCK)
printf '%-12s %9s %9s %8s %10s %8s %8s\n' server "every us" "msgs/s" "CPU %" "us/msg" "p50 us" "p99 us"
for srv in $SERVERS; do
    for iv in $INTERVALS; do
        PORT=$((PORT + 1))
        cmd=$(server_cmd "$srv" "$PORT") || die "unknown server $srv"
        taskset -c "$SRV_CPU" $cmd >/dev/null 2>&1 &
        pid=$!
        for _ in $(seq 1 100); do ss -Hltn "( sport = :$PORT )" | grep -q . && break; sleep 0.1; done
        out=$(mktemp)
        taskset -c "$CLI_CPU" timeout $((SECS + 30)) "$BUILD/paced-client" "$PORT" "$iv" "$SECS" >"$out" &
        cli=$!
        sleep 1 # the client's warm-up round trips
        t0=$(cpu_ticks "$pid") s0=$(date +%s.%N)
        wait "$cli"
        t1=$(cpu_ticks "$pid") s1=$(date +%s.%N)
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        line=$(cat "$out")
        rm -f "$out"
        msgs=$(sed -n 's/.*rate=\([0-9]*\).*/\1/p' <<<"$line")
        errors=$(sed -n 's/.*errors=\([0-9]*\).*/\1/p' <<<"$line")
        [ -n "$msgs" ] && [ "${errors:-1}" = 0 ] || { echo "$srv $iv: failed: $line"; continue; }
        read -r cpu us < <(python3 -c "
ticks, hz, secs, rate = $((t1 - t0)), $HZ, $s1 - $s0, $msgs
cpu = ticks / hz / secs
print(f'{100 * cpu:.1f} {1e6 * cpu / rate:.1f}')")
        printf '%-12s %9s %9s %8s %10s %8s %8s\n' "$srv" "$iv" "$msgs" "$cpu" "$us" \
            "$(sed -n 's/.*p50_us=\([0-9.]*\).*/\1/p' <<<"$line")" "$(sed -n 's/.*p99_us=\([0-9.]*\).*/\1/p' <<<"$line")"
    done
done
