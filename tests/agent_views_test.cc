#include "cli/agent_views.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace meshbpf {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

// A "peers" reply as MeshDiscovery::Peers() fills it.
PeersReply SamplePeers() {
  absl::StatusOr<PeersReply> peers = FromJson<PeersReply>(nlohmann::json::parse(R"({
    "node": {"id": "m1:a", "name": "alpha", "version": "0.1.0", "epoch": 1,
             "interfaces": ["lan0"], "port": 9999, "broadcast_interval_s": 0.5,
             "node_timeout_s": 2, "announcements_sent": 4, "send_errors": 0},
    "nodes": [{"id": "m1:b", "name": "beta", "address": "10.210.0.2", "version": "0.1.0",
               "epoch": 2, "seq": 9, "age_s": 0.25, "joined_unix_ms": 5,
               "uplinks": [{"name": "wan0", "type": "ethernet", "capacity_kbps": 40000,
                            "rtt_us": 2500, "loss_ppm": 10000, "shared": true,
                            "relay_port": 7211, "cap_remaining_bytes": 2000000000},
                           {"name": "wwan0", "type": "cellular", "capacity_kbps": 0,
                            "rtt_us": 0, "loss_ppm": 0, "shared": false,
                            "relay_port": 0, "cap_remaining_bytes": null}],
               "relay": {"port": 7211, "max_kbps": 0, "share_remaining_bytes": null},
               "bond": null, "used_as_paths": true, "our_paths": ["mesh1"]}],
    "candidate_relayed_paths": [{"node_id": "m1:b", "node_name": "beta",
                                 "address": "10.210.0.2", "relay_port": 7211,
                                 "max_relay_kbps": 0,
                                 "uplink": {"name": "wan0", "type": "ethernet",
                                            "capacity_kbps": 40000, "rtt_us": 2500,
                                            "loss_ppm": 10000, "shared": true,
                                            "relay_port": 7211, "cap_remaining_bytes": null},
                                 "fills_path": "mesh1"}],
    "relaying": {"sharing": true, "relay_port": 7211, "max_relay_kbps": 20000,
                 "share_remaining_bytes": 1500000,
                 "relays": [{"origin_id": "m1:c", "origin_name": "gamma",
                             "origin": "10.210.0.3:7201", "uplink": "wan0", "slot": 2,
                             "relay_port": 7211, "return_port": 7245,
                             "peer": "198.51.100.7:7201", "fwd_packets": 1000,
                             "fwd_bytes": 1400000, "ret_packets": 500, "ret_bytes": 30000,
                             "drops": {"share_spent": 7, "rate": 0}}]},
    "drops": {"authentication_failed": 3, "too_short": 0, "oversized": 1},
    "drops_total": 4
  })"),
                                                          "peers");
  EXPECT_TRUE(peers.ok()) << peers.status();
  return peers.value_or(PeersReply{});
}

TEST(PeersTableTest, ShowsNodesUplinksCandidatesAndDrops) {
  const std::string table = PeersTable(SamplePeers());
  EXPECT_THAT(table, HasSubstr("this node: m1:a (alpha)"));
  EXPECT_THAT(table, HasSubstr("1 node known"));
  EXPECT_THAT(table, AllOf(HasSubstr("m1:b"), HasSubstr("beta"), HasSubstr("10.210.0.2"),
                           HasSubstr("0.2s"), HasSubstr(" mesh1\n")));
  EXPECT_THAT(table, AllOf(HasSubstr("wan0"), HasSubstr("40.0M"), HasSubstr("2.5ms"),
                           HasSubstr("1.0%"), HasSubstr("2.0G"), HasSubstr(" shared\n")));
  EXPECT_THAT(table, AllOf(HasSubstr("wwan0"), HasSubstr("cellular"), HasSubstr("not shared")));
  EXPECT_THAT(table, HasSubstr("offer:\n    beta/wan0 via 10.210.0.2:7211, our path mesh1\n"));
  EXPECT_THAT(table, Not(HasSubstr("not enabled")));
  EXPECT_THAT(table, HasSubstr("relaying for neighbours at port 7211: share budget left 1.5M, "
                               "rate ceiling 20.0M\n"));
  EXPECT_THAT(table, HasSubstr("gamma (10.210.0.3:7201) through wan0, slot 2, to "
                               "198.51.100.7:7201 (return port 7245)\n"));
  EXPECT_THAT(table, HasSubstr("out 1.4M in 1000 packets, back 30k in 500 packets, dropped: "
                               "share_spent 7\n"));
  EXPECT_THAT(table, HasSubstr("dropped announcements: authentication_failed 3, oversized 1\n"));
  EXPECT_THAT(table, Not(HasSubstr("too_short")));
}

TEST(PeersTableTest, NobodyKnown) {
  PeersReply peers = SamplePeers();
  peers.nodes.clear();
  peers.candidate_relayed_paths.clear();
  peers.relaying = RelayingEntry{};
  peers.drops = {{"too_short", 0}};
  const std::string table = PeersTable(peers);
  EXPECT_THAT(table, AllOf(HasSubstr("0 nodes known"), Not(HasSubstr("NODE ")),
                           HasSubstr("relayed paths the nodes offer: none\n"),
                           HasSubstr("relaying for neighbours: off"),
                           HasSubstr("dropped announcements: none")));
}

TEST(PeersTableTest, ShowsTheShareBudgetLeft) {
  PeersReply peers = SamplePeers();
  peers.relaying.share_remaining_bytes = 4'000'000;
  EXPECT_THAT(PeersTable(peers), HasSubstr("share budget left 4.0M"));
}

}  // namespace
}  // namespace meshbpf
