#!/usr/bin/env python3
"""Turn a results directory written by bench/http.sh into summary.md and chart.svg (stdlib only).

usage: python3 bench/http_report.py RESULTS_DIR

Reads RESULTS_DIR/header.txt, raw.txt (one line per measurement: wrk/h2load figures + server CPU),
rss.txt (the idle-connections test) and skipped.txt, writes RESULTS_DIR/summary.md (an overview table
server x scenario -> req/s, server CPU us per request, p99; ours against the peers; a table per
scenario; the idle-connections table; anomalies) and RESULTS_DIR/chart.svg (two panels of grouped
bars per scenario: requests/s and server CPU us per request, one colour per server). With several
runs (RUNS>1) every figure is the mean over the runs that succeeded.
"""
import os
import sys
from collections import OrderedDict

LABELS = {
    "ours-deno": "ours on Deno",
    "ours-bun": "ours on Bun",
    "ours-deno-raw": "ours on Deno, raw (no serve())",
    "ours-bun-raw": "ours on Bun, raw (no serve())",
    "bun-serve": "Bun.serve",
    "deno-serve": "Deno.serve",
    "node-http": "node:http",
}
COLOURS = {
    "ours-deno": "#d62728",
    "ours-bun": "#ff7f0e",
    "ours-deno-raw": "#8c564b",
    "ours-bun-raw": "#e377c2",
    "bun-serve": "#1f77b4",
    "deno-serve": "#2ca02c",
    "node-http": "#9467bd",
}
EXTRA_COLOURS = ["#17becf", "#bcbd22", "#7f7f7f", "#aec7e8", "#c5b0d5", "#c49c94", "#dbdb8d", "#9edae5"]
SCENARIO_ORDER = ["hello-64", "hello-1000", "pipelined-16", "post-16k"]
SCENARIO_TEXT = {
    "hello-64": "GET /, 64 connections (wrk -t1 -c64)",
    "hello-1000": "GET /, 1000 connections (wrk -t1 -c1000)",
    "pipelined-16": "GET /, 64 connections x 16 pipelined requests (h2load --h1 -c64 -m16 -t1)",
    "post-16k": "POST /echo, 16 KiB body echoed back, 64 connections (wrk -t1 -c64 -s post-16k.lua)",
}
PEERS = [("bun-serve", "Bun.serve"), ("deno-serve", "Deno.serve")]
CLIENT_BOUND = 90.0  # client_cpu >= this: the load generator (one thread) was (partly) the limit
FOREIGN_LIMIT = 10.0  # foreign_cpu >= this: the machine was not quiet


def parse(line):
    d = {}
    for tok in line.split():
        if "=" in tok:
            k, v = tok.split("=", 1)
            d[k] = v
    return d


def num(v):
    try:
        return float(str(v).rstrip("%"))
    except (TypeError, ValueError):
        return None


def label(s):
    return LABELS.get(s, s)


def is_ours(s):
    return s.startswith("ours")


def fmt_rate(v):
    if v is None:
        return "-"
    if v >= 1e6:
        return "%.2fM" % (v / 1e6)
    if v >= 1e4:
        return "%.0fk" % (v / 1e3)
    if v >= 1e3:
        return "%.1fk" % (v / 1e3)
    return "%.0f" % v


def fmt_lat(us):
    if us is None:
        return "-"
    if us >= 1e6:
        return "%.2f s" % (us / 1e6)
    if us >= 1000:
        return "%.1f ms" % (us / 1000)
    return "%.0f us" % us


def fmt_upr(v):
    if v is None:
        return "-"
    if v >= 100:
        return "%.0f" % v
    if v >= 10:
        return "%.1f" % v
    return "%.2f" % v


def fmt_ratio(v):
    return "-" if v is None else "%.2fx" % v


def md_table(header, rows, align=None):
    align = align or ["l"] + ["r"] * (len(header) - 1)
    out = ["| " + " | ".join(header) + " |",
           "|" + "|".join(":---" if a == "l" else "---:" for a in align) + "|"]
    for r in rows:
        out.append("| " + " | ".join(str(x) for x in r) + " |")
    return out


class Results:
    def __init__(self, d):
        self.dir = d
        self.header = self._lines("header.txt")
        self.skipped = [l for l in self._lines("skipped.txt") if l.strip()]
        self.meas = OrderedDict()  # (scenario, server) -> [dict per run]
        servers, scenarios = OrderedDict(), OrderedDict()
        for line in self._lines("raw.txt"):
            r = parse(line)
            if "server" not in r or "scenario" not in r:
                continue
            servers[r["server"]] = 1
            scenarios[r["scenario"]] = 1
            self.meas.setdefault((r["scenario"], r["server"]), []).append(r)
        self.rss = [parse(l) for l in self._lines("rss.txt") if l.startswith("server=")]
        for r in self.rss:
            servers[r["server"]] = 1
        order = list(LABELS)
        self.servers = sorted(servers, key=lambda x: (order.index(x) if x in order else len(order)))
        self.scenarios = sorted(scenarios, key=lambda x: (
            SCENARIO_ORDER.index(x) if x in SCENARIO_ORDER else len(SCENARIO_ORDER)))

    def _lines(self, name):
        p = os.path.join(self.dir, name)
        return [l.rstrip("\n") for l in open(p)] if os.path.exists(p) else []

    def hval(self, key):
        for l in self.header:
            if l.startswith(key + ":"):
                return l.split(":", 1)[1].strip()
        return ""

    def ok_runs(self, sc, srv):
        return [r for r in self.meas.get((sc, srv), []) if "FAILED" not in r and (num(r.get("reqs")) or 0) > 0]

    def mean(self, sc, srv, key):
        v = [num(r.get(key)) for r in self.ok_runs(sc, srv)]
        v = [x for x in v if x is not None and x >= 0]
        return sum(v) / len(v) if v else None

    def errors(self, r):
        return sum(int(num(r.get(k)) or 0) for k in ("non2xx", "sock_errors", "failed"))

    def total_errors(self, sc, srv):
        runs = self.meas.get((sc, srv), [])
        return sum(self.errors(r) for r in runs) if runs else None

    def lat_kind(self, sc, srv):
        kinds = set(r.get("lat", "p99") for r in self.ok_runs(sc, srv))
        return "max" if "max" in kinds else "p99"

    def no_echo(self, srv):
        """post-16k answers were not echoes: under 16 KiB read per request."""
        return any((num(r.get("read_bytes_per_req")) or 0) < 16384 for r in self.ok_runs("post-16k", srv))

    def anomalies(self):
        out = []
        for (sc, srv), runs in self.meas.items():
            for r in runs:
                why = []
                if "FAILED" in r:
                    why.append("FAILED=" + r["FAILED"])
                e = self.errors(r)
                if e:
                    why.append("%d errors (non-2xx %s, socket errors connect/read/write/timeout %s, failed %s)" % (
                        e, r.get("non2xx", "0"), r.get("sock_errors_crwt", "-"), r.get("failed", "0")))
                if r.get("load_rc", "0") != "0":
                    why.append("load generator exit status " + r["load_rc"])
                if r.get("get") == "bad":
                    why.append("GET / did not answer Hello, World!")
                if sc == "post-16k" and "FAILED" not in r and (num(r.get("read_bytes_per_req")) or 0) < 16384:
                    why.append("under 16 KiB read per request: POST /echo did not echo (req/s are not for an echo)")

                if "server_died" in r:
                    why.append("server died during the measurement")
                if r.get("stop") == "kill":
                    why.append("did not exit within 3 s of SIGTERM (killed)")
                if (num(r.get("foreign_cpu")) or 0) >= FOREIGN_LIMIT:
                    why.append("other processes used %s of a CPU meanwhile (req/s, latency disturbed; us/req less so)"
                               % r["foreign_cpu"])
                if (num(r.get("steal")) or 0) >= FOREIGN_LIMIT:
                    why.append("hypervisor steal %s" % r["steal"])
                if r.get("lat") == "max":
                    why.append("no per-request log from h2load: the p99 column shows the max")
                if why:
                    out.append("run %s, %s, %s: %s" % (r.get("run", "?"), label(srv), sc, "; ".join(why)))
        # the probe (curl, before each warm-up): GET / and two POST /echo with 16 KiB on a fresh server
        for srv in self.servers:
            runs = [r for (sc, s), rr in self.meas.items() if s == srv for r in rr if "echo" in r]
            bad = [r for r in runs if r["echo"] == "bad"]
            first = [r for r in runs if r["echo"] == "first_bad"]
            if bad:
                out.append("%s: the probe's POST /echo (curl, 16 KiB) got a wrong answer twice in %d of %d server "
                           "starts%s" % (label(srv), len(bad), len(runs),
                                         " (expected: the raw server answers everything with Hello, World!)"
                                         if srv.endswith("-raw") else ""))
            if first:
                out.append("%s: the first POST /echo (curl, 16 KiB) of a fresh server process got a wrong answer, "
                           "the second a right one, in %d of %d server starts" % (label(srv), len(first), len(runs)))
        for r in self.rss:
            why = []
            if "FAILED" in r:
                why.append("FAILED=" + r["FAILED"])
            if r.get("ready") == "none" or "ok" not in r:
                why.append("the idle clients never reported ready")
            elif num(r.get("ok")) < num(r.get("conns")):
                why.append("only %s of %s connections answered (first error: %s)" % (
                    r["ok"], r["conns"], r.get("first_error", "?")))
            if (num(r.get("closed_after_ready")) or 0) > 0:
                why.append("the server closed %s idle connections before the reading" % r["closed_after_ready"])
            if r.get("status") == "none":
                why.append("the idle clients did not report their status")
            if "server_died" in r:
                why.append("server died")
            if r.get("stop") == "kill":
                why.append("did not exit within 3 s of SIGTERM (killed)")
            if why:
                out.append("idle test, %s: %s" % (label(r.get("server", "?")), "; ".join(why)))
        return out


def rss_per_conn(r):
    i0, i1 = num(r.get("rss_idle_kb")), num(r.get("rss_conns_kb"))
    n = num(r.get("open"))
    if n is None:
        n = num(r.get("ok"))
    return (i1 - i0) / n if i0 is not None and i1 is not None and n else None


def rss_of(res, srv):
    return [r for r in res.rss if r.get("server") == srv and "FAILED" not in r]


def cell(res, sc, srv):
    if (sc, srv) not in res.meas:
        return "-"
    if not res.ok_runs(sc, srv):
        return "FAILED"
    rps, upr, p99 = res.mean(sc, srv, "rps"), res.mean(sc, srv, "srv_us_per_req"), res.mean(sc, srv, "p99_us")
    marks = ""
    if (res.mean(sc, srv, "client_cpu") or 0) >= CLIENT_BOUND:
        marks += " !"
    if res.total_errors(sc, srv):
        marks += " E"
    if sc == "post-16k" and res.no_echo(srv):
        marks += " (no echo)"
    kind = "max " if res.lat_kind(sc, srv) == "max" else ""
    return "%s / %s / %s%s%s" % (fmt_rate(rps), fmt_upr(upr), kind, fmt_lat(p99), marks)


def summary(res):
    o = []
    o.append("# HTTP benchmark: uring-buffers vs the servers users would pick instead")
    o.append("")
    o.append("Made by `bash bench/http.sh` (load generators: wrk and h2load, one thread each). HTTP/1.1 on 127.0.0.1, "
             "server pinned to CPU 0, load generator to CPU 1, a fresh server process per measurement, warmed up "
             "before it is measured. **us/req** = the server's CPU time (utime+stime of all its threads) per "
             "completed request (lower is better): the figure that still separates servers when the one-thread "
             "load generator saturates its CPU (client CPU >= %d%%, marked **!**). **E** = errors (non-2xx "
             "responses, socket errors, failed requests; see Anomalies). *others CPU %%* = CPU used meanwhile by "
             "processes that were neither the server nor the load generator, in %% of one CPU (>= %d: the machine "
             "was not quiet). Absolute figures move between runs on shared machines; ratios from one run are "
             "what count." % (CLIENT_BOUND, FOREIGN_LIMIT))
    o.append("")
    o.append("```")
    o.extend(res.header)
    o.append("```")
    o.append("")

    # ---- overview
    o.append("## Overview: req/s / server CPU us per request / p99 latency")
    o.append("")
    hdr = ["server"] + res.scenarios
    if res.rss:
        hdr.append("idle KiB/conn")
    rows = []
    for s in res.servers:
        row = [("**%s**" % label(s)) if is_ours(s) else label(s)]
        row += [cell(res, sc, s) for sc in res.scenarios]
        if res.rss:
            rr = rss_of(res, s)
            per = [rss_per_conn(r) for r in rr]
            per = [p for p in per if p is not None]
            row.append("%.2f" % (sum(per) / len(per)) if per else ("FAILED" if any(
                r.get("server") == s for r in res.rss) else "-"))
        rows.append(row)
    o.extend(md_table(hdr, rows))
    o.append("")
    for sc in res.scenarios:
        o.append("- `%s`: %s" % (sc, SCENARIO_TEXT.get(sc, sc)))
    if res.rss:
        o.append("- `idle KiB/conn`: server VmRSS growth per idle keep-alive connection (see below)")
    o.append("")
    if res.skipped:
        o.append("Not measured: " + "; ".join(l.replace("server=", "").replace(" skipped:", ":") for l in res.skipped))
        o.append("")

    # ---- ours against the peers
    ours = [s for s in res.servers if is_ours(s) and any((sc, s) in res.meas for sc in res.scenarios)]
    peers = [(p, n) for p, n in PEERS if p in res.servers]
    if ours and peers:
        o.append("## Our servers against the peers (same run)")
        o.append("")
        o.append("Server CPU per request of ours divided by the peer's (lower is better), and req/s of ours divided "
                 "by the best peer's (higher is better).")
        o.append("")
        all_peers = [s for s in res.servers if not is_ours(s)]
        hdr = ["server", "scenario", "us/req"] + ["vs %s" % n for _, n in peers] + ["req/s", "vs best peer"]
        rows = []
        for s in ours:
            for sc in res.scenarios:
                u, m = res.mean(sc, s, "srv_us_per_req"), res.mean(sc, s, "rps")
                if u is None and m is None:
                    continue
                row = [label(s), sc + (" (no echo)" if sc == "post-16k" and res.no_echo(s) else ""), fmt_upr(u)]
                for p, _ in peers:
                    pu = res.mean(sc, p, "srv_us_per_req")
                    row.append(fmt_ratio(u / pu if u and pu else None))
                best = max([res.mean(sc, p, "rps") or 0 for p in all_peers] or [0]) or None
                row += [fmt_rate(m), fmt_ratio(m / best if m and best else None)]
                rows.append(row)
        o.extend(md_table(hdr, rows, ["l", "l"] + ["r"] * (len(hdr) - 2)))
        o.append("")

    # ---- per scenario
    o.append("## Per scenario")
    o.append("")
    for sc in res.scenarios:
        o.append("### %s: %s" % (sc, SCENARIO_TEXT.get(sc, sc)))
        o.append("")
        rows = []
        for s in res.servers:
            runs = res.meas.get((sc, s), [])
            if not runs:
                continue
            if not res.ok_runs(sc, s):
                why = ",".join(sorted(set(r.get("FAILED", "no data") for r in runs)))
                rows.append([label(s), "FAILED (%s)" % why] + ["-"] * 9)
                continue
            cc = res.mean(sc, s, "client_cpu")
            kind = res.lat_kind(sc, s)
            rows.append([
                ("**%s**" % label(s)) if is_ours(s) else label(s),
                fmt_rate(res.mean(sc, s, "rps")),
                fmt_lat(res.mean(sc, s, "p50_us")) + (" (mean)" if kind == "max" else ""),
                fmt_lat(res.mean(sc, s, "p99_us")) + (" (max)" if kind == "max" else ""),
                fmt_upr(res.mean(sc, s, "srv_us_per_req")),
                "%.0f" % (res.mean(sc, s, "srv_cpu") or 0),
                "-" if cc is None else ("%.0f%s" % (cc, " !" if cc >= CLIENT_BOUND else "")),
                "%d" % (res.total_errors(sc, s) or 0),
                "%.0f" % (res.mean(sc, s, "read_bytes_per_req") or 0),
                "%.0f" % (res.mean(sc, s, "foreign_cpu") or 0),
            ])
        o.extend(md_table(["server", "req/s", "p50", "p99", "us/req", "srv CPU %", "client CPU %", "errors",
                           "bytes read/req", "others CPU %"], rows))
        o.append("")

    # ---- idle connections
    if res.rss:
        o.append("## Memory: idle keep-alive connections")
        o.append("")
        n = next((r.get("conns") for r in res.rss if r.get("conns")), "?")
        o.append("VmRSS of the server after a short warm-up (wrk, 4 connections, 1 s), then holding %s keep-alive "
                 "connections that each made one `GET /` and stay idle (`bench/http_idle_clients.js`), read a few "
                 "seconds after the last was answered (before a 10 s idle timeout could close any). Growth per "
                 "connection = (holding - idle) / connections open at the reading." % n)
        o.append("")
        rows = []
        for r in res.rss:
            s = r.get("server", "?")
            if "FAILED" in r:
                rows.append([label(s), "FAILED (%s)" % r["FAILED"]] + ["-"] * 7)
                continue
            i0, i1 = num(r.get("rss_idle_kb")), num(r.get("rss_conns_kb"))
            per = rss_per_conn(r)
            rows.append([
                ("**%s**" % label(s)) if is_ours(s) else label(s),
                "%s/%s" % (r.get("ok", "-"), r.get("conns", "-")),
                r.get("open", "-"),
                "-" if i0 is None else "%.1f" % (i0 / 1024),
                "-" if i1 is None else "%.1f" % (i1 / 1024),
                "-" if per is None else "%.2f" % per,
                r.get("threads", "-"),
                r.get("connect_s", "-"),
                r.get("read_after_s", "-"),
            ])
        o.extend(md_table(["server", "answered/conns", "open at reading", "idle MiB", "holding MiB",
                           "growth KiB/conn", "threads", "connect s", "read after s"], rows))
        o.append("")

    # ---- anomalies
    o.append("## Anomalies")
    o.append("")
    an = res.anomalies()
    o.extend(["- " + a for a in an] if an else ["No errors, failures or forced kills."])
    o.append("")
    cbs = [(sc, [s for s in res.servers if (res.mean(sc, s, "client_cpu") or 0) >= CLIENT_BOUND])
           for sc in res.scenarios]
    cbs = [(sc, ss) for sc, ss in cbs if ss]
    if cbs:
        o.append("Load generator >= %d%% of its CPU (req/s there is (partly) client-bound; compare us/req):"
                 % CLIENT_BOUND)
        o.append("")
        o.extend("- %s: %s" % (sc, ", ".join(label(s) for s in ss)) for sc, ss in cbs)
        o.append("")
    o.append("Chart: `chart.svg` (req/s and server CPU us per request). Raw lines: `raw.txt`, `rss.txt`; the load "
             "generators' outputs: `load/` in the results directory (%s)." % os.path.basename(os.path.abspath(res.dir)))
    o.append("")
    return "\n".join(o)


def esc(s):
    return str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def nice_max(v):
    if not v or v <= 0:
        return 1.0
    p = 10 ** len(str(int(v))) / 10 if v >= 1 else 0.1
    while p > v:
        p /= 10
    for m in (1, 1.2, 1.6, 2, 2.4, 3.2, 4, 6, 8, 10):  # a quarter of each is a round number
        if m * p >= v:
            return m * p
    return 10 * p


def chart(res):
    servers = [s for s in res.servers if any((sc, s) in res.meas for sc in res.scenarios)]
    scen = res.scenarios
    colours = {}
    extra = iter(EXTRA_COLOURS * 4)
    for s in servers:
        colours[s] = COLOURS.get(s) or next(extra)
    panels = [("rps", "requests/s (higher is better)", fmt_rate),
              ("srv_us_per_req", "server CPU us per request (lower is better)", fmt_upr)]
    ml, mr, mt = 70, 20, 86
    ph, pgap = 220, 70
    legend_cols = 3
    legend_rows = (len(servers) + legend_cols - 1) // legend_cols
    pw = max(780, len(scen) * (len(servers) * 14 + 30))
    bar_w = int(max(14, min(30, (pw / max(1, len(scen)) - 50) / max(1, len(servers)))))
    gap_w = (pw - len(scen) * len(servers) * bar_w) / max(1, len(scen))
    W = ml + pw + mr
    H = mt + len(panels) * (ph + pgap) + 30 + legend_rows * 18
    e = []
    e.append('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
             'font-family="Helvetica, Arial, sans-serif" font-size="12">' % (W, H, W, H))
    e.append('<rect width="100%" height="100%" fill="white"/>')
    e.append('<text x="%d" y="24" font-size="16" font-weight="bold">HTTP/1.1 on 127.0.0.1: requests/s and server '
             'CPU per request</text>' % ml)
    machine = ", ".join(p for p in res.hval("machine").split(", ") if not p.startswith(("mem=", "virt=")))
    kernel = " ".join(res.hval("kernel").split()[:2])
    e.append('<text x="%d" y="42" fill="#333">%s</text>' % (ml, esc(
        "%s | %s | %s | %s" % (machine, kernel, res.hval("runtimes"), res.hval("date")))))
    e.append('<text x="%d" y="58" fill="#333">%s</text>' % (ml, esc(
        "server on CPU 0, wrk / h2load (1 thread) on CPU 1; %s" % res.hval("params").split(" rss=")[0])))
    e.append('<text x="%d" y="74" fill="#333">%s</text>' % (ml, esc(
        "! = load generator >= %d%% busy (req/s client-bound), E = errors, * = POST /echo does not echo, "
        "x = failed" % CLIENT_BOUND)))
    for pi, (key, title, fmt) in enumerate(panels):
        top = mt + pi * (ph + pgap) + 20
        y0 = top + ph
        vals = {(sc, s): res.mean(sc, s, key) for sc in scen for s in servers}
        hi = nice_max(max([v for v in vals.values() if v] or [1]))
        e.append('<text x="%d" y="%d" font-size="13" font-weight="bold">%s</text>' % (ml, top - 8, esc(title)))
        for k in range(5):
            v = hi * k / 4
            yy = y0 - ph * k / 4
            e.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s"/>' % (
                ml, yy, ml + pw, yy, "#999" if k == 0 else "#e5e5e5"))
            e.append('<text x="%d" y="%.1f" text-anchor="end" fill="#333">%s</text>' % (
                ml - 6, yy + 4, fmt_rate(v) if key == "rps" else "%g" % round(v, 3)))
        e.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>' % (ml, top, ml, y0))
        x = ml + gap_w / 2
        for sc in scen:
            gx = x
            for s in servers:
                v = vals[(sc, s)]
                if v and v > 0:
                    h = ph * v / hi
                    marks = ""
                    if (res.mean(sc, s, "client_cpu") or 0) >= CLIENT_BOUND:
                        marks += "!"
                    if res.total_errors(sc, s):
                        marks += "E"
                    if sc == "post-16k" and res.no_echo(s):
                        marks += "*"
                    e.append('<rect x="%.1f" y="%.1f" width="%d" height="%.1f" fill="%s"%s><title>%s</title></rect>' % (
                        x, y0 - h, bar_w - 2, max(0.5, h), colours[s],
                        ' stroke="black" stroke-width="0.6"' if is_ours(s) else "",
                        esc("%s @ %s: %s req/s, %s us/req, p99 %s" % (
                            label(s), sc, fmt_rate(res.mean(sc, s, "rps")),
                            fmt_upr(res.mean(sc, s, "srv_us_per_req")), fmt_lat(res.mean(sc, s, "p99_us"))))))
                    e.append('<text transform="translate(%.1f,%.1f) rotate(-90)" font-size="9" fill="#333">%s%s'
                             '</text>' % (x + bar_w / 2 + 2, y0 - h - 3, fmt(v), marks))
                elif (sc, s) in res.meas:
                    e.append('<text x="%.1f" y="%.1f" text-anchor="middle" font-size="11" fill="red">x</text>' % (
                        x + bar_w / 2, y0 - 4))
                x += bar_w
            e.append('<text x="%.1f" y="%d" text-anchor="middle">%s</text>' % ((gx + x) / 2, y0 + 16, esc(sc)))
            x += gap_w
    ly = mt + len(panels) * (ph + pgap) + 16
    col_w = pw // legend_cols
    for i, s in enumerate(servers):
        lx = ml + (i % legend_cols) * col_w
        yy = ly + (i // legend_cols) * 18
        e.append('<rect x="%d" y="%d" width="12" height="12" fill="%s"%s/>' % (
            lx, yy - 10, colours[s], ' stroke="black" stroke-width="0.6"' if is_ours(s) else ""))
        e.append('<text x="%d" y="%d">%s</text>' % (lx + 18, yy, esc(label(s))))
    e.append("</svg>")
    return "\n".join(e) + "\n"


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    d = sys.argv[1]
    if not os.path.isdir(d):
        sys.exit("http_report.py: no such directory: %s" % d)
    res = Results(d)
    md = summary(res)
    with open(os.path.join(d, "summary.md"), "w") as f:
        f.write(md)
    with open(os.path.join(d, "chart.svg"), "w") as f:
        f.write(chart(res))
    print(md)
    print("wrote %s and %s" % (os.path.join(d, "summary.md"), os.path.join(d, "chart.svg")), file=sys.stderr)


if __name__ == "__main__":
    main()
