#include "agent/core/path_mtu.h"

#include <gtest/gtest.h>

#include "tests/test_common.h"

namespace meshbpf {
namespace {

constexpr uint64_t kTimeout = kSecond;

// Answers every probe of `probes` up to `carries` bytes.
void AnswerUpTo(PathMtuSearch& s, const std::vector<PathMtuSearch::Probe>& probes, uint32_t carries) {
  for (const auto& p : probes) {
    if (p.size <= carries) s.OnAnswered(p.seq);
  }
}

// Brings `s` up at 0 and through a lost full-size check; returns the check
// and the ladder sent after it (at 3 s).
struct LostCheck {
  PathMtuSearch::Probe check;
  std::vector<PathMtuSearch::Probe> ladder;
};
LostCheck LoseTheCheck(PathMtuSearch& s) {
  s.OnPathUp(0);
  const std::vector<PathMtuSearch::Probe> check = s.Due(2 * kSecond);
  EXPECT_EQ(check.size(), 1u);
  EXPECT_EQ(s.Expire(2 * kSecond + kTimeout / 2), std::nullopt) << "not timed out yet";
  EXPECT_TRUE(s.Due(2 * kSecond + kTimeout / 2).empty());
  EXPECT_EQ(s.Expire(3 * kSecond), std::nullopt) << "lost: the ladder goes out";
  return {check.at(0), s.Due(3 * kSecond)};
}

TEST(PathMtuSearch, NothingUntilThePathIsUpThenOneFullSizeCheck) {
  PathMtuSearch s(1500, kTimeout);
  EXPECT_TRUE(s.Due(10 * kSecond).empty()) << "down";
  s.OnPathUp(10 * kSecond);
  EXPECT_TRUE(s.Due(11 * kSecond).empty()) << "the first check waits 2 s";
  auto probes = s.Due(12 * kSecond);
  ASSERT_EQ(probes.size(), 1u);
  EXPECT_EQ(probes[0].size, 1500u);
  s.OnAnswered(probes[0].seq);
  EXPECT_EQ(s.Expire(12 * kSecond), std::nullopt) << "already 1500";
  EXPECT_EQ(s.mtu(), 1500u);
  EXPECT_TRUE(s.Due(13 * kSecond).empty());
  EXPECT_EQ(s.Due(12 * kSecond + PathMtuSearch::kCheckIntervalNs).size(), 1u) << "checked again a minute later";
}

TEST(PathMtuSearch, ALostCheckSendsTheLadderAndTheLargestAnsweredWins) {
  PathMtuSearch s(1500, kTimeout);
  const std::vector<PathMtuSearch::Probe> ladder = LoseTheCheck(s).ladder;
  ASSERT_EQ(ladder.size(), 14u) << "1500 and the 13 plateaus from 1492 to 1280";
  EXPECT_EQ(ladder.front().size, 1500u);
  EXPECT_EQ(ladder.back().size, PathMtuSearch::kSmallest);
  AnswerUpTo(s, ladder, 1400);  // a 1400-byte hop behind the uplink
  EXPECT_EQ(s.Expire(3 * kSecond + kTimeout / 2), std::nullopt) << "waits for the whole ladder";
  EXPECT_EQ(s.Expire(4 * kSecond), 1400u);
  EXPECT_EQ(s.mtu(), 1400u);
  EXPECT_EQ(s.reason(), "probes of 1500 bytes lost, of 1400 answered");
  // A minute later the full size is tried again; once it passes, back to 1500.
  auto again = s.Due(4 * kSecond + PathMtuSearch::kCheckIntervalNs);
  ASSERT_EQ(again.size(), 1u);
  s.OnAnswered(again[0].seq);
  EXPECT_EQ(s.Expire(5 * kSecond + PathMtuSearch::kCheckIntervalNs), 1500u);
}

TEST(PathMtuSearch, ACheckLostByChanceChangesNothing) {
  PathMtuSearch s(1500, kTimeout);
  AnswerUpTo(s, LoseTheCheck(s).ladder, 1500);
  EXPECT_EQ(s.Expire(3 * kSecond), std::nullopt) << "the full size answered: done at once";
  EXPECT_EQ(s.mtu(), 1500u);
}

TEST(PathMtuSearch, ASilentPathKeepsItsSizeAndLateOrUnknownAnswersAreIgnored) {
  PathMtuSearch s(1500, kTimeout);
  s.OnAnswered(LoseTheCheck(s).check.seq);  // the check's answer, after its time
  s.OnAnswered(9999);
  EXPECT_EQ(s.Expire(4 * kSecond), std::nullopt) << "no ladder probe answered: a failing path, not a size";
  EXPECT_EQ(s.mtu(), 1500u);
}

TEST(PathMtuSearch, DownDropsWhatIsOutstandingAndUpStartsAgain) {
  PathMtuSearch s(1500, kTimeout);
  s.OnPathUp(0);
  auto check = s.Due(2 * kSecond);
  s.OnPathDown();
  s.OnAnswered(check[0].seq);
  EXPECT_EQ(s.Expire(5 * kSecond), std::nullopt);
  EXPECT_TRUE(s.Due(5 * kSecond).empty());
  s.OnPathUp(6 * kSecond);
  EXPECT_EQ(s.Due(8 * kSecond).size(), 1u);
}

TEST(PathMtuSearch, ASmallerUplinkLaddersFromItsOwnMtu) {
  PathMtuSearch s(1492, kTimeout);  // PPPoE
  const std::vector<PathMtuSearch::Probe> ladder = LoseTheCheck(s).ladder;
  EXPECT_EQ(ladder.front().size, 1492u);
  EXPECT_EQ(ladder[1].size, 1480u) << "no plateau at or above the uplink's MTU again";
}

TEST(PathMtuSearch, AProbeThatCouldNotBeSentSaysNothing) {
  PathMtuSearch s(1500, kTimeout);
  s.OnPathUp(0);
  const auto check = s.Due(2 * kSecond);
  s.OnNotSent(check.at(0).seq, 2 * kSecond);  // e.g. a bond device set smaller by hand
  EXPECT_EQ(s.Expire(10 * kSecond), std::nullopt);
  EXPECT_TRUE(s.Due(10 * kSecond).empty()) << "no ladder: the check was called off";
  EXPECT_EQ(s.mtu(), 1500u);
  EXPECT_EQ(s.Due(2 * kSecond + PathMtuSearch::kCheckIntervalNs).size(), 1u) << "the next check";
  // In a ladder, the sizes that could not leave are left out.
  PathMtuSearch t(1500, kTimeout);
  std::vector<PathMtuSearch::Probe> ladder = LoseTheCheck(t).ladder;
  for (const auto& p : ladder) {
    if (p.size > 1440) t.OnNotSent(p.seq, 3 * kSecond);
  }
  AnswerUpTo(t, ladder, 1440);
  EXPECT_EQ(t.Expire(4 * kSecond), 1440u);
}

}  // namespace
}  // namespace meshbpf
