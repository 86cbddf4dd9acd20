// link_aggregation.routing: how the config resolves and the rules it plans.
#include "agent/core/routing_plan.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/config_test_util.h"

namespace meshbpf {
namespace {

using namespace testing_config;
using testing::AllOf;
using testing::ElementsAre;
using testing::HasSubstr;

class RoutingConfigTest : public ConfigTest {
 protected:
  RoutingConfigTest() {
    in6_addr a{};
    inet_pton(AF_INET6, "2001:db8:1::2", &a);
    fake_.Add("wwan6", 8, 1500, nullptr).ipv6 = {a};
  }
};

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

// An IPv4 uplink and an IPv6-only one, with `link_aggregation`'s members.
std::string WithMixedUplinks(const std::string& link_aggregation) {
  return absl::StrCat(R"({"link_aggregation": {"peer_address": "198.51.100.7", )", link_aggregation,
                      R"(}, "interfaces": {"uplinks": [
      {"name": "eth0", "rate_mbit": 40},
      {"name": "wwan6", "remote_address": "2001:db8:ff::2", "rate_mbit": 20}]}})");
}

TEST_F(RoutingConfigTest, Ipv6SourcesGoThroughTheIpv6Table) {
  const NodeSettings s = MustResolve(WithRouting(
      R"({"sources": ["10.204.0.0/24", "fd00:204::/64"], "destinations": ["0.0.0.0/0", "::/0"]})"));
  EXPECT_THAT(DescribeRouting(PlanRouting(*s.routing), "mb0"),
              ElementsAre("route default dev mb0 table 7201", "route -6 default dev mb0 table 7201",
                          "rule from 10.204.0.0/24 lookup 7201 pref 7201",
                          "rule -6 from fd00:204::/64 lookup 7201 pref 7201"));
  const RoutingPlan plan = PlanRouting(*s.routing);
  ASSERT_EQ(plan.rules.size(), 2u);
  EXPECT_EQ(plan.rules[0].family, AF_INET);
  EXPECT_EQ(plan.rules[1].family, AF_INET6);
}

TEST_F(RoutingConfigTest, AnIpv6SourceAloneDefaultsToTheIpv6DefaultRoute) {
  const NodeSettings s = MustResolve(WithRouting(R"({"sources": ["fd00:204::/64"]})"));
  EXPECT_THAT(DescribeRouting(PlanRouting(*s.routing), "mb0"),
              ElementsAre("route -6 default dev mb0 table 7201",
                          "rule -6 from fd00:204::/64 lookup 7201 pref 7201"));
}

TEST_F(RoutingConfigTest, MarksGetARuleInEachFamilyTheTableRoutes) {
  const NodeSettings s = MustResolve(WithRouting(
      R"({"fwmarks": ["0x10/0xff"], "cgroups": ["backup.service"],
          "destinations": ["10.202.0.0/24", "fd00:202::/64"]})"));
  EXPECT_THAT(DescribeRouting(PlanRouting(*s.routing), "mb0"),
              ElementsAre("route 10.202.0.0/24 dev mb0 table 7201",
                          "route -6 fd00:202::/64 dev mb0 table 7201",
                          "rule from all fwmark 0x10/0xff lookup 7201 pref 7201",
                          "rule from all fwmark 0x4d42 lookup 7201 pref 7201",
                          "rule -6 from all fwmark 0x10/0xff lookup 7201 pref 7201",
                          "rule -6 from all fwmark 0x4d42 lookup 7201 pref 7201",
                          "cgroup backup.service marked 0x4d42"));
  // Only IPv4 destinations: no IPv6 rule that could select nothing.
  const NodeSettings v4 = MustResolve(WithRouting(
      R"({"fwmarks": ["0x10"], "destinations": ["10.202.0.0/24"]})"));
  for (const PolicyRule& rule : PlanRouting(*v4.routing).rules) EXPECT_EQ(rule.family, AF_INET);
}

TEST_F(RoutingConfigTest, MarksTakeIpv6TooWhenTheBondHasAnIpv6Address) {
  const NodeSettings s = MustResolve(WithOneUplink(
      R"("link_aggregation": {"bond_address_ipv6": "fd00:203::2/64", "routing": {"fwmarks": ["0x10"]}})"));
  EXPECT_THAT(DescribeRouting(PlanRouting(*s.routing), "mb0"),
              ElementsAre("route default dev mb0 table 7201", "route -6 default dev mb0 table 7201",
                          "rule from all fwmark 0x10 lookup 7201 pref 7201",
                          "rule -6 from all fwmark 0x10 lookup 7201 pref 7201"));
}

// What the bond did before IPv6 routing: no IPv6 route or rule appears unasked.
TEST_F(RoutingConfigTest, Ipv4OnlyRoutingHasNothingIpv6) {
  for (const char* routing : {R"({"destinations": ["10.202.0.0/24"]})",
                              R"({"sources": ["10.204.0.0/24"], "fwmarks": ["0x10"], "cgroups": ["a"]})"}) {
    const RoutingPlan plan = PlanRouting(*MustResolve(WithRouting(routing)).routing);
    for (const InnerPrefix& route : plan.routes) EXPECT_EQ(route.family, AF_INET) << routing;
    for (const PolicyRule& rule : plan.rules) EXPECT_EQ(rule.family, AF_INET) << routing;
  }
}

TEST_F(RoutingConfigTest, ASourceNeedsADestinationOfItsFamily) {
  EXPECT_THAT(ErrorOf(WithRouting(R"({"sources": ["fd00:204::/64"], "destinations": ["10.202.0.0/24"]})")),
              AllOf(HasSubstr("link_aggregation.routing.sources[0]"), HasSubstr("is IPv6 but no destination is")));
  EXPECT_THAT(ErrorOf(WithRouting(
                  R"({"sources": ["fd00:204::/64", "10.204.0.0/24"], "destinations": ["fd00:202::/64"]})")),
              AllOf(HasSubstr("link_aggregation.routing.sources[1]"), HasSubstr("is IPv4 but no destination is")));
}

TEST_F(RoutingConfigTest, IPv6DestinationsAloneEachGetARule) {
  const NodeSettings s = MustResolve(WithMixedUplinks(R"("routing": {"destinations": ["fd00:204::/64"]})"));
  EXPECT_THAT(DescribeRouting(PlanRouting(*s.routing), "mb0"),
              ElementsAre("route -6 fd00:204::/64 dev mb0 table 7201",
                          "rule -6 from all to fd00:204::/64 lookup 7201 pref 7201"));
}

// What status shows: each route and rule checked against what the kernel
// holds, so a rule another program removed is seen (and put back).
TEST_F(RoutingConfigTest, EntriesAreCheckedAgainstTheKernel) {
  const NodeSettings s = MustResolve(WithRouting(
      R"({"sources": ["10.204.0.0/24"], "fwmarks": ["0x10"], "cgroups": ["lab.slice"]})"));
  const RoutingPlan plan = PlanRouting(*s.routing);
  ASSERT_EQ(plan.rules.size(), 3u) << "the source, the mark, the cgroups' mark";
  KernelRouting kernel{plan.routes, plan.rules};
  std::vector<RoutingEntry> entries = RoutingEntries(plan, "mb0", &kernel);
  EXPECT_FALSE(KernelLacksSome(entries));
  EXPECT_EQ(entries.size(), 5u) << "a route, three rules, a cgroup";
  kernel.rules.erase(kernel.rules.begin());  // someone ran `ip rule del`
  kernel.rules.push_back(plan.rules[1]);      // and one of ours is there twice
  kernel.rules.back().fwmark->mask = 0xff;    // one not quite ours
  entries = RoutingEntries(plan, "mb0", &kernel);
  EXPECT_TRUE(KernelLacksSome(entries));
  EXPECT_EQ(entries[1], (RoutingEntry{"rule from 10.204.0.0/24 lookup 7201 pref 7201", false}));
  EXPECT_TRUE(entries[2].in_kernel);
  kernel.routes.clear();
  EXPECT_FALSE(RoutingEntries(plan, "mb0", &kernel)[0].in_kernel);
  EXPECT_FALSE(KernelLacksSome(RoutingEntries(plan, "mb0", nullptr))) << "unchecked: as planned";
}

// The far-end check in both families: a destination that covers an IPv6
// path's far end would carry the tunnel inside itself.
TEST_F(RoutingConfigTest, ADestinationCoveringAnIpv6FarEndIsRefused) {
  for (const char* covering : {"::/0", "2001:db8::/32", "2001:db8:ff::2/128"}) {
    EXPECT_THAT(ErrorOf(WithMixedUplinks(absl::StrCat(R"("routing": {"destinations": ["fd00:204::/64", ")",
                                                      covering, R"("]})"))),
                AllOf(HasSubstr("link_aggregation.routing.destinations[1]"), HasSubstr("\"wwan6\"'s far end"),
                      HasSubstr("2001:db8:ff::2"), HasSubstr("into the bond")))
        << covering;
  }
  // Beside it, but not covering it; and an IPv4 default beside an IPv6 far end.
  EXPECT_TRUE(MustResolve(WithMixedUplinks(R"("routing": {"destinations": ["2001:db8:ff::3/128"]})")).routing);
  EXPECT_THAT(ErrorOf(WithMixedUplinks(R"("routing": {"destinations": ["0.0.0.0/0"]})")),
              AllOf(HasSubstr("\"eth0\"'s far end"), HasSubstr("198.51.100.7")));
}

TEST_F(RoutingConfigTest, PrefixCoversInItsOwnFamilyOnly) {
  auto prefix = [](int family, const char* text, int len) {
    InnerPrefix p{.family = family, .prefix_len = len};
    inet_pton(family, text, p.address.data());
    return p;
  };
  auto v6 = [](const char* text) {
    in6_addr a{};
    inet_pton(AF_INET6, text, &a);
    return IpAddress::V6(a);
  };
  const IpAddress v4 = IpAddress::V4(in_addr{htonl(0x0acc0005)});  // 10.204.0.5
  EXPECT_TRUE(PrefixCovers(prefix(AF_INET, "10.204.0.0", 24), v4));
  EXPECT_FALSE(PrefixCovers(prefix(AF_INET, "10.205.0.0", 24), v4));
  EXPECT_TRUE(PrefixCovers(prefix(AF_INET, "0.0.0.0", 0), v4));
  EXPECT_FALSE(PrefixCovers(prefix(AF_INET6, "::", 0), v4)) << "::/0 holds no IPv4 address";
  EXPECT_FALSE(PrefixCovers(prefix(AF_INET, "0.0.0.0", 0), v6("2001:db8::1")));
  EXPECT_TRUE(PrefixCovers(prefix(AF_INET6, "2001:db8::", 33), v6("2001:db8:7fff::1")));
  EXPECT_FALSE(PrefixCovers(prefix(AF_INET6, "2001:db8::", 33), v6("2001:db8:8000::1")));
  EXPECT_TRUE(PrefixCovers(prefix(AF_INET6, "2001:db8::1", 128), v6("2001:db8::1")));
  EXPECT_FALSE(PrefixCovers(prefix(AF_INET6, "2001:db8::1", 128), v6("2001:db8::2")));
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
  EXPECT_THAT(ErrorOf(WithRouting(R"({"destinations": ["fd00:202::1/64"]})")),
              AllOf(HasSubstr("link_aggregation.routing.destinations[0]"), HasSubstr("fd00:202::/64")));
  EXPECT_THAT(ErrorOf(WithRouting(R"({"destinations": ["fd00:202::/129"]})")),
              AllOf(HasSubstr("link_aggregation.routing.destinations[0]"), HasSubstr("not a prefix")));
  EXPECT_THAT(ErrorOf(WithRouting(R"({"sources": ["::ffff:10.204.0.0/120"]})")),
              AllOf(HasSubstr("link_aggregation.routing.sources[0]"), HasSubstr("IPv4-mapped")));
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
