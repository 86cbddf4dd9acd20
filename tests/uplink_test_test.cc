#include "agent/daemon/uplink_test.h"
#include "cli/agent_views.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/test_common.h"

namespace meshbpf {
namespace {

using testing::HasSubstr;

TEST(Pacer, KeepsTheRateAndCapsBursts) {
  // 1200-byte packets at 9.6 Mbit/s: one per ms.
  Pacer pacer(9.6e6, 1200, 0, 8);
  EXPECT_EQ(pacer.Due(0), 1u);
  EXPECT_EQ(pacer.Due(kMs / 2), 0u);
  EXPECT_EQ(pacer.Due(3 * kMs), 3u);  // packets of 1, 2 and 3 ms
  EXPECT_EQ(pacer.Due(3 * kMs), 0u);
  // A late wake-up sends at most a burst, and does not catch up afterwards.
  EXPECT_EQ(pacer.Due(100 * kMs), 8u);
  EXPECT_EQ(pacer.Due(100 * kMs + kMs / 2), 0u);
  EXPECT_EQ(pacer.Due(101 * kMs), 1u);
}

TEST(CompareMarks, RatesOverTheLoadAndLoss) {
  const DeliveryMark start{1 * kMs, {100, 100'000}, 5 * kMs, {90, 90'000}};
  // 1000 packets, 1.25 MB sent in a 1 s load; 950 packets, 1.0 MB arrived.
  const DeliveryMark end{1200 * kMs, {1100, 1'350'000}, 1210 * kMs, {1040, 1'090'000}};
  PathTestResult r = CompareMarks("wan2", start, end, 100 * kMs, 1100 * kMs);
  ASSERT_TRUE(r.delivered_mbit.has_value());
  EXPECT_DOUBLE_EQ(*r.sent_mbit, 10);
  EXPECT_DOUBLE_EQ(*r.delivered_mbit, 8);
  EXPECT_DOUBLE_EQ(*r.delivery_loss, 0.05);
  // The agent's JSON of the result reads back unchanged.
  absl::StatusOr<PathTestResult> read = FromJson<PathTestResult>(ToJson(r), "test");
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(ToJson(*read), ToJson(r));
  const std::string summary = FormatTestSummary({*read});
  EXPECT_THAT(summary, HasSubstr("wan2: capacity 8.0 Mbit/s delivered of 10.0 sent"));
  EXPECT_THAT(summary, HasSubstr("loss under load 5.0%"));
  EXPECT_THAT(summary, HasSubstr("RTT - ms"));
}

TEST(CompareMarks, NothingWhenTheMarksDoNotBracketTheLoad) {
  const DeliveryMark start{1 * kMs, {0, 0}, 1 * kMs, {0, 0}};
  const DeliveryMark early_end{500 * kMs, {10, 10'000}, 500 * kMs, {10, 10'000}};
  EXPECT_FALSE(CompareMarks("p", start, early_end, 100 * kMs, 1100 * kMs).delivered_mbit);
  EXPECT_FALSE(CompareMarks("p", std::nullopt, early_end, 0, kMs).delivered_mbit);
  DeliveryMark reset = early_end;
  reset.sent_ns = 2000 * kMs;
  DeliveryMark bigger_start = start;
  bigger_start.rx.bytes = 1'000'000;  // the peer's counters went back
  EXPECT_FALSE(CompareMarks("p", bigger_start, reset, 100 * kMs, 1100 * kMs).delivered_mbit);
  EXPECT_FALSE(MarksBracketLoad(start, early_end, 100 * kMs, 1100 * kMs));
  EXPECT_FALSE(MarksBracketLoad(bigger_start, reset, 100 * kMs, 1100 * kMs));
  EXPECT_TRUE(MarksBracketLoad(start, reset, 100 * kMs, 1100 * kMs));
}

}  // namespace
}  // namespace meshbpf
