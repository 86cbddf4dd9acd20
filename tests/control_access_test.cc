// Who may run which control command (agent/core/control_access.h).
#include "agent/core/control_access.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace meshbpf {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

const PeerCredentials kRoot{.pid = 10, .uid = 0, .gid = 0, .groups = {}};
const PeerCredentials kNobody{.pid = 42, .uid = 65534, .gid = 65534, .groups = {}};
const ControlGroup kNetops{.name = "netops", .gid = 1200};

TEST(ChangesState, OnlyFailoverCapResetAndTest) {
  EXPECT_FALSE(ChangesState(PingRequest{}));
  EXPECT_FALSE(ChangesState(StatusRequest{}));
  EXPECT_FALSE(ChangesState(StatsRequest{}));
  EXPECT_FALSE(ChangesState(CapRequest{}));
  EXPECT_FALSE(ChangesState(TestStatusRequest{}));
  EXPECT_FALSE(ChangesState(PeersRequest{}));
  EXPECT_TRUE(ChangesState(FailoverRequest{.automatic = true}));
  EXPECT_TRUE(ChangesState(CapRequest{.reset = "wan1"}));
  EXPECT_TRUE(ChangesState(TestRequest{.interface = "wan1", .duration = 5}));
}

TEST(MayRun, AnyoneMayRead) {
  for (const ControlRequest& r : std::vector<ControlRequest>{
           PingRequest{}, StatusRequest{}, StatsRequest{}, CapRequest{}, TestStatusRequest{},
           PeersRequest{}}) {
    EXPECT_TRUE(MayRun(r, kNobody, std::nullopt).ok()) << CommandName(r);
    EXPECT_TRUE(MayRun(r, kNobody, kNetops).ok()) << CommandName(r);
  }
}

TEST(MayRun, RootMayChangeState) {
  EXPECT_TRUE(MayRun(FailoverRequest{.automatic = true}, kRoot, std::nullopt).ok());
  EXPECT_TRUE(MayRun(CapRequest{.reset = "wan1"}, kRoot, kNetops).ok());
}

TEST(MayRun, OthersAreRefusedNamingCommandCallerAndRemedy) {
  absl::Status refused = MayRun(FailoverRequest{.from = "wan1", .to = "wan2"}, kNobody, std::nullopt);
  EXPECT_EQ(refused.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(refused.message()),
              AllOf(HasSubstr("failover: refused for uid 65534 (pid 42)"), HasSubstr("root"),
                    HasSubstr("monitoring.control_group")));
  refused = MayRun(CapRequest{.reset = "wan1"}, kNobody, kNetops);
  EXPECT_EQ(refused.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(refused.message()),
              AllOf(HasSubstr("cap: refused"), HasSubstr("group \"netops\"")));
  EXPECT_FALSE(MayRun(TestRequest{.interface = "wan1", .duration = 1}, kNobody, kNetops).ok());
}

TEST(MayRun, ControlGroupMembersMayChangeState) {
  const PeerCredentials primary{.pid = 5, .uid = 1000, .gid = 1200, .groups = {}};
  const PeerCredentials supplementary{.pid = 6, .uid = 1001, .gid = 1001, .groups = {27, 1200}};
  const PeerCredentials other{.pid = 7, .uid = 1002, .gid = 1002, .groups = {27}};
  const ControlRequest failover = FailoverRequest{.automatic = true};
  EXPECT_TRUE(MayRun(failover, primary, kNetops).ok());
  EXPECT_TRUE(MayRun(failover, supplementary, kNetops).ok());
  EXPECT_FALSE(MayRun(failover, other, kNetops).ok());
  // Without a control group, group 1200 is nothing special.
  EXPECT_FALSE(MayRun(failover, primary, std::nullopt).ok());
}

}  // namespace
}  // namespace meshbpf
