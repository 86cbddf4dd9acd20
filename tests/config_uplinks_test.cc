// interfaces.* (agent/core/config_uplinks.cc): uplinks, primary and backups,
// data caps, relayed and learned paths and the relay ports.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "agent/core/config.h"
#include "agent/core/net_format.h"
#include "bpf/meshbpf.h"
#include "tests/config_test_util.h"

namespace meshbpf {
namespace {

using namespace testing_config;
using ::testing::AllOf;
using ::testing::HasSubstr;

// --- Interfaces ------------------------------------------------------------------

TEST_F(ConfigTest, UnknownInterface) {
  EXPECT_THAT(ErrorOf(WithInterfaces(R"({"uplinks": [{"name": "eth0", "rate_mbit": 1},
                                                     {"interface": "wan9", "rate_mbit": 1}]})")),
              HasSubstr(R"(interfaces.uplinks[1].interface: no such network interface "wan9")"));
}

TEST_F(ConfigTest, UplinkNeedsNameOrInterface) {
  EXPECT_THAT(ErrorOf(WithInterfaces(R"({"uplinks": [{"rate_mbit": 1}]})")),
              HasSubstr("interfaces.uplinks[0]"));
  EXPECT_THAT(ErrorOf(WithInterfaces(
                  R"({"uplinks": [{"name": "", "interface": "eth0", "rate_mbit": 1}]})")),
              HasSubstr("interfaces.uplinks[0].name"));
  EXPECT_THAT(
      ErrorOf(WithInterfaces(R"({"uplinks": [{"interface": "a/b", "rate_mbit": 1}]})")),
      AllOf(HasSubstr("interfaces.uplinks[0].interface"), HasSubstr("not a valid interface name")));
}

TEST_F(ConfigTest, UplinkCannotBeTheBondDevice) {
  fake_.Add("mb0", 9, 1500, "10.203.0.2");
  EXPECT_THAT(ErrorOf(WithInterfaces(R"({"uplinks": [{"name": "mb0", "rate_mbit": 1}]})")),
              AllOf(HasSubstr("interfaces.uplinks[0].interface"), HasSubstr("bond device")));
}

TEST_F(ConfigTest, DuplicateUplinkNames) {
  EXPECT_THAT(ErrorOf(WithInterfaces(R"({"uplinks": [
                  {"name": "a", "interface": "eth0", "rate_mbit": 1},
                  {"name": "a", "interface": "wlan0", "rate_mbit": 1}]})")),
              AllOf(HasSubstr("interfaces.uplinks[1].name"), HasSubstr("interfaces.uplinks[0]")));
  // The name defaults to the interface, so one device twice needs names.
  EXPECT_THAT(ErrorOf(WithInterfaces(R"({"uplinks": [{"interface": "eth0", "rate_mbit": 1},
                                                     {"interface": "eth0", "rate_mbit": 1}]})")),
              HasSubstr("interfaces.uplinks[1]"));
}

TEST_F(ConfigTest, SourceAddress) {
  EXPECT_THAT(
      ErrorOf(WithInterfaces(R"({"uplinks": [{"name": "noaddr0", "rate_mbit": 1}]})")),
      AllOf(HasSubstr("interfaces.uplinks[0].source_address"), HasSubstr("no IPv4 address")));
  const NodeSettings s = MustResolve(WithInterfaces(
      R"({"uplinks": [{"name": "noaddr0", "source_address": "192.0.2.9", "rate_mbit": 1}]})"));
  EXPECT_EQ(IpText(s.paths[0].source), "192.0.2.9");
  EXPECT_EQ(s.paths[0].mtu, 9000u);
  EXPECT_THAT(ErrorOf(WithInterfaces(
                  R"({"uplinks": [{"name": "eth0", "source_address": "1.2.3", "rate_mbit": 1}]})")),
              HasSubstr("interfaces.uplinks[0].source_address"));
}

TEST_F(ConfigTest, BadGateway) {
  EXPECT_THAT(ErrorOf(WithInterfaces(R"({"uplinks": [{"name": "eth0", "rate_mbit": 1},
                                                     {"name": "wlan0", "gateway": "router", "rate_mbit": 1}]})")),
              AllOf(HasSubstr("interfaces.uplinks[1].gateway"), HasSubstr("\"router\"")));
}

TEST_F(ConfigTest, BackupNotAnUplink) {
  EXPECT_THAT(ErrorOf(WithInterfaces(R"({"backups": ["lte0"], "uplinks": [
                  {"name": "eth0", "rate_mbit": 1}, {"name": "wlan0", "rate_mbit": 1}]})")),
              HasSubstr(R"(interfaces.backups[0]: "lte0" is not the name of an uplink)"));
}

TEST_F(ConfigTest, BackupListedTwice) {
  EXPECT_THAT(ErrorOf(WithInterfaces(R"({"backups": ["wlan0", "wlan0"], "uplinks": [
                  {"name": "eth0", "rate_mbit": 1}, {"name": "wlan0", "rate_mbit": 1}]})")),
              HasSubstr("interfaces.backups[1]"));
}

TEST_F(ConfigTest, AllUplinksBackups) {
  EXPECT_THAT(ErrorOf(WithInterfaces(R"({"backups": ["eth0", "wlan0"], "uplinks": [
                  {"name": "eth0", "rate_mbit": 1}, {"name": "wlan0", "rate_mbit": 1}]})")),
              AllOf(HasSubstr("interfaces: "), HasSubstr("at least one must be bonded")));
}

TEST_F(ConfigTest, Primary) {
  EXPECT_THAT(
      ErrorOf(WithInterfaces(R"({"primary": "x", "uplinks": [{"name": "eth0", "rate_mbit": 1}]})")),
      HasSubstr(R"(interfaces.primary: "x" is not the name of an uplink)"));
  EXPECT_THAT(ErrorOf(WithInterfaces(R"({"primary": "wlan0", "backups": ["wlan0"], "uplinks": [
                  {"name": "eth0", "rate_mbit": 1}, {"name": "wlan0", "rate_mbit": 1}]})")),
              AllOf(HasSubstr("interfaces.primary"), HasSubstr("backups")));
}

TEST_F(ConfigTest, UplinkCount) {
  EXPECT_THAT(ErrorOf(WithInterfaces(R"({"uplinks": []})")), HasSubstr("interfaces.uplinks"));
  EXPECT_THAT(ErrorOf("{}"), HasSubstr("interfaces.uplinks"));
  std::vector<std::string> uplinks;
  for (int i = 0; i < 9; ++i) {
    uplinks.push_back(
        absl::StrCat(R"({"name": "p)", i, R"(", "interface": "eth0", "rate_mbit": 1})"));
  }
  EXPECT_THAT(
      ErrorOf(WithInterfaces(absl::StrCat(R"({"uplinks": [)", absl::StrJoin(uplinks, ","), "]}"))),
      HasSubstr("interfaces.uplinks: at most 8 uplinks, got 9"));
}

TEST_F(ConfigTest, MissingRate) {
  EXPECT_THAT(ErrorOf(WithInterfaces(R"({"uplinks": [{"name": "eth0"}]})")),
              AllOf(HasSubstr("interfaces.uplinks[0].rate_mbit"), HasSubstr("required")));
}

TEST_F(ConfigTest, MissingRemoteAddress) {
  EXPECT_THAT(ErrorOf(R"({"interfaces": {"uplinks": [{"name": "eth0", "rate_mbit": 1}]}})"),
              AllOf(HasSubstr("interfaces.uplinks[0].remote_address"),
                    HasSubstr("link_aggregation.peer_address")));
  EXPECT_THAT(ErrorOf(WithInterfaces(
                  R"({"uplinks": [{"name": "eth0", "remote_address": "x", "rate_mbit": 1}]})")),
              HasSubstr("interfaces.uplinks[0].remote_address"));
}

// --- interfaces.uplinks[].data_cap -------------------------------------------

// One uplink with data_cap `cap` (a JSON object).
std::string WithDataCap(const std::string& cap) {
  return absl::StrCat(R"({"interfaces": {"uplinks": [
      {"name": "eth0", "remote_address": "198.51.100.7", "rate_mbit": 40},
      {"name": "wwan0", "remote_address": "198.51.100.7", "rate_mbit": 10, "data_cap": )",
                      cap, "}]}}");
}

TEST_F(ConfigTest, DataCapDefaults) {
  const NodeSettings s = MustResolve(WithDataCap(R"({"limit_bytes": 20000000000})"));
  EXPECT_FALSE(s.paths[0].data_cap.has_value()) << "no data_cap: unmetered";
  ASSERT_TRUE(s.paths[1].data_cap.has_value());
  const CapPlan& plan = *s.paths[1].data_cap;
  EXPECT_EQ(plan.limit_bytes, 20'000'000'000u);
  EXPECT_EQ(plan.period, CapPeriodKind::kMonthly);
  EXPECT_EQ(plan.reset_day, 1);
  EXPECT_EQ(plan.warn_at, (std::vector<double>{0.8, 0.95}));
  EXPECT_EQ(plan.when_exhausted, CapExhaustedPolicy::kStop);
}

TEST_F(ConfigTest, DataCapExplicitValuesAreKept) {
  const NodeSettings s = MustResolve(WithDataCap(
      R"({"limit_bytes": 5000000, "period": "monthly", "reset_day": 31, "timezone": "UTC",
          "warn_at_percent": [50, 90, 99], "when_exhausted": "last_resort_backup"})"));
  const CapPlan& plan = *s.paths[1].data_cap;
  EXPECT_EQ(plan.reset_day, 31);
  EXPECT_EQ(plan.zone, absl::UTCTimeZone());
  EXPECT_EQ(plan.warn_at, (std::vector<double>{0.5, 0.9, 0.99}));
  EXPECT_EQ(plan.when_exhausted, CapExhaustedPolicy::kLastResortBackup);
}

TEST_F(ConfigTest, DataCapErrorsNameTheField) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({})", "interfaces.uplinks[1].data_cap.limit_bytes: required"},
      {R"({"limit_bytes": 0})", "interfaces.uplinks[1].data_cap.limit_bytes: must be more than 0"},
      {R"({"limit_bytes": "20GB"})", "interfaces.uplinks[1].data_cap.limit_bytes"},
      {R"({"limit_bytes": 1, "period": "weekly"})",
       "interfaces.uplinks[1].data_cap.period: \"weekly\" is not one of daily, monthly, one_off"},
      {R"({"limit_bytes": 1, "reset_day": 0})",
       "interfaces.uplinks[1].data_cap.reset_day: must be a day of the month (1..31), got 0"},
      {R"({"limit_bytes": 1, "reset_day": 32})", "data_cap.reset_day: must be a day"},
      {R"({"limit_bytes": 1, "period": "daily", "reset_day": 5})",
       "interfaces.uplinks[1].data_cap.reset_day: only monthly caps have a reset day"},
      {R"({"limit_bytes": 1, "timezone": "Mars/Olympus"})",
       "interfaces.uplinks[1].data_cap.timezone: \"Mars/Olympus\" is not in the time zone"},
      {R"({"limit_bytes": 1, "warn_at_percent": [95, 80]})",
       "interfaces.uplinks[1].data_cap.warn_at_percent: levels must be ascending"},
      {R"({"limit_bytes": 1, "warn_at_percent": [150]})",
       "interfaces.uplinks[1].data_cap.warn_at_percent: 150 is not a percentage"},
      {R"({"limit_bytes": 1, "when_exhausted": "throttle"})",
       "interfaces.uplinks[1].data_cap.when_exhausted: \"throttle\" is not one of stop, "
       "last_resort_backup"},
      {R"({"limit_bytes": 1, "limit": 2})", "limit"},
  };
  for (const auto& [cap, expected] : cases) {
    EXPECT_THAT(ErrorOf(WithDataCap(cap)), HasSubstr(expected)) << cap;
  }
}

// --- Relaying: uplinks[].relay, uplinks[].learn_remote, node_discovery.relay_port/share_* ---

// A client with discovery on lan0 and lan1 and a bonding peer: uplink eth0
// plus `second` (a JSON object) as interfaces.uplinks[1]; `discovery` and
// `aggregation` add members to those sections.
std::string RelayClient(const std::string& second, const std::string& discovery = "",
                        const std::string& aggregation = "") {
  return absl::StrCat(
      R"({"node_discovery": {"enabled": true, "mesh_key": "0123456789abcdef",
                             "interfaces": ["lan0", "lan1"])",
      discovery.empty() ? "" : ", ", discovery, R"(},
          "link_aggregation": {"peer_address": "198.51.100.7", "bond_address": "10.203.0.2/24")",
      aggregation.empty() ? "" : ", ", aggregation, R"(},
          "interfaces": {"uplinks": [{"name": "eth0", "rate_mbit": 40}, )",
      second, "]}}");
}

constexpr char kRelayUplink[] = R"({"name": "mesh1", "relay": {}, "rate_mbit": 30})";

TEST_F(ConfigTest, RelayedPathGoesOverTheFirstDiscoveryInterface) {
  const NodeSettings s = MustResolve(RelayClient(kRelayUplink));
  ASSERT_EQ(s.paths.size(), 2u);
  EXPECT_EQ(s.paths[0].endpoint, PathEndpoint::kConfigured);
  EXPECT_TRUE(s.paths[0].endpoint_known);
  const PathSettings& p = s.paths[1];
  EXPECT_EQ(p.endpoint, PathEndpoint::kRelay);
  EXPECT_FALSE(p.endpoint_known) << "no neighbour chosen yet";
  EXPECT_EQ(p.interface, "lan0");
  EXPECT_EQ(p.ifindex, 6);
  EXPECT_EQ(p.mtu, 1400u);
  EXPECT_EQ(IpText(p.source), "10.210.0.1");
  EXPECT_EQ(p.remote, IpAddress{}) << "filled in at run time, not peer_address";
  EXPECT_EQ(p.remote_port, 0);
  EXPECT_FALSE(p.gateway.has_value());
  EXPECT_EQ(p.rate_bps, 30e6);
  EXPECT_EQ(p.relay.node, "");
  EXPECT_EQ(p.relay.uplink, "");
  // Without a name it is named after its interface, like any uplink.
  EXPECT_EQ(MustResolve(RelayClient(R"({"relay": {}, "rate_mbit": 30})")).paths[1].name, "lan0");
}

TEST_F(ConfigTest, AnIpv6PeerMakesTheRelayedPathIpv6FromTheLansLinkLocalAddress) {
  fake_.Add("lan0", 6, 1400, "10.210.0.1").ipv6_link_local = IpOf("fe80::1").v6();
  fake_.Add("eth0", 2, 1500, nullptr).ipv6 = {IpOf("2001:db8:1::10").v6()};
  const std::string config =
      absl::StrReplaceAll(RelayClient(kRelayUplink), {{"198.51.100.7", "2001:db8:200::2"}});
  const NodeSettings s = MustResolve(config);
  ASSERT_TRUE(s.peer_address.has_value());
  EXPECT_EQ(IpText(*s.peer_address), "2001:db8:200::2");
  EXPECT_EQ(IpText(s.paths[0].remote), "2001:db8:200::2") << "the default far end";
  EXPECT_EQ(IpText(s.paths[0].source), "2001:db8:1::10");
  EXPECT_EQ(IpText(s.paths[1].source), "fe80::1")
      << "where the neighbour heard us, not a global address";
  fake_.Add("lan0", 6, 1400, "10.210.0.1");  // no link-local address
  EXPECT_THAT(ErrorOf(config),
              HasSubstr("interfaces.uplinks[1].interface: \"lan0\" has no link-local IPv6 address"));
}

TEST_F(ConfigTest, RelayedPathFiltersAndInterfaceAreKept) {
  const NodeSettings s = MustResolve(RelayClient(
      R"({"name": "mesh1", "interface": "lan1", "relay": {"node": "node2", "uplink": "wan0"},
          "rate_mbit": 30, "data_cap": {"limit_bytes": 1000000}})"));
  const PathSettings& p = s.paths[1];
  EXPECT_EQ(p.interface, "lan1");
  EXPECT_EQ(p.ifindex, 7);
  EXPECT_EQ(IpText(p.source), "10.220.0.1");
  EXPECT_EQ(p.relay.node, "node2");
  EXPECT_EQ(p.relay.uplink, "wan0");
  ASSERT_TRUE(p.data_cap.has_value());
  EXPECT_EQ(MustResolve(RelayClient(R"({"name": "m", "relay": {"node": "host-1:edge"},
                                        "rate_mbit": 30})"))
                .paths[1]
                .relay.node,
            "host-1:edge")
      << "a node id";
}

TEST_F(ConfigTest, RelayedPathErrorsNameTheField) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {RelayClient(R"({"name": "m", "relay": {}, "rate_mbit": 30, "gateway": "10.210.0.254"})"),
       "interfaces.uplinks[1].gateway: not allowed with relay"},
      {RelayClient(R"({"name": "m", "relay": {}, "rate_mbit": 30, "source_address": "10.210.0.9"})"),
       "interfaces.uplinks[1].source_address: not allowed with relay"},
      {RelayClient(R"({"name": "m", "relay": {}, "rate_mbit": 30, "remote_address": "1.2.3.4"})"),
       "interfaces.uplinks[1].remote_address: not allowed with relay"},
      {RelayClient(R"({"name": "m", "relay": {}, "rate_mbit": 30, "remote_port": 7300})"),
       "interfaces.uplinks[1].remote_port: not allowed with relay"},
      {RelayClient(R"({"name": "m", "relay": {}})"), "interfaces.uplinks[1].rate_mbit: required"},
      {RelayClient(R"({"name": "m", "interface": "wlan0", "relay": {}, "rate_mbit": 30})"),
       "interfaces.uplinks[1].interface: \"wlan0\" is not one of node_discovery.interfaces"},
      {RelayClient(R"({"name": "m", "relay": {"node": "a b"}, "rate_mbit": 30})"),
       "interfaces.uplinks[1].relay.node: \"a b\" contains byte 0x20"},
      {RelayClient(R"({"name": "m", "relay": {"node": ""}, "rate_mbit": 30})"),
       "interfaces.uplinks[1].relay.node: \"\" is empty"},
      {RelayClient(R"({"name": "m", "relay": {"uplink": "a/b"}, "rate_mbit": 30})"),
       "interfaces.uplinks[1].relay.uplink: \"a/b\" is not a valid interface name"},
      {RelayClient(R"({"name": "m", "relay": {}, "learn_remote": true, "rate_mbit": 30})"),
       "interfaces.uplinks[1].learn_remote: cannot be combined with relay"},
      {absl::StrCat(R"({"link_aggregation": {"peer_address": "198.51.100.7"},
                       "interfaces": {"uplinks": [)", kRelayUplink, "]}}"),
       "interfaces.uplinks[0].relay: needs node_discovery.enabled"},
      {absl::StrCat(R"({"node_discovery": {"enabled": true, "mesh_key": "0123456789abcdef",
                                           "interfaces": ["lan0"]},
                       "interfaces": {"uplinks": [)", kRelayUplink, "]}}"),
       "interfaces.uplinks[0].relay: needs link_aggregation.peer_address"},
      {absl::StrCat(R"({"node_discovery": {"enabled": true, "mesh_key": "0123456789abcdef",
                                           "interfaces": ["noaddr0"]},
                       "link_aggregation": {"peer_address": "198.51.100.7"},
                       "interfaces": {"uplinks": [)", kRelayUplink, "]}}"),
       "interfaces.uplinks[0].source_address: not set and interface \"noaddr0\" has no IPv4"},
      {FlowConfig("", R"("relay": {})"),
       "interfaces.uplinks[0].relay: meaningless in flow mode"},
  };
  for (const auto& [json, expected] : cases) {
    EXPECT_THAT(ErrorOf(json), HasSubstr(expected)) << json;
  }
}

// The bonding peer: uplink eth0 with a remote address, plus `second`.
std::string LearningPeer(const std::string& second, bool bond_address = true) {
  return absl::StrCat(R"({"link_aggregation": {)",
                      bond_address ? R"("bond_address": "10.203.0.1/24")" : "", R"(},
      "interfaces": {"uplinks": [
        {"name": "eth0", "remote_address": "203.0.113.9", "rate_mbit": 100}, )",
                      second, "]}}");
}

TEST_F(ConfigTest, LearnedPathHasItsLocalSideOnly) {
  const NodeSettings s = MustResolve(LearningPeer(
      R"({"name": "mesh1", "interface": "wlan0", "gateway": "192.168.8.1", "learn_remote": true,
          "rate_mbit": 30})"));
  const PathSettings& p = s.paths[1];
  EXPECT_EQ(p.endpoint, PathEndpoint::kLearned);
  EXPECT_FALSE(p.endpoint_known);
  EXPECT_EQ(p.ifindex, 3);
  EXPECT_EQ(IpText(p.source), "192.168.8.20");
  EXPECT_EQ(IpText(*p.gateway), "192.168.8.1");
  EXPECT_EQ(p.remote, IpAddress{});
  EXPECT_EQ(p.remote_port, 0);
  // learn_remote: false is an ordinary uplink, which needs a far end.
  EXPECT_THAT(ErrorOf(LearningPeer(
                  R"({"name": "mesh1", "interface": "wlan0", "learn_remote": false, "rate_mbit": 30})")),
              HasSubstr("interfaces.uplinks[1].remote_address: not set"));
}

TEST_F(ConfigTest, ALearnedPathStartsOnTheFamilyItHas) {
  fake_.Add("wwan6", 8, 1500, nullptr).ipv6 = {IpOf("2001:db8:6::2").v6()};
  fake_.Add("dual0", 9, 1500, "192.0.2.9").ipv6 = {IpOf("2001:db8:9::2").v6()};
  // The learned path's source on `interface`, with `gateway` if not empty.
  auto source = [&](const char* interface, const char* gateway) {
    const std::string uplink = absl::StrCat(
        R"({"name": "m", "interface": ")", interface, R"(", "learn_remote": true, "rate_mbit": 30)",
        *gateway ? absl::StrCat(R"(, "gateway": ")", gateway, R"(")") : "", "}");
    return IpText(MustResolve(LearningPeer(uplink)).paths[1].source);
  };
  EXPECT_EQ(source("wwan6", ""), "2001:db8:6::2") << "an IPv6-only uplink";
  EXPECT_EQ(source("dual0", "2001:db8:9::1"), "2001:db8:9::2") << "the gateway's family";
  EXPECT_EQ(source("dual0", ""), "192.0.2.9") << "IPv4 first without a gateway";
}

TEST_F(ConfigTest, LearnedPathErrorsNameTheField) {
  EXPECT_THAT(ErrorOf(LearningPeer(R"({"name": "m", "interface": "eth0", "learn_remote": true,
                                       "remote_address": "1.2.3.4", "rate_mbit": 30})")),
              HasSubstr("interfaces.uplinks[1].remote_address: not allowed with learn_remote"));
  EXPECT_THAT(ErrorOf(LearningPeer(R"({"name": "m", "interface": "eth0", "learn_remote": true,
                                       "remote_port": 7300, "rate_mbit": 30})")),
              HasSubstr("interfaces.uplinks[1].remote_port: not allowed with learn_remote"));
  EXPECT_THAT(ErrorOf(LearningPeer(R"({"name": "m", "interface": "eth0", "learn_remote": true,
                                       "rate_mbit": 30})",
                                   false)),
              HasSubstr("interfaces.uplinks[1].learn_remote: needs link_aggregation.bond_address"));
  EXPECT_THAT(ErrorOf(FlowConfig("", R"("learn_remote": true)")),
              HasSubstr("interfaces.uplinks[0].learn_remote: meaningless in flow mode"));
}

TEST_F(ConfigTest, RelaySettingsDefaultsAndExplicitValues) {
  const NodeSettings defaults = MustResolve(RelayClient(kRelayUplink));
  EXPECT_EQ(defaults.discovery.relay_port, 7211);
  EXPECT_FALSE(defaults.discovery.share_cap.has_value());
  EXPECT_EQ(defaults.discovery.share_max_bps, 0);
  const NodeSettings s = MustResolve(RelayClient(
      kRelayUplink,
      R"("relay_port": 8000, "share_uplinks": ["eth0"], "share_max_mbit": 12.5,
         "share_cap": {"limit_bytes": 3000000000, "period": "daily", "timezone": "UTC"})"));
  EXPECT_EQ(s.discovery.relay_port, 8000);
  EXPECT_EQ(s.discovery.share_max_bps, 12.5e6);
  ASSERT_TRUE(s.discovery.share_cap.has_value());
  EXPECT_EQ(s.discovery.share_cap->limit_bytes, 3'000'000'000u);
  EXPECT_EQ(s.discovery.share_cap->period, CapPeriodKind::kDaily);
  EXPECT_EQ(s.discovery.share_cap->when_exhausted, CapExhaustedPolicy::kStop);
  // The highest relay port whose span still fits.
  EXPECT_EQ(MustResolve(RelayClient(kRelayUplink,
                                    absl::StrCat(R"("relay_port": )", 65535 - MB_RELAY_PORT_SPAN)))
                .discovery.relay_port,
            65535 - MB_RELAY_PORT_SPAN);
  // An IPv6 uplink is shared like any: it relays for origins with an IPv6 peer.
  fake_.Add("eth0", 2, 1500, nullptr).ipv6 = {IpOf("2001:db8:1::10").v6()};
  fake_.Add("lan0", 6, 1400, "10.210.0.1").ipv6_link_local = IpOf("fe80::1").v6();
  EXPECT_THAT(MustResolve(absl::StrReplaceAll(RelayClient(kRelayUplink, R"("share_uplinks": ["eth0"])"),
                                              {{"198.51.100.7", "2001:db8:200::2"}}))
                  .discovery.share_uplinks,
              ::testing::ElementsAre("eth0"));
}

TEST_F(ConfigTest, RelaySettingsErrorsNameTheField) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"("relay_port": 0)", "node_discovery.relay_port: must be between 1 and 65471, got 0"},
      {absl::StrCat(R"("relay_port": )", 65536 - MB_RELAY_PORT_SPAN),
       "node_discovery.relay_port: must be between 1 and 65471"},
      {R"("relay_port": 7180)",
       "node_discovery.relay_port: relaying takes ports 7180..7243, which include "
       "link_aggregation.port (7201)"},
      {R"("share_uplinks": ["eth0"], "port": 7250)",
       "node_discovery.relay_port: relaying takes ports 7211..7274, which include "
       "node_discovery.port (7250)"},
      {R"("share_max_mbit": 0)", "node_discovery.share_max_mbit: must be greater than 0"},
      {R"("share_max_mbit": -5)", "node_discovery.share_max_mbit"},
      {R"("share_cap": {})", "node_discovery.share_cap.limit_bytes: required"},
      {R"("share_cap": {"limit_bytes": 0})",
       "node_discovery.share_cap.limit_bytes: must be more than 0"},
      {R"("share_cap": {"limit_bytes": 1, "period": "weekly"})",
       "node_discovery.share_cap.period: \"weekly\" is not one of"},
      {R"("share_cap": {"limit_bytes": 1, "reset_day": 40})",
       "node_discovery.share_cap.reset_day: must be a day of the month"},
      {R"("share_cap": {"limit_bytes": 1, "when_exhausted": "last_resort_backup"})",
       "node_discovery.share_cap.when_exhausted: must be \"stop\""},
      {R"("share_uplinks": ["mesh1"])",
       "node_discovery.share_uplinks[0]: \"mesh1\" is itself relayed through a neighbour"},
  };
  for (const auto& [discovery, expected] : cases) {
    EXPECT_THAT(ErrorOf(RelayClient(kRelayUplink, discovery)), HasSubstr(expected)) << discovery;
  }
  EXPECT_THAT(ErrorOf(WithOneUplink(
                  R"("failover": {"probe_port": 7250}, "node_discovery": {"share_uplinks": ["eth0"]})")),
              HasSubstr("node_discovery.relay_port: relaying takes ports 7211..7274, which "
                        "include failover.probe_port (7250)"));
  MustResolve(RelayClient(kRelayUplink, R"("share_uplinks": ["eth0"])"));  // the defaults agree
}

TEST_F(ConfigTest, RelayPortsOnlyMatterWhenRelaying) {
  // A node that shares nothing and left relay_port alone may use those ports.
  const NodeSettings s =
      MustResolve(WithOneUplink(R"("link_aggregation": {"port": 7220})"));
  EXPECT_EQ(s.port, 7220);
  EXPECT_THAT(ErrorOf(WithOneUplink(
                  R"("link_aggregation": {"port": 7220}, "node_discovery": {"share_uplinks": ["eth0"]})")),
              HasSubstr("include link_aggregation.port (7220)"));
}

TEST_F(ConfigTest, ShareBudgetNameIsNoUplinkName) {
  EXPECT_THAT(ErrorOf(WithInterfaces(
                  R"({"uplinks": [{"name": "node_discovery.share_cap", "interface": "eth0",
                                   "rate_mbit": 40}]})")),
              AllOf(HasSubstr("interfaces.uplinks[0].name"), HasSubstr("reserved")));
}

}  // namespace
}  // namespace meshbpf
