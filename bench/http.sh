#!/usr/bin/env bash
# The project's HTTP benchmark: our HTTP server (serve(), on Deno and on Bun) side by side
# with the servers a user would pick instead (Bun.serve, Deno.serve, node:http — bench/peers/http-*),
# measured with the stock load generators wrk and h2load (installed with apt-get when missing).
# Every server answers `GET /` with 200 "Hello, World!" and `POST /echo` with the request body.
#
#   bash bench/http.sh                                                  # everything (~5 min)
#   RUNS=1 DURATION=2 RSS=0 SCENARIOS="hello-64 post-16k" bash bench/http.sh   # quick look
#   SERVERS="ours-deno-raw bun-serve" bash bench/http.sh                # the raw hello server (no serve())
#   SERVERS="bun-serve mine" SERVER_mine="./my-server --port {port}" bash bench/http.sh
#
# Scenarios (SCENARIOS, default all four; the idle test runs when RSS=1):
#   hello-64      wrk -t1 -c64 --latency, GET /
#   hello-1000    wrk -t1 -c1000 --latency, GET /
#   pipelined-16  h2load --h1 -c64 -m16 -t1 (16 requests pipelined per connection), GET /
#   post-16k      wrk -t1 -c64 --latency with a Lua script: POST /echo, 16384-byte body echoed back
#   idle-10k      (RSS=1) RSS_CONNS keep-alive connections that each made one GET and then stay idle
#                 (bench/http_idle_clients.js): server VmRSS growth per connection
# Per measurement: requests/s, p50/p99 latency (h2load: computed from its per-request log), server CPU
# us per request (utime+stime of all the server's threads from /proc/PID/stat over the measured run,
# divided by the requests completed), errors (non-2xx, socket errors, failed requests).
#
# ours-deno/ours-bun run our serve() example (OURS_SERVE), ours-deno-raw/ours-bun-raw (not in the default
# list) the raw hello server without Request/Response objects (OURS_RAW; it answers every request with
# Hello, World!, so its post-16k figures are not for an echo). Missing servers are skipped with a note.
#
# Servers run pinned to CPU $SRV_CPU (0), load generators to CPU $CLI_CPU (1); all traffic is to
# 127.0.0.1. Each server is started fresh for every measurement on a fresh port, warmed up for WARMUP
# seconds (a short wrk run), measured, and stopped by its pid; every process is bounded by `timeout`.
# Results: bench/results/http-<timestamp>/ (header.txt, raw.txt, rss.txt, log.txt, load/*.txt with the
# load generators' outputs, server-*.log, summary.md, chart.svg); summary.md and chart.svg are copied
# to bench/latest/http-summary.md and bench/latest/http-chart.svg (LATEST=1).
#
# Knobs: RUNS (1), DURATION (3 s), WARMUP (1 s), SERVERS (ours-deno ours-bun bun-serve deno-serve
# node-http; also ours-deno-raw ours-bun-raw), SCENARIOS (hello-64 hello-1000 pipelined-16 post-16k),
# OURS_SERVE (what ours-deno/ours-bun run: examples/http.ts), OURS_RAW (what ours-*-raw run:
# bench/raw_http.ts), RSS (1),
# RSS_CONNS (10000), RSS_SERVERS ($SERVERS), RSS_BATCH (500), RSS_SETTLE (3 s), SRV_CPU (0),
# CLI_CPU (1), PORT_BASE (22000), QUIET_PCT (15), QUIET_WAIT (10 s), QUIET_BUDGET (120 s),
# FOREIGN_RETRY (10), RETRIES (2), RETRY_BUDGET (12), OUT (results dir), LATEST (1), SETUP (1: install
# what is missing), DENO, BUN, NODE, and SERVER_<name> (a command with {port}; it must print
# "listening on 127.0.0.1:PORT" to stderr or listen on the port) to add any server NAME to SERVERS.
set -u
BENCH=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$BENCH")
cd "$ROOT" || exit 1
T_START=$(date +%s)

RUNS=${RUNS:-1}
DURATION=${DURATION:-3}
WARMUP=${WARMUP:-1}
DURATION=${DURATION%.*} WARMUP=${WARMUP%.*} # whole seconds (wrk, h2load)
SERVERS=${SERVERS:-"ours-deno ours-bun bun-serve deno-serve node-http"}
SCENARIOS=${SCENARIOS:-"hello-64 hello-1000 pipelined-16 post-16k"}
RSS=${RSS:-1}
RSS_CONNS=${RSS_CONNS:-10000}
RSS_SERVERS=${RSS_SERVERS:-$SERVERS}
RSS_BATCH=${RSS_BATCH:-500}
RSS_SETTLE=${RSS_SETTLE:-3}
SRV_CPU=${SRV_CPU:-0}
CLI_CPU=${CLI_CPU:-1}
PORT=${PORT_BASE:-22000}
LATEST=${LATEST:-1}
SETUP=${SETUP:-1}
# ours-*: our HTTP server on serve() (examples/http.ts); ours-*-raw: the raw server (no Request/Response)
OURS_SERVE=${OURS_SERVE:-examples/http.ts}
OURS_RAW=${OURS_RAW:-bench/raw_http.ts}

die() { echo "bench/http.sh: $*" >&2; exit 1; }

for sc in $SCENARIOS; do
    case $sc in hello-64 | hello-1000 | pipelined-16 | post-16k) ;; *) die "unknown scenario $sc (hello-64 hello-1000 pipelined-16 post-16k)" ;; esac
done

# ---------------------------------------------------------------- install what is missing
missing=()
[ -x node_modules/.bin/deno ] || missing+=(deno)
[ -x node_modules/.bin/bun ] || missing+=(bun)
if [ ${#missing[@]} -gt 0 ] && [ -z "${DENO:-}${BUN:-}" ]; then
    [ "$SETUP" = 1 ] || die "missing: ${missing[*]} (run: bash scripts/setup.sh --dev)"
    echo "bench: missing ${missing[*]}: bash scripts/setup.sh --dev" >&2
    bash scripts/setup.sh --dev || die "scripts/setup.sh --dev failed"
fi
# the load generators and the tools the driver uses
tools=()
command -v wrk >/dev/null || tools+=(wrk)
command -v h2load >/dev/null || tools+=(nghttp2-client)
command -v curl >/dev/null || tools+=(curl)
command -v ss >/dev/null || tools+=(iproute2)
command -v taskset >/dev/null || tools+=(util-linux)
command -v python3 >/dev/null || tools+=(python3)
if [ ${#tools[@]} -gt 0 ]; then
    [ "$SETUP" = 1 ] || die "missing tools: ${tools[*]} (apt-get install ${tools[*]}, or SETUP=1)"
    command -v apt-get >/dev/null || die "missing tools: ${tools[*]}, and no apt-get to install them"
    sudo_cmd=""; [ "$(id -u)" = 0 ] || sudo_cmd=sudo
    echo "bench: installing ${tools[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    { $sudo_cmd apt-get install -y -qq "${tools[@]}" >/dev/null 2>&1 ||
        { $sudo_cmd apt-get update -qq >/dev/null 2>&1 && $sudo_cmd apt-get install -y -qq "${tools[@]}" >/dev/null 2>&1; }; } ||
        die "could not install ${tools[*]} with apt-get (install them by hand: apt-get install ${tools[*]})"
fi

DENO=${DENO:-$ROOT/node_modules/.bin/deno}
BUN=${BUN:-$ROOT/node_modules/.bin/bun}
NODE=${NODE:-$(command -v node || true)}
export DENO_NO_UPDATE_CHECK=1 DENO_NO_PROMPT=1 DO_NOT_TRACK=1 BUN_DISABLE_TELEMETRY=1 NO_COLOR=1
# the idle clients run on node, or on bun when there is no node
IDLE_RT=$BUN
[ -n "$NODE" ] && [ -x "$NODE" ] && IDLE_RT=$NODE

# fd limit: 1000 (hello-1000) and RSS_CONNS connections on each side
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
nofile=$(ulimit -n)
if [ "$nofile" != unlimited ]; then
    [ "$nofile" -lt 1100 ] && die "ulimit -n is $nofile (hello-1000 needs > 1100; raise the hard limit)"
    if [ "$RSS" = 1 ] && [ "$nofile" -lt $((RSS_CONNS + 100)) ]; then
        RSS_CONNS=$((nofile - 100))
        echo "bench: ulimit -n is $nofile: RSS_CONNS lowered to $RSS_CONNS" >&2
    fi
fi

OUT=${OUT:-$BENCH/results/http-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT/load" || die "cannot create $OUT"
OUT=$(cd "$OUT" && pwd)
log() { echo "$*" | tee -a "$OUT/log.txt" >&2; }

# the Lua script of post-16k: POST /echo with a 16384-byte body (wrk adds Content-Length)
LUA=$OUT/post-16k.lua
cat >"$LUA" <<'EOF'
wrk.method = "POST"
wrk.path = "/echo"
wrk.headers["Content-Type"] = "application/octet-stream"
wrk.body = string.rep("0123456789abcdef", 1024)
EOF
BODY=$OUT/body-16k.bin # the same body, for the probe with curl
awk 'BEGIN{for(i=0;i<1024;i++)printf "0123456789abcdef"}' >"$BODY"

# ---------------------------------------------------------------- servers
# shellcheck source=bench/lib.sh
. "$BENCH/lib.sh" # custom_server_cmd (its echo server_cmd is replaced below)
server_cmd() { # name port -> the command line
    case $1 in
    ours-deno) echo "$DENO run -A $OURS_SERVE --port $2" ;;
    ours-bun) echo "$BUN $OURS_SERVE --port $2" ;;
    ours-deno-raw) echo "$DENO run -A $OURS_RAW --port $2" ;;
    ours-bun-raw) echo "$BUN $OURS_RAW --port $2" ;;
    bun-serve) echo "$BUN bench/peers/http-bun-serve.js $2" ;;
    deno-serve) echo "$DENO run -A bench/peers/http-deno-serve.ts $2" ;;
    node-http) echo "$NODE bench/peers/http-node.js $2" ;;
    *) custom_server_cmd "$1" "$2" ;;
    esac
}
skip_reason() { # name -> prints why the server cannot run here (nothing: it can)
    case $1 in
    ours-deno | ours-bun) [ -f "$OURS_SERVE" ] || echo "$OURS_SERVE does not exist" ;;
    ours-deno-raw | ours-bun-raw) [ -f "$OURS_RAW" ] || echo "$OURS_RAW does not exist" ;;
    node-http) [ -n "$NODE" ] && [ -x "$NODE" ] || echo "no node on PATH (set NODE=)" ;;
    bun-serve | deno-serve) ;;
    *) server_cmd "$1" 0 >/dev/null 2>&1 || echo "unknown server (set SERVER_${1//[^A-Za-z0-9_]/_}='command ... {port}')" ;;
    esac
}
SKIPPED=$OUT/skipped.txt
: >"$SKIPPED"
keep=() keep_rss=()
for s in $SERVERS; do
    why=$(skip_reason "$s")
    if [ -n "$why" ]; then echo "server=$s skipped: $why" >>"$SKIPPED"; else keep+=("$s"); fi
done
for s in $RSS_SERVERS; do
    why=$(skip_reason "$s")
    if [ -n "$why" ]; then grep -q "^server=$s " "$SKIPPED" || echo "server=$s skipped: $why" >>"$SKIPPED"; else keep_rss+=("$s"); fi
done
SERVERS="${keep[*]}" RSS_SERVERS="${keep_rss[*]}"
[ "$RSS" = 1 ] || RSS_SERVERS=""
[ -n "$SERVERS$RSS_SERVERS" ] || die "no server to measure ($(paste -sd';' "$SKIPPED"))"

# ---------------------------------------------------------------- header
nserv=$(wc -w <<<"$SERVERS"); nscen=$(wc -w <<<"$SCENARIOS"); nrss=$(wc -w <<<"$RSS_SERVERS")
est=$(( RUNS * nserv * nscen * (WARMUP + DURATION + 3) + nrss * (RSS_SETTLE + 12) ))
{
    echo "date:     $(date -Is)"
    echo "machine:  $(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1), nproc=$(nproc), $(grep -m1 'cpu MHz' /proc/cpuinfo | sed 's/.*: //') MHz, virt=$(lscpu | sed -n 's/^Hypervisor vendor:[[:space:]]*//p'), mem=$(free -m | awk '/Mem:/{print $2" MiB"}')"
    echo "kernel:   $(uname -srvm)"
    echo "runtimes: deno $("$DENO" --version 2>/dev/null | head -1 | awk '{print $2}'), bun $("$BUN" --version 2>/dev/null), node $("${NODE:-false}" --version 2>/dev/null | sed 's/^v//' | grep . || echo none)"
    echo "load:     $(wrk -v 2>&1 | head -1 | awk '{print $1, $2}'), $(h2load --version 2>&1 | head -1); idle clients on $(basename "$IDLE_RT")"
    echo "project:  $(git rev-parse --short HEAD 2>/dev/null || echo '?') ($(git status --porcelain -- src mod.ts ffi examples 2>/dev/null | wc -l) uncommitted files in src/ mod.ts ffi/ examples/)"
    echo "pinning:  servers on CPU $SRV_CPU, load generators on CPU $CLI_CPU; loadavg before: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "params:   runs=$RUNS duration=${DURATION}s warmup=${WARMUP}s rss=$RSS rss_conns=$RSS_CONNS rss_settle=${RSS_SETTLE}s nofile=$(ulimit -n)"
    echo "servers:  $SERVERS"
    echo "scenarios: $SCENARIOS"
    [ "$RSS" = 1 ] && echo "rss servers: $RSS_SERVERS"
    [ -s "$SKIPPED" ] && sed 's/^server=/skipped:  /' "$SKIPPED"
} >"$OUT/header.txt"
cat "$OUT/header.txt" >&2
log "estimated time: ~$((est / 60)) min $((est % 60)) s; results in $OUT"

# ---------------------------------------------------------------- server lifecycle
port_busy() { ss -Htan "( sport = :$1 )" 2>/dev/null | grep -q .; }

SPID= TPID= SPORT= SLOG= STOPPED= SLOG_FROM=0
listening() { # the server said so on stderr, or $SPORT is listened on by $SPID (ss shows owners to root only)
    tail -c +"$SLOG_FROM" "$SLOG" 2>/dev/null | grep -q "listening on .*:$SPORT\b" && return 0
    local o
    o=$(ss -Hltnp "( sport = :$SPORT )" 2>/dev/null)
    [ -n "$o" ] && [ "$(id -u)" = 0 ] && grep -q "pid=$SPID," <<<"$o"
}
start_server() { # name tag limit_s -> sets SPID (the server) TPID (its timeout) SPORT SLOG; 1 on failure
    local name=$1 tag=$2 limit=$3 cmd i
    PORT=$((PORT + 1))
    while port_busy $PORT; do PORT=$((PORT + 1)); done
    SPORT=$PORT
    SLOG="$OUT/server-$name.log"
    cmd=$(server_cmd "$name" "$SPORT") || return 1
    echo "=== $(date +%T) $tag port=$SPORT: $cmd" >>"$SLOG"
    SLOG_FROM=$(($(stat -c %s "$SLOG") + 1))
    # shellcheck disable=SC2086
    timeout -k 5 "$limit" taskset -c "$SRV_CPU" $cmd >>"$SLOG" 2>&1 </dev/null &
    TPID=$! SPID=
    for i in $(seq 200); do # up to 20 s (the first start of a runtime can be slow)
        [ -n "$SPID" ] || SPID=$(ps -o pid= --ppid "$TPID" 2>/dev/null | head -1 | tr -d ' ')
        if [ -n "$SPID" ] && listening; then return 0; fi
        kill -0 "$TPID" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$TPID" 2>/dev/null; then
        log "server $name (pid ${SPID:-?}) not listening on $SPORT after 20 s (see $SLOG)"
    else
        log "server $name exited before listening on $SPORT (see $SLOG)"
    fi
    stop_server
    return 1
}
stop_server() { # TERM, up to 3 s, then KILL; sets STOPPED=term|kill|dead
    [ -n "$TPID" ] || return 0
    local i
    if [ -z "$SPID" ] || ! kill -0 "$SPID" 2>/dev/null; then
        STOPPED=dead
    else
        STOPPED=term
        kill -TERM "$SPID" 2>/dev/null
        for i in $(seq 30); do kill -0 "$SPID" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$SPID" 2>/dev/null; then STOPPED=kill; kill -KILL "$SPID" 2>/dev/null; fi
    fi
    kill -0 "$TPID" 2>/dev/null && sleep 0.2
    kill -0 "$TPID" 2>/dev/null && kill -KILL "$TPID" 2>/dev/null
    wait "$TPID" 2>/dev/null
    echo "=== stopped ($STOPPED)" >>"$SLOG"
    for i in $(seq 20); do ss -Hltn "( sport = :$SPORT )" 2>/dev/null | grep -q . || break; sleep 0.1; done
    ss -Hltn "( sport = :$SPORT )" 2>/dev/null | grep -q . && log "warning: a listener is still on port $SPORT after stopping pid $SPID"
    SPID= TPID=
}
LPID=
cleanup() {
    [ -n "$LPID" ] && kill -TERM "$LPID" 2>/dev/null
    stop_server
}
trap 'cleanup; exit 130' INT TERM

# ---------------------------------------------------------------- other load on the machine
# (as in bench/run.sh) wait, bounded, for a quiet machine before each measurement, and record how much
# CPU other processes used during it (foreign_cpu, % of one CPU) and how much the hypervisor stole.
NCPU=$(nproc)
CLK_TCK=$(getconf CLK_TCK)
QUIET_PCT=${QUIET_PCT:-15}
QUIET_WAIT=${QUIET_WAIT:-10}
QUIET_BUDGET=${QUIET_BUDGET:-120}
cpu_stat() { awk '/^cpu /{print $2+$3+$4, $9, $2+$3+$4+$5+$6+$7+$8+$9; exit}' /proc/stat; } # busy steal total
proc_ticks() { local t; t=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk '{print $12+$13}'); echo "${t:-0}"; } # utime+stime, all threads
child_ticks() { sed 's/^.*) //' "/proc/$$/stat" | awk '{print $14+$15}'; } # reaped children of this shell
busy_pct() {
    local a b
    a=$(awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9; exit}' /proc/stat)
    sleep 0.5
    b=$(awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9; exit}' /proc/stat)
    awk -v a="$a" -v b="$b" 'BEGIN{split(a,x," ");split(b,y," ");d=y[2]-x[2];if(d<=0)d=1;printf "%d", (y[1]-x[1])*100/d}'
}
QUIET_SPENT=0 PRE_BUSY=
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

# ---------------------------------------------------------------- load generators
# wrk and h2load write latencies as 1.23ms, 456.78us, 1.02s, 2.00m
to_us() { awk -v v="$1" 'BEGIN{n=v+0; u=v; sub(/^[0-9.]+/,"",u); f=(u=="us")?1:(u=="ms")?1000:(u=="s")?1e6:(u=="m")?6e7:(u=="h")?3.6e9:-1; if(v==""||f<0)print "?"; else printf "%.0f", n*f}'; }
to_bytes() { awk -v v="$1" 'BEGIN{n=v+0; u=v; sub(/^[0-9.]+/,"",u); f=(u=="B")?1:(u=="KB")?1024:(u=="MB")?1048576:(u=="GB")?1073741824:(u=="TB")?1099511627776:-1; if(v==""||f<0)print "?"; else printf "%.0f", n*f}'; }

load_cmd() { # scenario port seconds h2log -> the load generator's command line (warm-up: h2log empty)
    local url="http://127.0.0.1:$2/"
    case $1 in
    hello-64) echo "wrk -t1 -c64 -d${3}s --latency $url" ;;
    hello-1000) echo "wrk -t1 -c1000 -d${3}s --latency $url" ;;
    pipelined-16)
        if [ -n "$4" ]; then echo "h2load --h1 -c64 -m16 -t1 -D$3 --log-file=$4 $url"
        else echo "wrk -t1 -c64 -d${3}s $url"; fi ;; # warm-up
    post-16k) echo "wrk -t1 -c64 -d${3}s --latency -s $LUA $url" ;;
    esac
}
parse_wrk() { # file -> key=value ...
    local f=$1 reqs secs rd rps p50 p99 non2xx serr
    read -r reqs secs rd < <(awk '/ requests in /{r=$1; s=$4; sub(/s,$/,"",s); print r, s, $5; exit}' "$f")
    rps=$(awk '/^Requests\/sec:/{print $2; exit}' "$f")
    p50=$(awk '/Latency Distribution/{d=1} d&&$1=="50%"{print $2; exit}' "$f")
    p99=$(awk '/Latency Distribution/{d=1} d&&$1=="99%"{print $2; exit}' "$f")
    non2xx=$(awk '/Non-2xx or 3xx responses:/{print $NF; exit}' "$f")
    serr=$(awk '/Socket errors:/{gsub(/,/,""); print $4+$6+$8+$10; exit}' "$f")
    local sdet; sdet=$(awk '/Socket errors:/{gsub(/,/,""); printf "%s/%s/%s/%s", $4,$6,$8,$10; exit}' "$f")
    local rb=? rbpr=?
    [ -n "$rd" ] && rb=$(to_bytes "$rd")
    [ -n "$reqs" ] && [ "$rb" != "?" ] && [ "${reqs:-0}" -gt 0 ] && rbpr=$((rb / reqs))
    echo "reqs=${reqs:-?} secs=${secs:-?} rps=${rps:-?} p50_us=$(to_us "$p50") p99_us=$(to_us "$p99") lat=p99" \
        "non2xx=${non2xx:-0} sock_errors=${serr:-0} sock_errors_crwt=${sdet:-0/0/0/0} failed=0 read_bytes_per_req=$rbpr"
}
parse_h2load() { # file h2log -> key=value ...
    local f=$1 lg=$2 secs rps reqs failed non2xx p50=? p99=? lat=p99
    read -r secs rps < <(awk '/^finished in /{s=$3; sub(/s,$/,"",s); print s, $4; exit}' "$f")
    read -r reqs failed < <(awk '/^requests: /{print $6, $10+$12+$14; exit}' "$f") # done; failed+errored+timeout
    non2xx=$(awk '/^status codes: /{print $5+$7+$9; exit}' "$f") # 3xx+4xx+5xx
    if [ -s "$lg" ]; then # per-request log: start (us since epoch), status, us until the end of the response
        read -r p50 p99 < <(awk -F'\t' '{print $3}' "$lg" | sort -n | awk '{v[NR]=$1} END{if(NR){i=int(NR*0.5+0.5);j=int(NR*0.99+0.5);if(i<1)i=1;if(j<1)j=1;print v[i], v[j]}}')
    else # no log: the max is all h2load prints
        p99=$(to_us "$(awk '/^time for request:/{print $5; exit}' "$f")") lat=max
        p50=$(to_us "$(awk '/^time for request:/{print $6; exit}' "$f")") # the mean
    fi
    local rb=? rbpr=?
    rb=$(awk '/^traffic: /{t=$3; gsub(/[()]/,"",t); print t; exit}' "$f")
    [ -n "$rb" ] && [ -n "$reqs" ] && [ "${reqs:-0}" -gt 0 ] && rbpr=$((rb / reqs))
    echo "reqs=${reqs:-?} secs=${secs:-?} rps=${rps:-?} p50_us=${p50:-?} p99_us=${p99:-?} lat=$lat" \
        "non2xx=${non2xx:-0} sock_errors=0 sock_errors_crwt=0/0/0/0 failed=${failed:-0} read_bytes_per_req=$rbpr"
}
probe() { # -> get=ok|bad echo=ok|bad|first_bad (first_bad: the first POST of the process failed, the second did not)
    # (once before the warm-up; the answers of the load generators are not checked beyond their size)
    local g e1 e2 e
    g=$(timeout -k 2 5 taskset -c "$CLI_CPU" curl -s -m 4 "http://127.0.0.1:$SPORT/" 2>/dev/null)
    post() {
        timeout -k 2 5 taskset -c "$CLI_CPU" curl -s -m 4 --data-binary @"$BODY" -H 'Content-Type: application/octet-stream' \
            -H 'Expect:' "http://127.0.0.1:$SPORT/echo" 2>/dev/null | cmp -s - "$BODY" && echo ok || echo bad
    }
    e1=$(post); e2=$(post)
    if [ "$e1" = ok ] && [ "$e2" = ok ]; then e=ok; elif [ "$e2" = ok ]; then e=first_bad; else e=bad; fi
    echo "get=$([ "$g" = "Hello, World!" ] && echo ok || echo bad) echo=$e"
}

# ---------------------------------------------------------------- matrix
FOREIGN_RETRY=${FOREIGN_RETRY:-10}
RETRIES=${RETRIES:-2}
RETRY_BUDGET=${RETRY_BUDGET:-12}
measure() { # run server scenario -> sets LINE, FOREIGN
    local run=$1 srv=$2 sc=$3 base lf lg rc died u0 st0 tot0 s0 c0 u1 st1 tot1 s1 c1 n0 n1 wall steal parsed pr
    local cmd reqs srv_ticks srv_us upr cli_pct srv_pct ms
    base="$OUT/load/$run-$sc-$srv"
    lf="$base.txt" lg="$base.h2log"
    wait_quiet
    if ! start_server "$srv" "run=$run scenario=$sc" $((WARMUP + DURATION + 120)); then
        LINE="scenario=$sc FAILED=server_start" FOREIGN=0
        return
    fi
    pr=$(probe)
    # warm-up: the same load (wrk for pipelined-16), WARMUP seconds
    if [ "$WARMUP" -gt 0 ]; then
        cmd=$(load_cmd "$sc" "$SPORT" "$WARMUP" "")
        echo "### warm-up: $cmd" >"$base.warmup.txt"
        # shellcheck disable=SC2086
        timeout -k 5 $((WARMUP + 30)) taskset -c "$CLI_CPU" $cmd >>"$base.warmup.txt" 2>&1
    fi
    cmd=$(load_cmd "$sc" "$SPORT" "$DURATION" "$lg")
    echo "### $cmd" >"$lf"
    read -r u0 st0 tot0 < <(cpu_stat); s0=$(proc_ticks "$SPID"); c0=$(child_ticks); n0=$(date +%s%N)
    # shellcheck disable=SC2086
    timeout -k 5 $((DURATION + 60)) taskset -c "$CLI_CPU" $cmd >>"$lf" 2>&1 &
    LPID=$!
    wait "$LPID"; rc=$?; LPID=
    read -r u1 st1 tot1 < <(cpu_stat); s1=$(proc_ticks "$SPID"); c1=$(child_ticks); n1=$(date +%s%N)
    died=
    kill -0 "$SPID" 2>/dev/null || died=" server_died=1"
    stop_server
    if [ "$sc" = pipelined-16 ]; then parsed=$(parse_h2load "$lf" "$lg"); rm -f "$lg"; else parsed=$(parse_wrk "$lf"); fi
    reqs=$(sed -n 's/^reqs=\([0-9]*\) .*/\1/p' <<<"$parsed")
    srv_ticks=$((s1 - s0))
    srv_us=$((srv_ticks * 1000000 / CLK_TCK))
    ms=$(( (n1 - n0) / 1000000 )); [ "$ms" -gt 0 ] || ms=1
    srv_pct=$(( srv_ticks * 1000 * 100 / CLK_TCK / ms ))
    cli_pct=$(( (c1 - c0) * 1000 * 100 / CLK_TCK / ms ))
    upr=?
    [ -n "$reqs" ] && [ "$reqs" -gt 0 ] && upr=$(awk -v a="$srv_us" -v b="$reqs" 'BEGIN{printf "%.2f", a/b}')
    [ -n "$reqs" ] || parsed="FAILED=load_rc$rc $parsed"
    wall=$(( (tot1 - tot0) / NCPU )); [ "$wall" -gt 0 ] || wall=1
    FOREIGN=$(( ( (u1 - u0) - (s1 - s0) - (c1 - c0) ) * 100 / wall )); [ "$FOREIGN" -ge 0 ] || FOREIGN=0
    steal=$(( (st1 - st0) * 100 / wall ))
    LINE="scenario=$sc $parsed srv_us_per_req=$upr srv_cpu_us=$srv_us srv_cpu=$srv_pct% client_cpu=$cli_pct% load_rc=$rc $pr$died stop=$STOPPED pre_busy=$PRE_BUSY% foreign_cpu=$FOREIGN% steal=$steal%"
}
RAW="$OUT/raw.txt"
: >"$RAW"
for run in $(seq "$RUNS"); do
    for sc in $SCENARIOS; do
        for srv in $SERVERS; do
            tries=0
            measure "$run" "$srv" "$sc"
            best=$LINE bestf=$FOREIGN
            while [ "$FOREIGN" -ge "$FOREIGN_RETRY" ] && [ "$tries" -lt "$RETRIES" ] && [ "$RETRY_BUDGET" -gt 0 ]; do
                log "retry (other processes used $FOREIGN% of a CPU): run=$run server=$srv $LINE"
                tries=$((tries + 1)); RETRY_BUDGET=$((RETRY_BUDGET - 1))
                measure "$run" "$srv" "$sc"
                [ "$FOREIGN" -lt "$bestf" ] && best=$LINE bestf=$FOREIGN
            done
            [ "$tries" -gt 0 ] && best="$best retried=$tries"
            echo "run=$run server=$srv $best" | tee -a "$RAW" >&2
        done
    done
done

# ---------------------------------------------------------------- idle-10k: RSS per idle keep-alive connection
# The reading is taken RSS_SETTLE s after the last connection was answered, and all connections are
# opened within a few seconds, so an idle timeout of 10 s (Bun.serve's default, ours) never fires
# (the client reports how many the server closed: closed_after_ready).
RSSF="$OUT/rss.txt"
: >"$RSSF"
vm() { awk -v k="$2:" '$1==k{print $2}' "/proc/$1/status" 2>/dev/null; }
for srv in $RSS_SERVERS; do
    if ! start_server "$srv" "idle conns=$RSS_CONNS" 180; then
        echo "server=$srv FAILED=server_start" | tee -a "$RSSF" >&2
        continue
    fi
    # a few requests over 4 connections first, so the baseline includes the code paths (JIT, lazy init)
    timeout -k 5 30 taskset -c "$CLI_CPU" wrk -t1 -c4 -d1s "http://127.0.0.1:$SPORT/" >"$OUT/load/idle-$srv.warmup.txt" 2>&1
    sleep 1
    rss0=$(vm "$SPID" VmRSS)
    lf="$OUT/load/idle-$srv.txt"
    timeout -k 5 150 taskset -c "$CLI_CPU" "$IDLE_RT" bench/http_idle_clients.js "$SPORT" "$RSS_CONNS" "$RSS_BATCH" >"$lf" 2>&1 &
    LPID=$!
    CPID=
    for i in $(seq 1000); do # up to 100 s for all connections to be answered once
        [ -n "$CPID" ] || CPID=$(ps -o pid= --ppid "$LPID" 2>/dev/null | head -1 | tr -d ' ')
        grep -q '^ready' "$lf" 2>/dev/null && break
        kill -0 "$LPID" 2>/dev/null || break
        sleep 0.1
    done
    t_ready=$(date +%s%N)
    sleep "$RSS_SETTLE"
    rss1=$(vm "$SPID" VmRSS); hwm=$(vm "$SPID" VmHWM); thr=$(vm "$SPID" Threads)
    read_after=$(awk -v a="$t_ready" -v b="$(date +%s%N)" 'BEGIN{printf "%.1f", (b-a)/1e9}')
    fds=$(ls "/proc/$SPID/fd" 2>/dev/null | wc -l)
    [ -n "$CPID" ] && kill -USR2 "$CPID" 2>/dev/null
    for i in $(seq 20); do grep -q '^status' "$lf" && break; sleep 0.1; done
    ready=$(grep -m1 '^ready' "$lf" | sed 's/^ready //')
    status=$(grep -m1 '^status' "$lf" | sed 's/^status //')
    died=
    kill -0 "$SPID" 2>/dev/null || died=" server_died=1"
    [ -n "$CPID" ] && kill -TERM "$CPID" 2>/dev/null
    wait "$LPID" 2>/dev/null; LPID=
    stop_server
    echo "server=$srv rss_idle_kb=${rss0:-?} rss_conns_kb=${rss1:-?} hwm_kb=${hwm:-?} threads=${thr:-?} server_fds=$fds read_after_s=$read_after ${ready:-ready=none} ${status:-status=none}$died stop=$STOPPED" |
        tee -a "$RSSF" >&2
done

# ---------------------------------------------------------------- report
T_END=$(date +%s)
echo "elapsed:  $((T_END - T_START)) s; loadavg after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/header.txt"
if python3 "$BENCH/http_report.py" "$OUT" >/dev/null; then
    # in the project's own format, so that `deno fmt --check` is happy with bench/latest/
    "$DENO" fmt -q --config "$ROOT/deno.json" "$OUT/summary.md" "$OUT/chart.svg" 2>/dev/null || true
    cat "$OUT/summary.md"
    if [ "$LATEST" = 1 ]; then
        mkdir -p "$BENCH/latest"
        cp "$OUT/summary.md" "$BENCH/latest/http-summary.md"
        cp "$OUT/chart.svg" "$BENCH/latest/http-chart.svg"
        log "copied summary.md + chart.svg to $BENCH/latest/http-summary.md, http-chart.svg"
    fi
else
    log "http_report.py failed"
fi
log "done in $((T_END - T_START)) s; results in $OUT"
