// Config resolving (agent/core/config.h): valid configs and their defaults,
// bond modes, ranges, link aggregation, discovery, flow mode, probing and
// monitoring. JSON, uplinks and files have test files of their own.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/core/config.h"
#include "agent/core/policy.h"
#include "agent/core/net_format.h"
#include "tests/config_test_util.h"

namespace meshbpf {
namespace {

using namespace testing_config;
using ::testing::AllOf;
using ::testing::HasSubstr;

// --- Valid configs ----------------------------------------------------------

TEST_F(ConfigTest, CompleteClientConfigResolves) {
  const NodeSettings s = MustResolve(kClientConfig);
  EXPECT_EQ(s.mode, BondMode::kLoadBalance);
  EXPECT_EQ(s.bond_interface, "mb0");
  ASSERT_TRUE(s.bond_address.has_value());
  EXPECT_EQ(IpText(s.bond_address->address), "10.203.0.2");
  EXPECT_EQ(s.bond_address->prefix_len, 24);
  ASSERT_TRUE(s.peer_address.has_value());
  EXPECT_EQ(IpText(*s.peer_address), "198.51.100.7");
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
  EXPECT_EQ(IpText(eth0.source), "192.168.1.10");  // from the interface
  EXPECT_EQ(IpText(eth0.remote), "198.51.100.7");  // from peer_address
  ASSERT_TRUE(eth0.gateway.has_value());
  EXPECT_EQ(IpText(*eth0.gateway), "192.168.1.1");
  EXPECT_EQ(eth0.remote_port, 7201);
  EXPECT_EQ(eth0.rate_bps, 40e6);
  EXPECT_EQ(eth0.delay_ms, 0);
  EXPECT_EQ(eth0.role, PathRole::kBonded);
  EXPECT_EQ(eth0.backup_order, -1);

  EXPECT_EQ(s.paths[1].ifindex, 3);
  EXPECT_EQ(IpText(*s.paths[1].gateway), "192.168.8.1");
  EXPECT_EQ(s.paths[1].role, PathRole::kBonded);

  const PathSettings& wwan0 = s.paths[2];
  EXPECT_EQ(wwan0.mtu, 1400u);
  EXPECT_EQ(IpText(wwan0.source), "10.64.0.5");
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
  EXPECT_EQ(s.discovery.node_name, kHostName);
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
  EXPECT_EQ(IpText(s.paths[0].source), "192.168.1.10");
  EXPECT_EQ(IpText(s.paths[0].remote), "203.0.113.1");
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
  EXPECT_EQ(IpText(s.paths[0].source), "192.0.2.1");  // not the interface's address
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

TEST_F(ConfigTest, ReorderDeadline) {
  EXPECT_EQ(MustResolve(WithOneUplink("")).reorder_deadline_ms, 100) << "resequencing on by default";
  EXPECT_EQ(MustResolve(WithOneUplink(R"("link_aggregation": {"reorder_deadline_ms": 0})"))
                .reorder_deadline_ms,
            0)
      << "0 turns it off";
  EXPECT_DOUBLE_EQ(MustResolve(WithOneUplink(R"("link_aggregation": {"reorder_deadline_ms": 40})"))
                       .reorder_deadline_ms,
                   40);
  EXPECT_THAT(ErrorOf(WithOneUplink(R"("link_aggregation": {"reorder_deadline_ms": 1001})")),
              HasSubstr("link_aggregation.reorder_deadline_ms"));
  EXPECT_THAT(ErrorOf(WithOneUplink(R"("link_aggregation": {"reorder_deadline_ms": -1})")),
              HasSubstr("link_aggregation.reorder_deadline_ms"));
}

TEST_F(ConfigTest, FloorGuard) {
  EXPECT_FALSE(MustResolve(WithOneUplink("")).floor_guard) << "opt-in";
  EXPECT_TRUE(MustResolve(WithOneUplink(R"("link_aggregation": {"floor_guard": true})"))
                  .floor_guard);
  EXPECT_TRUE(MustResolve(WithOneUplink(
                              R"("link_aggregation": {"mode": "latency", "floor_guard": true})"))
                  .floor_guard);
  EXPECT_THAT(
      ErrorOf(WithOneUplink(R"("link_aggregation": {"mode": "redundant", "floor_guard": true})")),
      AllOf(HasSubstr("link_aggregation.floor_guard"), HasSubstr("redundant mode")));
  EXPECT_FALSE(MustResolve(WithOneUplink(
                               R"("link_aggregation": {"mode": "redundant", "floor_guard": false})"))
                   .floor_guard);
  EXPECT_THAT(ErrorOf(WithOneUplink(R"("link_aggregation": {"floor_guard": "yes"})")),
              HasSubstr("floor_guard"));
}

TEST_F(ConfigTest, LossRepair) {
  // Requests go to the peer's agent as probes do: at its bond address.
  const std::string probed =
      R"("link_aggregation": {"bond_address": "10.203.0.2/24", "peer_bond_address": "10.203.0.1")";
  auto with = [&](const std::string& more) {
    return WithOneUplink(absl::StrCat(probed, more.empty() ? "" : ", ", more, "}"));
  };
  EXPECT_TRUE(MustResolve(with("")).loss_repair) << "on where it applies";
  EXPECT_TRUE(MustResolve(with(R"("mode": "latency")")).loss_repair);
  EXPECT_FALSE(MustResolve(with(R"("loss_repair": false)")).loss_repair);
  EXPECT_FALSE(MustResolve(WithOneUplink("")).loss_repair) << "no peer bond address: no probes";
  for (const char* mode : {"redundant", "active_backup"}) {
    EXPECT_TRUE(MustResolve(with(absl::StrCat(R"("mode": ")", mode, R"(")"))).loss_repair)
        << "unset: on, resting in " << mode << " mode, so that a reload may switch modes";
    EXPECT_THAT(ErrorOf(with(absl::StrCat(R"("mode": ")", mode, R"(", "loss_repair": true)"))),
                AllOf(HasSubstr("link_aggregation.loss_repair"),
                      HasSubstr(absl::StrCat(mode, " mode"))));
  }
  EXPECT_THAT(ErrorOf(WithOneUplink(
                  R"("link_aggregation": {"mode": "flow", "loss_repair": true})")),
              AllOf(HasSubstr("link_aggregation.loss_repair"), HasSubstr("no bonding peer")));
  EXPECT_FALSE(MustResolve(with(R"("reorder_deadline_ms": 0)")).loss_repair);
  EXPECT_THAT(ErrorOf(with(R"("reorder_deadline_ms": 0, "loss_repair": true)")),
              AllOf(HasSubstr("link_aggregation.loss_repair"), HasSubstr("reorder_deadline_ms")));
  EXPECT_THAT(ErrorOf(WithOneUplink(R"("link_aggregation": {"loss_repair": true})")),
              AllOf(HasSubstr("link_aggregation.loss_repair"), HasSubstr("peer_bond_address")));
  EXPECT_FALSE(MustResolve(with(R"("mode": "redundant", "loss_repair": false)")).loss_repair)
      << "off is fine anywhere";
}

TEST_F(ConfigTest, AuthenticationNeedsBothKeysAndShapesTheBond) {
  const std::string peer_key = "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=";  // RFC 7748's Alice
  const NodeSettings off = MustResolve(WithOneUplink(R"("link_aggregation": {"authentication": false})"));
  EXPECT_FALSE(off.authentication);
  EXPECT_EQ(BondOverhead(off), 40u);
  const NodeSettings on = MustResolve(WithOneUplink(absl::StrCat(
      R"("link_aggregation": {"authentication": true, "private_key_file": "/etc/meshbpf/key", )",
      R"("peer_public_key": ")", peer_key, R"("})")));
  ASSERT_TRUE(on.authentication);
  EXPECT_EQ(on.authentication->private_key_file, "/etc/meshbpf/key");
  EXPECT_EQ(KeyToBase64(on.authentication->peer_public_key), peer_key);
  EXPECT_EQ(BondOverhead(on), 60u) << "the bond MTU leaves room for the authentication header";
  EXPECT_TRUE(ShouldDisableOffloads(on)) << "each packet needs its own tag";

  EXPECT_THAT(ErrorOf(WithOneUplink(R"("link_aggregation": {"authentication": true})")),
              AllOf(HasSubstr("link_aggregation.private_key_file"), HasSubstr("meshbpf genkey")));
  EXPECT_THAT(ErrorOf(WithOneUplink(
                  R"("link_aggregation": {"authentication": true, "private_key_file": "/k"})")),
              AllOf(HasSubstr("link_aggregation.peer_public_key"), HasSubstr("meshbpf pubkey")));
  EXPECT_THAT(ErrorOf(WithOneUplink(R"("link_aggregation": {"authentication": true, )"
                                    R"("private_key_file": "/k", "peer_public_key": "abc"})")),
              AllOf(HasSubstr("link_aggregation.peer_public_key"), HasSubstr("44 characters")));
  EXPECT_THAT(ErrorOf(WithOneUplink(absl::StrCat(R"("link_aggregation": {"authentication": true, )",
                                                 R"("private_key_file": "/k", "peer_public_key": ")",
                                                 peer_key, R"(", "segmentation_offload": "on"})"))),
              HasSubstr("link_aggregation.segmentation_offload"));
  EXPECT_THAT(ErrorOf(WithOneUplink(R"("link_aggregation": {"peer_public_key": "x"})")),
              AllOf(HasSubstr("link_aggregation.peer_public_key"), HasSubstr("without")));
}

TEST_F(ConfigTest, EncryptionGoesWithAuthenticationOnly) {
  const std::string peer_key = "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=";
  const std::string keys =
      absl::StrCat(R"("private_key_file": "/k", "peer_public_key": ")", peer_key, R"(")");
  const NodeSettings on = MustResolve(WithOneUplink(absl::StrCat(
      R"("link_aggregation": {"authentication": true, "encryption": true, )", keys, "}")));
  ASSERT_TRUE(on.authentication);
  EXPECT_TRUE(on.authentication->encryption);
  EXPECT_EQ(BondOverhead(on), 60u) << "encryption adds no bytes";
  const NodeSettings off = MustResolve(
      WithOneUplink(absl::StrCat(R"("link_aggregation": {"authentication": true, )", keys, "}")));
  EXPECT_FALSE(off.authentication->encryption) << "off by default";
  EXPECT_THAT(ErrorOf(WithOneUplink(R"("link_aggregation": {"encryption": true})")),
              AllOf(HasSubstr("link_aggregation.encryption"), HasSubstr("authentication: true")));
}

TEST_F(ConfigTest, PeerAllowedSourcesTakeIpv4AndIpv6PrefixesOnly) {
  EXPECT_TRUE(MustResolve(WithOneUplink("")).peer_allowed_sources.empty());
  const NodeSettings s = MustResolve(WithOneUplink(
      R"("link_aggregation": {"peer_allowed_sources": ["192.168.50.0/24", "fd00:50::/64", "0.0.0.0/0"]})"));
  ASSERT_EQ(s.peer_allowed_sources.size(), 3u);
  EXPECT_EQ(s.peer_allowed_sources[0].family, AF_INET);
  EXPECT_EQ(s.peer_allowed_sources[0].prefix_len, 24);
  EXPECT_EQ(s.peer_allowed_sources[0].address[2], 50);
  EXPECT_EQ(s.peer_allowed_sources[1].family, AF_INET6);
  EXPECT_EQ(s.peer_allowed_sources[1].address[3], 0x50);
  for (const char* bad : {"192.168.50.1/24", "192.168.50.0", "fd00::/129", "fd00::1/64", "x/8", "10.0.0.0/-1"}) {
    EXPECT_THAT(ErrorOf(WithOneUplink(absl::StrCat(R"("link_aggregation": {"peer_allowed_sources": [")",
                                                   bad, R"("]})"))),
                HasSubstr("link_aggregation.peer_allowed_sources[0]"))
        << bad;
  }
  EXPECT_THAT(ErrorOf(WithOneUplink(R"("link_aggregation": {"peer_allowed_sources": ["fd00:50::1/64"]})")),
              HasSubstr("a prefix is e.g. fd00:50::/64"));
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
    absl::StatusOr<NodeSettings> s = ResolveConfig(c, fake_, kHostName);
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_THAT(std::string(s.status().message()), HasSubstr("failover.monitoring_interval"));

    c = *config;
    c.mutable_failover()->set_degrade_loss_percent(bad);
    s = ResolveConfig(c, fake_, kHostName);
    ASSERT_FALSE(s.ok()) << bad;
    EXPECT_THAT(std::string(s.status().message()), HasSubstr("failover.degrade_loss_percent"));

    c = *config;
    c.mutable_interfaces()->mutable_uplinks(0)->set_rate_mbit(bad);
    s = ResolveConfig(c, fake_, kHostName);
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

TEST_F(ConfigTest, BondIpv6Addresses) {
  const NodeSettings s = MustResolve(WithOneUplink(
      R"("link_aggregation": {"bond_address_ipv6": "fd00:203::2/64", "peer_bond_address_ipv6": "fd00:203::1"})"));
  ASSERT_TRUE(s.bond_address_ipv6.has_value());
  EXPECT_EQ(IpText(s.bond_address_ipv6->address), "fd00:203::2");
  EXPECT_EQ(s.bond_address_ipv6->prefix_len, 64);
  ASSERT_TRUE(s.peer_bond_address_ipv6.has_value());
  EXPECT_EQ(IpText(*s.peer_bond_address_ipv6), "fd00:203::1");
  EXPECT_FALSE(s.bond_address.has_value()) << "the IPv4 one stays separate";
  const NodeSettings none = MustResolve(WithOneUplink(""));
  EXPECT_FALSE(none.bond_address_ipv6 || none.peer_bond_address_ipv6);
  // A peer's IPv6 bond address alone is fine: it only widens the allowed sources.
  EXPECT_TRUE(MustResolve(WithOneUplink(R"("link_aggregation": {"peer_bond_address_ipv6": "fd00::1"})"))
                  .peer_bond_address_ipv6.has_value());
}

TEST_F(ConfigTest, BadBondIpv6AddressesNameTheField) {
  auto bond = [&](const std::string& value) {
    return ErrorOf(WithOneUplink(absl::StrCat(R"("link_aggregation": {"bond_address_ipv6": ")", value, R"("})")));
  };
  auto peer = [&](const std::string& value) {
    return ErrorOf(
        WithOneUplink(absl::StrCat(R"("link_aggregation": {"peer_bond_address_ipv6": ")", value, R"("})")));
  };
  constexpr const char* kBond = "link_aggregation.bond_address_ipv6";
  EXPECT_THAT(bond("10.203.0.2/24"), AllOf(HasSubstr(kBond), HasSubstr("is IPv4"), HasSubstr("bond_address")));
  EXPECT_THAT(bond("::ffff:10.203.0.2/120"), AllOf(HasSubstr(kBond), HasSubstr("IPv4-mapped")));
  EXPECT_THAT(bond("fd00:203::2/129"), AllOf(HasSubstr(kBond), HasSubstr("prefix length 129")));
  EXPECT_THAT(bond("fd00:203::2/0"), AllOf(HasSubstr(kBond), HasSubstr("out of range (1..128)")));
  EXPECT_THAT(bond("ff02::1/64"), AllOf(HasSubstr(kBond), HasSubstr("not a unicast address")));
  EXPECT_THAT(bond("::/64"), AllOf(HasSubstr(kBond), HasSubstr("not a unicast address")));
  for (const char* bad : {"fd00:203::2", "fd00:203::2/", "fd00:203::2/6x", "fd00:203::zz/64",
                          "/64", "fd00:203::2/64/1", "fd00:203::2/-1", ""}) {
    EXPECT_THAT(bond(bad), HasSubstr(kBond)) << bad;
  }
  constexpr const char* kPeer = "link_aggregation.peer_bond_address_ipv6";
  EXPECT_THAT(peer("10.203.0.1"), AllOf(HasSubstr(kPeer), HasSubstr("is IPv4"), HasSubstr("peer_bond_address")));
  EXPECT_THAT(peer("::ffff:10.203.0.1"), AllOf(HasSubstr(kPeer), HasSubstr("IPv4-mapped")));
  EXPECT_THAT(peer("fd00:203::1/64"), HasSubstr(kPeer));
  EXPECT_THAT(ErrorOf(WithOneUplink(R"("link_aggregation": {"bond_address_ipv6": "fd00:203::2/64",
                                                            "peer_bond_address_ipv6": "fd00:203::2"})")),
              AllOf(HasSubstr(kPeer), HasSubstr("own bond_address_ipv6")));
  EXPECT_THAT(ErrorOf(WithOneUplink(R"("link_aggregation": {"mode": "flow",
                                                            "peer_bond_address_ipv6": "fd00:203::1"})")),
              AllOf(HasSubstr(kPeer), HasSubstr("flow mode")));
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

// With discovery on, the host name stands in for node_name, so it must be
// known and fit the announced alphabet.
TEST_F(ConfigTest, HostNameAsNodeNameIsChecked) {
  absl::StatusOr<config::Config> config = ParseConfigJson(WithOneUplink(
      R"("node_discovery": {"enabled": true, "mesh_key": "0123456789abcdef",
                            "interfaces": ["lan0"]})"));
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_THAT(std::string(ResolveConfig(*config, fake_, "").status().message()),
              AllOf(HasSubstr("node_discovery.node_name"), HasSubstr("host name is unknown")));
  EXPECT_THAT(std::string(ResolveConfig(*config, fake_, "edge:7").status().message()),
              AllOf(HasSubstr("node_discovery.node_name"), HasSubstr("(the host name)")));
  absl::StatusOr<NodeSettings> s = ResolveConfig(*config, fake_, kHostName);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->discovery.node_name, kHostName);
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

// --- Flow mode (no peer) ------------------------------------------------------

TEST_F(ConfigTest, FlowModeNeedsNoPeer) {
  const NodeSettings s = MustResolve(FlowConfig());
  EXPECT_EQ(s.mode, BondMode::kFlow);
  EXPECT_FALSE(s.peer_address.has_value());
  ASSERT_EQ(s.paths.size(), 2u);
  EXPECT_EQ(s.paths[0].remote, IpAddress{}) << "no remote endpoint";
  EXPECT_EQ(IpText(s.paths[0].source), "192.168.1.10") << "the address flows are NATed to";
  EXPECT_EQ(IpText(*s.paths[1].gateway), "192.168.8.1");
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

constexpr char kProbingUplink[] =
    R"("interfaces": {"uplinks": [{"name": "eth0", "remote_address": "203.0.113.1", "rate_mbit": 10}]})";

TEST_F(ConfigTest, ProbingSettingsResolve) {
  const NodeSettings s = MustResolve(std::string(R"({
    "link_aggregation": {"bond_address": "10.203.0.2/24", "peer_bond_address": "10.203.0.1"},
    "failover": {"probe_port": 7300},)") + kProbingUplink + "}");
  ASSERT_TRUE(s.peer_bond_address.has_value());
  EXPECT_EQ(Ipv4Text(*s.peer_bond_address), "10.203.0.1");
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

TEST_F(ConfigTest, MonitoringDefaults) {
  const NodeSettings s = MustResolve(WithOneUplink(""));
  EXPECT_TRUE(s.monitoring.history);
  EXPECT_EQ(s.monitoring.history_file, "");
  EXPECT_EQ(DefaultHistoryFile("client"), "/var/lib/meshbpf/client.db");
  EXPECT_EQ(s.monitoring.sample_interval_s, 1);
  EXPECT_FALSE(s.monitoring.metrics_listen.has_value());
  EXPECT_FALSE(s.monitoring.status_page);
}

TEST_F(ConfigTest, MonitoringValuesResolve) {
  const NodeSettings s = MustResolve(WithOneUplink(
      R"("monitoring": {"history_file": "/tmp/h.db", "history": false, "sample_interval": 5,
                        "metrics_listen": "127.0.0.1:9464", "status_page": true})"));
  EXPECT_EQ(s.monitoring.history_file, "/tmp/h.db");
  EXPECT_TRUE(s.monitoring.status_page);
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
  EXPECT_THAT(ErrorOf(WithOneUplink(R"("monitoring": {"status_page": true})")),
              AllOf(HasSubstr("monitoring.status_page"), HasSubstr("needs monitoring.metrics_listen")));
  EXPECT_THAT(ErrorOf(WithOneUplink(R"("monitoring": {"sample_interval": 0.5})")),
              HasSubstr("monitoring.sample_interval"));
  EXPECT_THAT(ErrorOf(WithOneUplink(R"("monitoring": {"history_file": "rel.db"})")),
              HasSubstr("monitoring.history_file"));
}

TEST_F(ConfigTest, ControlGroupIsAGroupName) {
  EXPECT_EQ(MustResolve(WithOneUplink("")).monitoring.control_group, "");
  EXPECT_EQ(MustResolve(WithOneUplink(R"("monitoring": {"control_group": "net-ops_1"})"))
                .monitoring.control_group,
            "net-ops_1");
  for (const char* bad : {R"("")", R"("a b")", R"("-x")", R"("root;rm")",
                          R"("abcdefghijklmnopqrstuvwxyz0123456")"}) {
    EXPECT_THAT(ErrorOf(WithOneUplink(absl::StrCat(R"("monitoring": {"control_group": )", bad, "}"))),
                AllOf(HasSubstr("monitoring.control_group"), HasSubstr("group name")))
        << bad;
  }
  EXPECT_THAT(ErrorOf(WithOneUplink(R"("monitoring": {"control_group": 7})")),
              HasSubstr("control_group"));
}

}  // namespace
}  // namespace meshbpf
