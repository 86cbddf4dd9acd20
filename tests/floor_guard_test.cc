// The floor guard's rule (agent/core/floor_guard.h): which paths leave
// bonded bulk traffic and why, hysteresis, back-off and re-admission, and
// that the best path is never taken out.
#include "agent/core/floor_guard.h"

#include <gtest/gtest.h>

#include <vector>

#include "tests/test_common.h"

namespace meshbpf {
namespace {

GuardPathInput Path(double mbit, double owd_ms, double loss = 0, double jitter_ms = 0.5) {
  return {.eligible = true,
          .capacity_bps = mbit * 1e6,
          .owd_us = owd_ms * 1e3,
          .jitter_us = jitter_ms * 1e3,
          .rtt_us = 2 * owd_ms * 1e3 + 1000,
          .loss = loss};
}

GuardParams Params(double hideable_ms = 100) {
  GuardParams p;
  p.hideable_skew_us = hideable_ms * 1e3;
  return p;
}

// 40 + 20 Mbit/s, the 20 with 20 ms of jitter: its packets spread 40 ms,
// beyond the 30 ms Params(30) waits; and the same once it calmed down.
std::vector<GuardPathInput> JitteryPath() { return {Path(40, 0), Path(20, 10, 0, 20)}; }
std::vector<GuardPathInput> CalmPath() { return {Path(40, 0), Path(20, 10, 0, 1)}; }

// Runs intervals of one second from `*now`; the decisions of all of them.
std::vector<GuardDecision> Intervals(FloorGuard& guard, const std::vector<GuardPathInput>& in,
                                     int intervals, uint64_t* now) {
  std::vector<GuardDecision> all;
  for (int k = 0; k < intervals; ++k) {
    *now += kSecond;
    for (GuardDecision& d : guard.Update(in, *now)) all.push_back(std::move(d));
  }
  return all;
}

TEST(FloorGuardTest, DelayAloneTakesNothingOut) {
  // The scheduler counts what the resequencer does not hide: 80 ms against
  // a 30 ms ceiling only means the far path gets packets when the near
  // one's queue is long enough.
  FloorGuard guard(2, Params(30));
  uint64_t now = 0;
  EXPECT_TRUE(Intervals(guard, {Path(40, 0), Path(20, 80)}, 10, &now).empty());
  EXPECT_FALSE(guard.excluded(1));
}

TEST(FloorGuardTest, JitterBeyondTheDeadlineTakesThePathOutAfterConfirmation) {
  FloorGuard guard(2, Params(30));
  uint64_t now = 0;
  const std::vector<GuardPathInput> in = JitteryPath();
  EXPECT_TRUE(Intervals(guard, in, 2, &now).empty()) << "two intervals are not yet confirmation";
  std::vector<GuardDecision> d = Intervals(guard, in, 1, &now);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].path, 1u);
  EXPECT_TRUE(d[0].excluded);
  EXPECT_EQ(d[0].reason, GuardReason::kJitter);
  EXPECT_NE(d[0].detail.find("jitter 20.0 ms"), std::string::npos) << d[0].detail;
  EXPECT_TRUE(guard.excluded(1));
  EXPECT_FALSE(guard.why(1).empty());
  EXPECT_FALSE(guard.excluded(0));
}

TEST(FloorGuardTest, AnIntervalOfGoodEvidenceRestartsConfirmation) {
  FloorGuard guard(2, Params(30));
  uint64_t now = 0;
  const std::vector<GuardPathInput> bad = JitteryPath(), good = CalmPath();
  for (int k = 0; k < 5; ++k) {
    EXPECT_TRUE(Intervals(guard, bad, 2, &now).empty());
    EXPECT_TRUE(Intervals(guard, good, 1, &now).empty());
  }
  EXPECT_FALSE(guard.excluded(1));
}

TEST(FloorGuardTest, WithoutResequencingJitterTakesNothingOut) {
  FloorGuard guard(2, Params(0));
  uint64_t now = 0;
  EXPECT_TRUE(Intervals(guard, JitteryPath(), 10, &now).empty());
}

TEST(FloorGuardTest, JitterWithinTheDeadlineKeepsThePath) {
  FloorGuard guard(2, Params(30));
  uint64_t now = 0;
  EXPECT_TRUE(Intervals(guard, {Path(40, 0), Path(20, 20, 0, 14)}, 10, &now).empty())
      << "2 x 14 ms is within 30 ms";
}

TEST(FloorGuardTest, LossThatCostsOneFlowMoreThanThePathAddsTakesItOut) {
  // 40 + 20 Mbit/s at a 50 ms RTT: 2% loss on the 20 makes the bond's loss
  // 0.67%, which limits one flow to ~3.3 Mbit/s, far below the clean 40.
  FloorGuard guard(2, Params(100));
  uint64_t now = 0;
  std::vector<GuardPathInput> in = {Path(40, 25), Path(20, 25, 0.02)};
  std::vector<GuardDecision> d = Intervals(guard, in, 3, &now);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].path, 1u);
  EXPECT_EQ(d[0].reason, GuardReason::kLoss);
  EXPECT_NE(d[0].detail.find("loss 2.0%"), std::string::npos) << d[0].detail;
}

TEST(FloorGuardTest, LossTheFlowAbsorbsKeepsThePath) {
  // The same loss at a 1 ms RTT limits one flow far above 60 Mbit/s.
  FloorGuard guard(2, Params(100));
  uint64_t now = 0;
  GuardPathInput lossy = Path(20, 0, 0.02);
  GuardPathInput clean = Path(40, 0);
  lossy.rtt_us = clean.rtt_us = 1000;
  EXPECT_TRUE(Intervals(guard, {clean, lossy}, 10, &now).empty());
}

TEST(FloorGuardTest, TheBestPathIsNeverTakenOut) {
  // The fast path is the far one: the near, slow one goes, never the anchor.
  FloorGuard guard(2, Params(30));
  uint64_t now = 0;
  std::vector<GuardDecision> d =
      Intervals(guard, {Path(10, 0, 0, 20), Path(50, 80, 0, 20)}, 10, &now);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].path, 0u);
  EXPECT_FALSE(guard.excluded(1));
  EXPECT_EQ(guard.anchor(), 1u);
}

TEST(FloorGuardTest, ALonePathIsNeverTakenOut) {
  FloorGuard guard(2, Params(30));
  uint64_t now = 0;
  GuardPathInput down = Path(40, 0);
  down.eligible = false;
  EXPECT_TRUE(Intervals(guard, {down, Path(20, 80, 0.2, 20)}, 10, &now).empty());
  EXPECT_FALSE(guard.excluded(1));
}

TEST(FloorGuardTest, AnExcludedPathComesBackAtOnceWhenItIsTheBestLeft) {
  FloorGuard guard(2, Params(30));
  uint64_t now = 0;
  ASSERT_EQ(Intervals(guard, JitteryPath(), 3, &now).size(), 1u);
  GuardPathInput gone = Path(40, 0);
  gone.eligible = false;
  std::vector<GuardDecision> d = Intervals(guard, {gone, Path(20, 10, 0, 20)}, 1, &now);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_FALSE(d[0].excluded);
  EXPECT_EQ(d[0].reason, GuardReason::kBestPath);
  EXPECT_FALSE(guard.excluded(1));
}

TEST(FloorGuardTest, ReadmittedAfterTheBackOffOnceTheEvidenceIsClear) {
  FloorGuard guard(2, Params(30));
  uint64_t now = 0;
  ASSERT_EQ(Intervals(guard, JitteryPath(), 3, &now).size(), 1u);
  EXPECT_EQ(guard.backoff_ns(1), 10 * kSecond);
  const std::vector<GuardPathInput> healed = CalmPath();
  // Clear at once, but the back-off holds it out for 10 s.
  EXPECT_TRUE(Intervals(guard, healed, 9, &now).empty());
  EXPECT_TRUE(guard.excluded(1));
  std::vector<GuardDecision> d = Intervals(guard, healed, 1, &now);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_FALSE(d[0].excluded);
  EXPECT_EQ(d[0].reason, GuardReason::kReadmitted);
  EXPECT_FALSE(guard.excluded(1));
}

TEST(FloorGuardTest, StaysOutWhileTheEvidenceIsNotClearByTheMargin) {
  FloorGuard guard(2, Params(30));
  uint64_t now = 0;
  ASSERT_EQ(Intervals(guard, JitteryPath(), 3, &now).size(), 1u);
  // 2 x 14 ms: inside 30 ms, but not by the 10% margin.
  EXPECT_TRUE(Intervals(guard, {Path(40, 0), Path(20, 10, 0, 14)}, 60, &now).empty());
  EXPECT_TRUE(guard.excluded(1));
}

TEST(FloorGuardTest, BackOffDoublesOnRelapseAndResetsAfterProbation) {
  FloorGuard guard(2, Params(30));
  uint64_t now = 0;
  const std::vector<GuardPathInput> bad = JitteryPath(), good = CalmPath();
  auto cycle = [&] {
    EXPECT_EQ(Intervals(guard, bad, 3, &now).size(), 1u);  // out
    const uint64_t backoff = guard.backoff_ns(1);
    EXPECT_EQ(Intervals(guard, good, static_cast<int>(backoff / kSecond), &now).size(), 1u);  // back
    return backoff;
  };
  EXPECT_EQ(cycle(), 10 * kSecond);
  EXPECT_EQ(cycle(), 20 * kSecond) << "out again within probation";
  EXPECT_EQ(cycle(), 40 * kSecond);
  // Stable through probation: the next exclusion starts from the base.
  EXPECT_TRUE(Intervals(guard, good, 61, &now).empty());
  EXPECT_EQ(cycle(), 10 * kSecond);
}

TEST(FloorGuardTest, BackOffIsCapped) {
  GuardParams params = Params(30);
  params.max_backoff_ns = 25 * kSecond;
  FloorGuard guard(2, params);
  uint64_t now = 0;
  const std::vector<GuardPathInput> bad = JitteryPath(), good = CalmPath();
  for (int k = 0; k < 4; ++k) {
    ASSERT_EQ(Intervals(guard, bad, 3, &now).size(), 1u);
    EXPECT_LE(guard.backoff_ns(1), 25 * kSecond);
    ASSERT_EQ(Intervals(guard, good, static_cast<int>(guard.backoff_ns(1) / kSecond), &now).size(), 1u);
  }
  EXPECT_EQ(guard.backoff_ns(1), 25 * kSecond);
}

TEST(FloorGuardTest, AnchorDoesNotFlipBetweenAlikePaths) {
  FloorGuard guard(3, Params(30));
  uint64_t now = 0;
  Intervals(guard, {Path(40, 0), Path(39, 2), Path(10, 0)}, 1, &now);
  ASSERT_EQ(guard.anchor(), 0u);
  Intervals(guard, {Path(38, 0), Path(40, 2), Path(10, 0)}, 1, &now);
  EXPECT_EQ(guard.anchor(), 0u) << "40 is within 10% of 38";
  Intervals(guard, {Path(30, 0), Path(40, 2), Path(10, 0)}, 1, &now);
  EXPECT_EQ(guard.anchor(), 1u);
}

TEST(FloorGuardTest, ThreePathsOnlyTheHarmfulOneGoes) {
  FloorGuard guard(3, Params(30));
  uint64_t now = 0;
  std::vector<GuardDecision> d =
      Intervals(guard, {Path(50, 8, 0, 3), Path(20, 35, 0, 5), Path(5, 150, 0, 25)}, 5, &now);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].path, 2u);
  EXPECT_FALSE(guard.excluded(0));
  EXPECT_FALSE(guard.excluded(1));
}

TEST(FloorGuardTest, ExpectedGoodputFollowsMathis) {
  EXPECT_EQ(ExpectedFlowGoodputBps(60e6, 50'000, 0), 60e6);
  // 1400 B x 8 / 0.05 s x sqrt(1.5 / 0.01) = 2.74 Mbit/s
  EXPECT_NEAR(ExpectedFlowGoodputBps(60e6, 50'000, 0.01), 2.743e6, 0.01e6);
  EXPECT_EQ(ExpectedFlowGoodputBps(1e6, 50'000, 0.01), 1e6);
}

TEST(FloorGuardTest, ReasonNames) {
  EXPECT_STREQ(GuardReasonName(GuardReason::kJitter), "jitter");
  EXPECT_STREQ(GuardReasonName(GuardReason::kLoss), "loss");
  EXPECT_STREQ(GuardReasonName(GuardReason::kReadmitted), "readmitted");
  EXPECT_STREQ(GuardReasonName(GuardReason::kBestPath), "best_path");
}

}  // namespace
}  // namespace meshbpf
