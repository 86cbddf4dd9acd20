#include "agent/core/failure_streak.h"

#include <gtest/gtest.h>

namespace meshbpf {
namespace {

TEST(FailureStreakTest, LogsTheFirstFailureAndTheRecoveryOnly) {
  FailureStreak streak("history: recording metrics");
  EXPECT_FALSE(streak.Report(absl::OkStatus())) << "nothing to say while it works";
  const auto first = streak.Report(absl::ResourceExhaustedError("database or disk is full"));
  ASSERT_TRUE(first);
  EXPECT_TRUE(first->error);
  EXPECT_EQ(first->text,
            "history: recording metrics failed: database or disk is full (not logged again until "
            "it works)");
  EXPECT_TRUE(streak.failing());
  EXPECT_FALSE(streak.Report(absl::ResourceExhaustedError("database or disk is full")));
  EXPECT_FALSE(streak.Report(absl::InternalError("another error")));
  const auto back = streak.Report(absl::OkStatus());
  ASSERT_TRUE(back);
  EXPECT_FALSE(back->error);
  EXPECT_EQ(back->text, "history: recording metrics works again after 3 failed attempts");
  EXPECT_FALSE(streak.failing());
  EXPECT_TRUE(streak.Report(absl::InternalError("again"))) << "a new streak is logged again";
}

}  // namespace
}  // namespace meshbpf
