#include "agent/core/relay_plan.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>

#include "absl/strings/str_cat.h"
#include "agent/core/map_shapes.h"
#include "agent/core/net_format.h"

namespace meshbpf {
namespace {

using ::testing::ElementsAre;

in_addr Ip(const char* text) {
  in_addr a{};
  EXPECT_EQ(inet_pton(AF_INET, text, &a), 1) << text;
  return a;
}

IpAddress RelayV6(const char* text) {
  in6_addr a{};
  EXPECT_EQ(inet_pton(AF_INET6, text, &a), 1) << text;
  return IpAddress::V6(a);
}

PathSettings Uplink(const std::string& name, const std::string& interface, int ifindex) {
  PathSettings p;
  p.name = name;
  p.interface = interface;
  p.ifindex = ifindex;
  p.mtu = 1500;
  p.rate_bps = 50e6;
  return p;
}

// --- The sharing node: PlanRelays ----------------------------------------------

constexpr int kLanIfindex = 2;

// A node sharing two uplinks, wan0 and wan1 (path ids 0 and 1), relay port 7211.
NodeSettings Sharing() {
  NodeSettings s;
  s.discovery.enabled = true;
  s.discovery.interfaces = {"lan0"};
  s.discovery.relay_port = 7211;
  s.paths = {Uplink("wan0", "wan0", 3), Uplink("wan1", "wan1", 4)};
  s.discovery.share_uplinks = {"wan0", "wan1"};
  return s;
}

// Our LAN is 10.210.0.0/24, where we are 10.210.0.2, and fe80::2 over IPv6.
std::optional<LanSide> OnOurLan(const ScopedAddress& neighbour) {
  if (neighbour.address.is_v6()) {
    if (neighbour.ifindex != kLanIfindex) return std::nullopt;
    return LanSide{kLanIfindex, RelayV6("fe80::2")};
  }
  if ((ntohl(neighbour.address.v4().s_addr) & 0xffffff00) != 0x0ad20000) return std::nullopt;
  return LanSide{kLanIfindex, IpAddress::V4(Ip("10.210.0.2"))};
}

MeshNode Node(const std::string& id, const char* address, bool bonds = true) {
  MeshNode n;
  n.last.node_id = id;
  n.last.name = "name-" + id;
  if (bonds) n.last.bond = BondEndpoint{IpAddress::V4(Ip("10.200.0.2")), 7201, 7301};
  n.ipv4 = HeardFrom{{IpAddress::V4(Ip(address)), kLanIfindex}, {}};
  return n;
}

// Heard only over IPv6, at a link-local address.
MeshNode Ipv6OnlyNode(const std::string& id, const char* address) {
  MeshNode n = Node(id, "0.0.0.0");
  n.ipv4.reset();
  in6_addr a{};
  inet_pton(AF_INET6, address, &a);
  n.ipv6 = HeardFrom{{IpAddress::V6(a), kLanIfindex}, {}};
  return n;
}

std::map<std::string, MeshNode> Nodes(std::initializer_list<MeshNode> list) {
  std::map<std::string, MeshNode> nodes;
  for (const MeshNode& n : list) nodes[n.last.node_id] = n;
  return nodes;
}

// "origin/uplink@slot" for each planned relay.
std::vector<std::string> Summary(const std::vector<PlannedRelay>& relays) {
  std::vector<std::string> out;
  for (const PlannedRelay& r : relays) {
    out.push_back(absl::StrCat(r.origin_id, "/", r.uplink_path, "@", r.slot));
  }
  return out;
}

TEST(SharedUplinks, EachInterfaceCountsOnceInShareOrder) {
  NodeSettings s;
  s.discovery.relay_port = 7211;
  s.paths = {Uplink("a", "eth0", 2), Uplink("b", "eth0", 2), Uplink("c", "wwan0", 3),
             Uplink("d", "wlan0", 4)};
  s.discovery.share_uplinks = {"c", "a", "b"};
  EXPECT_THAT(SharedUplinkInterfaces(s), ElementsAre("wwan0", "eth0"));
  EXPECT_EQ(SharedUplinkRelayPort(s.discovery, 0), 7211);
  EXPECT_EQ(SharedUplinkRelayPort(s.discovery, 1), 7212);
}

TEST(PlanRelays, FillsEveryFieldOfTheRelay) {
  NodeSettings s = Sharing();
  s.discovery.share_uplinks = {"wan1"};
  const std::vector<PlannedRelay> relays =
      PlanRelays(s, Nodes({Node("node-o", "10.210.0.1")}), {}, OnOurLan);
  ASSERT_EQ(relays.size(), 1u);
  const PlannedRelay& r = relays[0];
  EXPECT_EQ(r.origin_id, "node-o");
  EXPECT_EQ(r.origin_name, "name-node-o");
  EXPECT_EQ(r.uplink_path, "wan1");
  EXPECT_EQ(r.slot, 0u);
  EXPECT_EQ(IpText(RelayAddressOf(r.relay, r.relay.origin_ip)), "10.210.0.1");
  EXPECT_EQ(IpText(RelayAddressOf(r.relay, r.relay.lan_ip)), "10.210.0.2");
  EXPECT_EQ(r.relay.lan_ifindex, static_cast<uint32_t>(kLanIfindex));
  EXPECT_EQ(IpText(RelayAddressOf(r.relay, r.relay.peer_ip)), "10.200.0.2");
  EXPECT_EQ(r.relay.flags, 0) << "IPv4";
  EXPECT_EQ(r.relay.peer_port, 7201);
  EXPECT_EQ(r.relay.origin_port, 7301);
  EXPECT_EQ(r.relay.relay_port, 7211) << "wan1 is the only, so the 0th, shared uplink";
  EXPECT_EQ(r.relay.return_port, 7211 + MB_RELAY_RETURN_OFFSET);
  EXPECT_EQ(r.relay.uplink_path, 1u);
  EXPECT_EQ(r.relay.in_use, 1u);
}

TEST(PlanRelays, OneRelayPerBondingNodeOnOurLanAndSharedUplink) {
  const std::vector<PlannedRelay> relays =
      PlanRelays(Sharing(),
                 Nodes({Node("b", "10.210.0.3"), Node("a", "10.210.0.1"),
                        Node("no-bond", "10.210.0.4", false), Node("elsewhere", "10.99.0.1")}),
                 {}, OnOurLan);
  EXPECT_THAT(Summary(relays), ElementsAre("a/wan0@0", "a/wan1@1", "b/wan0@2", "b/wan1@3"));
  EXPECT_EQ(relays[1].relay.relay_port, 7212) << "the second shared uplink";
  EXPECT_EQ(relays[3].relay.return_port, 7211 + MB_RELAY_RETURN_OFFSET + 3);
  EXPECT_TRUE(PlanRelays(Sharing(), {}, {}, OnOurLan).empty());
  NodeSettings not_sharing = Sharing();
  not_sharing.discovery.share_uplinks.clear();
  EXPECT_TRUE(PlanRelays(not_sharing, Nodes({Node("a", "10.210.0.1")}), {}, OnOurLan).empty());
}

TEST(PlanRelays, SlotsStayWhenNodesComeAndGo) {
  const NodeSettings s = Sharing();
  const std::vector<PlannedRelay> first = PlanRelays(
      s, Nodes({Node("a", "10.210.0.1"), Node("b", "10.210.0.3"), Node("c", "10.210.0.5")}), {},
      OnOurLan);
  ASSERT_THAT(Summary(first), ElementsAre("a/wan0@0", "a/wan1@1", "b/wan0@2", "b/wan1@3",
                                          "c/wan0@4", "c/wan1@5"));
  // b leaves, "aa" (sorting before everyone) arrives: a and c keep their
  // slots, aa takes the ones b freed.
  const std::vector<PlannedRelay> second = PlanRelays(
      s, Nodes({Node("a", "10.210.0.1"), Node("aa", "10.210.0.7"), Node("c", "10.210.0.5")}),
      first, OnOurLan);
  EXPECT_THAT(Summary(second), ElementsAre("a/wan0@0", "a/wan1@1", "aa/wan0@2", "aa/wan1@3",
                                           "c/wan0@4", "c/wan1@5"));
  EXPECT_EQ(second[2].relay.return_port, 7211 + MB_RELAY_RETURN_OFFSET + 2);
  EXPECT_EQ(IpText(RelayAddressOf(second[2].relay, second[2].relay.origin_ip)), "10.210.0.7");
  // A kept relay follows its node's new address and bond endpoint.
  MeshNode moved = Node("c", "10.210.0.9");
  moved.last.bond->peer_port = 7999;
  const std::vector<PlannedRelay> third =
      PlanRelays(s, Nodes({Node("a", "10.210.0.1"), moved}), second, OnOurLan);
  EXPECT_THAT(Summary(third), ElementsAre("a/wan0@0", "a/wan1@1", "c/wan0@4", "c/wan1@5"));
  EXPECT_EQ(IpText(RelayAddressOf(third[2].relay, third[2].relay.origin_ip)), "10.210.0.9");
  EXPECT_EQ(third[2].relay.peer_port, 7999);
}

TEST(PlanRelays, NoneForANodeNotHeardOverItsPeersFamily) {
  const NodeSettings s = Sharing();
  MeshNode v6_peer = Node("peer6", "10.210.0.6");
  in6_addr peer{};
  inet_pton(AF_INET6, "2001:db8::7", &peer);
  v6_peer.last.bond->peer_address = IpAddress::V6(peer);
  MeshNode dual = Node("dual", "10.210.0.4");
  dual.ipv6 = Ipv6OnlyNode("dual", "fe80::4").ipv6;
  const std::vector<PlannedRelay> planned = PlanRelays(
      s, Nodes({Ipv6OnlyNode("only6", "fe80::5"), v6_peer, dual}), {}, OnOurLan);
  EXPECT_THAT(Summary(planned), ElementsAre("dual/wan0@0", "dual/wan1@1"));
  EXPECT_EQ(IpText(RelayAddressOf(planned[0].relay, planned[0].relay.origin_ip)), "10.210.0.4")
      << "an IPv4 peer over a dual-stack LAN: IPv4";
}

TEST(PlanRelays, NoMoreRelaysThanSlotsAndTheServedKeepThem) {
  const NodeSettings s = Sharing();
  std::map<std::string, MeshNode> nodes;
  for (int i = 10; i < 30; ++i) {  // 20 nodes, 2 uplinks: 40 relays wanted
    MeshNode n = Node(absl::StrCat("n", i), absl::StrCat("10.210.0.", i).c_str());
    nodes[n.last.node_id] = n;
  }
  const std::vector<PlannedRelay> full = PlanRelays(s, nodes, {}, OnOurLan);
  ASSERT_EQ(full.size(), static_cast<size_t>(MB_MAX_RELAYS));
  EXPECT_EQ(full.front().origin_id, "n10");
  EXPECT_EQ(full.back().origin_id, "n25") << "the first 16 nodes in id order";
  // A newcomer that sorts first gets nothing while every slot is taken...
  nodes["a-new"] = Node("a-new", "10.210.0.200");
  std::vector<PlannedRelay> next = PlanRelays(s, nodes, full, OnOurLan);
  EXPECT_EQ(Summary(next), Summary(full));
  // ...and the slots of a node that leaves.
  nodes.erase("n12");
  next = PlanRelays(s, nodes, next, OnOurLan);
  ASSERT_EQ(next.size(), static_cast<size_t>(MB_MAX_RELAYS));
  EXPECT_EQ(next[4].origin_id, "a-new");
  EXPECT_EQ(next[4].slot, 4u);
}

TEST(PlanRelays, UplinkIsTheFirstKnownPathOnItsInterface) {
  NodeSettings s = Sharing();
  // wan0 lost its device (ifindex 0); "wan0-b" on the same device is known.
  s.paths = {Uplink("wan0", "wan0", 0), Uplink("wan1", "wan1", 0), Uplink("wan0-b", "wan0", 5)};
  s.discovery.share_uplinks = {"wan0", "wan1"};
  const std::vector<PlannedRelay> relays =
      PlanRelays(s, Nodes({Node("a", "10.210.0.1")}), {}, OnOurLan);
  EXPECT_THAT(Summary(relays), ElementsAre("a/wan0-b@0")) << "wan1 is known to no path";
  EXPECT_EQ(relays[0].relay.uplink_path, 2u);
  EXPECT_EQ(relays[0].relay.relay_port, 7211);
  // wan1 keeps its port (k = 1) whether or not wan0 is there.
  s.paths[1].ifindex = 4;
  EXPECT_EQ(PlanRelays(s, Nodes({Node("a", "10.210.0.1")}), {}, OnOurLan)[1].relay.relay_port,
            7212);
}

TEST(PlanRelays, OfTwoNodesAtOneAddressOnlyTheOneHeardLastIsServed) {
  MeshNode old_id = Node("a-old", "10.210.0.1");
  MeshNode new_id = Node("b-new", "10.210.0.1");
  new_id.last_heard = old_id.last_heard + std::chrono::seconds(5);
  NodeSettings s = Sharing();
  s.discovery.share_uplinks = {"wan0"};
  EXPECT_THAT(Summary(PlanRelays(s, Nodes({old_id, new_id}), {}, OnOurLan)),
              ElementsAre("b-new/wan0@0"));
}

// A node bonding with an IPv6 peer, heard over both families (its IPv6
// address link-local, as discovery hears it).
MeshNode Ipv6BondingNode(const std::string& id) {
  MeshNode n = Node(id, "10.210.0.1");
  n.last.bond->peer_address = RelayV6("2001:db8:200::2");
  in6_addr a = RelayV6("fe80::1").v6();
  n.ipv6 = HeardFrom{{IpAddress::V6(a), kLanIfindex}, {}};
  return n;
}

// wan0 dual-stack (an IPv4 path and an IPv6 one), wan1 IPv4 only.
NodeSettings SharingDualStack() {
  NodeSettings s = Sharing();
  PathSettings wan0_v6 = Uplink("wan0-v6", "wan0", 3);
  wan0_v6.source = RelayV6("2001:db8:2::2");
  s.paths.push_back(wan0_v6);
  return s;
}

TEST(PlanRelays, AnIpv6PeerIsRelayedOverIpv6ThroughTheUplinksIpv6Path) {
  const std::vector<PlannedRelay> relays =
      PlanRelays(SharingDualStack(), Nodes({Ipv6BondingNode("o")}), {}, OnOurLan);
  ASSERT_THAT(Summary(relays), ElementsAre("o/wan0-v6@0")) << "wan1 has no IPv6 path";
  const mb_relay& r = relays[0].relay;
  EXPECT_EQ(r.flags, MB_RELAY_F_IPV6);
  EXPECT_EQ(IpText(RelayAddressOf(r, r.origin_ip)), "fe80::1") << "as heard, not its IPv4";
  EXPECT_EQ(IpText(RelayAddressOf(r, r.lan_ip)), "fe80::2") << "our link-local there";
  EXPECT_EQ(IpText(RelayAddressOf(r, r.peer_ip)), "2001:db8:200::2");
  EXPECT_EQ(r.uplink_path, 2u);
  EXPECT_EQ(r.relay_port, 7211) << "wan0's port, whichever family";
  // An IPv4 peer on the same node set goes through the IPv4 paths.
  EXPECT_THAT(Summary(PlanRelays(SharingDualStack(), Nodes({Node("o4", "10.210.0.9")}), {},
                                 OnOurLan)),
              ElementsAre("o4/wan0@0", "o4/wan1@1"));
}

TEST(PlanRelays, NoRelayWithoutTheFamilyOnTheLanOrTheUplink) {
  MeshNode heard_v4_only = Ipv6BondingNode("o");
  heard_v4_only.ipv6.reset();
  EXPECT_TRUE(PlanRelays(SharingDualStack(), Nodes({heard_v4_only}), {}, OnOurLan).empty());
  EXPECT_THAT(RelayUnsupportedReason(heard_v4_only).value_or(""),
              ::testing::HasSubstr("heard only over IPv4"));
  EXPECT_TRUE(PlanRelays(Sharing(), Nodes({Ipv6BondingNode("o")}), {}, OnOurLan).empty())
      << "no shared uplink has an IPv6 path";
  MeshNode other_lan = Ipv6BondingNode("o");
  other_lan.ipv6->from.ifindex = kLanIfindex + 7;
  EXPECT_TRUE(PlanRelays(SharingDualStack(), Nodes({other_lan}), {}, OnOurLan).empty());
  EXPECT_EQ(RelayUnsupportedReason(Ipv6BondingNode("o")), std::nullopt);
}

// --- The origin: AssignRelayPaths ---------------------------------------------------

// An uplink of our own (path 0) and two relayed paths (1 and 2).
NodeSettings Origin() {
  NodeSettings s;
  PathSettings own = Uplink("wan0", "wan0", 3);
  PathSettings mesh1 = Uplink("mesh1", "lan0", 2);
  mesh1.endpoint = PathEndpoint::kRelay;
  mesh1.endpoint_known = false;
  PathSettings mesh2 = mesh1;
  mesh2.name = "mesh2";
  s.paths = {own, mesh1, mesh2};
  return s;
}

RemotePath Candidate(const std::string& node, const std::string& uplink, uint64_t kbps,
                     uint32_t loss_ppm = 0) {
  RemotePath c;
  c.node_id = node;
  c.node_name = "name-" + node;
  c.node_address = {IpAddress::V4(node == "n1" ? Ip("10.210.0.1") : Ip("10.210.0.2")), 2};
  c.relay_port = uplink == "wan1" ? 7212 : 7211;
  c.uplink.name = uplink;
  c.uplink.capacity_kbps = kbps;
  c.uplink.loss_ppm = loss_ppm;
  c.uplink.shared = true;
  c.uplink.relay_port = c.relay_port;
  return c;
}

// "node/uplink" per path, "-" for none.
std::vector<std::string> Summary(const std::vector<std::optional<RelayAssignment>>& assigned) {
  std::vector<std::string> out;
  for (const auto& a : assigned) out.push_back(a ? a->node_id + "/" + a->uplink : "-");
  return out;
}

TEST(AssignRelayPaths, BestCapacityFirstAndNothingUsedTwice) {
  const std::vector<RemotePath> candidates = {Candidate("n1", "wan0", 20'000),
                                              Candidate("n2", "wan0", 50'000)};
  const auto assigned = AssignRelayPaths(Origin(), candidates, {});
  EXPECT_THAT(Summary(assigned), ElementsAre("-", "n2/wan0", "n1/wan0"));
  EXPECT_EQ(assigned[1]->node_name, "name-n2");
  EXPECT_EQ(IpText(assigned[1]->address), "10.210.0.2");
  EXPECT_EQ(assigned[1]->relay_port, 7211);
  // One candidate for two paths: the second stays empty.
  EXPECT_THAT(Summary(AssignRelayPaths(Origin(), {candidates[0]}, {})),
              ElementsAre("-", "n1/wan0", "-"));
  EXPECT_THAT(Summary(AssignRelayPaths(Origin(), {}, {})), ElementsAre("-", "-", "-"));
}

TEST(AssignRelayPaths, TiesGoToLowerLossThenNodeAndUplink) {
  EXPECT_THAT(Summary(AssignRelayPaths(Origin(),
                                       {Candidate("n1", "wan0", 10'000, 5'000),
                                        Candidate("n2", "wan0", 10'000, 100)},
                                       {})),
              ElementsAre("-", "n2/wan0", "n1/wan0"));
  EXPECT_THAT(Summary(AssignRelayPaths(Origin(),
                                       {Candidate("n2", "wan0", 10'000),
                                        Candidate("n1", "wan1", 10'000),
                                        Candidate("n1", "wan0", 10'000)},
                                       {})),
              ElementsAre("-", "n1/wan0", "n1/wan1"));
}

TEST(AssignRelayPaths, FiltersNarrowTheChoice) {
  const std::vector<RemotePath> candidates = {
      Candidate("n1", "wan0", 10'000), Candidate("n1", "wan1", 30'000),
      Candidate("n2", "wan0", 90'000)};
  NodeSettings s = Origin();
  s.paths[1].relay.node = "name-n1";  // by name
  s.paths[2].relay.node = "n1";       // by id
  s.paths[2].relay.uplink = "wan0";
  EXPECT_THAT(Summary(AssignRelayPaths(s, candidates, {})),
              ElementsAre("-", "n1/wan1", "n1/wan0"));
  s.paths[1].relay = {"", "wan1"};
  s.paths[2].relay = {"nobody", ""};
  EXPECT_THAT(Summary(AssignRelayPaths(s, candidates, {})), ElementsAre("-", "n1/wan1", "-"));
}

TEST(AssignRelayPaths, KeepsItsCurrentUplinkWhileItIsOffered) {
  const std::vector<RemotePath> candidates = {Candidate("n1", "wan0", 10'000),
                                              Candidate("n2", "wan0", 90'000)};
  std::vector<std::optional<RelayAssignment>> current = AssignRelayPaths(Origin(), candidates, {});
  ASSERT_THAT(Summary(current), ElementsAre("-", "n2/wan0", "n1/wan0"));
  // n1 becomes much faster: nobody moves.
  std::vector<RemotePath> faster = candidates;
  faster[0].uplink.capacity_kbps = 500'000;
  EXPECT_EQ(AssignRelayPaths(Origin(), faster, current), current);
  // The kept one follows a new address of its node.
  faster[1].node_address.address = IpAddress::V4(Ip("10.210.0.77"));
  const auto moved = AssignRelayPaths(Origin(), faster, current);
  EXPECT_THAT(Summary(moved), ElementsAre("-", "n2/wan0", "n1/wan0"));
  EXPECT_EQ(IpText(moved[1]->address), "10.210.0.77");
  EXPECT_NE(moved, current);
}

TEST(AssignRelayPaths, ReleasesWhatIsNoLongerOffered) {
  const std::vector<RemotePath> candidates = {Candidate("n1", "wan0", 10'000),
                                              Candidate("n2", "wan0", 90'000)};
  const std::vector<std::optional<RelayAssignment>> current =
      AssignRelayPaths(Origin(), candidates, {});
  ASSERT_THAT(Summary(current), ElementsAre("-", "n2/wan0", "n1/wan0"));
  const std::vector<std::pair<std::string, std::function<void(RemotePath&)>>> cases = {
      {"down", [](RemotePath& c) { c.uplink.loss_ppm = 1'000'000; }},
      {"not shared", [](RemotePath& c) { c.uplink.shared = false; }},
      {"no relay port", [](RemotePath& c) { c.relay_port = 0; }},
      {"share spent", [](RemotePath& c) { c.share_remaining_bytes = 0; }},
      {"cap spent", [](RemotePath& c) { c.uplink.cap_remaining_bytes = 0; }},
  };
  for (const auto& [what, spoil] : cases) {
    std::vector<RemotePath> now = candidates;
    spoil(now[1]);
    EXPECT_THAT(Summary(AssignRelayPaths(Origin(), now, current)),
                ElementsAre("-", "-", "n1/wan0"))
        << what;
  }
  // Budgets left, however small, keep it.
  std::vector<RemotePath> now = candidates;
  now[1].share_remaining_bytes = 1;
  now[1].uplink.cap_remaining_bytes = 1;
  EXPECT_EQ(Summary(AssignRelayPaths(Origin(), now, current)), Summary(current));
  // Gone altogether: the path takes what is left.
  EXPECT_THAT(Summary(AssignRelayPaths(Origin(), {candidates[0]}, {std::nullopt, std::nullopt,
                                                                   std::nullopt})),
              ElementsAre("-", "n1/wan0", "-"));
}

TEST(AssignRelayPaths, OnlyNeighboursHeardOnThePathsInterface) {
  std::vector<RemotePath> candidates = {Candidate("n1", "wan0", 10'000)};
  candidates[0].node_address = {RelayV6("fe80::1"), 9};
  EXPECT_THAT(Summary(AssignRelayPaths(Origin(), candidates, {})), ElementsAre("-", "-", "-"))
      << "a link-local address on interface 9 is unreachable from lan0 (2)";
  candidates[0].node_address.ifindex = 2;
  const auto assigned = AssignRelayPaths(Origin(), candidates, {});
  EXPECT_THAT(Summary(assigned), ElementsAre("-", "n1/wan0", "-"));
  EXPECT_EQ(IpText(assigned[1]->address), "fe80::1");
}

TEST(AssignRelayPaths, AnUplinkHeldByTwoPathsStaysWithTheFirst) {
  const std::vector<RemotePath> candidates = {Candidate("n1", "wan0", 10'000)};
  const RelayAssignment held{"n1", "name-n1", "wan0", IpAddress::V4(Ip("10.210.0.1")), 7211};
  EXPECT_THAT(Summary(AssignRelayPaths(Origin(), candidates, {std::nullopt, held, held})),
              ElementsAre("-", "n1/wan0", "-"));
  // A current assignment on a path that is not relayed is dropped.
  EXPECT_THAT(Summary(AssignRelayPaths(Origin(), candidates, {held})),
              ElementsAre("-", "n1/wan0", "-"));
}

}  // namespace
}  // namespace meshbpf
