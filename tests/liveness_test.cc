// The heartbeat's bounds (agent/core/liveness.h).
#include "agent/core/liveness.h"

#include <gtest/gtest.h>

namespace meshbpf {
namespace {

TEST(HeartbeatTest, FastTicksGetTheFloors) {
  const mb_heartbeat h = HeartbeatAt(123456789, 0.2);
  EXPECT_EQ(h.beat_ns, 123456789u);
  EXPECT_EQ(h.stale_after_ms, kMinStaleAfterMs) << "3 ticks of 0.2 s is below the floor";
  EXPECT_EQ(h.silent_after_ms, kMinSilentAfterMs) << "5 probes of 0.2 s is below the floor";
}

TEST(HeartbeatTest, SlowTicksStretchBothBounds) {
  const mb_heartbeat h = HeartbeatAt(1, 10);
  EXPECT_EQ(h.stale_after_ms, 30000u) << "three missed 10 s ticks";
  EXPECT_EQ(h.silent_after_ms, 50000u) << "five missed 10 s probes";
}

TEST(HeartbeatTest, TheLongestIntervalStillFits) {
  const mb_heartbeat h = HeartbeatAt(1, 3600);  // failover.monitoring_interval's ceiling
  EXPECT_EQ(h.stale_after_ms, 3u * 3600 * 1000);
  EXPECT_EQ(h.silent_after_ms, 5u * 3600 * 1000);
}

}  // namespace
}  // namespace meshbpf
