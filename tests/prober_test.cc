#include "agent/core/prober.h"

#include <gtest/gtest.h>

#include "tests/test_common.h"

namespace meshbpf {
namespace {

TEST(PathProber, MatchesRepliesAndMeasuresRtt) {
  PathProber prober(2, 500 * kMs);
  ProbeMessage a = prober.NextRequest(0, 1000 * kMs);
  ProbeMessage b = prober.NextRequest(1, 1000 * kMs);
  EXPECT_EQ(a.seq, 1u);
  EXPECT_EQ(b.seq, 1u) << "each path numbers its own probes";
  a.type = ProbeMessage::Type::kReply;
  std::optional<ProbeAnswer> answer = prober.OnReply(a, 1012 * kMs);
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->rtt_ns, 12 * kMs);
  EXPECT_EQ(answer->sent_ns, 1000 * kMs);
  EXPECT_EQ(prober.OnReply(a, 1013 * kMs), std::nullopt) << "a duplicate reply counts once";
}

TEST(PathProber, IgnoresUnknownForgedAndLateReplies) {
  PathProber prober(1, 500 * kMs);
  ProbeMessage a = prober.NextRequest(0, 0);
  ProbeMessage forged = a;
  forged.seq = 99;
  EXPECT_EQ(prober.OnReply(forged, 5 * kMs), std::nullopt);
  forged = a;
  forged.sent_ns += 4 * kMs;  // claims a later send time to look faster
  EXPECT_EQ(prober.OnReply(forged, 5 * kMs), std::nullopt);
  forged = a;
  forged.path_id = 7;
  EXPECT_EQ(prober.OnReply(forged, 5 * kMs), std::nullopt);
  EXPECT_EQ(prober.Expire(600 * kMs), std::vector<uint8_t>{0});
  EXPECT_EQ(prober.OnReply(a, 601 * kMs), std::nullopt) << "already counted lost";
}

TEST(PathProber, ExpiresOnlyTimedOutProbesInOrder) {
  PathProber prober(2, 300 * kMs);
  prober.NextRequest(0, 0);
  prober.NextRequest(0, 200 * kMs);
  prober.NextRequest(1, 250 * kMs);
  EXPECT_TRUE(prober.Expire(299 * kMs).empty());
  EXPECT_EQ(prober.Expire(300 * kMs), std::vector<uint8_t>{0});
  EXPECT_EQ(prober.Expire(550 * kMs), (std::vector<uint8_t>{0, 1}));
  EXPECT_TRUE(prober.Expire(10000 * kMs).empty());
}

TEST(PathProber, AnswerCarriesTheTxCountersOfItsRequest) {
  PathProber prober(1, 500 * kMs);
  ProbeMessage a = prober.NextRequest(0, 0, {.packets = 10, .bytes = 15000});
  ProbeMessage b = prober.NextRequest(0, 200 * kMs, {.packets = 25, .bytes = 37500});
  b.type = ProbeMessage::Type::kReply;
  std::optional<ProbeAnswer> answer = prober.OnReply(b, 201 * kMs);
  ASSERT_TRUE(answer);
  EXPECT_EQ(answer->tx_at_send.packets, 25u) << "the counters of b, not of a";
  EXPECT_EQ(answer->tx_at_send.bytes, 37500u);
  (void)a;
}

TEST(PathProber, TimeoutsArePerPath) {
  PathProber prober(2, 500 * kMs);
  prober.SetTimeout(1, 2000 * kMs);  // a satellite path
  prober.NextRequest(0, 0);
  prober.NextRequest(1, 0);
  EXPECT_EQ(prober.Expire(600 * kMs), std::vector<uint8_t>{0});
  EXPECT_TRUE(prober.Expire(1999 * kMs).empty());
  EXPECT_EQ(prober.Expire(2000 * kMs), std::vector<uint8_t>{1});
}

TEST(PathProber, ResizeKeepsThePathsThatStay) {
  PathProber prober(2, 500 * kMs);
  ProbeMessage kept = prober.NextRequest(0, 0);
  prober.NextRequest(1, 0);
  prober.Resize(3);
  ProbeMessage added = prober.NextRequest(2, 10 * kMs);
  EXPECT_EQ(added.seq, 1u);
  kept.type = ProbeMessage::Type::kReply;
  EXPECT_TRUE(prober.OnReply(kept, 20 * kMs)) << "path 0's probe is still outstanding";
  prober.Resize(1);
  EXPECT_EQ(prober.Expire(10'000 * kMs), std::vector<uint8_t>{})
      << "the probes of paths 1 and 2 left with them";
}

TEST(PathProber, AForgottenPathNeitherAnswersNorLoses) {
  PathProber prober(1, 500 * kMs);
  ProbeMessage old = prober.NextRequest(0, 0);
  prober.Forget(0);
  old.type = ProbeMessage::Type::kReply;
  EXPECT_EQ(prober.OnReply(old, 5 * kMs), std::nullopt) << "the old path's probe is no answer";
  EXPECT_TRUE(prober.Expire(10'000 * kMs).empty()) << "nor a loss of the new path";
  EXPECT_EQ(prober.NextRequest(0, 20 * kMs).seq, 2u) << "numbers go on: an old reply never matches";
}

}  // namespace
}  // namespace meshbpf
