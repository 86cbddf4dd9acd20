#include "agent/core/config.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "bpf/meshbpf.h"

namespace meshbpf {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

in_addr Addr(const char* text) {
  in_addr a{};
  EXPECT_EQ(inet_pton(AF_INET, text, &a), 1) << text;
  return a;
}

std::string Str(in_addr a) {
  char buf[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &a, buf, sizeof(buf));
  return buf;
}

class FakeInterfaces : public InterfaceLookup {
 public:
  void Add(const std::string& name, int ifindex, uint32_t mtu, const char* ipv4) {
    InterfaceInfo info;
    info.ifindex = ifindex;
    info.mtu = mtu;
    if (ipv4 != nullptr) info.ipv4 = Addr(ipv4);
    info.up = true;
    devices_[name] = info;
  }
  std::optional<InterfaceInfo> Find(std::string_view name) const override {
    auto it = devices_.find(std::string(name));
    if (it == devices_.end()) return std::nullopt;
    return it->second;
  }

 private:
  std::map<std::string, InterfaceInfo> devices_;
};

// The README's bonding client: three uplinks, one of them a backup.
constexpr const char* kClientConfig = R"({
  "node_discovery": {"enabled": false, "port": 9999, "broadcast_interval": 5, "node_timeout": 30},
  "link_aggregation": {
    "mode": "load_balance",
    "bond_interface": "mb0",
    "bond_address": "10.203.0.2/24",
    "peer_address": "198.51.100.7",
    "port": 7201
  },
  "failover": {"monitoring_interval": 0.2, "threshold": 3, "recovery_threshold": 5},
  "interfaces": {
    "primary": "eth0",
    "backups": ["wwan0"],
    "uplinks": [
      {"name": "eth0", "gateway": "192.168.1.1", "rate_mbit": 40},
      {"name": "wlan0", "gateway": "192.168.8.1", "rate_mbit": 20},
      {"name": "wwan0", "rate_mbit": 10}
    ]
  }
})";

// Smallest accepted config: one uplink and where to send its traffic.
constexpr const char* kMinimalConfig =
    R"({"interfaces": {"uplinks": [{"interface": "eth0", "remote_address": "203.0.113.1", "rate_mbit": 100}]}})";

// A config with one uplink (and no link_aggregation) plus `extra` top-level
// members, e.g. R"("failover": {"threshold": 0})".
std::string WithOneUplink(const std::string& extra) {
  return absl::StrCat(
      R"({"interfaces": {"uplinks": [
             {"name": "eth0", "remote_address": "198.51.100.7", "rate_mbit": 40}]})",
      extra.empty() ? "" : ", ", extra, "}");
}

// A config whose interfaces section is `interfaces`, with a peer address set.
std::string WithInterfaces(const std::string& interfaces) {
  return absl::StrCat(R"({"link_aggregation": {"peer_address": "198.51.100.7"}, "interfaces": )",
                      interfaces, "}");
}

class ConfigTest : public ::testing::Test {
 protected:
  ConfigTest() {
    fake_.Add("eth0", 2, 1500, "192.168.1.10");
    fake_.Add("wlan0", 3, 1500, "192.168.8.20");
    fake_.Add("wwan0", 4, 1400, "10.64.0.5");
    fake_.Add("noaddr0", 5, 9000, nullptr);
    fake_.Add("lan0", 6, 1400, "10.210.0.1");
    fake_.Add("lan1", 7, 1500, "10.220.0.1");
  }

  absl::StatusOr<NodeSettings> Resolve(const std::string& json) const {
    absl::StatusOr<config::Config> config = ParseConfigJson(json);
    if (!config.ok()) return config.status();
    return ResolveConfig(*config, fake_);
  }

  NodeSettings MustResolve(const std::string& json) const {
    absl::StatusOr<NodeSettings> settings = Resolve(json);
    EXPECT_TRUE(settings.ok()) << settings.status() << "\n" << json;
    return settings.ok() ? *settings : NodeSettings{};
  }

  // The message of the InvalidArgument error `json` must produce.
  std::string ErrorOf(const std::string& json) const {
    absl::StatusOr<NodeSettings> settings = Resolve(json);
    EXPECT_FALSE(settings.ok()) << "accepted:\n" << json;
    if (settings.ok()) return "";
    EXPECT_EQ(settings.status().code(), absl::StatusCode::kInvalidArgument);
    return std::string(settings.status().message());
  }

  FakeInterfaces fake_;
};

// --- Valid configs ----------------------------------------------------------

TEST_F(ConfigTest, CompleteClientConfigResolves) {
  const NodeSettings s = MustResolve(kClientConfig);
  EXPECT_EQ(s.mode, BondMode::kLoadBalance);
  EXPECT_EQ(s.bond_interface, "mb0");
  ASSERT_TRUE(s.bond_address.has_value());
  EXPECT_EQ(Str(s.bond_address->address), "10.203.0.2");
  EXPECT_EQ(s.bond_address->prefix_len, 24);
  ASSERT_TRUE(s.peer_address.has_value());
  EXPECT_EQ(Str(*s.peer_address), "198.51.100.7");
  EXPECT_EQ(s.port, 7201);
  EXPECT_EQ(s.offload, OffloadSetting::kAuto);
  EXPECT_EQ(s.primary, "eth0");

  ASSERT_EQ(s.paths.size(), 3u);
  // Order is the order of interfaces.uplinks: the index is the path id.
  EXPECT_EQ(s.paths[0].name, "eth0");
  EXPECT_EQ(s.paths[1].name, "wlan0");
  EXPECT_EQ(s.paths[2].name, "wwan0");

  const PathSettings& eth0 = s.paths[0];
  EXPECT_EQ(eth0.interface, "eth0");  // defaults to the name
  EXPECT_EQ(eth0.ifindex, 2);
  EXPECT_EQ(eth0.mtu, 1500u);
  EXPECT_EQ(Str(eth0.source), "192.168.1.10");  // from the interface
  EXPECT_EQ(Str(eth0.remote), "198.51.100.7");  // from peer_address
  ASSERT_TRUE(eth0.gateway.has_value());
  EXPECT_EQ(Str(*eth0.gateway), "192.168.1.1");
  EXPECT_EQ(eth0.remote_port, 7201);
  EXPECT_EQ(eth0.rate_bps, 40e6);
  EXPECT_EQ(eth0.delay_ms, 0);
  EXPECT_EQ(eth0.role, PathRole::kBonded);
  EXPECT_EQ(eth0.backup_order, -1);

  EXPECT_EQ(s.paths[1].ifindex, 3);
  EXPECT_EQ(Str(*s.paths[1].gateway), "192.168.8.1");
  EXPECT_EQ(s.paths[1].role, PathRole::kBonded);

  const PathSettings& wwan0 = s.paths[2];
  EXPECT_EQ(wwan0.mtu, 1400u);
  EXPECT_EQ(Str(wwan0.source), "10.64.0.5");
  EXPECT_FALSE(wwan0.gateway.has_value());
  EXPECT_EQ(wwan0.role, PathRole::kBackup);
  EXPECT_EQ(wwan0.backup_order, 0);

  // Absent failover.rebalance_interval gets its default.
  EXPECT_DOUBLE_EQ(s.failover.rebalance_interval_s, 1.0);
  EXPECT_DOUBLE_EQ(s.failover.monitoring_interval_s, 0.2);
}

TEST_F(ConfigTest, MinimalConfigGetsEveryDefault) {
  const NodeSettings s = MustResolve(kMinimalConfig);
  EXPECT_FALSE(s.discovery.enabled);
  EXPECT_EQ(s.discovery.port, 9999);
  EXPECT_DOUBLE_EQ(s.discovery.broadcast_interval_s, 5);
  EXPECT_DOUBLE_EQ(s.discovery.node_timeout_s, 30);
  char host[256] = {};
  ASSERT_EQ(gethostname(host, sizeof(host) - 1), 0);
  EXPECT_EQ(s.discovery.node_name, host);
  EXPECT_EQ(s.discovery.mesh_key, "");

  EXPECT_EQ(s.mode, BondMode::kLoadBalance);
  EXPECT_EQ(s.bond_interface, "mb0");
  EXPECT_FALSE(s.bond_address.has_value());
  EXPECT_FALSE(s.peer_address.has_value());
  EXPECT_EQ(s.port, 7201);
  EXPECT_EQ(s.offload, OffloadSetting::kAuto);

  EXPECT_DOUBLE_EQ(s.failover.monitoring_interval_s, 0.2);
  EXPECT_EQ(s.failover.threshold, 3u);
  EXPECT_EQ(s.failover.recovery_threshold, 5u);
  EXPECT_DOUBLE_EQ(s.failover.rebalance_interval_s, 1.0);
  EXPECT_DOUBLE_EQ(s.failover.degrade_loss_percent, 10);
  EXPECT_DOUBLE_EQ(s.failover.recover_loss_percent, 5);

  ASSERT_EQ(s.paths.size(), 1u);
  EXPECT_EQ(s.paths[0].name, "eth0");  // defaults to the interface
  EXPECT_EQ(s.paths[0].interface, "eth0");
  EXPECT_EQ(Str(s.paths[0].source), "192.168.1.10");
  EXPECT_EQ(Str(s.paths[0].remote), "203.0.113.1");
  EXPECT_EQ(s.paths[0].remote_port, 7201);
  EXPECT_EQ(s.paths[0].delay_ms, 0);
  EXPECT_EQ(s.paths[0].role, PathRole::kBonded);
  EXPECT_EQ(s.primary, "eth0");
}

TEST_F(ConfigTest, ExplicitValuesAreKept) {
  const NodeSettings s = MustResolve(R"({
    "node_discovery": {"enabled": true, "port": 1, "broadcast_interval": 0.5,
                       "node_timeout": 86400, "node_name": "edge-7",
                       "mesh_key": "0123456789abcdef", "interfaces": ["lan0", "wlan0"],
                       "share_uplinks": ["b"], "node_id": "host-1:edge"},
    "link_aggregation": {"mode": "redundant", "bond_interface": "bond-abcdefg",
                         "bond_address": "10.0.0.1/0", "port": 65535,
                         "segmentation_offload": "off"},
    "failover": {"monitoring_interval": 10, "threshold": 100, "recovery_threshold": 1,
                 "rebalance_interval": 0.05, "degrade_loss_percent": 100,
                 "recover_loss_percent": 80},
    "interfaces": {
      "primary": "b",
      "uplinks": [
        {"name": "a", "interface": "eth0", "source_address": "192.0.2.1",
         "remote_address": "203.0.113.1", "remote_port": 1, "rate_mbit": 100000,
         "delay_ms": 10000},
        {"name": "b", "interface": "eth0", "remote_address": "203.0.113.2",
         "rate_mbit": 0.5, "delay_ms": 0}
      ]
    }
  })");
  EXPECT_TRUE(s.discovery.enabled);
  EXPECT_EQ(s.discovery.port, 1);
  EXPECT_DOUBLE_EQ(s.discovery.broadcast_interval_s, 0.5);
  EXPECT_DOUBLE_EQ(s.discovery.node_timeout_s, 86400);
  EXPECT_EQ(s.discovery.node_name, "edge-7");
  EXPECT_EQ(s.discovery.mesh_key, "0123456789abcdef");
  EXPECT_THAT(s.discovery.interfaces, ::testing::ElementsAre("lan0", "wlan0"));
  EXPECT_THAT(s.discovery.share_uplinks, ::testing::ElementsAre("b"));
  EXPECT_EQ(s.discovery.node_id, "host-1:edge");
  EXPECT_EQ(s.mode, BondMode::kRedundant);
  EXPECT_EQ(s.bond_interface, "bond-abcdefg");
  EXPECT_EQ(s.bond_address->prefix_len, 0);
  EXPECT_EQ(s.port, 65535);
  EXPECT_EQ(s.offload, OffloadSetting::kOff);
  EXPECT_DOUBLE_EQ(s.failover.monitoring_interval_s, 10);
  EXPECT_EQ(s.failover.threshold, 100u);
  EXPECT_EQ(s.failover.recovery_threshold, 1u);
  EXPECT_DOUBLE_EQ(s.failover.rebalance_interval_s, 0.05);
  EXPECT_DOUBLE_EQ(s.failover.degrade_loss_percent, 100);
  EXPECT_DOUBLE_EQ(s.failover.recover_loss_percent, 80);
  ASSERT_EQ(s.paths.size(), 2u);
  EXPECT_EQ(Str(s.paths[0].source), "192.0.2.1");  // not the interface's address
  EXPECT_EQ(s.paths[0].remote_port, 1);            // not link_aggregation.port
  EXPECT_EQ(s.paths[0].rate_bps, 100000e6);
  EXPECT_EQ(s.paths[0].delay_ms, 10000);
  EXPECT_EQ(s.paths[1].interface, "eth0");   // two paths may share a device
  EXPECT_EQ(s.paths[1].remote_port, 65535);  // from link_aggregation.port
  EXPECT_EQ(s.primary, "b");
}

TEST_F(ConfigTest, CamelCaseFieldNamesAreAccepted) {
  const NodeSettings s = MustResolve(
      WithOneUplink(R"("failover": {"recoveryThreshold": 7, "monitoringInterval": 1})"));
  EXPECT_EQ(s.failover.recovery_threshold, 7u);
  EXPECT_DOUBLE_EQ(s.failover.monitoring_interval_s, 1);
}

TEST_F(ConfigTest, NullMeansAbsent) {
  const NodeSettings s = MustResolve(WithOneUplink(R"("failover": {"threshold": null})"));
  EXPECT_EQ(s.failover.threshold, 3u);
}

TEST_F(ConfigTest, PrimaryDefaultsToFirstBondedUplink) {
  const NodeSettings s = MustResolve(WithInterfaces(R"({"backups": ["eth0"], "uplinks": [
      {"name": "eth0", "rate_mbit": 1}, {"name": "wlan0", "rate_mbit": 1}]})"));
  EXPECT_EQ(s.primary, "wlan0");
  EXPECT_EQ(s.paths[0].role, PathRole::kBackup);
  EXPECT_EQ(s.paths[1].role, PathRole::kBonded);
}

TEST_F(ConfigTest, BackupOrderFollowsBackupsList) {
  const NodeSettings s = MustResolve(WithInterfaces(R"({"backups": ["wwan0", "wlan0"], "uplinks": [
      {"name": "eth0", "rate_mbit": 1}, {"name": "wlan0", "rate_mbit": 1},
      {"name": "wwan0", "rate_mbit": 1}]})"));
  EXPECT_EQ(s.paths[1].backup_order, 1);
  EXPECT_EQ(s.paths[2].backup_order, 0);
}

TEST_F(ConfigTest, EightUplinksAreAccepted) {
  std::vector<std::string> uplinks;
  for (int i = 0; i < 8; ++i) {
    uplinks.push_back(
        absl::StrCat(R"({"name": "p)", i, R"(", "interface": "eth0", "rate_mbit": 1})"));
  }
  const NodeSettings s = MustResolve(
      WithInterfaces(absl::StrCat(R"({"uplinks": [)", absl::StrJoin(uplinks, ","), "]}")));
  EXPECT_EQ(s.paths.size(), 8u);
  EXPECT_EQ(s.paths[7].name, "p7");
}

// --- Bond modes --------------------------------------------------------------

TEST(BondModeTest, NamesRoundTrip) {
  for (BondMode mode : {BondMode::kLoadBalance, BondMode::kFlow, BondMode::kRedundant,
                        BondMode::kActiveBackup, BondMode::kLatency}) {
    absl::StatusOr<BondMode> parsed = ParseBondMode(BondModeName(mode));
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, mode);
  }
  EXPECT_EQ(BondModeName(BondMode::kActiveBackup), "active_backup");
}

TEST(BondModeTest, UnknownModeListsValidNames) {
  absl::StatusOr<BondMode> parsed = ParseBondMode("turbo");
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(parsed.status().message()),
              AllOf(HasSubstr("link_aggregation.mode"), HasSubstr("\"turbo\""),
                    HasSubstr("load_balance, flow, redundant, active_backup, latency")));
}

TEST_F(ConfigTest, UnknownModeInConfig) {
  EXPECT_THAT(ErrorOf(WithOneUplink(R"("link_aggregation": {"mode": "turbo"})")),
              AllOf(HasSubstr("link_aggregation.mode"), HasSubstr("active_backup")));
}

// --- JSON-level rejections ---------------------------------------------------

TEST_F(ConfigTest, UnknownTopLevelField) {
  EXPECT_THAT(ErrorOf(WithOneUplink(R"("bogus": 1)")),
              AllOf(HasSubstr("invalid config: "), HasSubstr("bogus")));
}

TEST_F(ConfigTest, UnknownNestedField) {
  EXPECT_THAT(ErrorOf(WithOneUplink(R"("failover": {"treshold": 3})")),
              AllOf(HasSubstr("failover"), HasSubstr("treshold")));
  EXPECT_THAT(ErrorOf(WithInterfaces(R"({"uplinks": [{"name": "eth0", "rate_mbit": 1},
                                                     {"name": "wlan0", "rate_mbps": 1}]})")),
              AllOf(HasSubstr("interfaces.uplinks[1]"), HasSubstr("rate_mbps")));
}

TEST_F(ConfigTest, WrongTypes) {
  EXPECT_THAT(ErrorOf(WithOneUplink(R"("failover": {"threshold": "three"})")),
              HasSubstr("failover.threshold"));
  EXPECT_THAT(ErrorOf(WithOneUplink(R"("link_aggregation": {"mode": 5})")),
              HasSubstr("link_aggregation.mode"));
  EXPECT_THAT(ErrorOf(WithOneUplink(R"("failover": 5)")), HasSubstr("failover"));
  EXPECT_THAT(ErrorOf(WithOneUplink(R"("failover": {"threshold": -1})")),
              HasSubstr("failover.threshold"));
  EXPECT_THAT(ErrorOf(WithOneUplink(R"("failover": {"threshold": 1.5})")),
              HasSubstr("failover.threshold"));
  EXPECT_THAT(ErrorOf(WithOneUplink(R"("failover": {"threshold": 5000000000})")),
              HasSubstr("failover.threshold"));
}

// Kinds protobuf's parser would accept and convert.
TEST_F(ConfigTest, WrongTypesProtobufWouldAccept) {
  EXPECT_THAT(ErrorOf(R"({"interfaces": {"uplinks": {"name": "eth0", "rate_mbit": 1}}})"),
              AllOf(HasSubstr("interfaces.uplinks"), HasSubstr("expected a list")));
  EXPECT_THAT(ErrorOf(WithInterfaces(R"({"backups": "eth0", "uplinks": []})")),
              AllOf(HasSubstr("interfaces.backups"), HasSubstr("expected a list")));
  EXPECT_THAT(ErrorOf(WithOneUplink(R"("node_discovery": {"enabled": "yes"})")),
              AllOf(HasSubstr("node_discovery.enabled"), HasSubstr("true or false")));
  EXPECT_THAT(ErrorOf(WithOneUplink(R"("failover": {"threshold": "3"})")),
              AllOf(HasSubstr("failover.threshold"), HasSubstr("expected a number")));
  EXPECT_THAT(ErrorOf(WithOneUplink(R"("failover": {"monitoringInterval": "NaN"})")),
              HasSubstr("failover.monitoring_interval"));
  // A dropped null element would renumber the uplinks (= path ids).
  EXPECT_THAT(ErrorOf(WithInterfaces(R"({"uplinks": [null, {"name": "eth0", "rate_mbit": 1}]})")),
              HasSubstr("interfaces.uplinks[0]"));
  EXPECT_THAT(ErrorOf(WithInterfaces(R"({"uplinks": [{"name": "eth0", "rate_mbit": 1}, []]})")),
              HasSubstr("interfaces.uplinks[1]"));
}

TEST_F(ConfigTest, DuplicateKeys) {
  EXPECT_THAT(ErrorOf(WithOneUplink(R"("failover": {"threshold": 3}, "failover": {})")),
              AllOf(HasSubstr("failover"), HasSubstr("more than once")));
  EXPECT_THAT(
      ErrorOf(WithInterfaces(R"({"uplinks": [{"name": "eth0", "rate_mbit": 1, "rate_mbit": 2}]})")),
      AllOf(HasSubstr("interfaces.uplinks[0].rate_mbit"), HasSubstr("more than once")));
}

TEST_F(ConfigTest, SyntaxErrors) {
  EXPECT_THAT(ErrorOf(R"({"failover": {"threshold": 3 "x": 4}})"),
              AllOf(HasSubstr("invalid config: "), HasSubstr("line 1, column"),
                    HasSubstr("failover.threshold")));
  EXPECT_THAT(ErrorOf("{\"failover\": {\"threshold\": 3}"), HasSubstr("end of string"));
  EXPECT_THAT(ErrorOf("garbage"), HasSubstr("invalid config: "));
  EXPECT_THAT(ErrorOf("[1, 2]"), HasSubstr("invalid config: expected a JSON object"));
}

TEST_F(ConfigTest, ByteOrderMarkIsAccepted) {
  EXPECT_EQ(MustResolve(absl::StrCat("\xEF\xBB\xBF", kMinimalConfig)).paths.size(), 1u);
}

TEST_F(ConfigTest, SyntaxErrorReportsLineAndField) {
  const std::string message = ErrorOf(
      "{\n  \"failover\": {\n    \"threshold\": 3,\n    \"monitoring_interval\": 1e400\n  }\n}");
  EXPECT_THAT(message,
              AllOf(HasSubstr("line 4, column 28"), HasSubstr("failover.monitoring_interval"),
                    HasSubstr("exceeds the range of double")));
}

TEST_F(ConfigTest, EmptyInput) {
  EXPECT_THAT(ErrorOf(""), HasSubstr("empty input"));
  EXPECT_THAT(ErrorOf(" \n\t"), HasSubstr("empty input"));
}

// --- Ranges --------------------------------------------------------------------

TEST_F(ConfigTest, ThresholdRange) {
  EXPECT_THAT(
      ErrorOf(WithOneUplink(R"("failover": {"threshold": 0})")),
      AllOf(HasSubstr("failover.threshold: must be between 1 and 100"), HasSubstr("got 0")));
  EXPECT_THAT(ErrorOf(WithOneUplink(R"("failover": {"threshold": 101})")),
              AllOf(HasSubstr("failover.threshold"), HasSubstr("got 101")));
  EXPECT_THAT(ErrorOf(WithOneUplink(R"("failover": {"recovery_threshold": 0})")),
              HasSubstr("failover.recovery_threshold"));
}

TEST_F(ConfigTest, MonitoringInterval) {
  EXPECT_DOUBLE_EQ(MustResolve(WithOneUplink(R"("failover": {"monitoring_interval": 10})"))
                       .failover.monitoring_interval_s,
                   10);
  EXPECT_THAT(ErrorOf(WithOneUplink(R"("failover": {"monitoring_interval": 0})")),
              HasSubstr("failover.monitoring_interval"));
  EXPECT_THAT(ErrorOf(WithOneUplink(R"("failover": {"rebalance_interval": 3601})")),
              HasSubstr("failover.rebalance_interval"));
}

TEST_F(ConfigTest, LossThresholds) {
  // recover_loss_percent defaults to half of an explicit degrade_loss_percent.
  NodeSettings s = MustResolve(WithOneUplink(R"("failover": {"degrade_loss_percent": 1})"));
  EXPECT_DOUBLE_EQ(s.failover.degrade_loss_percent, 1);
  EXPECT_DOUBLE_EQ(s.failover.recover_loss_percent, 0.5);
  s = MustResolve(WithOneUplink(R"("failover": {"recover_loss_percent": 9.5})"));
  EXPECT_DOUBLE_EQ(s.failover.degrade_loss_percent, 10);
  EXPECT_DOUBLE_EQ(s.failover.recover_loss_percent, 9.5);
  s = MustResolve(
      WithOneUplink(R"("failover": {"degradeLossPercent": 2, "recoverLossPercent": 0.1})"));
  EXPECT_DOUBLE_EQ(s.failover.degrade_loss_percent, 2);
  EXPECT_DOUBLE_EQ(s.failover.recover_loss_percent, 0.1);

  for (const char* bad : {"0", "-1", "100.5"}) {
    EXPECT_THAT(
        ErrorOf(WithOneUplink(absl::StrCat(R"("failover": {"degrade_loss_percent": )", bad, "}"))),
        AllOf(HasSubstr("failover.degrade_loss_percent: must be greater than 0 and at most 100"),
              HasSubstr(absl::StrCat("got ", bad))));
    EXPECT_THAT(
        ErrorOf(WithOneUplink(absl::StrCat(R"("failover": {"recover_loss_percent": )", bad, "}"))),
        AllOf(HasSubstr("failover.recover_loss_percent: must be greater than 0 and at most 100"),
              HasSubstr(absl::StrCat("got ", bad))));
  }
  EXPECT_THAT(ErrorOf(WithOneUplink(R"("failover": {"degrade_loss_percent": "5%"})")),
              HasSubstr("failover.degrade_loss_percent"));
  // Recovery needs less loss than degrading: equal, above, or above the default.
  EXPECT_THAT(
      ErrorOf(WithOneUplink(
          R"("failover": {"degrade_loss_percent": 2, "recover_loss_percent": 2})")),
      HasSubstr("failover.recover_loss_percent: must be below failover.degrade_loss_percent "
                "(2), got 2"));
  EXPECT_THAT(ErrorOf(WithOneUplink(
                  R"("failover": {"degrade_loss_percent": 2, "recover_loss_percent": 3})")),
              HasSubstr("failover.recover_loss_percent: must be below "
                        "failover.degrade_loss_percent (2), got 3"));
  EXPECT_THAT(ErrorOf(WithOneUplink(R"("failover": {"recover_loss_percent": 20})")),
              HasSubstr("failover.recover_loss_percent: must be below "
                        "failover.degrade_loss_percent (10), got 20"));
}

TEST_F(ConfigTest, HugeNumberIsNotValidJson) {
  EXPECT_THAT(ErrorOf(WithOneUplink(R"("failover": {"monitoring_interval": 1e400})")),
              AllOf(HasSubstr("invalid config: "), HasSubstr("failover.monitoring_interval")));
}

TEST_F(ConfigTest, NanAndInfinityAreRejectedByRangeChecks) {
  // JSON cannot carry them (see above), but a message built in code can.
  for (double bad : {std::nan(""), HUGE_VAL, -HUGE_VAL}) {
    absl::StatusOr<config::Config> config = ParseConfigJson(kMinimalConfig);
    ASSERT_TRUE(config.ok()) << config.status();
    config::Config c = *config;
    c.mutable_failover()->set_monitoring_interval(bad);
    absl::StatusOr<NodeSettings> s = ResolveConfig(c, fake_);
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_THAT(std::string(s.status().message()), HasSubstr("failover.monitoring_interval"));

    c = *config;
    c.mutable_failover()->set_degrade_loss_percent(bad);
    s = ResolveConfig(c, fake_);
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_THAT(std::string(s.status().message()), HasSubstr("failover.degrade_loss_percent"));

    c = *config;
    c.mutable_interfaces()->mutable_uplinks(0)->set_rate_mbit(bad);
    s = ResolveConfig(c, fake_);
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_THAT(std::string(s.status().message()), HasSubstr("interfaces.uplinks[0].rate_mbit"));
  }
}

TEST_F(ConfigTest, PortRanges) {
  EXPECT_THAT(ErrorOf(WithOneUplink(R"("link_aggregation": {"port": 0})")),
              HasSubstr("link_aggregation.port"));
  EXPECT_THAT(ErrorOf(WithOneUplink(R"("node_discovery": {"port": 65536})")),
              HasSubstr("node_discovery.port"));
  EXPECT_THAT(ErrorOf(WithInterfaces(
                  R"({"uplinks": [{"name": "eth0", "rate_mbit": 1, "remote_port": 0}]})")),
              HasSubstr("interfaces.uplinks[0].remote_port"));
}

TEST_F(ConfigTest, DiscoveryTimes) {
  EXPECT_THAT(ErrorOf(WithOneUplink(R"("node_discovery": {"broadcast_interval": 0})")),
              HasSubstr("node_discovery.broadcast_interval"));
  EXPECT_THAT(
      ErrorOf(WithOneUplink(R"("node_discovery": {"broadcast_interval": 10, "node_timeout": 10})")),
      AllOf(HasSubstr("node_discovery.node_timeout"), HasSubstr("broadcast_interval")));
  // The default timeout (30) is checked against an explicit interval too.
  EXPECT_THAT(ErrorOf(WithOneUplink(R"("node_discovery": {"broadcast_interval": 60})")),
              AllOf(HasSubstr("node_discovery.node_timeout"), HasSubstr("default")));
  EXPECT_THAT(ErrorOf(WithOneUplink(R"("node_discovery": {"node_timeout": 86401})")),
              HasSubstr("node_discovery.node_timeout"));
}

TEST_F(ConfigTest, RateAndDelay) {
  EXPECT_THAT(ErrorOf(WithInterfaces(R"({"uplinks": [{"name": "eth0", "rate_mbit": 0}]})")),
              HasSubstr("interfaces.uplinks[0].rate_mbit"));
  EXPECT_THAT(ErrorOf(WithInterfaces(R"({"uplinks": [{"name": "eth0", "rate_mbit": 100001}]})")),
              HasSubstr("interfaces.uplinks[0].rate_mbit"));
  EXPECT_THAT(
      ErrorOf(WithInterfaces(R"({"uplinks": [{"name": "eth0", "rate_mbit": 1, "delay_ms": -1}]})")),
      HasSubstr("interfaces.uplinks[0].delay_ms"));
}

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
  EXPECT_EQ(Str(s.paths[0].source), "192.0.2.9");
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

// --- Link aggregation --------------------------------------------------------------

TEST_F(ConfigTest, BadBondAddress) {
  for (const char* bad : {"10.203.0.2", "10.203.0.2/33", "10.203.0.2/", "10.203.0/24",
                          "10.203.0.2/2x", "/24", "10.203.0.2/24/1", "10.203.0.2/-1", ""}) {
    EXPECT_THAT(ErrorOf(WithOneUplink(
                    absl::StrCat(R"("link_aggregation": {"bond_address": ")", bad, R"("})"))),
                HasSubstr("link_aggregation.bond_address"))
        << bad;
  }
}

TEST_F(ConfigTest, BadPeerAddress) {
  EXPECT_THAT(ErrorOf(WithOneUplink(R"("link_aggregation": {"peer_address": "198.51.100.300"})")),
              HasSubstr("link_aggregation.peer_address"));
}

TEST_F(ConfigTest, BondInterfaceName) {
  EXPECT_THAT(
      ErrorOf(WithOneUplink(R"("link_aggregation": {"bond_interface": "bond-abcdefgh"})")),
      AllOf(HasSubstr("link_aggregation.bond_interface"), HasSubstr("12"), HasSubstr("-tx")));
  for (const char* bad : {"", ".", "..", "a/b", "a b", "a:b"}) {
    EXPECT_THAT(ErrorOf(WithOneUplink(
                    absl::StrCat(R"("link_aggregation": {"bond_interface": ")", bad, R"("})"))),
                HasSubstr("link_aggregation.bond_interface"))
        << bad;
  }
}

TEST_F(ConfigTest, SegmentationOffload) {
  EXPECT_EQ(
      MustResolve(WithOneUplink(R"("link_aggregation": {"segmentation_offload": "on"})")).offload,
      OffloadSetting::kOn);
  EXPECT_THAT(
      ErrorOf(WithOneUplink(R"("link_aggregation": {"segmentation_offload": "yes"})")),
      AllOf(HasSubstr("link_aggregation.segmentation_offload"), HasSubstr("auto, on, off")));
}

// --- Discovery ---------------------------------------------------------------------

TEST_F(ConfigTest, DiscoveryNeedsKey) {
  EXPECT_THAT(ErrorOf(WithOneUplink(R"("node_discovery": {"enabled": true})")),
              AllOf(HasSubstr("node_discovery.mesh_key"), HasSubstr("16")));
  EXPECT_THAT(ErrorOf(WithOneUplink(R"("node_discovery": {"enabled": true, "mesh_key": "short"})")),
              AllOf(HasSubstr("node_discovery.mesh_key"), HasSubstr("16")));
}

TEST_F(ConfigTest, DiscoveryNeedsInterfaces) {
  constexpr char kKeyed[] = R"("enabled": true, "mesh_key": "0123456789abcdef")";
  auto discovery = [&](const std::string& fields) {
    return WithOneUplink(absl::StrCat(R"("node_discovery": {)", kKeyed, fields, "}"));
  };
  EXPECT_THAT(ErrorOf(discovery("")),
              AllOf(HasSubstr("node_discovery.interfaces"), HasSubstr("required")));
  EXPECT_THAT(ErrorOf(discovery(R"(, "interfaces": ["lan0", "a/b"])")),
              HasSubstr("node_discovery.interfaces[1]"));
  EXPECT_THAT(ErrorOf(discovery(R"(, "interfaces": ["lan0", "lan0"])")),
              AllOf(HasSubstr("node_discovery.interfaces[1]"), HasSubstr("twice")));
  // Disabled discovery keeps its defaults: no interfaces, no id chosen yet.
  const NodeSettings off = MustResolve(WithOneUplink(""));
  EXPECT_TRUE(off.discovery.interfaces.empty());
  EXPECT_EQ(off.discovery.node_id, "");
}

TEST_F(ConfigTest, DiscoveryIdentityIsChecked) {
  EXPECT_THAT(ErrorOf(WithOneUplink(R"("node_discovery": {"node_id": "a b"})")),
              AllOf(HasSubstr("node_discovery.node_id"), HasSubstr("0x20")));
  EXPECT_THAT(ErrorOf(WithOneUplink(absl::StrCat(R"("node_discovery": {"node_id": ")",
                                                 std::string(65, 'x'), R"("})"))),
              AllOf(HasSubstr("node_discovery.node_id"), HasSubstr("at most 64")));
  // Announced names have a narrower alphabet than host names.
  EXPECT_THAT(ErrorOf(WithOneUplink(R"("node_discovery": {"node_name": "edge:7"})")),
              AllOf(HasSubstr("node_discovery.node_name"), HasSubstr("0x3a")));
}

TEST_F(ConfigTest, SharedUplinksNameUplinks) {
  EXPECT_THAT(ErrorOf(WithOneUplink(R"("node_discovery": {"share_uplinks": ["eth1"]})")),
              AllOf(HasSubstr("node_discovery.share_uplinks[0]"), HasSubstr("\"eth1\""),
                    HasSubstr("not the name of an uplink")));
  EXPECT_THAT(ErrorOf(WithOneUplink(R"("node_discovery": {"share_uplinks": ["eth0", "eth0"]})")),
              AllOf(HasSubstr("node_discovery.share_uplinks[1]"), HasSubstr("twice")));
  EXPECT_THAT(MustResolve(WithOneUplink(R"("node_discovery": {"share_uplinks": ["eth0"]})"))
                  .discovery.share_uplinks,
              ::testing::ElementsAre("eth0"));
}

// --- Files -------------------------------------------------------------------------

class ConfigFileTest : public ConfigTest {
 protected:
  void TearDown() override {
    for (const std::string& path : paths_) std::remove(path.c_str());
  }
  std::string Write(const std::string& text) {
    char name[] = "/tmp/meshbpf_config_test_XXXXXX";
    const int fd = mkstemp(name);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
    close(fd);
    paths_.push_back(name);
    return name;
  }
  std::vector<std::string> paths_;
};

TEST_F(ConfigFileTest, MissingFile) {
  absl::StatusOr<NodeSettings> s = LoadConfigFile("/nonexistent/meshbpf.json", fake_);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.status().message()),
              HasSubstr(R"(config file "/nonexistent/meshbpf.json": No such file or directory)"));
}

TEST_F(ConfigFileTest, Directory) {
  absl::StatusOr<NodeSettings> s = LoadConfigFile("/tmp", fake_);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.status().message()), HasSubstr(R"(config file "/tmp": )"));
}

TEST_F(ConfigFileTest, LoadsAndResolves) {
  absl::StatusOr<NodeSettings> s = LoadConfigFile(Write(kClientConfig), fake_);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->paths.size(), 3u);
}

TEST_F(ConfigFileTest, ErrorsNameTheFile) {
  const std::string path = Write(WithOneUplink(R"("failover": {"threshold": 0})"));
  absl::StatusOr<NodeSettings> s = LoadConfigFile(path, fake_);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.status().message()),
              AllOf(HasSubstr(absl::StrCat("config file \"", path, "\": failover.threshold")),
                    Not(HasSubstr("invalid config"))));
  s = LoadConfigFile(Write("{"), fake_);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("\": invalid config: "));
}

// --- Flow mode (no peer) ------------------------------------------------------

// Two uplinks in flow mode with everything flow mode needs, plus `la_extra`
// members in link_aggregation and `uplink_extra` members in the first uplink.
std::string FlowConfig(const std::string& la_extra = "", const std::string& uplink_extra = "") {
  return absl::StrCat(R"({"link_aggregation": {"mode": "flow", "bond_address": "10.203.0.2/24")",
                      la_extra.empty() ? "" : ", ", la_extra, R"(},
    "interfaces": {"uplinks": [
      {"name": "eth0", "gateway": "192.168.1.1", "rate_mbit": 40)",
                      uplink_extra.empty() ? "" : ", ", uplink_extra, R"(},
      {"name": "wlan0", "gateway": "192.168.8.1", "rate_mbit": 20}]}})");
}

TEST_F(ConfigTest, FlowModeNeedsNoPeer) {
  const NodeSettings s = MustResolve(FlowConfig());
  EXPECT_EQ(s.mode, BondMode::kFlow);
  EXPECT_FALSE(s.peer_address.has_value());
  ASSERT_EQ(s.paths.size(), 2u);
  EXPECT_EQ(s.paths[0].remote.s_addr, 0u) << "no remote endpoint";
  EXPECT_EQ(Str(s.paths[0].source), "192.168.1.10") << "the address flows are NATed to";
  EXPECT_EQ(Str(*s.paths[1].gateway), "192.168.8.1");
}

TEST_F(ConfigTest, FlowModeRejectsPeerSettings) {
  for (const char* field : {R"("peer_address": "198.51.100.7")",
                            R"("peer_bond_address": "10.203.0.1")", R"("port": 7201)"}) {
    const std::string name = std::string(field).substr(1, std::string(field).find('"', 1) - 1);
    EXPECT_THAT(ErrorOf(FlowConfig(field)),
                AllOf(HasSubstr("link_aggregation." + name), HasSubstr("meaningless in flow mode")));
  }
  EXPECT_THAT(ErrorOf(FlowConfig("", R"("remote_address": "198.51.100.7")")),
              AllOf(HasSubstr("interfaces.uplinks[0].remote_address"),
                    HasSubstr("meaningless in flow mode")));
  EXPECT_THAT(ErrorOf(FlowConfig("", R"("remote_port": 7300)")),
              AllOf(HasSubstr("interfaces.uplinks[0].remote_port"),
                    HasSubstr("meaningless in flow mode")));
}

TEST_F(ConfigTest, FlowModeNeedsAGatewayPerUplink) {
  EXPECT_THAT(
      ErrorOf(R"({"link_aggregation": {"mode": "flow"},
                  "interfaces": {"uplinks": [{"name": "eth0", "rate_mbit": 40}]}})"),
      AllOf(HasSubstr("interfaces.uplinks[0].gateway"), HasSubstr("required in flow mode")));
}

TEST_F(ConfigTest, FlowModeNeedsAnAddressPerUplink) {
  EXPECT_THAT(ErrorOf(R"({"link_aggregation": {"mode": "flow"}, "interfaces": {"uplinks": [
                {"name": "a", "interface": "eth0", "gateway": "192.168.1.1", "rate_mbit": 40},
                {"name": "b", "interface": "eth0", "gateway": "192.168.1.1", "rate_mbit": 20}]}})"),
              AllOf(HasSubstr("interfaces.uplinks[1].source_address"),
                    HasSubstr("192.168.1.10 is also the source of interfaces.uplinks[0]")));
  // Other modes may share an address: the wire header names the path.
  MustResolve(WithInterfaces(R"({"uplinks": [
                {"name": "a", "interface": "eth0", "rate_mbit": 40},
                {"name": "b", "interface": "eth0", "rate_mbit": 20}]})"));
}

}  // namespace
}  // namespace meshbpf

namespace meshbpf {
namespace {

constexpr char kProbingUplink[] =
    R"("interfaces": {"uplinks": [{"name": "eth0", "remote_address": "203.0.113.1", "rate_mbit": 10}]})";

TEST_F(ConfigTest, ProbingSettingsResolve) {
  const NodeSettings s = MustResolve(std::string(R"({
    "link_aggregation": {"bond_address": "10.203.0.2/24", "peer_bond_address": "10.203.0.1"},
    "failover": {"probe_port": 7300},)") + kProbingUplink + "}");
  ASSERT_TRUE(s.peer_bond_address.has_value());
  EXPECT_EQ(Str(*s.peer_bond_address), "10.203.0.1");
  EXPECT_EQ(s.failover.probe_port, 7300);
  EXPECT_EQ(MustResolve(std::string("{") + kProbingUplink + "}").failover.probe_port, 7202)
      << "default probe port";
}

TEST_F(ConfigTest, PeerBondAddressNeedsABondAddress) {
  EXPECT_THAT(ErrorOf(std::string(R"({"link_aggregation": {"peer_bond_address": "10.203.0.1"},)") +
                      kProbingUplink + "}"),
              HasSubstr("link_aggregation.peer_bond_address: needs link_aggregation.bond_address"));
  EXPECT_THAT(ErrorOf(std::string(R"({"failover": {"probe_port": 0},)") + kProbingUplink + "}"),
              HasSubstr("failover.probe_port"));
}

}  // namespace
}  // namespace meshbpf

// --- monitoring and comments (meshbpf stats, config --output) ----------------

namespace meshbpf {
namespace {

TEST(StripLineComments, BlanksCommentsOutsideStringsOnly) {
  EXPECT_EQ(StripLineComments("{\"a\": 1} // note\n{}"), "{\"a\": 1}        \n{}");
  // Inside a string (also after an escaped quote), // is text.
  EXPECT_EQ(StripLineComments(R"({"u": "http://x", "q": "\"//\""})"),
            R"({"u": "http://x", "q": "\"//\""})");
  EXPECT_EQ(StripLineComments("// only\n"), "       \n");
  EXPECT_EQ(StripLineComments("1 / 2"), "1 / 2");
}

TEST_F(ConfigTest, CommentsAreAcceptedAndErrorsKeepTheirPlace) {
  const NodeSettings s = MustResolve(
      "// a node\n{\"interfaces\": {\"uplinks\": [  // the uplinks\n"
      "  {\"name\": \"eth0\", \"remote_address\": \"198.51.100.7\", \"rate_mbit\": 40}]}}\n");
  EXPECT_EQ(s.paths.size(), 1u);
  // A syntax error after a comment still points at its own line.
  EXPECT_THAT(ErrorOf("// comment\n{\"interfaces\": x}"), HasSubstr("line 2"));
}

TEST_F(ConfigTest, MonitoringDefaults) {
  const NodeSettings s = MustResolve(WithOneUplink(""));
  EXPECT_TRUE(s.monitoring.history);
  EXPECT_EQ(s.monitoring.history_file, "");
  EXPECT_EQ(DefaultHistoryFile("client"), "/var/lib/meshbpf/client.db");
  EXPECT_EQ(s.monitoring.sample_interval_s, 1);
  EXPECT_FALSE(s.monitoring.metrics_listen.has_value());
}

TEST_F(ConfigTest, MonitoringValuesResolve) {
  const NodeSettings s = MustResolve(WithOneUplink(
      R"("monitoring": {"history_file": "/tmp/h.db", "history": false, "sample_interval": 5,
                        "metrics_listen": "127.0.0.1:9464"})"));
  EXPECT_EQ(s.monitoring.history_file, "/tmp/h.db");
  EXPECT_FALSE(s.monitoring.history);
  EXPECT_EQ(s.monitoring.sample_interval_s, 5);
  ASSERT_TRUE(s.monitoring.metrics_listen.has_value());
  EXPECT_EQ(s.monitoring.metrics_listen->port, 9464);
  const NodeSettings remote = MustResolve(WithOneUplink(
      R"("monitoring": {"metrics_listen": "0.0.0.0:9464", "metrics_allow_remote": true})"));
  EXPECT_TRUE(remote.monitoring.metrics_listen.has_value());
}

TEST_F(ConfigTest, MonitoringErrorsNameTheField) {
  EXPECT_THAT(ErrorOf(WithOneUplink(R"("monitoring": {"metrics_listen": "0.0.0.0:9464"})")),
              AllOf(HasSubstr("monitoring.metrics_listen"), HasSubstr("metrics_allow_remote")));
  EXPECT_THAT(ErrorOf(WithOneUplink(R"("monitoring": {"metrics_listen": "127.0.0.1"})")),
              HasSubstr("monitoring.metrics_listen"));
  EXPECT_THAT(ErrorOf(WithOneUplink(R"("monitoring": {"sample_interval": 0.5})")),
              HasSubstr("monitoring.sample_interval"));
  EXPECT_THAT(ErrorOf(WithOneUplink(R"("monitoring": {"history_file": "rel.db"})")),
              HasSubstr("monitoring.history_file"));
}

}  // namespace
}  // namespace meshbpf

// --- interfaces.uplinks[].data_cap -------------------------------------------

namespace meshbpf {
namespace {

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

}  // namespace
}  // namespace meshbpf

// --- Relaying: uplinks[].relay, uplinks[].learn_remote, node_discovery.relay_port/share_* ---

namespace meshbpf {
namespace {

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
  EXPECT_EQ(Str(p.source), "10.210.0.1");
  EXPECT_EQ(p.remote.s_addr, 0u) << "filled in at run time, not peer_address";
  EXPECT_EQ(p.remote_port, 0);
  EXPECT_FALSE(p.gateway.has_value());
  EXPECT_EQ(p.rate_bps, 30e6);
  EXPECT_EQ(p.relay.node, "");
  EXPECT_EQ(p.relay.uplink, "");
  // Without a name it is named after its interface, like any uplink.
  EXPECT_EQ(MustResolve(RelayClient(R"({"relay": {}, "rate_mbit": 30})")).paths[1].name, "lan0");
}

TEST_F(ConfigTest, RelayedPathFiltersAndInterfaceAreKept) {
  const NodeSettings s = MustResolve(RelayClient(
      R"({"name": "mesh1", "interface": "lan1", "relay": {"node": "node2", "uplink": "wan0"},
          "rate_mbit": 30, "data_cap": {"limit_bytes": 1000000}})"));
  const PathSettings& p = s.paths[1];
  EXPECT_EQ(p.interface, "lan1");
  EXPECT_EQ(p.ifindex, 7);
  EXPECT_EQ(Str(p.source), "10.220.0.1");
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
  EXPECT_EQ(Str(p.source), "192.168.8.20");
  EXPECT_EQ(Str(*p.gateway), "192.168.8.1");
  EXPECT_EQ(p.remote.s_addr, 0u);
  EXPECT_EQ(p.remote_port, 0);
  // learn_remote: false is an ordinary uplink, which needs a far end.
  EXPECT_THAT(ErrorOf(LearningPeer(
                  R"({"name": "mesh1", "interface": "wlan0", "learn_remote": false, "rate_mbit": 30})")),
              HasSubstr("interfaces.uplinks[1].remote_address: not set"));
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
