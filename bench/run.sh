#!/usr/bin/env bash
# The project's TCP echo benchmark: our server (examples/echo.ts on Deno and on Bun) side by side
# with the servers a user would pick instead (Bun.listen, Deno.listen, node:net — bench/peers/) and
# the C ceilings (liburing multishot recv + buffer ring; plain epoll), measured with the team's
# instrument, the C load generator echo-load (../shared/bench/, see its README and
# ../shared/BENCHMARKS.md). Every echoed byte is verified.
#
#   bash bench/run.sh                                              # full matrix + 10k-idle RSS test
#   RUNS=1 DURATION=2 RSS=0 SCENARIOS="64:64:16 1:64:1" bash bench/run.sh   # quick look
#   VARIANTS=1 bash bench/run.sh     # also ours-*-legacy (--backend legacy), ours-*-safe (--safe), ours-*-dedicated (--dedicated)
#   SERVERS="ours-deno c-uring" SCENARIOS="64:64:16" RSS=0 bash bench/run.sh
#
# Servers run pinned to CPU $SRV_CPU (0), the load generator to CPU $CLI_CPU (1); all traffic is to
# 127.0.0.1. Each server is started fresh for every measurement on a fresh port and stopped by its
# pid; every process is bounded by `timeout`. Results: bench/results/<timestamp>/ (raw.txt, rss.txt,
# header.txt, server logs, summary.md, chart.svg); summary.md + chart.svg are copied to bench/latest/.
#
# Knobs: RUNS (1), DURATION (3 s), WARMUP (1 s), SERVERS, VARIANTS (0), SCENARIOS (conns:size:depth
# ...), RSS (1), RSS_CONNS (10000), RSS_SERVERS ($SERVERS + deno-listen-16k), RSS_HOLD (60 s),
# RSS_MORE (5000: connections added on top of RSS_CONNS for the cost per connection; 0: none), SRV_CPU (0), CLI_CPU (1), PORT_BASE (21000), QUIET_PCT (15), QUIET_WAIT (10 s), QUIET_BUDGET (240 s),
# FOREIGN_RETRY (10), RETRIES (2), RETRY_BUDGET (30), URING_OPTS (-n 4096 -s 4096), CLIENT_FLAGS (''),
# SHARED_BENCH (<project>/../shared/bench), OUT (results dir), LATEST (1: copy to bench/latest/),
# SETUP (1: run scripts/setup.sh --dev when something is missing), DENO, BUN, NODE, and
# SERVER_<name> (a command with {port}) to add any server NAME to SERVERS.
set -u
BENCH=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$BENCH")
cd "$ROOT" || exit 1
T_START=$(date +%s)

SHARED_BENCH=${SHARED_BENCH:-$ROOT/../shared/bench}
RUNS=${RUNS:-1}
DURATION=${DURATION:-3}
WARMUP=${WARMUP:-1}
VARIANTS=${VARIANTS:-0}
DEFAULT_SERVERS="ours-deno ours-bun bun-listen deno-listen node-net c-uring c-epoll"
[ "$VARIANTS" = 1 ] && DEFAULT_SERVERS="$DEFAULT_SERVERS ours-deno-legacy ours-bun-legacy ours-deno-safe ours-bun-safe ours-deno-dedicated ours-bun-dedicated"
SERVERS=${SERVERS:-$DEFAULT_SERVERS}
SCENARIOS=${SCENARIOS:-"1:64:1 1:64:16 1:4096:1 1:4096:16 64:64:1 64:64:16 64:4096:1 64:4096:16 1000:64:1 1000:64:16 1000:4096:1 1000:4096:16"}
RSS=${RSS:-1}
RSS_CONNS=${RSS_CONNS:-10000}
RSS_SERVERS=${RSS_SERVERS:-"$SERVERS deno-listen-16k"}
RSS_HOLD=${RSS_HOLD:-60}
RSS_MORE=${RSS_MORE:-5000}
SRV_CPU=${SRV_CPU:-0}
CLI_CPU=${CLI_CPU:-1}
PORT=${PORT_BASE:-21000}
URING_OPTS=${URING_OPTS:-"-n 4096 -s 4096"}
CLIENT_FLAGS=${CLIENT_FLAGS:-}
LATEST=${LATEST:-1}
SETUP=${SETUP:-1}

die() { echo "bench/run.sh: $*" >&2; exit 1; }
for sc in $SCENARIOS; do
    [[ $sc =~ ^[1-9][0-9]*:[1-9][0-9]*:[1-9][0-9]*$ ]] ||
        die "SCENARIOS: '$sc' is not conns:size:depth (three positive integers, e.g. 64:4096:16)"
done

# ---------------------------------------------------------------- the instrument
if [ ! -f "$SHARED_BENCH/echo-load.c" ]; then
    die "the measuring instrument is missing: expected echo-load.c (and uring-echo.c, epoll-echo.c) in
  $SHARED_BENCH
  (the team's shared bench folder, ../shared/bench next to the project; set SHARED_BENCH=/path/to/it)"
fi
SHARED_BENCH=$(cd "$SHARED_BENCH" && pwd)

# ---------------------------------------------------------------- install what is missing
missing=()
[ -f /usr/include/liburing.h ] || missing+=(liburing-dev)
command -v gcc >/dev/null || missing+=(gcc)
[ -x node_modules/.bin/deno ] || missing+=(deno)
[ -x node_modules/.bin/bun ] || missing+=(bun)
if [ ${#missing[@]} -gt 0 ]; then
    [ "$SETUP" = 1 ] || die "missing: ${missing[*]} (run: bash scripts/setup.sh --dev)"
    echo "bench: missing ${missing[*]}: bash scripts/setup.sh --dev" >&2
    bash scripts/setup.sh --dev || die "scripts/setup.sh --dev failed"
fi
# tools the driver itself uses (not the project's): ss, taskset, python3
tools=()
command -v ss >/dev/null || tools+=(iproute2)
command -v taskset >/dev/null || tools+=(util-linux)
command -v python3 >/dev/null || tools+=(python3)
if [ ${#tools[@]} -gt 0 ]; then
    [ "$SETUP" = 1 ] && command -v apt-get >/dev/null || die "missing tools: ${tools[*]}"
    sudo_cmd=""; [ "$(id -u)" = 0 ] || sudo_cmd=sudo
    echo "bench: installing ${tools[*]}" >&2
    $sudo_cmd apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${tools[@]}" >&2 ||
        die "could not install ${tools[*]}"
fi

DENO=${DENO:-$ROOT/node_modules/.bin/deno}
BUN=${BUN:-$ROOT/node_modules/.bin/bun}
NODE=${NODE:-$(command -v node || echo node)}
export DENO_NO_UPDATE_CHECK=1 DENO_NO_PROMPT=1 DO_NOT_TRACK=1 BUN_DISABLE_TELEMETRY=1 NO_COLOR=1

# ---------------------------------------------------------------- build (into bench/.build/)
BUILD=$BENCH/.build
mkdir -p "$BUILD"
build_one() { # out src [libs]
    local out=$BUILD/$1 src=$SHARED_BENCH/$2
    [ -x "$out" ] && [ "$out" -nt "$src" ] && return 0
    echo "bench: gcc $2" >&2
    gcc -O2 -Wall -o "$out" "$src" "${@:3}"
}
build_one echo-load echo-load.c || die "could not build $SHARED_BENCH/echo-load.c"
build_one epoll-echo epoll-echo.c || die "could not build $SHARED_BENCH/epoll-echo.c"
build_one uring-echo uring-echo.c -luring || die "could not build $SHARED_BENCH/uring-echo.c (liburing-dev?)"
LOAD=$BUILD/echo-load

# fd limit for 10k connections (server and load generator each need ~10k)
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
[ "$RSS" = 1 ] && [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((RSS_CONNS + RSS_MORE + 100)) ] &&
    echo "bench: warning: ulimit -n $(ulimit -n) < RSS_CONNS+RSS_MORE+100" >&2

OUT=${OUT:-$BENCH/results/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT" || die "cannot create $OUT"
OUT=$(cd "$OUT" && pwd)
log() { echo "$*" | tee -a "$OUT/log.txt" >&2; }

# ---------------------------------------------------------------- header
nserv=$(wc -w <<<"$SERVERS"); nscen=$(wc -w <<<"$SCENARIOS"); nrss=$(wc -w <<<"$RSS_SERVERS")
est=$(( RUNS * nserv * nscen * (${WARMUP%.*} + ${DURATION%.*} + 2) ))
[ "$RSS" = 1 ] && est=$(( est + nrss * 15 ))
{
    echo "date:     $(date -Is)"
    echo "machine:  $(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1), nproc=$(nproc), $(grep -m1 'cpu MHz' /proc/cpuinfo | sed 's/.*: //') MHz, virt=$(lscpu | sed -n 's/^Hypervisor vendor:[[:space:]]*//p'), mem=$(free -m | awk '/Mem:/{print $2" MiB"}')"
    echo "kernel:   $(uname -srvm)"
    echo "runtimes: deno $("$DENO" --version 2>/dev/null | head -1 | awk '{print $2}'), bun $("$BUN" --version 2>/dev/null), node $("$NODE" --version 2>/dev/null | sed 's/^v//')"
    echo "native:   $(gcc --version | head -1), liburing $(dpkg-query -W -f='${Version}' liburing-dev 2>/dev/null || echo '?')"
    echo "project:  $(git rev-parse --short HEAD 2>/dev/null || echo '?') ($(git status --porcelain -- src mod.ts ffi examples 2>/dev/null | wc -l) uncommitted files in src/ mod.ts ffi/ examples/)"
    echo "pinning:  servers on CPU $SRV_CPU, load generator on CPU $CLI_CPU; loadavg before: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "params:   runs=$RUNS duration=${DURATION}s warmup=${WARMUP}s rss=$RSS rss_conns=$RSS_CONNS client_flags='$CLIENT_FLAGS' c-uring='$URING_OPTS' nofile=$(ulimit -n)"
    echo "servers:  $SERVERS"
    echo "scenarios: $SCENARIOS"
    echo "instrument: $SHARED_BENCH/echo-load.c"
} > "$OUT/header.txt"
cat "$OUT/header.txt" >&2
log "estimated time: ~$(( est / 60 )) min $(( est % 60 )) s; results in $OUT"

# ---------------------------------------------------------------- servers
# shellcheck source=bench/lib.sh
. "$BENCH/lib.sh"

port_busy() { ss -Htan "( sport = :$1 )" 2>/dev/null | grep -q .; }

SPID= SPORT= SLOG= STOPPED=
listening() { # is $SPORT listened on, by $SPID (ss shows owners to root only)
    local o
    o=$(ss -Hltnp "( sport = :$SPORT )" 2>/dev/null)
    [ -n "$o" ] && { [ "$(id -u)" != 0 ] || grep -q "pid=$SPID," <<<"$o"; }
}
start_server() { # name tag -> sets SPID SPORT SLOG; 1 on failure
    local name=$1 tag=$2 cmd i
    PORT=$((PORT + 1))
    while port_busy $PORT; do PORT=$((PORT + 1)); done
    SPORT=$PORT
    SLOG="$OUT/server-$name.log"
    cmd=$(server_cmd "$name" "$SPORT") || return 1
    echo "=== $(date +%T) $tag port=$SPORT: $cmd" >>"$SLOG"
    # shellcheck disable=SC2086
    taskset -c "$SRV_CPU" $cmd >>"$SLOG" 2>&1 </dev/null &
    SPID=$!
    for i in $(seq 200); do # up to 20 s (first start of a runtime can be slow)
        if listening; then return 0; fi
        kill -0 "$SPID" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$SPID" 2>/dev/null; then
        log "server $name (pid $SPID) not listening on $SPORT after 20 s (see $SLOG)"
    else
        log "server $name exited before listening on $SPORT (see $SLOG)"
    fi
    stop_server
    return 1
}

stop_server() { # TERM, up to 3 s, then KILL; sets STOPPED=term|kill|dead
    [ -n "$SPID" ] || return 0
    local i
    if ! kill -0 "$SPID" 2>/dev/null; then
        STOPPED=dead
    else
        STOPPED=term
        kill -TERM "$SPID" 2>/dev/null
        for i in $(seq 30); do kill -0 "$SPID" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$SPID" 2>/dev/null; then STOPPED=kill; kill -KILL "$SPID" 2>/dev/null; fi
    fi
    wait "$SPID" 2>/dev/null
    echo "=== stopped ($STOPPED)" >>"$SLOG"
    # the port must be free again (no listener left behind)
    for i in $(seq 20); do ss -Hltn "( sport = :$SPORT )" 2>/dev/null | grep -q . || break; sleep 0.1; done
    ss -Hltn "( sport = :$SPORT )" 2>/dev/null | grep -q . && log "warning: a listener is still on port $SPORT after stopping pid $SPID"
    SPID=
}
LPID=
cleanup() {
    [ -n "$LPID" ] && kill -KILL "$LPID" 2>/dev/null
    stop_server
}
trap 'cleanup; exit 130' INT TERM

# ---------------------------------------------------------------- other load on the machine
# Other programs running on this machine during a measurement distort srv_us_per_msg (echo-load
# measures how busy CPU 0 is, whoever uses it). Before each measurement wait (bounded) until the
# machine is quiet, and record how much CPU others used during it (foreign_cpu, % of one CPU).
NCPU=$(nproc)
CLK_TCK=$(getconf CLK_TCK)
QUIET_PCT=${QUIET_PCT:-15}        # % of all CPUs busy that counts as quiet
QUIET_WAIT=${QUIET_WAIT:-10}      # s to wait per measurement at most
QUIET_BUDGET=${QUIET_BUDGET:-240} # s to wait in the whole run at most
cpu_stat() { awk '/^cpu /{print $2+$3+$4, $9, $2+$3+$4+$5+$6+$7+$8+$9; exit}' /proc/stat; } # busy(user+nice+sys) steal total
proc_ticks() { local t; t=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk '{print $12+$13}'); echo "${t:-0}"; }
child_ticks() { sed 's/^.*) //' "/proc/$$/stat" | awk '{print $14+$15}'; } # reaped children of this shell
busy_pct() { # % of all CPUs busy over 0.5 s
    local a b
    a=$(awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9; exit}' /proc/stat)
    sleep 0.5
    b=$(awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9; exit}' /proc/stat)
    awk -v a="$a" -v b="$b" 'BEGIN{split(a,x," ");split(b,y," ");d=y[2]-x[2];if(d<=0)d=1;printf "%d", (y[1]-x[1])*100/d}'
}
QUIET_SPENT=0
PRE_BUSY=
wait_quiet() {
    local t=0
    PRE_BUSY=$(busy_pct)
    while [ "$PRE_BUSY" -gt "$QUIET_PCT" ] && [ "$t" -lt "$QUIET_WAIT" ] && [ "$QUIET_SPENT" -lt "$QUIET_BUDGET" ]; do
        sleep 0.5; t=$((t + 1)); QUIET_SPENT=$((QUIET_SPENT + 1))
        PRE_BUSY=$(busy_pct)
    done
    [ "$PRE_BUSY" -gt "$QUIET_PCT" ] && log "note: machine busy ($PRE_BUSY% of all CPUs) before a measurement: $(ps -eo pid=,pcpu=,comm= --sort=-pcpu | head -3 | tr -s ' ' | paste -sd';')"
    return 0
}

# ---------------------------------------------------------------- matrix
# A measurement during which other processes used >= FOREIGN_RETRY % of a CPU is repeated (at most
# RETRIES times each, RETRY_BUDGET times in the whole run); the least disturbed attempt is kept,
# marked retried=N.
FOREIGN_RETRY=${FOREIGN_RETRY:-10}
RETRIES=${RETRIES:-2}
RETRY_BUDGET=${RETRY_BUDGET:-30}
measure() { # run srv conns size depth -> sets LINE, FOREIGN
    local run=$1 srv=$2 c=$3 m=$4 p=$5 lf="$OUT/.load-line" rc died u0 st0 tot0 s0 c0 u1 st1 tot1 s1 c1 wall steal line
    wait_quiet
    if ! start_server "$srv" "run=$run conns=$c size=$m depth=$p"; then
        LINE="conns=$c size=$m depth=$p FAILED=server_start" FOREIGN=0
        return
    fi
    read -r u0 st0 tot0 < <(cpu_stat); s0=$(proc_ticks "$SPID"); c0=$(child_ticks)
    # shellcheck disable=SC2086
    timeout -k 5 $(( ${WARMUP%.*} + ${DURATION%.*} + 90 )) taskset -c "$CLI_CPU" "$LOAD" -S "$SRV_CPU" $CLIENT_FLAGS \
        -P "$SPORT" -c "$c" -m "$m" -p "$p" -d "$DURATION" -w "$WARMUP" >"$lf" 2>>"$OUT/load-stderr.txt" &
    LPID=$!
    wait "$LPID"; rc=$?; LPID=
    read -r u1 st1 tot1 < <(cpu_stat); s1=$(proc_ticks "$SPID"); c1=$(child_ticks)
    line=$(head -1 "$lf"); rm -f "$lf"
    died=
    kill -0 "$SPID" 2>/dev/null || died=" server_died=1"
    stop_server
    [ -n "$line" ] || line="conns=$c size=$m depth=$p FAILED=load_rc$rc"
    # CPU used during the whole load run (connect+warmup+measure) by processes that are neither this
    # server nor the load generator, and stolen by the hypervisor, in % of one CPU
    wall=$(( (tot1 - tot0) / NCPU )); [ "$wall" -gt 0 ] || wall=1
    FOREIGN=$(( ( (u1 - u0) - (s1 - s0) - (c1 - c0) ) * 100 / wall )); [ "$FOREIGN" -ge 0 ] || FOREIGN=0
    steal=$(( (st1 - st0) * 100 / wall ))
    LINE="$line$died stop=$STOPPED pre_busy=$PRE_BUSY% foreign_cpu=$FOREIGN% steal=$steal%"
}
RAW="$OUT/raw.txt"
: >"$RAW"
for run in $(seq "$RUNS"); do
    for sc in $SCENARIOS; do
        IFS=: read -r c m p <<<"$sc"
        for srv in $SERVERS; do
            tries=0
            measure "$run" "$srv" "$c" "$m" "$p"
            best=$LINE bestf=$FOREIGN
            while [ "$FOREIGN" -ge "$FOREIGN_RETRY" ] && [ "$tries" -lt "$RETRIES" ] && [ "$RETRY_BUDGET" -gt 0 ]; do
                log "retry (other processes used $FOREIGN% of a CPU): run=$run server=$srv $LINE"
                tries=$((tries + 1)); RETRY_BUDGET=$((RETRY_BUDGET - 1))
                measure "$run" "$srv" "$c" "$m" "$p"
                [ "$FOREIGN" -lt "$bestf" ] && best=$LINE bestf=$FOREIGN
            done
            [ "$tries" -gt 0 ] && best="$best retried=$tries"
            echo "run=$run server=$srv $best" | tee -a "$RAW" >&2
        done
    done
done

# ---------------------------------------------------------------- RSS with RSS_CONNS idle connections
RSSF="$OUT/rss.txt"
: >"$RSSF"
vm() { awk -v k="$2:" '$1==k{print $2}' "/proc/$1/status" 2>/dev/null; }
# idle_load N FILE: N connections to the server that each echo 64 bytes once and then idle for RSS_HOLD s,
# in the background (pid in IDLE_PID, output in FILE); returns once all are ready or the client has exited
# (up to 100 s).
idle_load() {
    timeout -k 5 $((RSS_HOLD + 100)) taskset -c "$CLI_CPU" "$LOAD" -P "$SPORT" -c "$1" -m 64 -i "$RSS_HOLD" -T 90 \
        >"$2" 2>>"$OUT/load-stderr.txt" &
    IDLE_PID=$!
    for i in $(seq 1000); do
        grep -q '^ready' "$2" 2>/dev/null && break
        kill -0 "$IDLE_PID" 2>/dev/null || break
        sleep 0.1
    done
}
if [ "$RSS" = 1 ]; then
    for srv in $RSS_SERVERS; do
        if ! start_server "$srv" "rss conns=$RSS_CONNS"; then
            echo "server=$srv FAILED=server_start" | tee -a "$RSSF" >&2
            continue
        fi
        sleep 1 # let it settle after start
        rss0=$(vm "$SPID" VmRSS)
        lf="$OUT/rss-load-$srv.txt"
        idle_load "$RSS_CONNS" "$lf"
        LPID=$IDLE_PID
        sleep 2 # let the server settle with all connections idle
        rss1=$(vm "$SPID" VmRSS); hwm=$(vm "$SPID" VmHWM); thr=$(vm "$SPID" Threads)
        fds=$(ls "/proc/$SPID/fd" 2>/dev/null | wc -l)
        ready=$(grep -m1 '^ready' "$lf")
        # The growth above includes one-off costs of the first traffic (code pages, compiled code, the
        # heap's first growth); RSS_MORE more connections on top of those measure the cost per connection.
        more=
        if [ "$RSS_MORE" -gt 0 ]; then
            lf2="$OUT/rss-load-more-$srv.txt"
            idle_load "$RSS_MORE" "$lf2"
            LPID2=$IDLE_PID
            sleep 2
            more=" rss_more_kb=$(vm "$SPID" VmRSS) more_ok=$(grep -m1 '^ready' "$lf2" | sed -n 's/.* ok=\([0-9]*\).*/\1/p')"
            kill -TERM "$LPID2" 2>/dev/null; wait "$LPID2" 2>/dev/null
        fi
        died=
        kill -0 "$SPID" 2>/dev/null || died=" server_died=1"
        kill -TERM "$LPID" 2>/dev/null; wait "$LPID" 2>/dev/null; LPID=
        stop_server
        echo "server=$srv rss_idle_kb=${rss0:-?} rss_conns_kb=${rss1:-?} hwm_kb=${hwm:-?} threads=${thr:-?} server_fds=$fds ${ready:-ready=none}$more$died stop=$STOPPED" |
            tee -a "$RSSF" >&2
    done
fi

# ---------------------------------------------------------------- report
T_END=$(date +%s)
echo "elapsed:  $((T_END - T_START)) s; loadavg after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/header.txt"
if python3 "$BENCH/report.py" "$OUT" >/dev/null; then
    # in the project's own format, so that `deno fmt --check` is happy with bench/latest/
    "$DENO" fmt -q --config "$ROOT/deno.json" "$OUT/summary.md" "$OUT/chart.svg" 2>/dev/null || true
    cat "$OUT/summary.md"
    if [ "$LATEST" = 1 ]; then
        mkdir -p "$BENCH/latest"
        cp "$OUT/summary.md" "$OUT/chart.svg" "$BENCH/latest/"
        log "copied summary.md + chart.svg to $BENCH/latest/"
    fi
else
    log "report.py failed"
fi
log "done in $((T_END - T_START)) s; results in $OUT"
