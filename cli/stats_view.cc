#include "cli/stats_view.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace meshbpf {
namespace {

std::string Mbit(double bytes_per_s) { return absl::StrFormat("%.2f", bytes_per_s * 8 / 1e6); }
std::string Percent(double fraction) { return absl::StrFormat("%.1f%%", fraction * 100); }
std::string Ms(const std::optional<double>& ms) {
  return ms ? absl::StrFormat("%.1f", *ms) : std::string("-");
}
std::string Bytes(uint64_t bytes) {
  if (bytes >= 1'000'000'000) return absl::StrFormat("%.2fGB", bytes / 1e9);
  if (bytes >= 1'000'000) return absl::StrFormat("%.1fMB", bytes / 1e6);
  return absl::StrFormat("%.0fkB", bytes / 1e3);
}
// gnuplot string literal (single quotes; a quote inside is doubled).
std::string Quoted(const std::string& text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out + "'";
}

constexpr char kTableFormat[] = "%-12s %-9s %7s %7s %10s %10s %8s %8s %6s  %s\n";

}  // namespace

std::string FormatStatsTable(const MetricsSnapshot& snapshot) {
  std::string out = absl::StrFormat("bond %s\n", snapshot.bond);
  absl::StrAppendFormat(&out, kTableFormat, "PATH", "STATE", "WEIGHT", "SHARE", "OUT Mbit/s",
                        "IN Mbit/s", "RTT ms", "JITTER", "LOSS", "CAP");
  double tx = 0, rx = 0;
  bool any_excluded = false;
  for (const PathMetrics& p : snapshot.paths) {
    tx += p.tx_bytes_per_s;
    rx += p.rx_bytes_per_s;
    const std::string cap =
        p.cap ? absl::StrCat(Bytes(p.cap->used_bytes), "/", Bytes(p.cap->limit_bytes)) : "-";
    any_excluded |= p.bulk_excluded;
    const std::string state =
        p.bulk_excluded ? std::string("no bulk") : std::string(PathStatusName(p.status));
    absl::StrAppendFormat(&out, kTableFormat, p.name, state,
                          Percent(p.weight), Percent(p.traffic_share), Mbit(p.tx_bytes_per_s),
                          Mbit(p.rx_bytes_per_s), Ms(p.rtt_ms), Ms(p.jitter_ms), Percent(p.loss),
                          cap);
  }
  absl::StrAppendFormat(&out, kTableFormat, "total", "", "", "", Mbit(tx), Mbit(rx), "", "", "",
                        "");
  if (any_excluded) {
    absl::StrAppend(&out, "no bulk: the floor guard keeps the path out of bonded bulk traffic "
                          "(meshbpf status says why)\n");
  }
  if (snapshot.unattributed_drops_total > 0) {
    absl::StrAppendFormat(&out, "packets dropped with no path to take: %u\n",
                          snapshot.unattributed_drops_total);
  }
  absl::StrAppend(&out, snapshot.resequencing
                            ? FormatResequencer(*snapshot.resequencing)
                            : "resequencing: not reported (the agent could not read it)\n");
  return out;
}

std::string FormatResequencer(const ResequencerStats& r) {
  const std::string occupancy = absl::StrFormat("occupancy %u/%u", r.occupancy, r.window);
  std::string out = r.enabled() ? absl::StrFormat("resequencing: deadline %g ms, %s\n",
                                                  r.deadline_us / 1000.0, occupancy)
                                : "resequencing: off\n";
  ResequencerStats idle;
  idle.deadline_us = r.deadline_us;
  idle.window = r.window;
  if (!r.enabled() && r == idle) return out;
  // Off but not idle: counts (and packets left) from when it was on.
  if (!r.enabled()) absl::StrAppend(&out, "  ", occupancy, "\n");
  absl::StrAppendFormat(&out,
                        "  held %u: released in order %u, past a lost packet %u, by deadline %u, "
                        "when full %u\n",
                        r.held, r.released_in_order, r.released_lost, r.released_deadline,
                        r.released_full);
  absl::StrAppendFormat(&out, "  gaps given up %u, late %u, duplicates %u, passed %u, resyncs %u\n",
                        r.gaps_skipped, r.late, r.duplicates, r.passed, r.resyncs);
  // Only loss repair (off by default) moves these.
  if (r.repairs_requested != 0 || r.repaired != 0) {
    absl::StrAppendFormat(&out, "  loss repair: requested %u, repaired in time %u\n",
                          r.repairs_requested, r.repaired);
  }
  return out;
}

std::string FormatHistoryReport(const std::vector<PathSummary>& summaries,
                                const std::vector<Alert>& alerts, absl::Duration window) {
  std::string out = absl::StrFormat("last %s\n", FormatWindow(window));
  if (summaries.empty()) {
    absl::StrAppend(&out, "no samples recorded in this window\n");
    return out;
  }
  constexpr char kFormat[] = "%-12s %9s %10s %10s %7s %7s %7s %6s %7s %9s  %s\n";
  absl::StrAppendFormat(&out, kFormat, "PATH", "SAMPLES", "OUT Mbit/s", "IN Mbit/s", "RTT p50",
                        "p95", "p99", "LOSS", "AVAIL", "FAILOVERS", "TREND");
  for (const PathSummary& s : summaries) {
    std::string trend;
    if (s.trend.rtt_worse) {
      trend = absl::StrFormat("RTT rising (p95 %s -> %s ms)", Ms(s.trend.rtt_p95_before_ms),
                              Ms(s.trend.rtt_p95_recent_ms));
    }
    if (s.trend.loss_worse) {
      absl::StrAppend(&trend, trend.empty() ? "" : ", ",
                      absl::StrFormat("loss rising (%s -> %s)",
                                      Percent(s.trend.loss_before.value_or(0)),
                                      Percent(s.trend.loss_recent.value_or(0))));
    }
    if (trend.empty()) trend = "steady";
    absl::StrAppendFormat(&out, kFormat, s.path, absl::StrFormat("%.0f", s.samples),
                          Mbit(s.avg_tx_bytes_per_s), Mbit(s.avg_rx_bytes_per_s),
                          Ms(s.rtt_p50_ms), Ms(s.rtt_p95_ms), Ms(s.rtt_p99_ms), Percent(s.loss),
                          Percent(s.availability), absl::StrCat(s.failovers), trend);
  }
  if (alerts.empty()) {
    absl::StrAppend(&out, "no alerts\n");
  } else {
    absl::StrAppend(&out, "alerts:\n");
    for (const Alert& a : alerts) absl::StrAppend(&out, "  ", AlertMessage(a, false), "\n");
  }
  return out;
}

std::string PlotData(const std::map<std::string, std::vector<HistoryRow>>& series) {
  std::string out;
  for (const auto& [path, rows] : series) {
    absl::StrAppend(&out, "# ", path, "\n");
    for (const HistoryRow& r : rows) {
      absl::StrAppendFormat(&out, "%d %s %s %s\n", absl::ToUnixSeconds(r.time),
                            Mbit(r.tx_bytes_per_s), Mbit(r.rx_bytes_per_s),
                            r.rtt_ms ? absl::StrFormat("%.3f", *r.rtt_ms) : "NaN");
    }
    absl::StrAppend(&out, "\n\n");
  }
  return out;
}

std::string PlotScript(const std::map<std::string, std::vector<HistoryRow>>& series,
                       const std::string& data_file, const std::string& png_file,
                       absl::Duration window) {
  std::string throughput, rtt;
  int index = 0;
  for (const auto& [path, rows] : series) {
    const std::string sep = index == 0 ? "" : ", ";
    absl::StrAppendFormat(&throughput,
                          "%s%s index %d using 1:2 with lines lw 2 title %s, "
                          "%s index %d using 1:3 with lines dt 2 title %s",
                          sep, Quoted(data_file), index, Quoted(path + " out"), Quoted(data_file),
                          index, Quoted(path + " in"));
    absl::StrAppendFormat(&rtt, "%s%s index %d using 1:4 with linespoints pt 7 ps 0.4 title %s",
                          sep, Quoted(data_file), index, Quoted(path));
    ++index;
  }
  return absl::StrCat(
      "set terminal pngcairo size 1100,800 noenhanced\n"
      "set output ",
      Quoted(png_file),
      "\n"
      "set xdata time\nset timefmt '%s'\nset format x '%H:%M:%S'\n"
      "set grid\nset key outside right\nset datafile missing 'NaN'\n"
      "set multiplot layout 2,1 title ",
      Quoted(absl::StrCat("meshbpf: last ", FormatWindow(window), " (UTC)")),
      "\n"
      "set ylabel 'Mbit/s'\nset yrange [0:*]\nset title 'throughput per uplink'\n"
      "plot ",
      throughput,
      "\n"
      "set ylabel 'ms'\nset title 'probe RTT per uplink'\n"
      "plot ",
      rtt, "\nunset multiplot\n");
}

}  // namespace meshbpf
