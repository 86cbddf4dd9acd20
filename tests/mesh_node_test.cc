#include "agent/daemon/mesh_node.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

#include "agent/core/net_format.h"
#include "tests/scratch_dir.h"
#include "tests/test_common.h"

namespace meshbpf {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

PathSettings Path(const std::string& name, const std::string& interface) {
  PathSettings p;
  p.name = name;
  p.interface = interface;
  return p;
}

NodeSettings TwoInterfacesThreePaths() {
  NodeSettings s;
  s.paths = {Path("fiber-a", "eth0"), Path("lte", "wwan0"), Path("fiber-b", "eth0")};
  s.discovery.share_uplinks = {"fiber-b"};
  return s;
}

UplinkType TypeByName(const std::string& interface) {
  return interface == "wwan0" ? UplinkType::kCellular : UplinkType::kEthernet;
}

MeshHooks SilentHooks() {
  MeshHooks hooks;
  hooks.report = [](size_t) { return PathReport{}; };
  return hooks;
}

TEST(LocalUplinksTest, OneUplinkPerInterfaceMeasuredByItsFirstPath) {
  const NodeSettings s = TwoInterfacesThreePaths();
  const std::vector<AnnouncedUplink> uplinks = LocalUplinks(
      s,
      [](size_t path) {
        PathReport r;
        r.capacity_bps = 40e6 * static_cast<double>(path + 1);
        r.srtt_ns = 12.5e6;
        r.loss = 0.02;
        if (path == 1) r.cap_remaining_bytes = 5'000'000;
        return r;
      },
      TypeByName);
  ASSERT_EQ(uplinks.size(), 2u);
  EXPECT_EQ(uplinks[0].name, "eth0");
  EXPECT_EQ(uplinks[0].type, UplinkType::kEthernet);
  EXPECT_EQ(uplinks[0].capacity_kbps, 40'000u);  // path 0's, not path 2's 120 Mbit/s
  EXPECT_EQ(uplinks[0].rtt_us, 12'500u);
  EXPECT_EQ(uplinks[0].loss_ppm, 20'000u);
  EXPECT_FALSE(uplinks[0].cap_remaining_bytes.has_value());
  EXPECT_TRUE(uplinks[0].shared);  // fiber-b, the second path on eth0, is shared
  EXPECT_EQ(uplinks[1].name, "wwan0");
  EXPECT_EQ(uplinks[1].type, UplinkType::kCellular);
  EXPECT_EQ(uplinks[1].cap_remaining_bytes, 5'000'000u);
  EXPECT_FALSE(uplinks[1].shared);
  EXPECT_EQ(uplinks[0].relay_port, 7211u);  // node_discovery.relay_port + 0
  EXPECT_EQ(uplinks[1].relay_port, 0u);
}

TEST(LocalUplinksTest, SharedUplinksGetRelayPortsInShareOrderAndRelayedPathsAreLeftOut) {
  NodeSettings s = TwoInterfacesThreePaths();
  PathSettings relayed = Path("mesh1", "lan0");
  relayed.endpoint = PathEndpoint::kRelay;
  s.paths.insert(s.paths.begin() + 1, relayed);
  s.discovery.relay_port = 7300;
  s.discovery.share_uplinks = {"lte", "fiber-b", "fiber-a"};
  const std::vector<AnnouncedUplink> uplinks = LocalUplinks(
      s, [](size_t) { return PathReport{}; }, TypeByName);
  ASSERT_EQ(uplinks.size(), 2u);  // no lan0: the relayed path is a neighbour's uplink
  EXPECT_EQ(uplinks[0].name, "eth0");
  EXPECT_EQ(uplinks[0].relay_port, 7301u);  // second shared interface
  EXPECT_EQ(uplinks[1].name, "wwan0");
  EXPECT_EQ(uplinks[1].relay_port, 7300u);  // first
}

TEST(LocalUplinksTest, ASharedUplinkRelaysTheFamiliesOfItsKnownPaths) {
  NodeSettings s = TwoInterfacesThreePaths();
  s.discovery.share_uplinks = {"fiber-b", "lte"};
  s.paths[0].ifindex = 2;  // fiber-a, IPv4
  s.paths[1].ifindex = 3;  // lte, IPv4
  s.paths[2].ifindex = 2;  // fiber-b, IPv6
  s.paths[2].source = IpOf("2001:db8::2");
  auto announced = [&] { return LocalUplinks(s, [](size_t) { return PathReport{}; }, TypeByName); };
  std::vector<AnnouncedUplink> uplinks = announced();
  ASSERT_EQ(uplinks.size(), 2u);
  EXPECT_TRUE(uplinks[0].relays_ipv4 && uplinks[0].relays_ipv6) << "eth0: fiber-a and fiber-b";
  EXPECT_TRUE(uplinks[1].relays_ipv4);
  EXPECT_FALSE(uplinks[1].relays_ipv6) << "wwan0 has no IPv6 path";
  s.paths[0].ifindex = 0;  // fiber-a's device is gone
  uplinks = announced();
  EXPECT_FALSE(uplinks[0].relays_ipv4);
  EXPECT_TRUE(uplinks[0].relays_ipv6);
}

TEST(AnnouncedRelayTest, OnlyWhenSharingWithCeilingAndBudget) {
  NodeSettings s = TwoInterfacesThreePaths();
  EXPECT_FALSE(AnnouncedRelay(s, 5).has_value());  // discovery off
  s.discovery.enabled = true;
  s.discovery.share_max_bps = 2.5e6;
  const std::optional<RelayCapability> relay = AnnouncedRelay(s, 123);
  ASSERT_TRUE(relay.has_value());
  EXPECT_EQ(relay->relay_port, 7211u);
  EXPECT_EQ(relay->max_relay_kbps, 2500u);
  EXPECT_EQ(relay->share_remaining_bytes, 123u);
  EXPECT_FALSE(AnnouncedRelay(s, std::nullopt)->share_remaining_bytes.has_value());
  s.discovery.share_uplinks.clear();
  EXPECT_FALSE(AnnouncedRelay(s, 5).has_value());
  EXPECT_FALSE(SharesUplinks(s));
}

TEST(AnnouncedBondTest, OnlyWithRelayedPathsAndAPeer) {
  NodeSettings s = TwoInterfacesThreePaths();
  s.peer_address = IpOf("198.51.100.7");
  s.port = 7400;
  EXPECT_FALSE(AnnouncedBond(s).has_value());  // no relayed path
  PathSettings relayed = Path("mesh1", "lan0");
  relayed.endpoint = PathEndpoint::kRelay;
  s.paths.push_back(relayed);
  const std::optional<BondEndpoint> bond = AnnouncedBond(s);
  ASSERT_TRUE(bond.has_value());
  EXPECT_EQ(bond->peer_address, IpAddress::V4(Addr("198.51.100.7")));
  EXPECT_EQ(bond->peer_port, 7400u);
  EXPECT_EQ(bond->tunnel_port, 7400u);
  s.peer_address.reset();
  EXPECT_FALSE(AnnouncedBond(s).has_value());
}

TEST(LanHoldingTest, TheInterfaceWhoseSubnetHoldsTheNeighbour) {
  const std::vector<LanInterface> lans = {{3, Addr("10.210.0.1"), 24, std::nullopt},
                                          {4, Addr("192.168.8.5"), 22, std::nullopt}};
  auto on = [](const char* text) { return ScopedAddress{IpOf(text), 9}; };
  std::optional<LanSide> a = LanHolding(on("10.210.0.2"), lans);
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->ifindex, 3);
  EXPECT_EQ(IpText(a->address), "10.210.0.1");
  std::optional<LanSide> b = LanHolding(on("192.168.11.200"), lans);  // inside the /22
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->ifindex, 4);
  EXPECT_FALSE(LanHolding(on("192.168.12.1"), lans).has_value());
  EXPECT_FALSE(LanHolding(on("10.210.1.2"), lans).has_value());
  EXPECT_FALSE(LanHolding(on("10.210.0.2"), {}).has_value());
}

TEST(LanHoldingTest, OverIpv6TheInterfaceItWasHeardOnAndOurLinkLocalThere) {
  const std::vector<LanInterface> lans = {{3, Addr("10.210.0.1"), 24, IpOf("fe80::1").v6()},
                                          {4, in_addr{}, 32, IpOf("fe80::4:1").v6()},
                                          {5, in_addr{}, 32, std::nullopt}};
  std::optional<LanSide> lan = LanHolding({IpOf("fe80::4:2"), 4}, lans);
  ASSERT_TRUE(lan.has_value());
  EXPECT_EQ(lan->ifindex, 4);
  EXPECT_EQ(IpText(lan->address), "fe80::4:1") << "where it heard us";
  EXPECT_FALSE(LanHolding({IpOf("fe80::4:2"), 5}, lans).has_value()) << "no link-local of ours";
  EXPECT_FALSE(LanHolding({IpOf("fe80::4:2"), 6}, lans).has_value()) << "not a discovery LAN";
}

TEST(PeerAddressesTest, OnlyKnownFarEndsAndNoneInFlowMode) {
  NodeSettings s;
  PathSettings own = Path("wan0", "wan0");
  own.remote = IpOf("10.200.0.2");
  PathSettings filled = Path("mesh1", "lan0");
  filled.endpoint = PathEndpoint::kRelay;
  filled.remote = IpOf("10.210.0.2");
  PathSettings empty = Path("mesh2", "lan0");
  empty.endpoint = PathEndpoint::kRelay;
  empty.endpoint_known = false;
  s.paths = {own, filled, empty};
  EXPECT_EQ(PeerAddresses(s),
            (std::set<IpAddress>{IpOf("10.200.0.2"), IpOf("10.210.0.2")}));
  s.mode = BondMode::kFlow;
  EXPECT_TRUE(PeerAddresses(s).empty());
}

class EndpointToLearnTest : public ::testing::Test {
 protected:
  EndpointToLearnTest() {
    path_ = Path("mesh1", "wan0");
    path_.endpoint = PathEndpoint::kLearned;
    path_.endpoint_known = false;
    path_.ifindex = 5;
    seen_.saddr = Addr("10.211.2.2").s_addr;
    seen_.daddr = Addr("10.200.0.2").s_addr;
    seen_.sport = 7243;
    seen_.ifindex = 5;
    seen_.seen_ns = 10'000'000'000;
  }
  PathSettings path_;
  mb_learned_source seen_{};
};

TEST_F(EndpointToLearnTest, AFreshProbeSourceIsAdopted) {
  std::optional<LearnedEndpoint> e = EndpointToLearn(path_, seen_, seen_.seen_ns + 1'000'000);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->remote, IpOf("10.211.2.2"));
  EXPECT_EQ(e->remote_port, 7243u);
  EXPECT_EQ(e->source, IpOf("10.200.0.2"));
  EXPECT_EQ(e->ifindex, 5);
  // Recorded while the agent was already reading: still fresh.
  EXPECT_TRUE(EndpointToLearn(path_, seen_, seen_.seen_ns - 1000).has_value());
}

TEST_F(EndpointToLearnTest, StaleEmptyOrCurrentIsNotAdopted) {
  EXPECT_FALSE(EndpointToLearn(path_, seen_, seen_.seen_ns + kLearnedFreshNs + 1).has_value());
  EXPECT_FALSE(EndpointToLearn(path_, mb_learned_source{}, seen_.seen_ns).has_value());
  PathSettings current = path_;
  current.endpoint_known = true;
  current.remote = IpOf("10.211.2.2");
  current.remote_port = 7243;
  current.source = IpOf("10.200.0.2");
  EXPECT_FALSE(EndpointToLearn(current, seen_, seen_.seen_ns).has_value());
  current.remote_port = 7244;  // the relay gave another return port: a new endpoint
  EXPECT_TRUE(EndpointToLearn(current, seen_, seen_.seen_ns).has_value());
  PathSettings configured = path_;
  configured.endpoint = PathEndpoint::kConfigured;
  EXPECT_FALSE(EndpointToLearn(configured, seen_, seen_.seen_ns).has_value());
}

TEST_F(EndpointToLearnTest, AnIpv6SourceIsAdoptedWithItsAddresses) {
  // A client's IPv6 uplink: the path takes the IPv6 far end and source.
  seen_ = mb_learned_source{};
  seen_.flags = MB_LEARNED_F_IPV6;
  const in6_addr client = IpOf("2001:db8:2::2").v6(), ours = IpOf("2001:db8:f0::2").v6();
  std::memcpy(seen_.saddr6.addr, &client, sizeof(client));
  std::memcpy(seen_.daddr6.addr, &ours, sizeof(ours));
  seen_.sport = 7243;
  seen_.ifindex = 5;
  seen_.seen_ns = 10'000'000'000;
  std::optional<LearnedEndpoint> e = EndpointToLearn(path_, seen_, seen_.seen_ns);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->remote, IpOf("2001:db8:2::2"));
  EXPECT_EQ(e->source, IpOf("2001:db8:f0::2"));
  EXPECT_EQ(e->remote_port, 7243u);
  // An IPv6 record without an address is nothing to adopt.
  std::memset(seen_.saddr6.addr, 0, sizeof(seen_.saddr6.addr));
  EXPECT_FALSE(EndpointToLearn(path_, seen_, seen_.seen_ns).has_value());
}

PlannedRelay Relay(const std::string& origin, uint32_t slot, uint16_t return_port) {
  PlannedRelay r;
  r.origin_id = origin + "-id";
  r.origin_name = origin;
  r.uplink_path = "wan0";
  r.slot = slot;
  r.relay.origin_ip = ToMbAddr(IpOf("10.210.0.1"));
  r.relay.peer_ip = ToMbAddr(IpOf("10.200.0.2"));
  r.relay.origin_port = 7201;
  r.relay.peer_port = 7201;
  r.relay.return_port = return_port;
  r.relay.in_use = 1;
  return r;
}

TEST(RelayPlanChangesTest, StartedStoppedAndChangedRelaysAreNamed) {
  EXPECT_TRUE(RelayPlanChanges({Relay("node1", 0, 7243)}, {Relay("node1", 0, 7243)}).empty());
  EXPECT_THAT(RelayPlanChanges({}, {Relay("node1", 0, 7243)}),
              ::testing::ElementsAre("relaying for node1 through wan0 (slot 0, return port 7243): "
                                     "10.210.0.1:7201 -> 10.200.0.2:7201"));
  EXPECT_THAT(RelayPlanChanges({Relay("node1", 0, 7243)}, {}),
              ::testing::ElementsAre("relaying for node1 through wan0 stopped"));
  PlannedRelay moved = Relay("node1", 0, 7243);
  moved.relay.origin_ip = ToMbAddr(IpOf("10.210.0.7"));  // the origin's address changed
  const std::vector<std::string> changed = RelayPlanChanges({Relay("node1", 0, 7243)}, {moved});
  ASSERT_EQ(changed.size(), 1u);
  EXPECT_THAT(changed[0], AllOf(HasSubstr("10.210.0.7:7201"), HasSubstr("(changed)")));
  PlannedRelay v6 = Relay("node1", 0, 7243);
  v6.relay.flags = MB_RELAY_F_IPV6;
  v6.relay.origin_ip = ToMbAddr(IpOf("fe80::1"));
  v6.relay.peer_ip = ToMbAddr(IpOf("2001:db8::7"));
  EXPECT_THAT(RelayPlanChanges({}, {v6}),
              ::testing::ElementsAre("relaying for node1 through wan0 (slot 0, return port 7243): "
                                     "[fe80::1]:7201 -> [2001:db8::7]:7201"));
}

TEST(LocalUplinksTest, DownPathIsAnnouncedAsTotalLossAndUnmeasuredAsZero) {
  const std::vector<AnnouncedUplink> uplinks = LocalUplinks(
      TwoInterfacesThreePaths(),
      [](size_t path) {
        PathReport r;
        r.down = path == 1;
        return r;
      },
      TypeByName);
  ASSERT_EQ(uplinks.size(), 2u);
  EXPECT_EQ(uplinks[0].loss_ppm, 0u);
  EXPECT_EQ(uplinks[0].rtt_us, 0u);  // no sample yet
  EXPECT_EQ(uplinks[0].capacity_kbps, 0u);
  EXPECT_EQ(uplinks[1].loss_ppm, 1'000'000u);
}

class NodeIdTest : public ::testing::Test {
 protected:
  const ScratchDir dir_;
  const std::string file_ = dir_.File("machine-id");
};

TEST_F(NodeIdTest, ConfiguredIdWins) {
  DiscoverySettings d;
  d.node_id = "edge-7";
  EXPECT_EQ(*ChooseNodeId(d, "/nonexistent/machine-id", "default"), "edge-7");
}

TEST_F(NodeIdTest, DefaultIsMachineIdAndInstance) {
  std::ofstream(file_) << "0123456789abcdef0123456789abcdef\n";
  absl::StatusOr<std::string> id = ChooseNodeId(DiscoverySettings{}, file_, "client");
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(*id, "0123456789abcdef0123456789abcdef:client");
}

TEST_F(NodeIdTest, UnusableDefaultNamesTheFieldToSet) {
  absl::StatusOr<std::string> missing =
      ChooseNodeId(DiscoverySettings{}, "/nonexistent/machine-id", "client");
  EXPECT_THAT(std::string(missing.status().message()),
              AllOf(HasSubstr("node_discovery.node_id"), HasSubstr("/nonexistent/machine-id")));
  std::ofstream(file_) << "0123456789abcdef0123456789abcdef\n";
  absl::StatusOr<std::string> bad = ChooseNodeId(DiscoverySettings{}, file_, "my instance");
  EXPECT_THAT(std::string(bad.status().message()),
              AllOf(HasSubstr("node_discovery.node_id"), HasSubstr("0x20")));
}

// A service without interfaces sends and hears nothing, but describes itself.
TEST(MeshDiscoveryTest, PeersViewOfALoneNode) {
  NodeSettings s = TwoInterfacesThreePaths();
  s.discovery.enabled = true;
  s.discovery.node_id = "host-1:edge";
  s.discovery.node_name = "edge";
  s.discovery.mesh_key = "0123456789abcdef";
  absl::StatusOr<std::unique_ptr<MeshDiscovery>> mesh =
      MeshDiscovery::Start(s, "edge", SilentHooks());
  ASSERT_TRUE(mesh.ok()) << mesh.status();
  EXPECT_TRUE((*mesh)->fds().empty());
  (*mesh)->OnInterval();
  const nlohmann::json peers = ToJson((*mesh)->Peers());
  EXPECT_EQ(peers["node"]["id"], "host-1:edge");
  EXPECT_EQ(peers["node"]["version"], kAgentVersion);
  EXPECT_EQ(peers["node"]["announcements_sent"], 0);  // nowhere to send
  EXPECT_TRUE(peers["nodes"].empty());
  EXPECT_EQ(peers["drops"]["authentication_failed"], 0);
  EXPECT_EQ(peers["drops"].size(), kDropReasonCount);
  EXPECT_EQ((*mesh)->node_count(), 0u);
  // fiber-b is shared: this node relays, for nobody yet.
  EXPECT_EQ(peers["relaying"]["sharing"], true);
  EXPECT_EQ(peers["relaying"]["relay_port"], 7211);
  EXPECT_TRUE(peers["relaying"]["share_remaining_bytes"].is_null());
  EXPECT_TRUE(peers["relaying"]["relays"].empty());
  // Today's document reads back as the typed reply and is written unchanged.
  absl::StatusOr<PeersReply> typed = FromJson<PeersReply>(peers, "peers");
  ASSERT_TRUE(typed.ok()) << typed.status();
  EXPECT_EQ(ToJson(*typed).dump(), peers.dump());
}

TEST(MeshDiscoveryTest, PeersViewShowsTheShareBudgetLeft) {
  NodeSettings s = TwoInterfacesThreePaths();
  s.discovery.enabled = true;
  s.discovery.node_id = "host-1:edge";
  s.discovery.node_name = "edge";
  s.discovery.mesh_key = "0123456789abcdef";
  MeshHooks hooks = SilentHooks();
  hooks.share_remaining = [] { return std::optional<uint64_t>(4'000'000); };
  absl::StatusOr<std::unique_ptr<MeshDiscovery>> mesh = MeshDiscovery::Start(s, "edge", hooks);
  ASSERT_TRUE(mesh.ok()) << mesh.status();
  const nlohmann::json peers = ToJson((*mesh)->Peers());
  EXPECT_EQ(peers["relaying"]["share_remaining_bytes"], 4'000'000);
  // The table's line for it: tests/agent_views_test.cc.
  EXPECT_EQ((*mesh)->Peers().relaying.share_remaining_bytes, 4'000'000u);
  EXPECT_FALSE((*mesh)->relayed_path(0).has_value());
}

TEST(MeshDiscoveryTest, UnknownInterfaceIsNamed) {
  NodeSettings s = TwoInterfacesThreePaths();
  s.discovery.node_id = "host-1:edge";
  s.discovery.node_name = "edge";
  s.discovery.mesh_key = "0123456789abcdef";
  s.discovery.interfaces = {"no-such-if0"};
  absl::StatusOr<std::unique_ptr<MeshDiscovery>> mesh =
      MeshDiscovery::Start(s, "edge", SilentHooks());
  ASSERT_FALSE(mesh.ok());
  EXPECT_THAT(std::string(mesh.status().message()),
              AllOf(HasSubstr("node_discovery.interfaces"), HasSubstr("no-such-if0")));
}

}  // namespace
}  // namespace meshbpf
