#!/usr/bin/env python3
"""Turn a results directory written by bench/run.sh into summary.md and chart.svg (stdlib only).

usage: python3 bench/report.py RESULTS_DIR

Reads RESULTS_DIR/header.txt, raw.txt (one echo-load line per measurement) and rss.txt, writes
RESULTS_DIR/summary.md (a table per scenario, the ratios of our servers against Bun.listen,
Deno.listen and the C liburing ceiling, the RSS table, anomalies) and RESULTS_DIR/chart.svg
(grouped bars of server CPU time per echoed message, per scenario, one colour per server).
With several runs (RUNS>1) every figure is the median over the runs that succeeded.
"""
import math
import os
import sys
from collections import OrderedDict

LABELS = {
    "ours-deno": "ours on Deno",
    "ours-bun": "ours on Bun",
    "ours-deno-legacy": "ours on Deno, legacy pool",
    "ours-bun-legacy": "ours on Bun, legacy pool",
    "ours-deno-safe": "ours on Deno, --safe",
    "ours-bun-safe": "ours on Bun, --safe",
    "ours-deno-dedicated": "ours on Deno, --dedicated",
    "ours-bun-dedicated": "ours on Bun, --dedicated",
    "bun-listen": "Bun.listen",
    "deno-listen": "Deno.listen (64 KiB buf)",
    "deno-listen-16k": "Deno.listen (16 KiB buf)",
    "node-net": "Node net (pipe)",
    "c-uring": "C liburing ceiling",
    "c-epoll": "C epoll",
}
COLOURS = {
    "ours-deno": "#d62728",
    "ours-bun": "#ff7f0e",
    "ours-deno-legacy": "#8c564b",
    "ours-bun-legacy": "#e377c2",
    "ours-deno-safe": "#f7b6d2",
    "ours-bun-safe": "#ffbb78",
    "ours-deno-dedicated": "#ff9896",
    "ours-bun-dedicated": "#dbdb8d",
    "bun-listen": "#1f77b4",
    "deno-listen": "#2ca02c",
    "deno-listen-16k": "#98df8a",
    "node-net": "#9467bd",
    "c-uring": "#555555",
    "c-epoll": "#aaaaaa",
}
EXTRA_COLOURS = ["#17becf", "#bcbd22", "#7f7f7f", "#aec7e8", "#c5b0d5", "#c49c94", "#dbdb8d", "#9edae5"]
JS_PEERS = [("bun-listen", "Bun.listen"), ("deno-listen", "Deno.listen")]
CEILING = "c-uring"
RATIO_SCENARIOS = ["64/64/16", "1000/64/1"]
CLIENT_BOUND = 90.0  # client_busy >= this: the load generator was (partly) the limit
FOREIGN_LIMIT = 10.0  # foreign_cpu (other processes, % of one CPU) >= this: the machine was not quiet


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


def fmt_us(v):
    if v is None:
        return "-"
    if v >= 1000:
        return "%.1f ms" % (v / 1000)
    if v >= 100:
        return "%.0f" % v
    return "%.1f" % v


def fmt_upm(v):
    if v is None or v < 0:
        return "-"
    if v >= 10:
        return "%.1f" % v
    return "%.2f" % v


def fmt_pct(v):
    return "-" if v is None else "%.0f" % v


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
        self.header = []
        hp = os.path.join(d, "header.txt")
        if os.path.exists(hp):
            self.header = [l.rstrip("\n") for l in open(hp)]
        self.meas = OrderedDict()  # (scenario, server) -> [dict per run]
        self.servers = OrderedDict()
        self.scenarios = OrderedDict()
        rp = os.path.join(d, "raw.txt")
        for line in open(rp) if os.path.exists(rp) else []:
            r = parse(line)
            if "server" not in r or "conns" not in r:
                continue
            sc = "%s/%s/%s" % (r.get("conns"), r.get("size"), r.get("depth"))
            self.servers[r["server"]] = 1
            self.scenarios[sc] = 1
            self.meas.setdefault((sc, r["server"]), []).append(r)
        self.rss = []
        sp = os.path.join(d, "rss.txt")
        for line in open(sp) if os.path.exists(sp) else []:
            r = parse(line)
            if "server" in r:
                self.rss.append(r)
        order = list(LABELS)
        self.servers = sorted(self.servers, key=lambda x: (order.index(x) if x in order else len(order)))
        self.scenarios = list(self.scenarios)

    def hval(self, key):
        for l in self.header:
            if l.startswith(key + ":"):
                return l.split(":", 1)[1].strip()
        return ""

    def ok_runs(self, sc, srv):
        return [r for r in self.meas.get((sc, srv), []) if "FAILED" not in r and num(r.get("msgs_per_s"))]

    def median(self, sc, srv, key):
        # The median: a run that met a host stall (invisible from inside the VM) does not move it.
        v = sorted(x for x in (num(r.get(key)) for r in self.ok_runs(sc, srv)) if x is not None and x >= 0)
        if not v:
            return None
        h = len(v) // 2
        return v[h] if len(v) % 2 else (v[h - 1] + v[h]) / 2

    def total(self, sc, srv, key):
        v = [num(r.get(key)) for r in self.meas.get((sc, srv), [])]
        v = [x for x in v if x is not None]
        return sum(v) if v else None

    def anomalies(self):
        out = []
        for (sc, srv), runs in self.meas.items():
            for r in runs:
                why = []
                if "FAILED" in r:
                    why.append("FAILED=" + r["FAILED"])
                if (num(r.get("errors")) or 0) > 0:
                    why.append("errors=" + r["errors"])
                if "server_died" in r:
                    why.append("server died during the measurement")
                a, c = num(r.get("active")), num(r.get("conns"))
                if a is not None and c is not None and a < c:
                    why.append("active=%d < conns=%d (starved connections)" % (a, c))
                if (num(r.get("closed")) or 0) > 0:
                    why.append("closed=" + r["closed"])
                if r.get("stop") == "kill":
                    why.append("did not exit within 3 s of SIGTERM (killed)")
                if (num(r.get("foreign_cpu")) or 0) >= FOREIGN_LIMIT:
                    why.append("other processes used %s of a CPU meanwhile (srv us/msg inflated?)" % r["foreign_cpu"])
                if (num(r.get("steal")) or 0) >= FOREIGN_LIMIT:
                    why.append("hypervisor steal %s" % r["steal"])
                if why:
                    out.append("run %s, %s, %s: %s" % (r.get("run", "?"), label(srv), sc, "; ".join(why)))
        for r in self.rss:
            why = []
            if "FAILED" in r:
                why.append("FAILED=" + r["FAILED"])
            if (num(r.get("errors")) or 0) > 0:
                why.append("errors=" + r["errors"])
            if num(r.get("ok")) is not None and num(r.get("conns")) is not None and num(r["ok"]) < num(r["conns"]):
                why.append("only %s of %s connections echoed" % (r["ok"], r["conns"]))
            if "ready" in r and r.get("ready") == "none":
                why.append("load generator never reported ready")
            if "rss_more_kb" in r and not r.get("more_ok"):
                why.append("the connections beyond never reported ready")
            if "server_died" in r:
                why.append("server died")
            if r.get("stop") == "kill":
                why.append("did not exit within 3 s of SIGTERM (killed)")
            if why:
                out.append("RSS test, %s: %s" % (label(r.get("server", "?")), "; ".join(why)))
        return out

    def client_bound(self):
        out = []
        for sc in self.scenarios:
            srvs = [s for s in self.servers if (self.median(sc, s, "client_busy") or 0) >= CLIENT_BOUND]
            if srvs:
                out.append((sc, srvs))
        return out


def rss_rows(res):
    rows = []
    for r in res.rss:
        i0, i1 = num(r.get("rss_idle_kb")), num(r.get("rss_conns_kb"))
        ok = num(r.get("ok"))
        per = (i1 - i0) / ok if i0 is not None and i1 is not None and ok else None
        i2, ok2 = num(r.get("rss_more_kb")), num(r.get("more_ok"))
        more = (i2 - i1) / ok2 if i2 is not None and i1 is not None and ok2 else None
        rows.append((r, i0, i1, ok, per, more))
    return rows


def summary(res):
    o = []
    machine = res.hval("machine")
    date = res.hval("date")
    o.append("# Echo benchmark: uring-buffers vs the servers users would pick instead")
    o.append("")
    o.append("Made by `bash bench/run.sh` (instrument: the team's C load generator `echo-load`, which verifies every "
             "echoed byte). TCP echo on 127.0.0.1, server pinned to CPU 0, load generator to CPU 1, one server "
             "process per measurement. **srv us/msg** = server-CPU time per echoed message (lower is better): the "
             "figure that still separates servers when the load generator saturates its CPU "
             "(client busy >= %d%%, marked **!**). *others CPU %%* = CPU used meanwhile by processes that were "
             "neither the server nor the load generator, in %% of one CPU (>= %d: the machine was not quiet and "
             "srv us/msg may be inflated). Absolute figures move between runs on shared machines; "
             "ratios from one run are what count." % (CLIENT_BOUND, FOREIGN_LIMIT))
    o.append("")
    o.append("```")
    o.extend(res.header)
    o.append("```")
    o.append("")

    # ---- ratios
    ours = [s for s in res.servers if is_ours(s)]
    o.append("## Our servers against the peers (same run)")
    o.append("")
    o.append("Server CPU per message of ours divided by the peer's (target: <= 0.90x Bun.listen and Deno.listen, "
             "<= 1.15x the C liburing ceiling), and msgs/s of ours divided by the best JS peer's "
             "(target: >= 1.00x).")
    o.append("")
    hdr = ["server", "conns/size/depth", "srv us/msg"] + ["vs %s" % n for _, n in JS_PEERS] + \
          ["vs C uring", "msgs/s", "msgs/s vs best JS peer", "targets"]
    rows = []
    js_all = [s for s in ("bun-listen", "deno-listen", "node-net") if s in res.servers]
    for s in ours:
        for sc in RATIO_SCENARIOS:
            if sc not in res.scenarios:
                continue
            u = res.median(sc, s, "srv_us_per_msg")
            m = res.median(sc, s, "msgs_per_s")
            row = [label(s), sc, fmt_upm(u)]
            verdict = []
            for peer, name in JS_PEERS:
                pu = res.median(sc, peer, "srv_us_per_msg")
                r = u / pu if u and pu else None
                row.append(fmt_ratio(r))
                if r is not None:
                    verdict.append(r <= 0.90)
            cu = res.median(sc, CEILING, "srv_us_per_msg")
            r = u / cu if u and cu else None
            row.append(fmt_ratio(r))
            if r is not None:
                verdict.append(r <= 1.15)
            best = max([res.median(sc, p, "msgs_per_s") or 0 for p in js_all] or [0]) or None
            rm = m / best if m and best else None
            row += [fmt_rate(m), fmt_ratio(rm)]
            if rm is not None:
                verdict.append(rm >= 1.0)
            row.append("-" if not verdict else ("met" if all(verdict) else "missed %d/%d" % (
                verdict.count(False), len(verdict))))
            rows.append(row)
    if rows:
        o.extend(md_table(hdr, rows))
    else:
        o.append("(no measurement of ours at %s)" % " / ".join(RATIO_SCENARIOS))
    o.append("")

    if "1/64/1" in res.scenarios and ours:
        rows = []
        for s in ours:
            p = res.median("1/64/1", s, "p99_us")
            row = [label(s), fmt_us(p)]
            for peer, name in JS_PEERS:
                pp = res.median("1/64/1", peer, "p99_us")
                row.append("%s (%s)" % (fmt_us(pp), fmt_ratio(p / pp if p and pp else None)))
            rows.append(row)
        o.append("p99 latency at 1/64/1 (target: no worse than the JS peers'), us:")
        o.append("")
        o.extend(md_table(["server", "p99 us"] + ["%s p99 us (ours/peer)" % n for _, n in JS_PEERS], rows))
        o.append("")

    # throughput everywhere
    if ours and js_all:
        lines = []
        for s in ours:
            for sc in res.scenarios:
                m = res.median(sc, s, "msgs_per_s")
                best_peer = max(js_all, key=lambda p: res.median(sc, p, "msgs_per_s") or 0)
                b = res.median(sc, best_peer, "msgs_per_s")
                if m is not None and b and m < b:
                    lines.append("%s at %s: %s msgs/s < %s's %s (%.2fx)" % (
                        label(s), sc, fmt_rate(m), label(best_peer), fmt_rate(b), m / b))
        o.append("Throughput at least equal to the best JS peer everywhere: " + (
            "yes." if not lines else "no, below it in %d cases:" % len(lines)))
        o.append("")
        o.extend("- " + l for l in lines)
        if lines:
            o.append("")

    # ---- overview matrix
    o.append("## Overview: srv us/msg and msgs/s per scenario")
    o.append("")
    rows = []
    for sc in res.scenarios:
        row = [sc]
        for s in res.servers:
            u, m = res.median(sc, s, "srv_us_per_msg"), res.median(sc, s, "msgs_per_s")
            cb = (res.median(sc, s, "client_busy") or 0) >= CLIENT_BOUND
            row.append("-" if m is None else "%s / %s%s" % (fmt_upm(u), fmt_rate(m), " !" if cb else ""))
        rows.append(row)
    o.extend(md_table(["conns/size/depth"] + [label(s) for s in res.servers], rows))
    o.append("")

    # ---- per scenario
    o.append("## Per scenario")
    o.append("")
    for sc in res.scenarios:
        c, m, p = sc.split("/")
        o.append("### %s connections, %s B messages, depth %s" % (c, m, p))
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
            cb = res.median(sc, s, "client_busy")
            err = res.total(sc, s, "errors")
            act = res.median(sc, s, "active")
            rows.append([
                ("**%s**" % label(s)) if is_ours(s) else label(s),
                fmt_rate(res.median(sc, s, "msgs_per_s")),
                fmt_us(res.median(sc, s, "p50_us")),
                fmt_us(res.median(sc, s, "p99_us")),
                fmt_upm(res.median(sc, s, "srv_us_per_msg")),
                "%.0f" % (res.median(sc, s, "srv_cpu") or 0),
                "-" if cb is None else ("%.0f%s" % (cb, " !" if cb >= CLIENT_BOUND else "")),
                "%.0f" % (res.median(sc, s, "client_cpu") or 0),
                "-" if err is None else "%d" % err,
                "-" if act is None else "%.0f" % act,
                fmt_pct(res.median(sc, s, "foreign_cpu")),
            ])
        o.extend(md_table(["server", "msgs/s", "p50 us", "p99 us", "srv us/msg", "srv CPU %", "client busy %",
                           "client CPU %", "errors", "active", "others CPU %"], rows))
        o.append("")

    # ---- RSS
    rr = rss_rows(res)
    if rr:
        o.append("## Memory: idle connections")
        o.append("")
        n = rr[0][0].get("conns", "?")
        o.append("VmRSS of the server idle, then holding %s idle connections that each echoed one 64-byte message "
                 "(target for ours: growth under 1 KiB per connection, pool pages included). The growth includes "
                 "one-off costs of the first traffic (code pages, compiled code, the heap's first growth); "
                 "*KiB/conn beyond* is the growth per connection of %s more on top of those (below zero where a "
                 "collection returned more memory meanwhile than the connections took)." % (n, rr[0][0].get("more_ok", "-")))
        o.append("")
        rows = []
        for r, i0, i1, ok, per, more in rr:
            if "FAILED" in r:
                rows.append([label(r["server"]), "FAILED (%s)" % r["FAILED"]] + ["-"] * 7)
                continue
            rows.append([
                ("**%s**" % label(r["server"])) if is_ours(r["server"]) else label(r["server"]),
                "%s/%s" % (r.get("ok", "-"), r.get("conns", "-")),
                r.get("errors", "-"),
                "-" if i0 is None else "%.1f" % (i0 / 1024),
                "-" if i1 is None else "%.1f" % (i1 / 1024),
                "-" if per is None else "%.2f" % per,
                "-" if more is None else "%.2f" % more,
                r.get("threads", "-"),
                r.get("connect_s", "-"),
            ])
        o.extend(md_table(["server", "echoed/conns", "errors", "idle MiB", "holding MiB", "growth KiB/conn",
                           "KiB/conn beyond", "threads", "connect s"], rows))
        o.append("")

    # ---- anomalies
    o.append("## Anomalies")
    o.append("")
    an = res.anomalies()
    cbs = res.client_bound()
    if not an:
        o.append("No errors, failures, starved connections or forced kills.")
    else:
        o.extend("- " + a for a in an)
    o.append("")
    if cbs:
        o.append("Load generator busy >= %d%% (throughput there is (partly) client-bound; compare srv us/msg):"
                 % CLIENT_BOUND)
        o.append("")
        o.extend("- %s: %s" % (sc, ", ".join(label(s) for s in srvs)) for sc, srvs in cbs)
        o.append("")
    o.append("Chart: `chart.svg` (server CPU us per message, log scale). Raw lines: `raw.txt`, `rss.txt` in the "
             "results directory (%s)." % os.path.basename(os.path.abspath(res.dir)))
    o.append("")
    return "\n".join(o)


def esc(s):
    return str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def chart(res):
    servers = res.servers
    scen = res.scenarios
    colours = {}
    extra = iter(EXTRA_COLOURS * 4)
    for s in servers:
        colours[s] = COLOURS.get(s) or next(extra)
    vals = {(sc, s): res.median(sc, s, "srv_us_per_msg") for sc in scen for s in servers}
    pos = [v for v in vals.values() if v and v > 0]
    lo = 10 ** math.floor(math.log10(min(pos))) if pos else 0.1
    hi = 10 ** math.ceil(math.log10(max(pos))) if pos else 100
    if hi <= lo:
        hi = lo * 10

    bar_w, gap_w = 11, 18
    group_w = max(1, len(servers)) * bar_w + gap_w
    ml, mr, mt, mb = 80, 20, 78, 110
    legend_cols = 4
    legend_rows = (len(servers) + legend_cols - 1) // legend_cols
    ph = 380
    pw = max(860, len(scen) * group_w)
    if scen:  # spread the groups over the plot width
        gap_w = (pw - len(scen) * len(servers) * bar_w) / len(scen)
    W = ml + pw + mr
    H = mt + ph + mb + legend_rows * 18
    y0 = mt + ph

    def y(v):
        return y0 - (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)) * ph

    e = []
    e.append('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
             'font-family="Helvetica, Arial, sans-serif" font-size="12">' % (W, H, W, H))
    e.append('<rect width="100%" height="100%" fill="white"/>')
    e.append('<text x="%d" y="24" font-size="16" font-weight="bold">Server CPU time per echoed message '
             '(us, log scale; lower is better)</text>' % ml)
    machine = ", ".join(p for p in res.hval("machine").split(", ") if not p.startswith(("mem=", "virt=")))
    kernel = " ".join(res.hval("kernel").split()[:2])
    e.append('<text x="%d" y="44" font-size="12" fill="#333">%s</text>' % (ml, esc(
        "%s | %s | %s | %s" % (machine, kernel, res.hval("runtimes"), res.hval("date")))))
    e.append('<text x="%d" y="62" font-size="12" fill="#333">%s</text>' % (ml, esc(
        "TCP echo on 127.0.0.1, server on CPU 0, load generator (echo-load) on CPU 1; %s" % (
            res.hval("params").split(" rss=")[0]))))
    # grid + y ticks (1, 2, 5 per decade)
    d = lo
    while d <= hi * 1.0001:
        for m in (1, 2, 5):
            v = d * m
            if v < lo * 0.9999 or v > hi * 1.0001:
                continue
            yy = y(v)
            major = m == 1
            e.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="%s" stroke-width="1"/>' % (
                ml, yy, ml + pw, yy, "#bbb" if major else "#e5e5e5"))
            e.append('<text x="%d" y="%.1f" text-anchor="end" fill="#333">%s</text>' % (
                ml - 6, yy + 4, ("%g" % v)))
        d *= 10
    # axes
    e.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>' % (ml, mt, ml, y0))
    e.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>' % (ml, y0, ml + pw, y0))
    e.append('<text transform="translate(%d,%d) rotate(-90)" text-anchor="middle" font-size="13">'
             'server CPU us per message</text>' % (22, mt + ph // 2))
    # bars
    x = ml + gap_w / 2
    for sc in scen:
        gx = x
        for s in servers:
            v = vals[(sc, s)]
            if v and v > 0:
                yy = y(v)
                cb = (res.median(sc, s, "client_busy") or 0) >= CLIENT_BOUND
                e.append('<rect x="%.1f" y="%.1f" width="%d" height="%.1f" fill="%s"%s><title>%s</title></rect>' % (
                    x, yy, bar_w - 1, max(0.5, y0 - yy), colours[s],
                    ' stroke="black" stroke-width="0.6"' if is_ours(s) else "",
                    esc("%s @ %s: %s us/msg, %s msgs/s, client busy %s%%" % (
                        label(s), sc, fmt_upm(v), fmt_rate(res.median(sc, s, "msgs_per_s")),
                        "%.0f" % (res.median(sc, s, "client_busy") or 0)))))
                e.append('<text transform="translate(%.1f,%.1f) rotate(-90)" font-size="8" fill="#333">%s%s</text>' % (
                    x + bar_w / 2 + 3, yy - 3, fmt_upm(v), "!" if cb else ""))
            elif (sc, s) in res.meas:
                e.append('<text x="%.1f" y="%.1f" text-anchor="middle" font-size="11" fill="red">x</text>' % (
                    x + bar_w / 2, y0 - 4))
            x += bar_w
        e.append('<text x="%.1f" y="%d" text-anchor="middle" font-size="12">%s</text>' % (
            (gx + x) / 2, y0 + 18, esc(sc)))
        x += gap_w
    e.append('<text x="%d" y="%d" text-anchor="middle" font-size="13">scenario: connections / message bytes / '
             'pipelining depth   (! = load generator >= %d%% busy, x = failed)</text>' % (
                 ml + pw // 2, y0 + 42, CLIENT_BOUND))
    # legend
    ly = y0 + 66
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
        sys.exit("report.py: no such directory: %s" % d)
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
