#!/usr/bin/env bash
# One bulk stream through a TCP proxy: examples/proxy.ts on Deno and on Bun against the node:net pipe
# proxy a Node/Bun user would write (bench/peers/node-pipe-proxy.js, run by Bun and by Node). The
# team's load generator (../shared/bench/echo-load.c, every byte verified) sends 64 KiB messages,
# 16 in flight, over one connection to the proxy; the proxy forwards to the C liburing echo server,
# which sends everything back through it. Reported per proxy: payload Gbit/s (one direction) and the
# proxy's CPU (utime+stime of all its threads, from /proc/PID/stat) per KiB it forwarded (both
# directions counted: 2 KiB per echoed KiB).
#
#   bash bench/proxy.sh                                  # every proxy, 3 s each
#   PROXIES="ours-deno node-pipe-bun" DURATION=5 bash bench/proxy.sh
#
# Proxy pinned to CPU $SRV_CPU (0); target and load generator to CPU $CLI_CPU (1). Knobs: PROXIES
# (ours-deno ours-bun node-pipe-bun node-pipe-node), DURATION (3), WARMUP (1), SIZE (65536), DEPTH (16),
# RUNS (3: the best run per proxy is reported), PORT_BASE (23000), SRV_CPU, CLI_CPU.
set -u
BENCH=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$BENCH")
cd "$ROOT" || exit 1
SHARED_BENCH=${SHARED_BENCH:-$ROOT/../shared/bench}
PROXIES=${PROXIES:-"ours-deno ours-bun node-pipe-bun node-pipe-node"}
DURATION=${DURATION:-3}
WARMUP=${WARMUP:-1}
SIZE=${SIZE:-65536}
DEPTH=${DEPTH:-16}
RUNS=${RUNS:-3}
PORT=${PORT_BASE:-23000}
SRV_CPU=${SRV_CPU:-0}
CLI_CPU=${CLI_CPU:-1}
# shellcheck source=bench/lib.sh
. "$BENCH/lib.sh"
toolchains proxy.sh

die() { echo "bench/proxy.sh: $*" >&2; exit 1; }
BUILD=$BENCH/.build
mkdir -p "$BUILD"
for pair in "echo-load echo-load.c" "uring-echo uring-echo.c -luring"; do
    set -- $pair
    out=$BUILD/$1
    if [ ! -x "$out" ] || [ "$SHARED_BENCH/$2" -nt "$out" ]; then
        gcc -O2 -Wall -o "$out" "$SHARED_BENCH/$2" "${@:3}" || die "could not build $2 (gcc, liburing-dev)"
    fi
done

proxy_cmd() { # name port target_port
    case $1 in
    ours-deno) echo "$DENO run --allow-ffi --allow-read examples/proxy.ts --port $2 --target 127.0.0.1:$3" ;;
    ours-bun) echo "$BUN examples/proxy.ts --port $2 --target 127.0.0.1:$3" ;;
    node-pipe-bun) echo "$BUN bench/peers/node-pipe-proxy.js $2 $3" ;;
    node-pipe-node) [ -n "$NODE" ] && echo "$NODE bench/peers/node-pipe-proxy.js $2 $3" ;;
    esac
}


wait_listening() { # logfile pid
    for _ in $(seq 1 150); do
        grep -q "listening on" "$1" 2>/dev/null && return 0
        kill -0 "$2" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

HZ=$(getconf CLK_TCK)
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
printf '%-16s %10s %12s %8s\n' proxy "Gbit/s" "ns/KiB fwd" "errors"
for p in $PROXIES; do
    best_gbps=0 best_ns=0 errs=0
    for run in $(seq 1 "$RUNS"); do
        PORT=$((PORT + 2))
        tport=$((PORT + 1))
        cmd=$(proxy_cmd "$p" "$PORT" "$tport")
        [ -n "$cmd" ] || { echo "$p: not available, skipped"; continue 2; }
        timeout 60 taskset -c "$CLI_CPU" "$BUILD/uring-echo" -p "$tport" >"$OUT/target.log" 2>&1 &
        target=$!
        timeout 60 taskset -c "$SRV_CPU" $cmd >"$OUT/proxy.log" 2>&1 &
        proxy=$!
        if ! wait_listening "$OUT/proxy.log" "$proxy"; then
            echo "$p: did not start: $(head -3 "$OUT/proxy.log")"
            kill "$proxy" "$target" 2>/dev/null
            wait 2>/dev/null
            continue 2
        fi
        pid=$(pgrep -P "$proxy" | head -1) # timeout's child: the proxy itself
        sleep 0.3
        timeout 30 taskset -c "$CLI_CPU" "$BUILD/echo-load" -P "$PORT" -c 1 -m "$SIZE" -p "$DEPTH" -d "$WARMUP" >/dev/null 2>&1
        t0=$(cpu_ticks "$pid")
        line=$(timeout 60 taskset -c "$CLI_CPU" "$BUILD/echo-load" -P "$PORT" -c 1 -m "$SIZE" -p "$DEPTH" -d "$DURATION" 2>"$OUT/load.err")
        t1=$(cpu_ticks "$pid")
        kill "$proxy" "$target" 2>/dev/null
        wait 2>/dev/null
        mibs=$(sed -n 's/.*MiB_per_s=\([0-9.]*\).*/\1/p' <<<"$line")
        secs=$(sed -n 's/.*secs=\([0-9.]*\).*/\1/p' <<<"$line")
        e=$(sed -n 's/.* errors=\([0-9]*\).*/\1/p' <<<"$line")
        [ -n "$mibs" ] && [ -n "$secs" ] || { echo "$p: no result: $(cat "$OUT/load.err")"; continue; }
        errs=$((errs + ${e:-0}))
        # Gbit/s of payload one way; ns of proxy CPU per KiB forwarded (each echoed KiB crosses it twice).
        read -r gbps ns < <(python3 -c "
mibs, secs, ticks, hz = $mibs, $secs, $((t1 - t0)), $HZ
kib_fwd = mibs * 1024 * secs * 2
print(f'{mibs * 1048576 * 8 / 1e9:.2f}', f'{ticks / hz * 1e9 / kib_fwd:.0f}' if kib_fwd else 0)")
        if python3 -c "import sys; sys.exit(0 if $gbps > $best_gbps else 1)"; then best_gbps=$gbps best_ns=$ns; fi
    done
    printf '%-16s %10s %12s %8s\n' "$p" "$best_gbps" "$best_ns" "$errs"
done
