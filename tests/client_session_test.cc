// One client of a stream server, without the socket (agent/core/client_session.h).
#include "agent/core/client_session.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "agent/core/log_throttle.h"
#include "tests/test_common.h"

namespace meshbpf {
namespace {

using ::testing::HasSubstr;

const ClientLimits kLimits{.request_end = "\r\n\r\n",
                           .max_request_bytes = 32,
                           .request_timeout_ns = 2 * kSecond,
                           .reply_timeout_ns = 3 * kSecond};

TEST(ClientSession, WholeRequestAcrossReadsEvenWithItsEndSplit) {
  ClientSession s(kLimits, 0);
  EXPECT_FALSE(s.Received("GET / HTTP/1.0\r", false));
  EXPECT_FALSE(s.Received("\n\r", false));
  std::optional<absl::StatusOr<std::string>> r = s.Received("\nextra", false);
  ASSERT_TRUE(r && r->ok());
  EXPECT_EQ(**r, "GET / HTTP/1.0\r\n\r\n");  // what follows is not part of it
  EXPECT_FALSE(s.Received("more", false));   // only once
}

TEST(ClientSession, ClosingEndsTheRequest) {
  ClientSession s({.request_end = "\n", .max_request_bytes = 32}, 0);
  EXPECT_FALSE(s.Received("{\"command\"", false));
  std::optional<absl::StatusOr<std::string>> r = s.Received("", true);
  ASSERT_TRUE(r && r->ok());
  EXPECT_EQ(**r, "{\"command\"");
}

TEST(ClientSession, TooLargeIsAClearError) {
  ClientSession s(kLimits, 0);
  EXPECT_FALSE(s.Received(std::string(30, 'a'), false));
  std::optional<absl::StatusOr<std::string>> r = s.Received("aaaa\r\n\r\n", false);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(std::string(r->status().message()), HasSubstr("larger than the 32 bytes allowed"));
  // Exactly at the limit, end included, is fine.
  ClientSession exact(kLimits, 0);
  std::string at_limit(28, 'a');
  at_limit += "\r\n\r\n";
  r = exact.Received(at_limit, false);
  ASSERT_TRUE(r && r->ok());
  // One huge read: refused without keeping it all.
  ClientSession huge(kLimits, 0);
  r = huge.Received(std::string(1 << 20, 'a'), false);
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->ok());
}

TEST(ClientSession, OneDeadlineForTheWholeRequest) {
  ClientSession s(kLimits, 10 * kSecond);
  EXPECT_EQ(s.deadline_ns(), 12 * kSecond);
  // Trickling bytes does not extend it.
  EXPECT_FALSE(s.Received("G", false));
  EXPECT_FALSE(s.Overdue(12 * kSecond - 1));
  std::optional<std::string> why = s.Overdue(12 * kSecond);
  ASSERT_TRUE(why);
  EXPECT_THAT(*why, HasSubstr("sent no whole request within 2 s (1 bytes)"));
}

TEST(ClientSession, OneDeadlineForReadingTheWholeReply) {
  ClientSession s(kLimits, 0);
  ASSERT_TRUE(s.Received("x\r\n\r\n", false));
  s.Reply("0123456789", 1 * kSecond);
  EXPECT_EQ(s.deadline_ns(), 4 * kSecond);
  EXPECT_EQ(s.unsent(), "0123456789");
  s.Sent(4);
  EXPECT_EQ(s.unsent(), "456789");
  EXPECT_FALSE(s.done());
  std::optional<std::string> why = s.Overdue(4 * kSecond);
  ASSERT_TRUE(why);
  EXPECT_THAT(*why, HasSubstr("read 4 of the 10 reply bytes within 3 s"));
  s.Sent(6);
  EXPECT_TRUE(s.done());
}

TEST(LogThrottle, OneLinePerKeyPerIntervalCountingTheRest) {
  LogThrottle throttle(std::chrono::seconds(10));
  const LogThrottle::Clock::time_point t0{};
  EXPECT_EQ(throttle.Admit("slow", t0), 0u);
  EXPECT_FALSE(throttle.Admit("slow", t0 + std::chrono::seconds(1)));
  EXPECT_FALSE(throttle.Admit("slow", t0 + std::chrono::seconds(9)));
  EXPECT_EQ(throttle.Admit("other", t0 + std::chrono::seconds(9)), 0u);  // keys apart
  EXPECT_EQ(throttle.Admit("slow", t0 + std::chrono::seconds(10)), 2u);
  EXPECT_EQ(LogThrottle::HeldBackNote(2, "slow runs"),
            " (2 more slow runs not logged since the last line)");
  EXPECT_EQ(LogThrottle::HeldBackNote(0, "slow runs"), "");
}

}  // namespace
}  // namespace meshbpf
