# Helpers shared by the bench scripts (sourced, not run).

# cpu_ticks PID: utime+stime of every thread of PID, in clock ticks (getconf CLK_TCK per second).
cpu_ticks() {
    local t=0 f
    for f in /proc/"$1"/task/*/stat; do
        t=$((t + $(awk '{print $14 + $15}' "$f" 2>/dev/null || echo 0)))
    done
    echo $t
}

# server_cmd NAME PORT: the command line of an echo server of bench/run.sh (the caller sets DENO, BUN, NODE,
# BUILD and URING_OPTS); SERVER_<NAME>="... {port}" adds one.
server_cmd() {
    local ours_deno="$DENO run --allow-ffi --allow-read --allow-env examples/echo.ts --port $2"
    local ours_bun="$BUN examples/echo.ts --port $2"
    case $1 in
    ours-deno) echo "$ours_deno" ;;
    ours-bun) echo "$ours_bun" ;;
    ours-deno-legacy) echo "$ours_deno --backend legacy" ;;
    ours-bun-legacy) echo "$ours_bun --backend legacy" ;;
    ours-deno-safe) echo "$ours_deno --safe" ;;
    ours-bun-safe) echo "$ours_bun --safe" ;;
    ours-deno-dedicated) echo "$ours_deno --dedicated" ;;
    ours-bun-dedicated) echo "$ours_bun --dedicated" ;;
    bun-listen) echo "$BUN bench/peers/bun-listen.js $2" ;;
    deno-listen) echo "$DENO run --allow-net bench/peers/deno-listen.ts $2" ;;
    deno-listen-16k) echo "$DENO run --allow-net bench/peers/deno-listen.ts $2 127.0.0.1 16384" ;;
    node-net) echo "$NODE bench/peers/node-net.js $2" ;;
    c-uring) echo "$BUILD/uring-echo -p $2 $URING_OPTS" ;;
    c-epoll) echo "$BUILD/epoll-echo -p $2" ;;
    *) custom_server_cmd "$1" "$2" ;;
    esac
}

# custom_server_cmd NAME PORT: $SERVER_<NAME> (non-alphanumerics as _) with {port} replaced; fails naming
# the variable when it is unset. The fallback of every bench script's server_cmd.
custom_server_cmd() {
    local v="SERVER_${1//[^A-Za-z0-9_]/_}"
    if [ -n "${!v:-}" ]; then echo "${!v//\{port\}/$2}"; else echo "unknown server $1 (set $v)" >&2; return 1; fi
}

# toolchains SCRIPT: DENO, BUN and NODE (each overridable from the environment; NODE empty when there is
# none), the runtimes' update checks and colours off, and the project's set-up when deno or bun is missing.
# The caller sets ROOT and runs from it.
toolchains() {
    DENO=${DENO:-$ROOT/node_modules/.bin/deno}
    BUN=${BUN:-$ROOT/node_modules/.bin/bun}
    NODE=${NODE:-$(command -v node || true)}
    export DENO_NO_UPDATE_CHECK=1 DO_NOT_TRACK=1 NO_COLOR=1
    [ -x "$DENO" ] && [ -x "$BUN" ] && return 0
    bash scripts/setup.sh --dev >&2 || { echo "bench/$1: toolchains missing (npm ci)" >&2; exit 1; }
}
