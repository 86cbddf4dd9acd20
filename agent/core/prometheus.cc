#include "agent/core/prometheus.h"

#include <charconv>
#include <cmath>
#include <functional>
#include <initializer_list>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/core/floor_guard.h"

namespace meshbpf {
namespace {

std::string Number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[32];
  // Shortest text that reads back as the same double.
  const std::to_chars_result r = std::to_chars(buf, buf + sizeof(buf), v);
  return std::string(buf, r.ptr);
}

std::string Number(uint64_t v) { return absl::StrCat(v); }

std::string EscapeHelp(std::string_view help) {
  std::string out;
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// One metric family: its samples must follow its HELP and TYPE lines
// together, so each family collects them before it is written.
class Family {
 public:
  Family(std::string name, std::string type, std::string help)
      : name_(std::move(name)), type_(std::move(type)), help_(std::move(help)) {}
  void Add(const std::string& labels, const std::string& value) {
    samples_ += absl::StrCat(name_, labels, " ", value, "\n");
  }
  // Families without samples are left out entirely.
  void AppendTo(std::string* out) const {
    if (samples_.empty()) return;
    absl::StrAppend(out, "# HELP ", name_, " ", EscapeHelp(help_), "\n", "# TYPE ", name_, " ",
                    type_, "\n", samples_);
  }

 private:
  std::string name_, type_, help_, samples_;
};

std::string Labels(const std::vector<std::pair<std::string_view, std::string_view>>& labels) {
  std::string out = "{";
  for (size_t i = 0; i < labels.size(); ++i) {
    absl::StrAppend(&out, i ? "," : "", std::string(labels[i].first), "=\"",
                    EscapePrometheusLabel(labels[i].second), "\"");
  }
  return out + "}";
}

// A family with one sample, under `labels`.
struct SingleSample {
  const char* name;
  const char* type;
  const char* help;
  std::string value;
};

void AppendSingleSamples(const std::string& labels, std::initializer_list<SingleSample> samples,
                         std::string* out) {
  for (const SingleSample& s : samples) {
    Family family(s.name, s.type, s.help);
    family.Add(labels, s.value);
    family.AppendTo(out);
  }
}

// A counter family of bond `bond_name` with one sample per event label.
void AppendEventCounts(const char* name, const char* help, std::string_view bond_name,
                       std::initializer_list<std::pair<std::string_view, uint64_t>> events,
                       std::string* out) {
  Family family(name, "counter", help);
  for (const auto& [event, count] : events) {
    family.Add(Labels({{"bond", bond_name}, {"event", event}}), Number(count));
  }
  family.AppendTo(out);
}

// The resequencer's families; `bond` is the bond label alone, `bond_name` its value.
void AppendResequencer(const ResequencerStats& r, const std::string& bond,
                       const std::string& bond_name, std::string* out) {
  AppendSingleSamples(
      bond,
      {{"meshbpf_reseq_deadline_seconds", "gauge",
        "How long a packet waits for the gap before it; 0: resequencing off.",
        Number(r.deadline_us / 1e6)},
       {"meshbpf_reseq_occupancy_packets", "gauge", "Packets held for resequencing now.",
        Number(uint64_t{r.occupancy})},
       {"meshbpf_reseq_window_packets", "gauge", "Packets the resequencer can hold at most.",
        Number(uint64_t{r.window})}},
      out);
  AppendEventCounts(
      "meshbpf_reseq_packets_total",
      "Received packets by what the resequencer did with them (gaps_skipped: sequence numbers "
      "given up on; repairs_requested: lost ones asked of the peer; repaired: repairs that "
      "filled their gap).",
      bond_name,
      {{"held", r.held},
       {"released_in_order", r.released_in_order},
       {"released_deadline", r.released_deadline},
       {"released_full", r.released_full},
       {"released_lost", r.released_lost},
       {"gaps_skipped", r.gaps_skipped},
       {"late", r.late},
       {"duplicates", r.duplicates},
       {"passed", r.passed},
       {"repairs_requested", r.repairs_requested},
       {"repaired", r.repaired}},
      out);
  // Not packets: times the peer's sequence restarted.
  Family resyncs("meshbpf_reseq_resyncs_total", "counter",
                 "Times the peer's sequence restarted and the resequencer started over.");
  resyncs.Add(bond, Number(r.resyncs));
  resyncs.AppendTo(out);
}

}  // namespace

std::string FormatSessionMetrics(std::string_view bond, const SessionReport& session) {
  std::string out;
  AppendSingleSamples(
      Labels({{"bond", bond}}),
      {{"meshbpf_tunnel_session_established", "gauge",
        "1 while an authenticated session sends and receives; 0: the tunnel carries nothing.",
        Number(uint64_t{session.established})},
       {"meshbpf_tunnel_session_age_seconds", "gauge", "Since the session in use was made.",
        Number(session.session_age_s)},
       {"meshbpf_tunnel_handshakes_total", "counter", "Session handshakes completed.",
        Number(session.handshakes)},
       {"meshbpf_tunnel_handshake_errors_total", "counter",
        "Handshake messages refused (wrong size, version, type or MAC).",
        Number(session.handshake_errors)}},
      &out);
  return out;
}

std::string FormatLossRepairMetrics(std::string_view bond, const LossRepairReport& report) {
  std::string out;
  AppendEventCounts("meshbpf_loss_repair_total",
                    "Loss repair by the agent: requests for lost packets sent to the peer, copies "
                    "sent again at the peer's request, asked for but gone, refused.",
                    bond,
                    {{"requests_sent", report.requests_sent},
                     {"repairs_sent", report.repairs_sent},
                     {"copies_missing", report.copies_missing},
                     {"repairs_refused", report.repairs_refused}},
                    &out);
  return out;
}

std::string EscapePrometheusLabel(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string FormatPrometheus(const MetricsSnapshot& snapshot) {
  // Per-path families: name, type, help, and the value of one path (none:
  // no sample for that path).
  struct PathFamily {
    const char* name;
    const char* type;
    const char* help;
    std::function<std::optional<std::string>(const PathMetrics&)> value;
  };
  const PathFamily path_families[] = {
      {"meshbpf_path_weight", "gauge", "Share of the bond's scheduled capacity given to the path.",
       [](const PathMetrics& p) { return Number(p.weight); }},
      {"meshbpf_path_transmit_bytes_total", "counter", "Bytes of inner packets sent on the path.",
       [](const PathMetrics& p) { return Number(p.tx_bytes_total); }},
      {"meshbpf_path_receive_bytes_total", "counter",
       "Bytes of inner packets received on the path.",
       [](const PathMetrics& p) { return Number(p.rx_bytes_total); }},
      {"meshbpf_path_transmit_packets_total", "counter", "Packets sent on the path.",
       [](const PathMetrics& p) { return Number(p.tx_packets_total); }},
      {"meshbpf_path_receive_packets_total", "counter", "Packets received on the path.",
       [](const PathMetrics& p) { return Number(p.rx_packets_total); }},
      {"meshbpf_path_drops_total", "counter", "Packets the data path dropped on the path.",
       [](const PathMetrics& p) { return Number(p.drops_total); }},
      {"meshbpf_path_transmit_bytes_per_second", "gauge",
       "Send rate over the last measurement interval.",
       [](const PathMetrics& p) { return Number(p.tx_bytes_per_s); }},
      {"meshbpf_path_receive_bytes_per_second", "gauge",
       "Receive rate over the last measurement interval.",
       [](const PathMetrics& p) { return Number(p.rx_bytes_per_s); }},
      {"meshbpf_path_traffic_share", "gauge", "Share of the bond's current traffic on the path.",
       [](const PathMetrics& p) { return Number(p.traffic_share); }},
      {"meshbpf_path_rtt_seconds", "gauge", "Smoothed probe round-trip time.",
       [](const PathMetrics& p) -> std::optional<std::string> {
         if (!p.rtt_ms) return std::nullopt;
         return Number(*p.rtt_ms / 1000);
       }},
      {"meshbpf_path_jitter_seconds", "gauge", "Probe jitter.",
       [](const PathMetrics& p) -> std::optional<std::string> {
         if (!p.jitter_ms) return std::nullopt;
         return Number(*p.jitter_ms / 1000);
       }},
      {"meshbpf_path_loss_ratio", "gauge", "Fraction of recent probes lost.",
       [](const PathMetrics& p) { return Number(p.loss); }},
      {"meshbpf_path_cap_used_bytes", "gauge", "Bytes of the data cap used this period.",
       [](const PathMetrics& p) -> std::optional<std::string> {
         if (!p.cap) return std::nullopt;
         return Number(p.cap->used_bytes);
       }},
      {"meshbpf_path_cap_limit_bytes", "gauge", "Data cap of the current period.",
       [](const PathMetrics& p) -> std::optional<std::string> {
         if (!p.cap) return std::nullopt;
         return Number(p.cap->limit_bytes);
       }},
      {"meshbpf_path_guard_excluded", "gauge",
       "1 while the floor guard keeps the path out of bonded bulk traffic.",
       [](const PathMetrics& p) { return Number(uint64_t{p.bulk_excluded}); }},
  };

  std::string out;
  Family state("meshbpf_path_state", "gauge",
               "1 for the path's current state (up, degraded, backup, down), 0 for the others.");
  for (const PathMetrics& p : snapshot.paths) {
    for (PathStatus h : kAllPathStatuses) {
      state.Add(Labels({{"bond", snapshot.bond}, {"path", p.name}, {"state", PathStatusName(h)}}),
                p.status == h ? "1" : "0");
    }
  }
  state.AppendTo(&out);
  for (const PathFamily& f : path_families) {
    Family family(f.name, f.type, f.help);
    for (const PathMetrics& p : snapshot.paths) {
      if (std::optional<std::string> v = f.value(p)) {
        family.Add(Labels({{"bond", snapshot.bond}, {"path", p.name}}), *v);
      }
    }
    family.AppendTo(&out);
  }

  Family decisions("meshbpf_path_guard_decisions_total", "counter",
                   "Floor guard decisions on the path, by reason (jitter, loss: taken out; "
                   "readmitted, best_path: back in).");
  for (const PathMetrics& p : snapshot.paths) {
    for (GuardReason reason : kAllGuardReasons) {
      uint64_t n = 0;
      for (const GuardDecisionCount& c : p.guard_decisions) {
        if (c.reason == GuardReasonName(reason)) n = c.count;
      }
      decisions.Add(
          Labels({{"bond", snapshot.bond}, {"path", p.name}, {"reason", GuardReasonName(reason)}}),
          Number(n));
    }
  }
  decisions.AppendTo(&out);

  uint64_t tx_bytes = 0, rx_bytes = 0;
  double tx_rate = 0, rx_rate = 0;
  uint64_t usable = 0;
  for (const PathMetrics& p : snapshot.paths) {
    tx_bytes += p.tx_bytes_total;
    rx_bytes += p.rx_bytes_total;
    tx_rate += p.tx_bytes_per_s;
    rx_rate += p.rx_bytes_per_s;
    usable += PathUsable(p.status);
  }
  const std::string bond = Labels({{"bond", snapshot.bond}});
  AppendSingleSamples(
      bond,
      {{"meshbpf_bond_transmit_bytes_total", "counter", "Bytes sent on all paths of the bond.",
        Number(tx_bytes)},
       {"meshbpf_bond_receive_bytes_total", "counter", "Bytes received on all paths of the bond.",
        Number(rx_bytes)},
       {"meshbpf_bond_transmit_bytes_per_second", "gauge", "Send rate of the bond.",
        Number(tx_rate)},
       {"meshbpf_bond_receive_bytes_per_second", "gauge", "Receive rate of the bond.",
        Number(rx_rate)},
       {"meshbpf_bond_usable_paths", "gauge", "Paths that are not down.", Number(usable)},
       {"meshbpf_bond_unattributed_drops_total", "counter",
        "Drops that belong to no path (unknown source, no configuration).",
        Number(snapshot.unattributed_drops_total)}},
      &out);
  if (snapshot.resequencing) AppendResequencer(*snapshot.resequencing, bond, snapshot.bond, &out);
  return out;
}

}  // namespace meshbpf
