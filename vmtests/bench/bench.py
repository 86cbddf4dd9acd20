#!/usr/bin/env python3
"""Rows and tables of the meshbpf benchmark suite (vmtests/bench/run.sh).

  record            one shaped TCP measurement -> one JSON line
  record-unshaped   one unshaped TCP + UDP measurement -> one JSON line
  record-udp        one fixed-rate UDP measurement -> one JSON line
  show              a JSON line (stdin) as one readable log line
  report            all JSON lines -> Markdown tables, gnuplot chart data
"""
import argparse
import json
import os
import statistics
import sys

SCENARIOS = {
    "1": "two uplinks 40 + 20 Mbit/s, clean, 1 flow",
    "2": "three uplinks 50 + 20 + 5 Mbit/s, 1 flow",
    "3": "40 + 20 Mbit/s, 2% random loss on the 20, 1 flow",
    "4": "40 + 20 Mbit/s, 20 ms one-way delay on the 20, 1 flow",
    "5": "40 + 20 Mbit/s, clean, 8 parallel flows",
    "6": "40 + 20 Mbit/s, 15 ms one-way delay on both (an internet RTT), 1 flow",
    "7": "DSL + LTE: 50 Mbit/s at 8 ms one-way, 20 Mbit/s at 35 ms, 1 flow",
    "8": "40 + 20 Mbit/s, 1% random loss on both, 1 flow",
    "9": "40 + 20 Mbit/s, bursty: tbf buckets of 50 ms of rate, 1 flow",
    "10": "40 + 20 Mbit/s, the 20 at 5 Mbit/s from 10 s to 20 s, 1 flow, 30 s (mean)",
}
METHODS = ("single", "bond", "mptcp")
UDP_SCENARIOS = {
    "11": "UDP at 90% of 40 + 20 Mbit/s (54 Mbit/s), clean",
    "12": "UDP at 90% of DSL + LTE (63 Mbit/s): 50 Mbit/s at 8 ms, 20 Mbit/s at 35 ms",
}
UDP_METHODS = ("single", "bond")


def read_nstat(path):
    counters = {}
    for line in open(path):
        parts = line.split()
        if len(parts) >= 2 and not line.startswith("#"):
            counters[parts[0]] = int(parts[1])
    return counters


def read_links(path):
    return {name: (int(tx), int(rx)) for name, tx, rx in (l.split() for l in open(path))}


def delta(after, before, name):
    return after.get(name, 0) - before.get(name, 0)


def record(a):
    row = {"kind": "tcp", "scenario": a.scenario, "method": a.method, "direction": a.direction,
           "streams": int(a.streams), "rep": int(a.rep),
           "rates": [float(r) for r in a.rates.split()], "mbit": None}
    if a.error:
        row["error"] = a.error.strip()[-300:]
    try:
        report = json.load(open(a.iperf))
        row["mbit"] = report["end"]["sum_received"]["bits_per_second"] / 1e6
        row["retransmits"] = report["end"]["sum_sent"].get("retransmits")
        # The client's 1 s reports: what it received on a download, sent on an upload.
        row["interval_mbit"] = [round(i["sum"]["bits_per_second"] / 1e6, 2)
                                for i in report["intervals"] if not i["sum"].get("omitted")]
    except (OSError, ValueError, KeyError, TypeError) as e:
        row.setdefault("error", "no iperf3 result: %s" % e)
    receiver, sender = ("server", "client") if a.direction == "up" else ("client", "server")
    rb, ra = (read_nstat(os.path.join(d, receiver + ".nstat")) for d in (a.before, a.after))
    sb, sa = (read_nstat(os.path.join(d, sender + ".nstat")) for d in (a.before, a.after))
    cb, ca = (read_nstat(os.path.join(d, "client.nstat")) for d in (a.before, a.after))
    # Receiver's reordering: segments that arrived out of order (queued in
    # the out-of-order queue) per segment received; and the reordering
    # events the sender detected (SACK/timestamps/Reno).
    row["rx_segments"] = delta(ra, rb, "TcpInSegs")
    row["rx_ofo"] = delta(ra, rb, "TcpExtTCPOFOQueue")
    row["sender_reorder_events"] = sum(delta(sa, sb, n) for n in (
        "TcpExtTCPSACKReorder", "TcpExtTCPTSReorder", "TcpExtTCPRenoReorder"))
    # The sender's segments and retransmitted segments, every subflow of
    # MPTCP included (iperf3's own count misses those).
    row["tx_segments"] = delta(sa, sb, "TcpOutSegs")
    row["tx_retrans"] = delta(sa, sb, "TcpRetransSegs")
    row["mptcp_joins"] = delta(ca, cb, "MPTcpExtMPJoinSynAckRx")
    if a.rate_step:
        row["rate_step"] = a.rate_step
    lb, la = read_links(os.path.join(a.before, "links")), read_links(os.path.join(a.after, "links"))
    index = 0 if a.direction == "up" else 1
    moved = {name: la[name][index] - lb[name][index] for name in la}
    total = max(sum(moved.values()), 1)
    row["link_share"] = {name: round(v / total, 3) for name, v in sorted(moved.items())}
    print(json.dumps(row))


def record_unshaped(a):
    row = {"kind": "unshaped", "method": a.method, "rep": int(a.rep)}
    try:
        tcp = json.load(open(a.tcp))
        row["tcp_gbit"] = tcp["end"]["sum_received"]["bits_per_second"] / 1e9
        udp = json.load(open(a.udp))["end"]["sum"]
        row["udp_pps"] = (udp["packets"] - udp["lost_packets"]) / udp["seconds"]
        row["udp_lost_percent"] = udp["lost_percent"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        row["error"] = "no iperf3 result: %s" % e
    print(json.dumps(row))


def record_udp(a):
    row = {"kind": "udp", "scenario": a.scenario, "method": a.method, "direction": a.direction,
           "rep": int(a.rep), "rates": [float(r) for r in a.rates.split()],
           "offered_mbit": float(a.offered_mbit)}
    if a.error:
        row["error"] = a.error.strip()[-300:]
    try:
        report = json.load(open(a.udp))
        # The receiver's view: on an upload the server's (its JSON comes
        # back with --get-server-output), on a download the client's.
        end = report["server_output_json"]["end"] if a.direction == "up" else report["end"]
        s = end["sum_received"]
        # Delivered: what arrived against what was offered. A sender whose
        # own uplink queue is full (single link, upload) sends less without
        # numbering the rest, so iperf3's lost count misses those.
        row["mbit"] = s["bits_per_second"] / 1e6
        row["delivered_percent"] = 100.0 * row["mbit"] / row["offered_mbit"]
        row["received"] = s["packets"] - s["lost_packets"]
        row["lost"] = s["lost_packets"]
        row["lost_percent"] = s["lost_percent"]
        row["jitter_ms"] = s["jitter_ms"]
        row["out_of_order"] = sum(st["udp"].get("out_of_order", 0) for st in end["streams"])
    except (OSError, ValueError, KeyError, TypeError, ZeroDivisionError) as e:
        row.setdefault("error", "no iperf3 result: %s" % e)
    print(json.dumps(row))


def show(_):
    row = json.loads(sys.stdin.readline())
    if row["kind"] == "udp":
        print("[bench] scenario %s %-6s %-4s rep %d: UDP %.0f Mbit/s offered, delivered %s%%, "
              "iperf3 lost %s, out of order %s, jitter %s ms %s" % (
                  row["scenario"], row["method"], row["direction"], row["rep"],
                  row["offered_mbit"], fmt(row.get("delivered_percent"), 1), row.get("lost"),
                  row.get("out_of_order"), fmt(row.get("jitter_ms"), 2), row.get("error", "")))
        return
    if row["kind"] == "unshaped":
        print("[bench] unshaped %-5s rep %d: TCP %s Gbit/s, UDP 64 B %s packets/s %s" % (
            row["method"], row["rep"], fmt(row.get("tcp_gbit"), 2), fmt(row.get("udp_pps"), 0),
            row.get("error", "")))
        return
    print("[bench] scenario %s %-6s %-4s P%d rep %d: %s Mbit/s (%s of sum), retr %s/%s, ofo %s/%s, "
          "links %s %s" % (
              row["scenario"], row["method"], row["direction"], row["streams"], row["rep"],
              fmt(row["mbit"], 1), pct(row["mbit"], sum(row["rates"])), row.get("tx_retrans"),
              row.get("tx_segments"), row["rx_ofo"], row["rx_segments"], row["link_share"],
              row.get("error", "")))


def fmt(v, digits):
    return "-" if v is None else "%.*f" % (digits, v)


def pct(v, whole):
    return "-" if v is None else "%.0f%%" % (100 * v / whole)


def spread(values, digits, unit=""):
    """median (min-max) of the values that exist."""
    values = [v for v in values if v is not None]
    if not values:
        return "failed"
    return "%.*f%s (%.*f-%.*f)" % (digits, statistics.median(values), unit, digits, min(values),
                                   digits, max(values))


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def per_segment(rows, count, whole):
    """Median over the rows of count / whole, as a percentage; "-" without data
    (rows recorded before a counter existed lack it)."""
    v = med([r[count] / r[whole] for r in rows if r.get(whole) and count in r])
    return "-" if v is None else "%.2f%%" % (100 * v)


def rate_step_series(tcp):
    """Scenario 10 as gnuplot data: per second, the median Mbit/s of each method
    over the runs, and the sum of the link rates then."""
    rows = [r for r in tcp if r.get("rate_step") and r.get("interval_mbit")]
    if not rows:
        return ""
    link, mbit, start, end = (int(v) for v in rows[0]["rate_step"].split(":"))
    rates = rows[0]["rates"]
    seconds = max(len(r["interval_mbit"]) for r in rows)
    lines = ["# second single bond mptcp link_sum (Mbit/s, median of the runs; "
             "link %d at %d Mbit/s from %d s to %d s)" % (link, mbit, start, end)]
    for t in range(seconds):
        values = [med([r["interval_mbit"][t] for r in rows
                       if r["method"] == m and len(r["interval_mbit"]) > t]) for m in METHODS]
        capacity = sum(rates) - (rates[link - 1] - mbit if start <= t < end else 0)
        lines.append("%d %s %g" % (t + 1, " ".join("NaN" if v is None else "%.2f" % v
                                                   for v in values), capacity))
    return "\n".join(lines) + "\n"


def report(a):
    rows = [json.loads(l) for l in open(a.results) if l.strip()]
    tcp = [r for r in rows if r["kind"] == "tcp"]
    out = []
    out.append("### Goodput over shaped links\n")
    out.append("Receiver goodput as a fraction of the sum of the link rates: median "
               "(min-max) of %d runs. *single*: plain routing over the fastest uplink; *meshbpf*: "
               "the bond; *MPTCP*: Linux MPTCP over the same links. *reordered*: the receiver's "
               "out-of-order segments per segment received (with loss, every segment behind a "
               "hole counts); *retransmitted*: the sender's "
               "retransmitted segments per segment sent (every subflow for MPTCP); both "
               "single / meshbpf / MPTCP, median. Every TCP flow uses congestion control %s.\n"
               % (a.reps, a.cc))
    out.append("| # | scenario | dir | single | meshbpf | MPTCP | meshbpf / MPTCP | reordered | "
               "retransmitted | MPTCP links used |")
    out.append("|---|---|---|---|---|---|---|---|---|---|")
    chart = []
    for sid, title in SCENARIOS.items():
        for direction in ("up", "down"):
            cell = {m: [r for r in tcp if r["scenario"] == sid and r["direction"] == direction
                        and r["method"] == m] for m in METHODS}
            if not any(cell.values()):
                continue
            total = sum(next(r for m in METHODS for r in cell[m])["rates"])
            frac = {m: [None if r["mbit"] is None else r["mbit"] / total for r in cell[m]]
                    for m in METHODS}
            ratios = [b / m for b, m in zip(frac["bond"], frac["mptcp"]) if b and m]
            reordered = " / ".join(per_segment(cell[m], "rx_ofo", "rx_segments") for m in METHODS)
            retransmitted = " / ".join(per_segment(cell[m], "tx_retrans", "tx_segments")
                                       for m in METHODS)
            shares = [r["link_share"] for r in cell["mptcp"]]
            used = med([sum(1 for v in s.values() if v >= 0.05) for s in shares])
            out.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s of %d |" % (
                sid, title, direction, spread([100 * f if f else None for f in frac["single"]], 0, "%"),
                spread([100 * f if f else None for f in frac["bond"]], 0, "%"),
                spread([100 * f if f else None for f in frac["mptcp"]], 0, "%"),
                spread(ratios, 2), reordered, retransmitted,
                "-" if used is None else "%d" % used, len(shares[0]) if shares else 0))
            chart.append('"%s %s" %s' % (sid, direction, " ".join(
                "%.1f" % (100 * med(frac[m])) if med(frac[m]) is not None else "0"
                for m in METHODS)))
    udp = [r for r in rows if r["kind"] == "udp"]
    if udp:
        out.append("\n### UDP at a fixed rate\n")
        out.append("iperf3 -u, 1400-byte datagrams at 90%% of the sum of the link rates (payload; "
                   "with headers and the bond's 40 bytes ~95%% on the wire), %d s, median "
                   "(min-max) of %d runs; *single*: plain routing over the fastest uplink, which "
                   "cannot carry it all. *delivered*: the receiver's rate against the offered one "
                   "(an upload over the single link is cut at the sender's own full queue, "
                   "which iperf3 does not count as lost); *lost*: datagrams missing in the "
                   "receiver's sequence; *out of order*: datagrams that came after a later one, "
                   "per datagram received (iperf3's count); *jitter*: RFC 3550, at the "
                   "receiver.\n" % (a.seconds, a.reps))
        out.append("| # | scenario | dir | method | delivered | lost | out of order | jitter ms |")
        out.append("|---|---|---|---|---|---|---|---|")
        for sid, title in UDP_SCENARIOS.items():
            for direction in ("up", "down"):
                for m in UDP_METHODS:
                    rs = [r for r in udp if r["scenario"] == sid and r["direction"] == direction
                          and r["method"] == m]
                    if not rs:
                        continue
                    ooo = [100.0 * r["out_of_order"] / max(r["received"], 1)
                           for r in rs if "received" in r]
                    out.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
                        sid, title, direction, "meshbpf" if m == "bond" else m,
                        spread([r.get("delivered_percent") for r in rs], 1, "%"),
                        spread([r.get("lost_percent") for r in rs], 1, "%"),
                        spread(ooo, 2, "%"),
                        spread([r.get("jitter_ms") for r in rs], 2)))
    failures = [r for r in tcp + udp if r.get("error")]
    if failures:
        out.append("\nFailed runs: " + "; ".join("scenario %s %s %s rep %d: %s" % (
            r["scenario"], r["method"], r["direction"], r["rep"], r["error"]) for r in failures))
    pings = [r for r in rows if r["kind"] == "ping" and r["one_way_delay_ms"] > 0]
    for p in pings:
        out.append("\nDelay stage check (scenario %s): ping over %s, minimum RTT %.1f ms for %d ms "
                   "one-way." % (p["scenario"], p["link"], p["rtt_ms"], p["one_way_delay_ms"]))

    series = rate_step_series(tcp)
    if series:
        out.append("\nScenario 10 per second (download, the median of the runs): rate_step.png, "
                   "data in rate_step.dat.")

    unshaped = [r for r in rows if r["kind"] == "unshaped"]
    if unshaped:
        out.append("\n### Unshaped veth: the overhead of bonding itself\n")
        out.append("One TCP flow and a 64-byte UDP stream (iperf3 -u -b 0), client to server, "
                   "median (min-max) of %d runs.\n" % a.reps)
        out.append("| path | TCP Gbit/s | UDP 64 B packets/s |")
        out.append("|---|---|---|")
        for method, label in (("plain", "plain routing over one veth uplink"),
                              ("bond", "meshbpf bond over two veth uplinks")):
            rs = [r for r in unshaped if r["method"] == method]
            out.append("| %s | %s | %s |" % (label, spread([r.get("tcp_gbit") for r in rs], 2),
                                             spread([r.get("udp_pps") for r in rs], 0)))
        plain = med([r.get("tcp_gbit") for r in unshaped if r["method"] == "plain"])
        bond = med([r.get("tcp_gbit") for r in unshaped if r["method"] == "bond"])
        pp = med([r.get("udp_pps") for r in unshaped if r["method"] == "plain"])
        bp = med([r.get("udp_pps") for r in unshaped if r["method"] == "bond"])
        if plain and bond and pp and bp:
            out.append("\nbond / plain: TCP %.2f, UDP packets/s %.2f." % (bond / plain, bp / pp))

    costs = [r for r in rows if r["kind"] == "cost"]
    if costs:
        out.append("\n### Per-packet cost of the TC programs\n")
        out.append("BPF_PROG_TEST_RUN, median ns of single-packet runs (each on a fresh packet; "
                   "includes one clock read, the same for every program), in the same process as "
                   "the empty TC program; median (min-max) of %d rounds. *vs empty*: each round's "
                   "ratio to the empty program on the same packet, median (min-max). The empty "
                   "program with repeat 1e6 shows the cost without that clock read.\n"
                   % len({r.get("round", 1) for r in costs}))
        if any("resequencing" in r["program"] for r in costs):
            out.append("*resequencing*: mb_decap with a resequencing deadline (100 ms), on path 0 "
                       "while path 1 is silent: *in order* the fast path; *held ahead of a gap* "
                       "copied into a slot and dropped; *fills a gap* the run that sends it and "
                       "the packets held behind it (all but the last as clones); *per released "
                       "packet* that run minus the in-order one, per held packet. Under test_run "
                       "a clone's receive (by a private namespace's lo) may run inside the "
                       "measured time, where a real ingress program only queues it: an upper "
                       "bound.\n")
        out.append("| program | packet | ns/packet | vs empty | verdict |")
        out.append("|---|---|---|---|---|")
        empty = {(r.get("round", 1), r["packet"]): r["ns"] for r in costs
                 if r["program"] == "empty TC program" and r["method"].startswith("median")}
        cells = {}
        for r in costs:
            cells.setdefault((r["program"], r["method"], r["packet"]), []).append(r)
        for (program, method, packet), rs in cells.items():
            ns = [r["ns"] for r in rs]
            ratios = [r["ns"] / empty[(r.get("round", 1), packet)] for r in rs
                      if method != "repeat 1e6" and (r.get("round", 1), packet) in empty]
            ratio = ("%.1fx (%.1f-%.1f)" % (med(ratios), min(ratios), max(ratios))
                     if ratios else "-")
            label = program + (" (repeat 1e6)" if method == "repeat 1e6" else "")
            out.append("| %s | %s (%d B) | %d (%d-%d) | %s | %s |" % (
                label, packet, rs[0]["bytes"], med(ns), min(ns), max(ns), ratio,
                "/".join(sorted({r["verdict"] for r in rs}))))
    text = "\n".join(out) + "\n"
    open(os.path.join(a.out_dir, "results.md"), "w").write(text)
    open(os.path.join(a.out_dir, "goodput.dat"), "w").write(
        "# scenario single bond mptcp (median % of the sum of link rates)\n" + "\n".join(chart) + "\n")
    open(os.path.join(a.out_dir, "rate_step.dat"), "w").write(series)
    print(text)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("record")
    for name in ("scenario", "method", "direction", "streams", "rep", "rates", "iperf", "before",
                 "after", "error"):
        r.add_argument("--" + name, required=True)
    r.add_argument("--rate-step", default="", help="LINK:MBIT:FROM_S:TO_S of scenario 10")
    d = sub.add_parser("record-udp")
    for name in ("scenario", "method", "direction", "rep", "rates", "offered-mbit", "udp", "error"):
        d.add_argument("--" + name, required=True)
    u = sub.add_parser("record-unshaped")
    for name in ("method", "rep", "tcp", "udp"):
        u.add_argument("--" + name, required=True)
    sub.add_parser("show")
    rp = sub.add_parser("report")
    rp.add_argument("--results", required=True)
    rp.add_argument("--out-dir", required=True)
    rp.add_argument("--reps", type=int, required=True)
    rp.add_argument("--cc", required=True)
    rp.add_argument("--seconds", type=int, default=4, help="length of each measurement")
    a = p.parse_args()
    {"record": record, "record-unshaped": record_unshaped, "record-udp": record_udp, "show": show,
     "report": report}[a.command](a)


if __name__ == "__main__":
    main()
