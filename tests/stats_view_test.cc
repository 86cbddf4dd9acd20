#include "cli/stats_view.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace meshbpf {
namespace {

using testing::HasSubstr;
using testing::Not;

MetricsSnapshot Snapshot() {
  MetricsSnapshot s;
  s.bond = "mb0";
  PathMetrics wan1;
  wan1.name = "wan1";
  wan1.status = PathStatus::kUp;
  wan1.weight = 2.0 / 3;
  wan1.traffic_share = 0.7;
  wan1.tx_bytes_per_s = 5e6;  // 40 Mbit/s
  wan1.rx_bytes_per_s = 125e3;
  wan1.rtt_ms = 20.25;
  wan1.jitter_ms = 1.5;
  PathMetrics wan2;
  wan2.name = "wan2";
  wan2.path_id = 1;
  wan2.status = PathStatus::kDown;
  wan2.loss = 1;
  wan2.cap = CapMetrics{3'000'000, 20'000'000'000};
  s.paths = {wan1, wan2};
  return s;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  for (size_t end; (end = text.find('\n', start)) != std::string::npos; start = end + 1) {
    out.push_back(text.substr(start, end - start));
  }
  return out;
}

TEST(FormatStatsTable, OneRowPerPathAndATotal) {
  const std::vector<std::string> lines = Lines(FormatStatsTable(Snapshot()));
  ASSERT_EQ(lines.size(), 6u);
  EXPECT_EQ(lines[0], "bond mb0");
  EXPECT_THAT(lines[1], HasSubstr("OUT Mbit/s"));
  EXPECT_THAT(lines[2], testing::StartsWith("wan1         up"));
  EXPECT_THAT(lines[2], HasSubstr("66.7%"));
  EXPECT_THAT(lines[2], HasSubstr("70.0%"));
  EXPECT_THAT(lines[2], HasSubstr("40.00"));
  EXPECT_THAT(lines[2], HasSubstr("20.2"));  // RTT, one decimal
  EXPECT_THAT(lines[3], HasSubstr("down"));
  EXPECT_THAT(lines[3], HasSubstr("100.0%"));
  EXPECT_THAT(lines[3], HasSubstr("3.0MB/20.00GB"));
  EXPECT_THAT(lines[3], HasSubstr(" - "));  // no RTT measured
  EXPECT_THAT(lines[4], testing::StartsWith("total"));
  EXPECT_THAT(lines[4], HasSubstr("40.00"));  // out
  EXPECT_THAT(lines[4], HasSubstr(" 1.00"));  // in
  // Columns line up: every row is as wide up to the CAP column.
  EXPECT_EQ(lines[1].find("CAP"), lines[3].find("3.0MB"));
}

TEST(FormatStatsTable, MentionsUnattributedDropsOnlyWhenThereAreSome) {
  MetricsSnapshot s = Snapshot();
  EXPECT_THAT(FormatStatsTable(s), Not(HasSubstr("no path")));
  s.unattributed_drops_total = 7;
  EXPECT_THAT(FormatStatsTable(s), HasSubstr("no path to take: 7"));
}

TEST(FormatStatsTable, MarksAPathOutOfBulkAndSaysWhatThatMeans) {
  MetricsSnapshot s = Snapshot();
  EXPECT_THAT(FormatStatsTable(s), Not(HasSubstr("no bulk")));
  s.paths[0].bulk_excluded = true;
  const std::vector<std::string> lines = Lines(FormatStatsTable(s));
  EXPECT_THAT(lines[2], testing::StartsWith("wan1         no bulk"));
  EXPECT_THAT(lines[5], testing::StartsWith("no bulk: the floor guard"));
}

ResequencerStats Resequencing() {
  ResequencerStats r;
  r.deadline_us = 100'000;
  r.occupancy = 3;
  r.window = 256;
  r.held = 1491;
  r.released_in_order = 1480;
  r.released_deadline = 8;
  r.released_full = 7;
  r.released_lost = 5;
  r.gaps_skipped = 2;
  r.late = 1;
  r.duplicates = 4;
  r.passed = 5;
  r.resyncs = 6;
  return r;
}

TEST(FormatStatsTable, EndsWithTheResequencerOrSaysItIsUnknown) {
  MetricsSnapshot s = Snapshot();
  EXPECT_THAT(Lines(FormatStatsTable(s)).back(),
              "resequencing: not reported (the agent could not read it)");
  s.resequencing = Resequencing();
  const std::string table = FormatStatsTable(s);
  EXPECT_THAT(table, HasSubstr("\nresequencing: deadline 100 ms, occupancy 3/256\n"));
  EXPECT_THAT(table, testing::EndsWith(FormatResequencer(Resequencing())));
}

TEST(FormatResequencer, DeadlineOccupancyAndEveryCounter) {
  EXPECT_EQ(FormatResequencer(Resequencing()),
            "resequencing: deadline 100 ms, occupancy 3/256\n"
            "  held 1491: released in order 1480, past a lost packet 5, by deadline 8, when full 7\n"
            "  gaps given up 2, late 1, duplicates 4, passed 5, resyncs 6\n");
  ResequencerStats fractional = Resequencing();
  fractional.deadline_us = 2'500;
  EXPECT_THAT(FormatResequencer(fractional), testing::StartsWith("resequencing: deadline 2.5 ms,"));
}

TEST(FormatResequencer, LossRepairCountsOnceThereAreAny) {
  ResequencerStats r = Resequencing();
  r.repairs_requested = 9;
  r.repaired = 7;
  EXPECT_THAT(FormatResequencer(r),
              testing::EndsWith("  gaps given up 2, late 1, duplicates 4, passed 5, resyncs 6\n"
                                "  loss repair: requested 9, repaired in time 7\n"));
  EXPECT_THAT(FormatResequencer(Resequencing()), Not(HasSubstr("loss repair"))) << "none: no line";
}

TEST(FormatResequencer, OffIsOneLineUntilItHasCounts) {
  ResequencerStats off;
  off.window = 256;
  EXPECT_EQ(FormatResequencer(off), "resequencing: off\n");
  // Counts from when it was on are still shown.
  ResequencerStats was_on = Resequencing();
  was_on.deadline_us = 0;
  EXPECT_EQ(FormatResequencer(was_on),
            "resequencing: off\n"
            "  occupancy 3/256\n"
            "  held 1491: released in order 1480, past a lost packet 5, by deadline 8, when full 7\n"
            "  gaps given up 2, late 1, duplicates 4, passed 5, resyncs 6\n");
  ResequencerStats one_resync = off;
  one_resync.resyncs = 1;
  EXPECT_THAT(FormatResequencer(one_resync), HasSubstr("resyncs 1\n"));
  ResequencerStats one_repair = off;
  one_repair.repairs_requested = 1;
  EXPECT_THAT(FormatResequencer(one_repair),
              HasSubstr("loss repair: requested 1, repaired in time 0\n"));
}

TEST(FormatHistoryReport, SummaryTrendAndAlerts) {
  PathSummary wan2;
  wan2.path = "wan2";
  wan2.samples = 300;
  wan2.avg_tx_bytes_per_s = 2.5e6;
  wan2.rtt_p50_ms = 10;
  wan2.rtt_p95_ms = 30;
  wan2.rtt_p99_ms = 45;
  wan2.loss = 0.041;
  wan2.availability = 0.98;
  wan2.failovers = 2;
  wan2.trend.rtt_worse = true;
  wan2.trend.rtt_p95_before_ms = 12;
  wan2.trend.rtt_p95_recent_ms = 30;
  Alert alert{"wan2", AlertKind::kSustainedLoss, AlertAction::kReduceWeight,
              "loss 4.1% above 3% for 20m"};
  const std::string report = FormatHistoryReport({wan2}, {alert}, absl::Hours(5));
  EXPECT_THAT(report, testing::StartsWith("last 5h\n"));
  EXPECT_THAT(report, HasSubstr("20.00"));  // 2.5 MB/s out
  EXPECT_THAT(report, HasSubstr("4.1%"));
  EXPECT_THAT(report, HasSubstr("98.0%"));
  EXPECT_THAT(report, HasSubstr("RTT rising (p95 12.0 -> 30.0 ms)"));
  EXPECT_THAT(report, HasSubstr("wan2: loss 4.1% above 3% for 20m; reduce its weight"));
  EXPECT_THAT(FormatHistoryReport({}, {}, absl::Minutes(5)), HasSubstr("no samples"));
}

TEST(Plot, DataBlocksPerPathAndAScriptThatReadsThem) {
  HistoryRow row;
  row.time = absl::FromUnixSeconds(1710504000);
  row.tx_bytes_per_s = 1e6;
  row.rtt_ms = 5;
  HistoryRow unmeasured = row;
  unmeasured.rtt_ms.reset();
  const std::map<std::string, std::vector<HistoryRow>> series = {{"wan1", {row}},
                                                                 {"it's", {unmeasured}}};
  const std::string data = PlotData(series);
  EXPECT_THAT(data, HasSubstr("1710504000 8.00 0.00 5.000\n"));
  EXPECT_THAT(data, HasSubstr("1710504000 8.00 0.00 NaN\n"));
  const std::string script = PlotScript(series, "/tmp/d", "/tmp/out.png", absl::Minutes(5));
  EXPECT_THAT(script, HasSubstr("set output '/tmp/out.png'"));
  EXPECT_THAT(script, HasSubstr("index 1 using 1:4"));
  EXPECT_THAT(script, HasSubstr("'it''s out'"));  // quotes in names are escaped
  EXPECT_THAT(script, HasSubstr("last 5m"));
}

}  // namespace
}  // namespace meshbpf
