// What a reloaded config changes (agent/core/config_reload.h).
#include "agent/core/config_reload.h"

#include <gtest/gtest.h>

#include "tests/config_test_util.h"

namespace meshbpf {
namespace {

PathSettings Path(const std::string& name, int ifindex, double mbit) {
  PathSettings p;
  p.name = p.interface = name;
  p.ifindex = ifindex;
  p.mtu = 1500;
  p.source = IpOf("192.0.2.1");
  p.remote = IpOf("198.51.100.7");
  p.remote_port = 7201;
  p.rate_bps = mbit * 1e6;
  return p;
}

NodeSettings TwoPaths() {
  NodeSettings s;
  s.primary = "wan1";
  s.paths = {Path("wan1", 2, 40), Path("wan2", 3, 20)};
  return s;
}

std::vector<PathChangeKind> Kinds(const ConfigReload& r) {
  std::vector<PathChangeKind> kinds;
  for (const PathChange& c : r.paths) kinds.push_back(c.kind);
  return kinds;
}

TEST(ConfigReloadTest, TheSameConfigChangesNothing) {
  const ConfigReload r = DiffConfig(TwoPaths(), TwoPaths());
  EXPECT_FALSE(r.changes_anything());
  EXPECT_TRUE(r.needs_restart.empty());
  EXPECT_EQ(Kinds(r), (std::vector{PathChangeKind::kUnchanged, PathChangeKind::kUnchanged}));
  EXPECT_TRUE(r.Describe().empty());
}

// The handshake, the keys and the bond's MTU are set up at start.
TEST(ConfigReloadTest, AuthenticationOrItsKeysNeedARestart) {
  NodeSettings on = TwoPaths();
  on.authentication = TunnelAuthSettings{"/etc/meshbpf/key", X25519Key{}};
  const std::vector<std::string> restart{"link_aggregation.authentication, its keys and encryption"};
  EXPECT_EQ(DiffConfig(TwoPaths(), on).needs_restart, restart);
  NodeSettings other_peer = on;
  other_peer.authentication->peer_public_key[0] = 1;
  EXPECT_EQ(DiffConfig(on, other_peer).needs_restart, restart);
  NodeSettings encrypted = on;
  encrypted.authentication->encryption = true;
  EXPECT_EQ(DiffConfig(on, encrypted).needs_restart, restart);
  EXPECT_TRUE(DiffConfig(on, on).needs_restart.empty());
}

TEST(ConfigReloadTest, LossRepairNeedsARestart) {
  NodeSettings on = TwoPaths();
  on.loss_repair = true;
  EXPECT_EQ(DiffConfig(TwoPaths(), on).needs_restart,
            std::vector<std::string>{"link_aggregation.loss_repair"});
  EXPECT_EQ(DiffConfig(on, TwoPaths()).needs_restart,
            std::vector<std::string>{"link_aggregation.loss_repair"});
  EXPECT_TRUE(DiffConfig(on, on).needs_restart.empty());
}

TEST(ConfigReloadTest, APathAppendedIsAddedAndTheOthersUnchanged) {
  NodeSettings next = TwoPaths();
  next.paths.push_back(Path("wan3", 4, 10));
  const ConfigReload r = DiffConfig(TwoPaths(), next);
  EXPECT_EQ(Kinds(r), (std::vector{PathChangeKind::kUnchanged, PathChangeKind::kUnchanged,
                                   PathChangeKind::kAdded}));
  EXPECT_EQ(r.Describe(), std::vector<std::string>{"path wan3 (id 2) added"});
  EXPECT_TRUE(r.needs_restart.empty());
}

TEST(ConfigReloadTest, TheLastPathDroppedIsRemoved) {
  NodeSettings next = TwoPaths();
  next.paths.pop_back();
  const ConfigReload r = DiffConfig(TwoPaths(), next);
  EXPECT_EQ(Kinds(r), (std::vector{PathChangeKind::kUnchanged, PathChangeKind::kRemoved}));
  EXPECT_EQ(r.Describe(), std::vector<std::string>{"path wan2 (id 1) removed"});
}

TEST(ConfigReloadTest, AnotherNameAtAnIdReplacesThePath) {
  NodeSettings next = TwoPaths();
  next.paths[1] = Path("wan3", 4, 20);
  const ConfigReload r = DiffConfig(TwoPaths(), next);
  EXPECT_EQ(Kinds(r), (std::vector{PathChangeKind::kUnchanged, PathChangeKind::kRemoved,
                                   PathChangeKind::kAdded}));
  EXPECT_EQ(r.Describe(), (std::vector<std::string>{"path wan2 (id 1) removed",
                                                    "path wan3 (id 1) added"}));
}

TEST(ConfigReloadTest, RemovingAPathInTheMiddleShiftsTheOnesAfterIt) {
  // Ids are positions, shared with the peer: wan3 moves to id 1.
  NodeSettings running = TwoPaths();
  running.paths.push_back(Path("wan3", 4, 10));
  NodeSettings next = running;
  next.paths.erase(next.paths.begin() + 1);
  const ConfigReload r = DiffConfig(running, next);
  EXPECT_EQ(r.Describe(), (std::vector<std::string>{"path wan2 (id 1) removed",
                                                    "path wan3 (id 1) added",
                                                    "path wan3 (id 2) removed"}));
}

TEST(ConfigReloadTest, ChangedFieldsAreNamed) {
  NodeSettings next = TwoPaths();
  next.paths[0].rate_bps = 50e6;
  next.paths[0].gateway = IpOf("192.0.2.254");
  const ConfigReload r = DiffConfig(TwoPaths(), next);
  ASSERT_EQ(r.paths[0].kind, PathChangeKind::kChanged);
  EXPECT_EQ(r.paths[0].fields, (std::vector<std::string>{"gateway", "rate_mbit"}));
  EXPECT_EQ(r.Describe(), std::vector<std::string>{"path wan1 (id 0) changed: gateway, rate_mbit"});
  EXPECT_EQ(r.paths[1].kind, PathChangeKind::kUnchanged);
}

TEST(ConfigReloadTest, ModeAndPrimaryAreApplied) {
  NodeSettings next = TwoPaths();
  next.mode = BondMode::kActiveBackup;
  next.primary = "wan2";
  const ConfigReload r = DiffConfig(TwoPaths(), next);
  EXPECT_TRUE(r.needs_restart.empty());
  EXPECT_TRUE(r.changes_anything());
  EXPECT_FALSE(r.paths_changed());
  EXPECT_EQ(r.Describe(), (std::vector<std::string>{
                              "link_aggregation.mode: load_balance -> active_backup",
                              "interfaces.primary: wan1 -> wan2"}));
}

TEST(ConfigReloadTest, FieldsOnlyARestartAppliesAreNamed) {
  NodeSettings next = TwoPaths();
  next.bond_interface = "mb1";
  next.failover.threshold = 7;
  next.mode = BondMode::kFlow;
  next.monitoring.control_group = "netadmin";
  const ConfigReload r = DiffConfig(TwoPaths(), next);
  EXPECT_EQ(r.needs_restart,
            (std::vector<std::string>{"link_aggregation.bond_interface",
                                      "link_aggregation.mode (to or from flow)", "failover",
                                      "monitoring"}));
}

TEST(ConfigReloadTest, BondIpv6AddressesNeedARestart) {
  const NodeSettings running = TwoPaths();
  NodeSettings addressed = running;
  addressed.bond_address_ipv6 = BondAddress{
      .address = IpAddress::V6(in6_addr{{{0xfd, 0, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2}}}), .prefix_len = 64};
  NodeSettings other_length = addressed;
  other_length.bond_address_ipv6->prefix_len = 48;
  EXPECT_EQ(DiffConfig(running, addressed).needs_restart,
            std::vector<std::string>{"link_aggregation.bond_address_ipv6"});
  EXPECT_EQ(DiffConfig(addressed, other_length).needs_restart,
            std::vector<std::string>{"link_aggregation.bond_address_ipv6"});
  NodeSettings peer = running;
  peer.peer_bond_address_ipv6 = IpAddress::V6(in6_addr{{{0xfd, 0, 2, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}}});
  EXPECT_EQ(DiffConfig(running, peer).needs_restart,
            std::vector<std::string>{"link_aggregation.peer_bond_address_ipv6"});
  EXPECT_TRUE(DiffConfig(peer, peer).needs_restart.empty());
}

TEST(ConfigReloadTest, RoutingChangesNeedARestart) {
  NodeSettings running = TwoPaths();
  running.routing = RoutingSettings{};
  running.routing->sources.push_back(InnerPrefix{.family = AF_INET, .address = {10, 204}, .prefix_len = 24});
  EXPECT_TRUE(DiffConfig(running, running).needs_restart.empty());
  NodeSettings other_source = running;
  other_source.routing->sources[0].prefix_len = 16;
  NodeSettings marked = running;
  marked.routing->fwmarks.push_back(FwMark{0x10, 0xff});
  NodeSettings ipv6 = running;
  ipv6.routing->destinations.push_back(InnerPrefix{.family = AF_INET6, .address = {0xfd}, .prefix_len = 8});
  for (const NodeSettings& next : {other_source, marked, ipv6, TwoPaths()}) {
    EXPECT_EQ(DiffConfig(running, next).needs_restart,
              std::vector<std::string>{"link_aggregation.routing"});
  }
}

TEST(ConfigReloadTest, ACappedOrRelayedPathReloadsOnlyUnchanged) {
  NodeSettings running = TwoPaths();
  running.paths[1].data_cap = CapPlan{};
  running.paths[1].data_cap->limit_bytes = 1'000'000;
  EXPECT_TRUE(DiffConfig(running, running).needs_restart.empty()) << "unchanged: fine";
  NodeSettings next = running;
  next.paths[1].rate_bps = 10e6;
  EXPECT_EQ(DiffConfig(running, next).needs_restart,
            std::vector<std::string>{"interfaces.uplinks[1] (wan2): a path with a data_cap"});
  NodeSettings relayed = TwoPaths();
  relayed.paths.push_back(Path("mesh1", 5, 20));
  relayed.paths.back().endpoint = PathEndpoint::kRelay;
  EXPECT_EQ(DiffConfig(TwoPaths(), relayed).needs_restart,
            std::vector<std::string>{"interfaces.uplinks[2] (mesh1): relay or learn_remote"});
}

}  // namespace
}  // namespace meshbpf
