#include "agent/core/alerts.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace meshbpf {
namespace {

const absl::Time kNow = absl::FromUnixSeconds(1710504000);

// One row per minute ending a minute before now, with the given losses.
std::vector<HistoryRow> Minutes(const std::vector<double>& losses) {
  std::vector<HistoryRow> rows;
  for (size_t i = 0; i < losses.size(); ++i) {
    HistoryRow r;
    r.time = kNow - absl::Minutes(static_cast<int64_t>(losses.size() - i));
    r.samples = 60;
    r.loss = losses[i];
    rows.push_back(r);
  }
  return rows;
}

PathAlertInputs Inputs(const std::string& path) {
  PathAlertInputs in;
  in.summary.path = path;
  in.summary.start = kNow - absl::Hours(24);
  in.summary.end = kNow;
  in.summary.samples = 86400;
  in.summary.availability = 1;
  return in;
}

std::vector<std::string> Messages(const std::vector<Alert>& alerts, bool applied = false) {
  std::vector<std::string> out;
  for (const Alert& a : alerts) out.push_back(AlertMessage(a, applied));
  return out;
}

TEST(LossHeldAbove, LengthOfTheRunEndingNow) {
  EXPECT_EQ(LossHeldAbove(Minutes(std::vector<double>(25, 0.05)), 0.03, absl::Minutes(1), kNow),
            absl::Minutes(25));
  std::vector<double> losses(25, 0.05);
  losses[10] = 0.01;
  EXPECT_EQ(LossHeldAbove(Minutes(losses), 0.03, absl::Minutes(1), kNow), absl::Minutes(14));
  losses.back() = 0.03;  // not above
  EXPECT_EQ(LossHeldAbove(Minutes(losses), 0.03, absl::Minutes(1), kNow), absl::ZeroDuration());
  EXPECT_EQ(LossHeldAbove({}, 0.03, absl::Minutes(1), kNow), absl::ZeroDuration());
}

TEST(LossHeldAbove, GapsAndStaleRowsBreakTheRun) {
  std::vector<HistoryRow> rows = Minutes(std::vector<double>(25, 0.05));
  rows.erase(rows.begin() + 4);  // no data for one minute: we do not know it stayed lossy
  EXPECT_EQ(LossHeldAbove(rows, 0.03, absl::Minutes(1), kNow), absl::Minutes(20));
  EXPECT_EQ(LossHeldAbove(rows, 0.03, absl::Minutes(1), kNow + absl::Minutes(5)),
            absl::ZeroDuration())
      << "nothing recorded for the last minutes";
}

TEST(EvaluateAlerts, SustainedLossReducesWeight) {
  PathAlertInputs in = Inputs("wan2");
  std::vector<double> losses(21, 0.04);
  losses[0] = 0;  // clean before the last 20 minutes
  in.recent_minutes = Minutes(losses);
  std::vector<Alert> alerts = EvaluateAlerts(in, kNow);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].kind, AlertKind::kSustainedLoss);
  EXPECT_EQ(alerts[0].action, AlertAction::kReduceWeight);
  EXPECT_EQ(AlertMessage(alerts[0], true), "wan2: loss 4.0% above 3% for 20m; weight reduced");
  EXPECT_EQ(AlertMessage(alerts[0], false), "wan2: loss 4.0% above 3% for 20m; reduce its weight");

  in.recent_minutes = Minutes(std::vector<double>(19, 0.04));
  EXPECT_TRUE(EvaluateAlerts(in, kNow).empty()) << "19 minutes is not 20";
  in.recent_minutes = Minutes(std::vector<double>(30, 0.04));
  EXPECT_TRUE(EvaluateAlerts(in, kNow, {.loss = 0.05}).empty()) << "thresholds are parameters";
}

TEST(EvaluateAlerts, RttP95GrowthAndRisingLoss) {
  PathAlertInputs in = Inputs("wan1");
  in.summary.trend.rtt_p95_before_ms = 20;
  in.summary.trend.rtt_p95_recent_ms = 45;
  in.summary.trend.loss_before = 0.005;
  in.summary.trend.loss_recent = 0.02;
  in.summary.trend.loss_worse = true;
  EXPECT_THAT(Messages(EvaluateAlerts(in, kNow)),
              testing::ElementsAre("wan1: RTT p95 up 2.2x over the last 1d (20.0 -> 45.0 ms)",
                                   "wan1: loss rising over the last 1d (0.5% -> 2.0%)"));
  in.summary.trend.rtt_p95_recent_ms = 39;
  in.summary.trend.loss_worse = false;
  EXPECT_TRUE(EvaluateAlerts(in, kNow).empty()) << "39 ms is less than twice 20 ms";
}

TEST(EvaluateAlerts, LowAvailabilityWithFailovers) {
  PathAlertInputs in = Inputs("wlan0");
  in.summary.availability = 0.975;
  in.summary.failovers = 3;
  EXPECT_THAT(
      Messages(EvaluateAlerts(in, kNow)),
      testing::ElementsAre("wlan0: available 97.5% of the last 1d (below 99.0%), 3 failovers"));
  in.summary.samples = 0;
  EXPECT_TRUE(EvaluateAlerts(in, kNow).empty()) << "no samples, no verdict";
}

TEST(EvaluateAlerts, CapWarningsAndExhaustion) {
  PathAlertInputs in = Inputs("wan3");
  in.cap = CapState{.used_fraction = 0.962, .warn_at = {0.8, 0.95}};
  EXPECT_THAT(Messages(EvaluateAlerts(in, kNow)),
              testing::ElementsAre("wan3: data cap 95% used (96.2%)"));
  in.cap->used_fraction = 0.5;
  EXPECT_TRUE(EvaluateAlerts(in, kNow).empty());

  in.cap->used_fraction = 1.01;
  std::vector<Alert> alerts = EvaluateAlerts(in, kNow);
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0].kind, AlertKind::kCapExhausted);
  EXPECT_EQ(AlertMessage(alerts[0], false), "wan3: data cap used up (101%); stop using it");
  in.cap->when_exhausted = CapExhaustedPolicy::kLastResortBackup;
  EXPECT_THAT(
      Messages(EvaluateAlerts(in, kNow), true),
      testing::ElementsAre("wan3: data cap used up (101%); kept as last-resort backup only"));
}

}  // namespace
}  // namespace meshbpf
