#include "agent/core/prometheus.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

namespace meshbpf {
namespace {

MetricsSnapshot TwoPaths() {
  MetricsSnapshot s;
  s.bond = "mb0";
  s.unattributed_drops_total = 3;
  PathMetrics wan1;
  wan1.name = "wan1";
  wan1.status = PathStatus::kUp;
  wan1.weight = 0.75;
  wan1.tx_bytes_total = 1000;
  wan1.rx_bytes_total = 2000;
  wan1.tx_packets_total = 10;
  wan1.rx_packets_total = 20;
  wan1.drops_total = 1;
  wan1.tx_bytes_per_s = 125000.5;
  wan1.rx_bytes_per_s = 250;
  wan1.traffic_share = 0.9;
  wan1.rtt_ms = 12.5;
  wan1.jitter_ms = 1.5;
  wan1.loss = 0.02;
  wan1.cap = CapMetrics{.used_bytes = 800, .limit_bytes = 18446744073709551615ull};
  PathMetrics odd;
  odd.name = "we\"ird\\path\nx";  // a quote, a backslash and a newline to escape
  odd.status = PathStatus::kDown;
  odd.rx_bytes_total = 5;
  odd.rx_bytes_per_s = 0.1;
  odd.traffic_share = 0.1;
  odd.bulk_excluded = true;
  odd.guard_decisions = {{"jitter", 2}, {"readmitted", 1}};
  s.paths = {wan1, odd};
  return s;
}

TEST(FormatPrometheus, GoldenText) {
  const std::string expected =
      R"(# HELP meshbpf_path_state 1 for the path's current state (up, degraded, backup, down), 0 for the others.
# TYPE meshbpf_path_state gauge
meshbpf_path_state{bond="mb0",path="wan1",state="down"} 0
meshbpf_path_state{bond="mb0",path="wan1",state="up"} 1
meshbpf_path_state{bond="mb0",path="wan1",state="degraded"} 0
meshbpf_path_state{bond="mb0",path="wan1",state="backup"} 0
meshbpf_path_state{bond="mb0",path="we\"ird\\path\nx",state="down"} 1
meshbpf_path_state{bond="mb0",path="we\"ird\\path\nx",state="up"} 0
meshbpf_path_state{bond="mb0",path="we\"ird\\path\nx",state="degraded"} 0
meshbpf_path_state{bond="mb0",path="we\"ird\\path\nx",state="backup"} 0
# HELP meshbpf_path_weight Share of the bond's scheduled capacity given to the path.
# TYPE meshbpf_path_weight gauge
meshbpf_path_weight{bond="mb0",path="wan1"} 0.75
meshbpf_path_weight{bond="mb0",path="we\"ird\\path\nx"} 0
# HELP meshbpf_path_transmit_bytes_total Bytes of inner packets sent on the path.
# TYPE meshbpf_path_transmit_bytes_total counter
meshbpf_path_transmit_bytes_total{bond="mb0",path="wan1"} 1000
meshbpf_path_transmit_bytes_total{bond="mb0",path="we\"ird\\path\nx"} 0
# HELP meshbpf_path_receive_bytes_total Bytes of inner packets received on the path.
# TYPE meshbpf_path_receive_bytes_total counter
meshbpf_path_receive_bytes_total{bond="mb0",path="wan1"} 2000
meshbpf_path_receive_bytes_total{bond="mb0",path="we\"ird\\path\nx"} 5
# HELP meshbpf_path_transmit_packets_total Packets sent on the path.
# TYPE meshbpf_path_transmit_packets_total counter
meshbpf_path_transmit_packets_total{bond="mb0",path="wan1"} 10
meshbpf_path_transmit_packets_total{bond="mb0",path="we\"ird\\path\nx"} 0
# HELP meshbpf_path_receive_packets_total Packets received on the path.
# TYPE meshbpf_path_receive_packets_total counter
meshbpf_path_receive_packets_total{bond="mb0",path="wan1"} 20
meshbpf_path_receive_packets_total{bond="mb0",path="we\"ird\\path\nx"} 0
# HELP meshbpf_path_drops_total Packets the data path dropped on the path.
# TYPE meshbpf_path_drops_total counter
meshbpf_path_drops_total{bond="mb0",path="wan1"} 1
meshbpf_path_drops_total{bond="mb0",path="we\"ird\\path\nx"} 0
# HELP meshbpf_path_transmit_bytes_per_second Send rate over the last measurement interval.
# TYPE meshbpf_path_transmit_bytes_per_second gauge
meshbpf_path_transmit_bytes_per_second{bond="mb0",path="wan1"} 125000.5
meshbpf_path_transmit_bytes_per_second{bond="mb0",path="we\"ird\\path\nx"} 0
# HELP meshbpf_path_receive_bytes_per_second Receive rate over the last measurement interval.
# TYPE meshbpf_path_receive_bytes_per_second gauge
meshbpf_path_receive_bytes_per_second{bond="mb0",path="wan1"} 250
meshbpf_path_receive_bytes_per_second{bond="mb0",path="we\"ird\\path\nx"} 0.1
# HELP meshbpf_path_traffic_share Share of the bond's current traffic on the path.
# TYPE meshbpf_path_traffic_share gauge
meshbpf_path_traffic_share{bond="mb0",path="wan1"} 0.9
meshbpf_path_traffic_share{bond="mb0",path="we\"ird\\path\nx"} 0.1
# HELP meshbpf_path_rtt_seconds Smoothed probe round-trip time.
# TYPE meshbpf_path_rtt_seconds gauge
meshbpf_path_rtt_seconds{bond="mb0",path="wan1"} 0.0125
# HELP meshbpf_path_jitter_seconds Probe jitter.
# TYPE meshbpf_path_jitter_seconds gauge
meshbpf_path_jitter_seconds{bond="mb0",path="wan1"} 0.0015
# HELP meshbpf_path_loss_ratio Fraction of recent probes lost.
# TYPE meshbpf_path_loss_ratio gauge
meshbpf_path_loss_ratio{bond="mb0",path="wan1"} 0.02
meshbpf_path_loss_ratio{bond="mb0",path="we\"ird\\path\nx"} 0
# HELP meshbpf_path_cap_used_bytes Bytes of the data cap used this period.
# TYPE meshbpf_path_cap_used_bytes gauge
meshbpf_path_cap_used_bytes{bond="mb0",path="wan1"} 800
# HELP meshbpf_path_cap_limit_bytes Data cap of the current period.
# TYPE meshbpf_path_cap_limit_bytes gauge
meshbpf_path_cap_limit_bytes{bond="mb0",path="wan1"} 18446744073709551615
# HELP meshbpf_path_guard_excluded 1 while the floor guard keeps the path out of bonded bulk traffic.
# TYPE meshbpf_path_guard_excluded gauge
meshbpf_path_guard_excluded{bond="mb0",path="wan1"} 0
meshbpf_path_guard_excluded{bond="mb0",path="we\"ird\\path\nx"} 1
# HELP meshbpf_path_guard_decisions_total Floor guard decisions on the path, by reason (jitter, loss: taken out; readmitted, best_path: back in).
# TYPE meshbpf_path_guard_decisions_total counter
meshbpf_path_guard_decisions_total{bond="mb0",path="wan1",reason="jitter"} 0
meshbpf_path_guard_decisions_total{bond="mb0",path="wan1",reason="loss"} 0
meshbpf_path_guard_decisions_total{bond="mb0",path="wan1",reason="readmitted"} 0
meshbpf_path_guard_decisions_total{bond="mb0",path="wan1",reason="best_path"} 0
meshbpf_path_guard_decisions_total{bond="mb0",path="we\"ird\\path\nx",reason="jitter"} 2
meshbpf_path_guard_decisions_total{bond="mb0",path="we\"ird\\path\nx",reason="loss"} 0
meshbpf_path_guard_decisions_total{bond="mb0",path="we\"ird\\path\nx",reason="readmitted"} 1
meshbpf_path_guard_decisions_total{bond="mb0",path="we\"ird\\path\nx",reason="best_path"} 0
# HELP meshbpf_bond_transmit_bytes_total Bytes sent on all paths of the bond.
# TYPE meshbpf_bond_transmit_bytes_total counter
meshbpf_bond_transmit_bytes_total{bond="mb0"} 1000
# HELP meshbpf_bond_receive_bytes_total Bytes received on all paths of the bond.
# TYPE meshbpf_bond_receive_bytes_total counter
meshbpf_bond_receive_bytes_total{bond="mb0"} 2005
# HELP meshbpf_bond_transmit_bytes_per_second Send rate of the bond.
# TYPE meshbpf_bond_transmit_bytes_per_second gauge
meshbpf_bond_transmit_bytes_per_second{bond="mb0"} 125000.5
# HELP meshbpf_bond_receive_bytes_per_second Receive rate of the bond.
# TYPE meshbpf_bond_receive_bytes_per_second gauge
meshbpf_bond_receive_bytes_per_second{bond="mb0"} 250.1
# HELP meshbpf_bond_usable_paths Paths that are not down.
# TYPE meshbpf_bond_usable_paths gauge
meshbpf_bond_usable_paths{bond="mb0"} 1
# HELP meshbpf_bond_unattributed_drops_total Drops that belong to no path (unknown source, no configuration).
# TYPE meshbpf_bond_unattributed_drops_total counter
meshbpf_bond_unattributed_drops_total{bond="mb0"} 3
)";
  EXPECT_EQ(FormatPrometheus(TwoPaths()), expected);
}

TEST(FormatPrometheus, SpecialValuesAndAnEmptyBond) {
  MetricsSnapshot s;
  s.bond = "mb0";
  PathMetrics p;
  p.name = "wan1";
  p.rtt_ms = std::numeric_limits<double>::infinity();
  p.jitter_ms = std::numeric_limits<double>::quiet_NaN();
  s.paths = {p};
  const std::string text = FormatPrometheus(s);
  EXPECT_NE(text.find("meshbpf_path_rtt_seconds{bond=\"mb0\",path=\"wan1\"} +Inf\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("meshbpf_path_jitter_seconds{bond=\"mb0\",path=\"wan1\"} NaN\n"),
            std::string::npos)
      << text;

  const std::string empty = FormatPrometheus(MetricsSnapshot{.bond = "mb0"});
  EXPECT_EQ(empty.find("meshbpf_path_"), std::string::npos) << "no path, no path families";
  EXPECT_NE(empty.find("meshbpf_bond_usable_paths{bond=\"mb0\"} 0\n"), std::string::npos);
}

TEST(FormatPrometheus, ResequencerFamiliesFollowTheBondsOnlyWhenRead) {
  EXPECT_EQ(FormatPrometheus(TwoPaths()).find("meshbpf_reseq"), std::string::npos);
  MetricsSnapshot s = TwoPaths();
  s.resequencing = ResequencerStats{.deadline_us = 2'500,
                                    .occupancy = 3,
                                    .window = 256,
                                    .held = 1491,
                                    .released_in_order = 1480,
                                    .released_deadline = 8,
                                    .released_full = 7,
                                    .released_lost = 5,
                                    .gaps_skipped = 2,
                                    .late = 1,
                                    .duplicates = 4,
                                    .passed = 5,
                                    .resyncs = 6,
                                    .repairs_requested = 9,
                                    .repaired = 7};
  const std::string text = FormatPrometheus(s);
  const std::string expected =
      R"(meshbpf_bond_unattributed_drops_total{bond="mb0"} 3
# HELP meshbpf_reseq_deadline_seconds How long a packet waits for the gap before it; 0: resequencing off.
# TYPE meshbpf_reseq_deadline_seconds gauge
meshbpf_reseq_deadline_seconds{bond="mb0"} 0.0025
# HELP meshbpf_reseq_occupancy_packets Packets held for resequencing now.
# TYPE meshbpf_reseq_occupancy_packets gauge
meshbpf_reseq_occupancy_packets{bond="mb0"} 3
# HELP meshbpf_reseq_window_packets Packets the resequencer can hold at most.
# TYPE meshbpf_reseq_window_packets gauge
meshbpf_reseq_window_packets{bond="mb0"} 256
# HELP meshbpf_reseq_packets_total Received packets by what the resequencer did with them (gaps_skipped: sequence numbers given up on; repairs_requested: lost ones asked of the peer; repaired: repairs that filled their gap).
# TYPE meshbpf_reseq_packets_total counter
meshbpf_reseq_packets_total{bond="mb0",event="held"} 1491
meshbpf_reseq_packets_total{bond="mb0",event="released_in_order"} 1480
meshbpf_reseq_packets_total{bond="mb0",event="released_deadline"} 8
meshbpf_reseq_packets_total{bond="mb0",event="released_full"} 7
meshbpf_reseq_packets_total{bond="mb0",event="released_lost"} 5
meshbpf_reseq_packets_total{bond="mb0",event="gaps_skipped"} 2
meshbpf_reseq_packets_total{bond="mb0",event="late"} 1
meshbpf_reseq_packets_total{bond="mb0",event="duplicates"} 4
meshbpf_reseq_packets_total{bond="mb0",event="passed"} 5
meshbpf_reseq_packets_total{bond="mb0",event="repairs_requested"} 9
meshbpf_reseq_packets_total{bond="mb0",event="repaired"} 7
# HELP meshbpf_reseq_resyncs_total Times the peer's sequence restarted and the resequencer started over.
# TYPE meshbpf_reseq_resyncs_total counter
meshbpf_reseq_resyncs_total{bond="mb0"} 6
)";
  const size_t last_bond_line = text.find("meshbpf_bond_unattributed_drops_total{");
  ASSERT_NE(last_bond_line, std::string::npos) << text;
  EXPECT_EQ(text.substr(last_bond_line), expected);
  // Off: the deadline reads 0.
  s.resequencing->deadline_us = 0;
  EXPECT_NE(FormatPrometheus(s).find("\nmeshbpf_reseq_deadline_seconds{bond=\"mb0\"} 0\n"),
            std::string::npos);
}

// packaging/grafana/meshbpf-dashboard.json queries only what the endpoint
// serves: a renamed family would leave its panel empty without a word.
TEST(GrafanaDashboard, QueriesOnlyFamiliesTheEndpointServes) {
  std::ifstream file(MESHBPF_SOURCE_DIR "/packaging/grafana/meshbpf-dashboard.json");
  ASSERT_TRUE(file.good());
  const nlohmann::json dashboard = nlohmann::json::parse(file);
  MetricsSnapshot s = TwoPaths();
  s.resequencing = ResequencerStats{.deadline_us = 1'000, .window = 1024};
  const std::string served = FormatPrometheus(s);
  const std::regex family("meshbpf_[a-z_]+");
  std::set<std::string> queried;
  for (const nlohmann::json& panel : dashboard.at("panels")) {
    ASSERT_FALSE(panel.at("targets").empty()) << panel.at("title");
    for (const nlohmann::json& target : panel.at("targets")) {
      const std::string expr = target.at("expr");
      EXPECT_NE(expr.find("bond=~\"$bond\""), std::string::npos) << expr;
      for (std::sregex_iterator it(expr.begin(), expr.end(), family), end; it != end; ++it) {
        queried.insert(it->str());
      }
    }
  }
  EXPECT_GE(queried.size(), 20u);
  for (const std::string& name : queried) {
    EXPECT_NE(served.find("# TYPE " + name + " "), std::string::npos) << name << " is not served";
  }
}

TEST(FormatSessionMetrics, GoldenText) {
  SessionReport r;
  r.established = true;
  r.session_age_s = 42.5;
  r.handshakes = 3;
  r.handshake_errors = 7;
  EXPECT_EQ(FormatSessionMetrics("mb0", r),
            "# HELP meshbpf_tunnel_session_established 1 while an authenticated session sends "
            "and receives; 0: the tunnel carries nothing.\n"
            "# TYPE meshbpf_tunnel_session_established gauge\n"
            "meshbpf_tunnel_session_established{bond=\"mb0\"} 1\n"
            "# HELP meshbpf_tunnel_session_age_seconds Since the session in use was made.\n"
            "# TYPE meshbpf_tunnel_session_age_seconds gauge\n"
            "meshbpf_tunnel_session_age_seconds{bond=\"mb0\"} 42.5\n"
            "# HELP meshbpf_tunnel_handshakes_total Session handshakes completed.\n"
            "# TYPE meshbpf_tunnel_handshakes_total counter\n"
            "meshbpf_tunnel_handshakes_total{bond=\"mb0\"} 3\n"
            "# HELP meshbpf_tunnel_handshake_errors_total Handshake messages refused (wrong size, "
            "version, type or MAC).\n"
            "# TYPE meshbpf_tunnel_handshake_errors_total counter\n"
            "meshbpf_tunnel_handshake_errors_total{bond=\"mb0\"} 7\n");
}

TEST(FormatLossRepairMetrics, GoldenText) {
  const LossRepairReport r{.requests_sent = 4, .repairs_sent = 9, .copies_missing = 1,
                           .repairs_refused = 2};
  EXPECT_EQ(FormatLossRepairMetrics("mb0", r),
            "# HELP meshbpf_loss_repair_total Loss repair by the agent: requests for lost packets "
            "sent to the peer, copies sent again at the peer's request, asked for but gone, "
            "refused.\n"
            "# TYPE meshbpf_loss_repair_total counter\n"
            "meshbpf_loss_repair_total{bond=\"mb0\",event=\"requests_sent\"} 4\n"
            "meshbpf_loss_repair_total{bond=\"mb0\",event=\"repairs_sent\"} 9\n"
            "meshbpf_loss_repair_total{bond=\"mb0\",event=\"copies_missing\"} 1\n"
            "meshbpf_loss_repair_total{bond=\"mb0\",event=\"repairs_refused\"} 2\n");
}

TEST(EscapePrometheusLabel, BackslashQuoteNewline) {
  EXPECT_EQ(EscapePrometheusLabel("a\\b\"c\nd\te"), "a\\\\b\\\"c\\nd\te");
}

}  // namespace
}  // namespace meshbpf
