#include "agent/mesh_node.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <string>

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
  void TearDown() override { std::remove(file_.c_str()); }
  const std::string file_ = ::testing::TempDir() + "mesh_node_test_machine_id";
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
      MeshDiscovery::Start(s, "edge", [](size_t) { return PathReport{}; });
  ASSERT_TRUE(mesh.ok()) << mesh.status();
  EXPECT_TRUE((*mesh)->fds().empty());
  (*mesh)->OnInterval();
  const nlohmann::json peers = (*mesh)->PeersJson();
  EXPECT_EQ(peers["node"]["id"], "host-1:edge");
  EXPECT_EQ(peers["node"]["version"], kAgentVersion);
  EXPECT_EQ(peers["node"]["announcements_sent"], 0);  // nowhere to send
  EXPECT_TRUE(peers["nodes"].empty());
  EXPECT_EQ(peers["drops"]["authentication_failed"], 0);
  EXPECT_EQ(peers["drops"].size(), kDropReasonCount);
  EXPECT_EQ((*mesh)->node_count(), 0u);
}

TEST(MeshDiscoveryTest, UnknownInterfaceIsNamed) {
  NodeSettings s = TwoInterfacesThreePaths();
  s.discovery.node_id = "host-1:edge";
  s.discovery.node_name = "edge";
  s.discovery.mesh_key = "0123456789abcdef";
  s.discovery.interfaces = {"no-such-if0"};
  absl::StatusOr<std::unique_ptr<MeshDiscovery>> mesh =
      MeshDiscovery::Start(s, "edge", [](size_t) { return PathReport{}; });
  ASSERT_FALSE(mesh.ok());
  EXPECT_THAT(std::string(mesh.status().message()),
              AllOf(HasSubstr("node_discovery.interfaces"), HasSubstr("no-such-if0")));
}

nlohmann::json SamplePeers() {
  return nlohmann::json::parse(R"({
    "node": {"id": "m1:a", "name": "alpha", "version": "0.1.0", "epoch": 1,
             "interfaces": ["lan0"], "port": 9999, "broadcast_interval_s": 0.5,
             "node_timeout_s": 2, "announcements_sent": 4, "send_errors": 0},
    "nodes": [{"id": "m1:b", "name": "beta", "address": "10.210.0.2", "version": "0.1.0",
               "epoch": 2, "seq": 9, "age_s": 0.25, "joined_unix_ms": 5,
               "uplinks": [{"name": "wan0", "type": "ethernet", "capacity_kbps": 40000,
                            "rtt_us": 2500, "loss_ppm": 10000, "shared": true,
                            "cap_remaining_bytes": 2000000000},
                           {"name": "wwan0", "type": "cellular", "capacity_kbps": 0,
                            "rtt_us": 0, "loss_ppm": 0, "shared": false,
                            "cap_remaining_bytes": null}],
               "relay": {"port": 7201, "max_kbps": 0}, "used_as_paths": false}],
    "candidate_relayed_paths": [{"node_id": "m1:b", "node_name": "beta",
                                 "address": "10.210.0.2", "relay_port": 7201,
                                 "max_relay_kbps": 0, "uplink": {"name": "wan0"}}],
    "drops": {"authentication_failed": 3, "too_short": 0, "oversized": 1},
    "drops_total": 4
  })");
}

TEST(PeersTableTest, ShowsNodesUplinksCandidatesAndDrops) {
  const std::string table = PeersTable(SamplePeers());
  EXPECT_THAT(table, HasSubstr("this node: m1:a (alpha)"));
  EXPECT_THAT(table, HasSubstr("1 node known"));
  EXPECT_THAT(table, AllOf(HasSubstr("m1:b"), HasSubstr("beta"), HasSubstr("10.210.0.2"),
                           HasSubstr("0.2s"), HasSubstr(" no\n")));
  EXPECT_THAT(table, AllOf(HasSubstr("wan0"), HasSubstr("40.0M"), HasSubstr("2.5ms"),
                           HasSubstr("1.0%"), HasSubstr("2.0G"), HasSubstr(" shared\n")));
  EXPECT_THAT(table, AllOf(HasSubstr("wwan0"), HasSubstr("cellular"), HasSubstr("not shared")));
  EXPECT_THAT(table, HasSubstr("(relaying is not enabled yet):\n    beta/wan0 via 10.210.0.2:7201\n"));
  EXPECT_THAT(table, HasSubstr("dropped announcements: authentication_failed 3, oversized 1\n"));
  EXPECT_THAT(table, Not(HasSubstr("too_short")));
}

TEST(PeersTableTest, NobodyKnown) {
  nlohmann::json peers = SamplePeers();
  peers["nodes"] = nlohmann::json::array();
  peers["candidate_relayed_paths"] = nlohmann::json::array();
  peers["drops"] = {{"too_short", 0}};
  const std::string table = PeersTable(peers);
  EXPECT_THAT(table, AllOf(HasSubstr("0 nodes known"), Not(HasSubstr("NODE ")),
                           HasSubstr("candidate relayed paths (relaying is not enabled yet): none\n"),
                           HasSubstr("dropped announcements: none")));
}

}  // namespace
}  // namespace meshbpf
