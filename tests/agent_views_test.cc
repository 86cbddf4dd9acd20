#include "cli/agent_views.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/control_samples.h"

namespace meshbpf {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

// A "peers" reply as MeshDiscovery::Peers() fills it.
PeersReply SamplePeers() {
  absl::StatusOr<PeersReply> peers =
      FromJson<PeersReply>(nlohmann::json::parse(kSamplePeers), "peers");
  EXPECT_TRUE(peers.ok()) << peers.status();
  return peers.value_or(PeersReply{});
}

TEST(PeersTableTest, ShowsNodesUplinksCandidatesAndDrops) {
  const std::string table = PeersTable(SamplePeers());
  EXPECT_THAT(table, HasSubstr("this node: m1:a (alpha)"));
  EXPECT_THAT(table, HasSubstr("2 nodes known"));
  // A node heard over both families shows both; one heard over IPv6 alone
  // says why it relays nothing.
  EXPECT_THAT(table, HasSubstr("    heard from 10.210.0.2 (0.2s ago), fe80::2%lan0 (0.5s ago)\n"));
  EXPECT_THAT(table, AllOf(HasSubstr("delta"), HasSubstr("fe80::4%lan0"),
                           HasSubstr("    no relaying: its bonding peer 10.200.0.2 is IPv4 but it is heard only over IPv6\n")));
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
