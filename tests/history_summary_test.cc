// History as values (agent/core/history_summary.h): windows, weighted
// percentiles, trends and path summaries.
#include "agent/core/history_summary.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/test_common.h"

namespace meshbpf {
namespace {

using testing::HasSubstr;

// 2024-03-15T12:00:00Z: whole minutes and hours, so bucket edges are known.

TEST(ParseWindow, WholeNumbersWithAUnit) {
  EXPECT_EQ(ParseWindow("90s").value(), absl::Seconds(90));
  EXPECT_EQ(ParseWindow("90m").value(), absl::Minutes(90));
  EXPECT_EQ(ParseWindow("24h").value(), absl::Hours(24));
  EXPECT_EQ(ParseWindow("7d").value(), absl::Hours(24 * 7));
  EXPECT_EQ(ParseWindow("365d").value(), absl::Hours(24 * 365));
}

TEST(FormatWindow, LargestWholeUnit) {
  EXPECT_EQ(FormatWindow(absl::Hours(24)), "1d");
  EXPECT_EQ(FormatWindow(absl::Hours(36)), "36h");
  EXPECT_EQ(FormatWindow(absl::Minutes(90)), "90m");
  EXPECT_EQ(FormatWindow(absl::Seconds(61)), "61s");
  for (const char* text : {"7d", "23h", "20m", "45s"}) {
    EXPECT_EQ(FormatWindow(ParseWindow(text).value()), text);
  }
}

TEST(ParseWindow, RejectsWhatItCannotReadSayingWhy) {
  const std::pair<const char*, const char*> cases[] = {
      {"", "unit"},
      {"h", "unit"},
      {"24", "unit must be"},
      {"24x", "unit must be"},
      {"-5m", "whole number"},
      {"1.5h", "whole number"},
      {" 24h", "whole number"},
      {"0h", "longer than 0"},
      {"366d", "longer than the history kept"},
      {"99999999999999999999d", "whole number"},
  };
  for (const auto& [text, why] : cases) {
    absl::StatusOr<absl::Duration> w = ParseWindow(text);
    ASSERT_FALSE(w.ok()) << text;
    EXPECT_EQ(w.status().code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_THAT(Message(w.status()), HasSubstr(absl::StrCat("window \"", text, "\""))) << text;
    EXPECT_THAT(Message(w.status()), HasSubstr(why)) << text;
  }
}

TEST(WeightedPercentile, NearestRankOnEqualWeights) {
  std::vector<std::pair<double, double>> values;
  for (int v = 100; v >= 1; --v) values.emplace_back(v, 1);  // unsorted on purpose
  EXPECT_EQ(WeightedPercentile(values, 0.50), 50);
  EXPECT_EQ(WeightedPercentile(values, 0.95), 95);
  EXPECT_EQ(WeightedPercentile(values, 0.99), 99);
  EXPECT_EQ(WeightedPercentile(values, 1.0), 100);
  EXPECT_EQ(WeightedPercentile(values, 0.001), 1);
}

TEST(WeightedPercentile, WeightsCountAsThatManySamples) {
  // A minute averaging 20 ms and one second at 500 ms: the spike is not the median.
  const std::vector<std::pair<double, double>> values = {{500, 1}, {20, 60}};
  EXPECT_EQ(WeightedPercentile(values, 0.5), 20);
  EXPECT_EQ(WeightedPercentile(values, 0.99), 500);
  EXPECT_EQ(WeightedPercentile({{7, 0}, {9, 2}}, 0.01), 9) << "zero weight is no sample";
}

TEST(WeightedPercentile, NothingToRank) {
  EXPECT_EQ(WeightedPercentile({}, 0.5), std::nullopt);
  EXPECT_EQ(WeightedPercentile({{3, 0}}, 0.5), std::nullopt);
  EXPECT_EQ(WeightedPercentile({{3, 1}}, 0), std::nullopt);
  EXPECT_EQ(WeightedPercentile({{3, 1}}, 1.5), std::nullopt);
}

// Rows a minute apart over [kStart, kStart + minutes): `before` values for
// the first three quarters, `recent` for the last quarter.
std::vector<HistoryRow> TwoPhaseRows(int minutes, double rtt_before, double rtt_recent,
                                     double loss_before, double loss_recent) {
  std::vector<HistoryRow> rows;
  for (int m = 0; m < minutes; ++m) {
    HistoryRow r;
    r.time = kStart + absl::Minutes(m);
    r.samples = r.rtt_samples = 60;
    const bool recent = m >= minutes * 3 / 4;
    r.rtt_ms = recent ? rtt_recent : rtt_before;
    r.loss = recent ? loss_recent : loss_before;
    rows.push_back(r);
  }
  return rows;
}

TEST(JudgeTrend, LastQuarterAgainstTheThreeBefore) {
  const absl::Time end = kStart + absl::Minutes(240);
  PathTrend t = JudgeTrend(TwoPhaseRows(240, 20, 45, 0.005, 0.02), kStart, end, {});
  EXPECT_EQ(t.rtt_p95_before_ms, 20);
  EXPECT_EQ(t.rtt_p95_recent_ms, 45);
  EXPECT_TRUE(t.rtt_worse);
  EXPECT_NEAR(*t.loss_recent, 0.02, 1e-9);
  EXPECT_TRUE(t.loss_worse);

  t = JudgeTrend(TwoPhaseRows(240, 20, 29, 0.01, 0.015), kStart, end, {});
  EXPECT_FALSE(t.rtt_worse) << "29 ms is less than 1.5 times 20 ms";
  EXPECT_FALSE(t.loss_worse) << "half a point more loss is below the 1 point threshold";

  t = JudgeTrend(TwoPhaseRows(240, 2, 6, 0, 0), kStart, end, {});
  EXPECT_FALSE(t.rtt_worse) << "three times as slow but only 4 ms more";
  t = JudgeTrend(TwoPhaseRows(240, 20, 29, 0, 0), kStart, end,
                 {.rtt_growth = 1.4, .rtt_min_increase_ms = 5, .loss_increase = 0.01});
  EXPECT_TRUE(t.rtt_worse) << "thresholds are parameters";
}

TEST(JudgeTrend, NoVerdictWithoutBothHalves) {
  std::vector<HistoryRow> rows = TwoPhaseRows(240, 20, 90, 0, 0.5);
  rows.resize(100);  // only early rows
  PathTrend t = JudgeTrend(rows, kStart, kStart + absl::Minutes(240), {});
  EXPECT_EQ(t.rtt_p95_recent_ms, std::nullopt);
  EXPECT_FALSE(t.rtt_worse);
  EXPECT_FALSE(t.loss_worse);
}

TEST(SummarizePath, WeightedAveragesAvailabilityAndFailovers) {
  std::vector<HistoryRow> rows(2);
  rows[0].time = kStart;
  rows[0].samples = 30;
  rows[0].tx_bytes_per_s = 1000;
  rows[0].availability = 1;
  rows[0].loss = 0;
  rows[0].rtt_ms = 10;
  rows[0].rtt_samples = 30;
  rows[1].time = kStart + absl::Minutes(1);
  rows[1].samples = 10;
  rows[1].tx_bytes_per_s = 3000;
  rows[1].availability = 0.5;
  rows[1].loss = 0.4;
  const std::vector<PathTransition> transitions = {
      {kStart + absl::Seconds(5), "wan1", PathStatus::kUp, PathStatus::kDown, "carrier lost"},
      {kStart + absl::Seconds(9), "wan1", PathStatus::kDown, PathStatus::kDown, "still down"},
      {kStart + absl::Seconds(20), "wan1", PathStatus::kDown, PathStatus::kUp, "carrier back"},
      {kStart + absl::Seconds(30), "wan2", PathStatus::kUp, PathStatus::kDown, "other path"},
      {kStart - absl::Seconds(1), "wan1", PathStatus::kUp, PathStatus::kDown, "before window"},
  };
  PathSummary s = SummarizePath("wan1", rows, transitions, kStart, kStart + absl::Minutes(2), {});
  EXPECT_EQ(s.samples, 40);
  EXPECT_DOUBLE_EQ(s.avg_tx_bytes_per_s, 1500);
  EXPECT_DOUBLE_EQ(s.availability, 0.875);
  EXPECT_DOUBLE_EQ(s.loss, 0.1);
  EXPECT_EQ(s.rtt_p50_ms, 10) << "the row without RTT does not count";
  EXPECT_EQ(s.failovers, 1);
}

}  // namespace
}  // namespace meshbpf
