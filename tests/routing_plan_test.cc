// link_aggregation.routing: how the config resolves and the rules it plans.
#include "agent/core/routing_plan.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/config_test_util.h"

namespace meshbpf {
namespace {

using namespace testing_config;
using testing::AllOf;
using testing::ElementsAre;
using testing::HasSubstr;

class RoutingConfigTest : public ConfigTest {};

std::string WithRouting(const std::string& routing) {
  return WithOneUplink(absl::StrCat(R"("link_aggregation": {"routing": )", routing, "}"));
}

TEST_F(RoutingConfigTest, AbsentMeansTheHostsRoutes) {
  EXPECT_FALSE(MustResolve(WithOneUplink("")).routing.has_value());
}

TEST_F(RoutingConfigTest, SourcesAndMarksGoThroughTheAgentsTable) {
  const NodeSettings s = MustResolve(
      WithRouting(R"({"sources": ["10.204.0.0/24"], "fwmarks": ["0x10/0xff", "7"]})"));
  ASSERT_TRUE(s.routing.has_value());
  EXPECT_EQ(s.routing->table, 7201u);
  EXPECT_EQ(s.routing->priority, 7201u);
  EXPECT_THAT(DescribeRouting(PlanRouting(*s.routing), "mb0"),
              ElementsAre("route default dev mb0 table 7201",
                          "rule from 10.204.0.0/24 lookup 7201 pref 7201",
                          "rule from all fwmark 0x10/0xff lookup 7201 pref 7201",
                          "rule from all fwmark 0x7 lookup 7201 pref 7201"));
}

TEST_F(RoutingConfigTest, SelectorsLimitedToDestinations) {
  const NodeSettings s = MustResolve(WithRouting(
      R"({"table": 300, "priority": 100, "sources": ["10.204.0.0/24"],
          "destinations": ["10.202.0.0/24", "192.0.2.0/25"]})"));
  EXPECT_THAT(DescribeRouting(PlanRouting(*s.routing), "mb0"),
              ElementsAre("route 10.202.0.0/24 dev mb0 table 300",
                          "route 192.0.2.0/25 dev mb0 table 300",
                          "rule from 10.204.0.0/24 lookup 300 pref 100"));
}

TEST_F(RoutingConfigTest, DestinationsAloneEachGetARule) {
  const NodeSettings s = MustResolve(WithRouting(R"({"destinations": ["10.202.0.0/24"]})"));
  EXPECT_THAT(DescribeRouting(PlanRouting(*s.routing), "bond7"),
              ElementsAre("route 10.202.0.0/24 dev bond7 table 7201",
                          "rule from all to 10.202.0.0/24 lookup 7201 pref 7201"));
}

TEST_F(RoutingConfigTest, CgroupsShareOneMark) {
  const NodeSettings s = MustResolve(WithRouting(
      R"({"cgroups": ["/system.slice/backup.service/", "user.slice"], "cgroup_mark": 256})"));
  EXPECT_THAT(s.routing->cgroups, ElementsAre("system.slice/backup.service", "user.slice"));
  EXPECT_THAT(DescribeRouting(PlanRouting(*s.routing), "mb0"),
              ElementsAre("route default dev mb0 table 7201",
                          "rule from all fwmark 0x100 lookup 7201 pref 7201",
                          "cgroup system.slice/backup.service marked 0x100",
                          "cgroup user.slice marked 0x100"));
  EXPECT_EQ(MustResolve(WithRouting(R"({"cgroups": ["a"]})")).routing->cgroup_mark, 0x4d42u);
}

TEST_F(RoutingConfigTest, ErrorsNameTheField) {
  EXPECT_THAT(ErrorOf(WithRouting(R"({"cgroups": ["/"]})")),
              AllOf(HasSubstr("link_aggregation.routing.cgroups[0]"), HasSubstr("root cgroup")));
  EXPECT_THAT(ErrorOf(WithRouting(R"({"cgroups": ["a/../../etc"]})")),
              AllOf(HasSubstr("link_aggregation.routing.cgroups[0]"), HasSubstr("not a path below")));
  EXPECT_THAT(ErrorOf(WithRouting(R"({"cgroups": ["a"], "cgroup_mark": 0})")),
              HasSubstr("link_aggregation.routing.cgroup_mark"));
  EXPECT_THAT(ErrorOf(WithRouting("{}")),
              AllOf(HasSubstr("link_aggregation.routing"), HasSubstr("no traffic")));
  // The tunnel's own probes to the peer (198.51.100.7) would enter the bond.
  EXPECT_THAT(ErrorOf(WithRouting(R"({"destinations": ["0.0.0.0/0"]})")),
              AllOf(HasSubstr("link_aggregation.routing.destinations[0]"), HasSubstr("198.51.100.7"),
                    HasSubstr("into the bond")));
  EXPECT_THAT(ErrorOf(WithRouting(R"({"sources": ["10.204.0.1/24"]})")),
              AllOf(HasSubstr("link_aggregation.routing.sources[0]"), HasSubstr("10.204.0.0/24")));
  EXPECT_THAT(ErrorOf(WithRouting(R"({"sources": ["10.204.0.0"]})")),
              HasSubstr("link_aggregation.routing.sources[0]"));
  EXPECT_THAT(ErrorOf(WithRouting(R"({"destinations": ["fd00:202::/64"]})")),
              AllOf(HasSubstr("link_aggregation.routing.destinations[0]"), HasSubstr("IPv4 prefixes only")));
  EXPECT_THAT(ErrorOf(WithRouting(R"({"fwmarks": ["0x10/0x0f"]})")),
              AllOf(HasSubstr("link_aggregation.routing.fwmarks[0]"), HasSubstr("unmarked")));
  EXPECT_THAT(ErrorOf(WithRouting(R"({"fwmarks": ["0x11/0x10"]})")), HasSubstr("outside its mask"));
  EXPECT_THAT(ErrorOf(WithRouting(R"({"fwmarks": ["mark"]})")), HasSubstr("not a firewall mark"));
  EXPECT_THAT(ErrorOf(WithRouting(R"({"fwmarks": ["-1"]})")), HasSubstr("not a firewall mark"));
  EXPECT_THAT(ErrorOf(WithRouting(R"({"sources": ["10.0.0.0/8"], "table": 254})")),
              AllOf(HasSubstr("link_aggregation.routing.table"), HasSubstr("main")));
  EXPECT_THAT(ErrorOf(WithRouting(R"({"sources": ["10.0.0.0/8"], "priority": 32766})")),
              HasSubstr("link_aggregation.routing.priority"));
}

}  // namespace
}  // namespace meshbpf
