// Discovery's state: the replay guard, the node table, remote paths, drop
// counting and the intake that ties them together.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "agent/core/discovery.h"
#include "tests/discovery_test_util.h"

namespace meshbpf {
namespace {

using namespace testing_discovery;
using std::chrono::milliseconds;
using std::chrono::seconds;
using ::testing::HasSubstr;

struct FakeSteadyClock {
  std::chrono::steady_clock::time_point now{};
  NodeTable::Clock fn() {
    return [this] { return now; };
  }
};

TEST(ReplayGuard, SequenceMustGrowWithinAnEpoch) {
  FakeSteadyClock clock;
  ReplayGuard guard(seconds(60), clock.fn());
  Announcement a = Sample();
  EXPECT_FALSE(guard.Admit(a).has_value());
  std::optional<Drop> again = guard.Admit(a);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->reason, DropReason::kReplayed);
  a.seq = 6;
  EXPECT_EQ(guard.Admit(a)->reason, DropReason::kReplayed);
  a.seq = 9;  // gaps are fine: announcements get lost
  EXPECT_FALSE(guard.Admit(a).has_value());
  // Another node has its own sequence.
  Announcement b = Sample("node-b");
  b.seq = 1;
  EXPECT_FALSE(guard.Admit(b).has_value());
}

TEST(ReplayGuard, RestartWithNewEpochIsAcceptedOldEpochIsNot) {
  FakeSteadyClock clock;
  ReplayGuard guard(seconds(60), clock.fn());
  Announcement before = Sample();
  before.seq = 1000;
  ASSERT_FALSE(guard.Admit(before).has_value());
  Announcement restarted = before;
  restarted.epoch += 5000;
  restarted.seq = 1;
  EXPECT_FALSE(guard.Admit(restarted).has_value());
  before.seq = 1001;  // a capture from before the restart
  std::optional<Drop> d = guard.Admit(before);
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->reason, DropReason::kReplayed);
  EXPECT_THAT(d->detail, HasSubstr("epoch"));
}

// Sent over IPv6: the same announcement's other copy.
Announcement OverIpv6(Announcement a) {
  a.sent_over = AF_INET6;
  return a;
}

TEST(ReplayGuard, EachFamilysCopyIsTakenOnceAndOnlyOnce) {
  FakeSteadyClock clock;
  ReplayGuard guard(seconds(60), clock.fn());
  Announcement a = Sample();
  EXPECT_FALSE(guard.Admit(a).has_value());
  EXPECT_FALSE(guard.Admit(OverIpv6(a)).has_value()) << "the IPv6 copy of the same seq";
  EXPECT_EQ(guard.Admit(OverIpv6(a))->reason, DropReason::kReplayed);
  EXPECT_THAT(guard.Admit(a)->detail, HasSubstr("over IPv4"));
  // Each family's sequence grows on its own (a lost IPv4 copy is no gap in IPv6).
  a.seq = 9;
  EXPECT_FALSE(guard.Admit(OverIpv6(a)).has_value());
  a.seq = 8;
  EXPECT_FALSE(guard.Admit(a).has_value());
  EXPECT_EQ(guard.Admit(OverIpv6(a))->reason, DropReason::kReplayed);
  // A restart seen over one family ends the old epoch on both.
  Announcement restarted = Sample();
  restarted.epoch += 1;
  restarted.seq = 1;
  EXPECT_FALSE(guard.Admit(OverIpv6(restarted)).has_value());
  a.seq = 50;  // a capture of the old epoch, over IPv4
  EXPECT_EQ(guard.Admit(a)->reason, DropReason::kReplayed);
  EXPECT_FALSE(guard.Admit(restarted).has_value()) << "the new epoch's IPv4 copy";
  EXPECT_EQ(guard.tracked_nodes(), 1u);
}

TEST(ReplayGuard, SendersClocksNeedNotAgreeWithOurs) {
  FakeSteadyClock clock;
  ReplayGuard guard(seconds(60), clock.fn());
  Announcement booted_at_1970 = Sample("node-a");
  booted_at_1970.epoch = 5'000;
  booted_at_1970.timestamp_ms = 10'000;
  EXPECT_FALSE(guard.Admit(booted_at_1970).has_value());
  Announcement far_ahead = Sample("node-b");
  far_ahead.timestamp_ms = kNowMs + 3'600'000;
  EXPECT_FALSE(guard.Admit(far_ahead).has_value());
  booted_at_1970.seq++;
  EXPECT_FALSE(guard.Admit(booted_at_1970).has_value());
}

TEST(ReplayGuard, ForgetsNodesSilentForTheRetentionOnOurMonotonicClock) {
  FakeSteadyClock clock;
  ReplayGuard guard(seconds(60), clock.fn());
  Announcement a = Sample();
  ASSERT_FALSE(guard.Admit(a).has_value());
  // The node's clock jumps back and it restarts with a smaller epoch: refused
  // while we heard it within the retention...
  Announcement reset = a;
  reset.epoch = 10;
  reset.seq = 1;
  clock.now += seconds(30);
  EXPECT_EQ(guard.Admit(reset)->reason, DropReason::kReplayed);
  // ...and accepted once its last accepted announcement is that old here,
  // whatever the timestamps say.
  clock.now += seconds(31);
  EXPECT_FALSE(guard.Admit(reset).has_value());
  EXPECT_EQ(guard.tracked_nodes(), 1u);
  reset.seq = 1;
  EXPECT_EQ(guard.Admit(reset)->reason, DropReason::kReplayed) << "remembered again";
}


TEST(NodeTable, ReportsWhatChanged) {
  FakeSteadyClock clock;
  NodeTable table(seconds(30), clock.fn());
  Announcement a = Sample();
  EXPECT_EQ(std::get<NodeChange>(table.Update(a, From("10.0.0.2"))), NodeChange::kJoined);
  a.seq++;
  EXPECT_EQ(std::get<NodeChange>(table.Update(a, From("10.0.0.2"))), NodeChange::kRefreshed);
  a.version = "0.4";
  EXPECT_EQ(std::get<NodeChange>(table.Update(a, From("10.0.0.2"))), NodeChange::kUpdated);
  a.uplinks[0].rtt_us += 1;
  a.uplinks[1].cap_remaining_bytes = 7;
  EXPECT_EQ(std::get<NodeChange>(table.Update(a, From("10.0.0.2"))), NodeChange::kMeasured);
  a.relay->share_remaining_bytes = 1;
  EXPECT_EQ(std::get<NodeChange>(table.Update(a, From("10.0.0.2"))), NodeChange::kMeasured);
  a.uplinks[1].relays_ipv6 = true;
  EXPECT_EQ(std::get<NodeChange>(table.Update(a, From("10.0.0.2"))), NodeChange::kUplinksChanged)
      << "it relays another family now";
  a.relay->max_relay_kbps = 1;
  EXPECT_EQ(std::get<NodeChange>(table.Update(a, From("10.0.0.2"))), NodeChange::kUplinksChanged);
  a.relay.reset();
  EXPECT_EQ(std::get<NodeChange>(table.Update(a, From("10.0.0.2"))), NodeChange::kUplinksChanged);
  a.bond->tunnel_port = 7302;
  EXPECT_EQ(std::get<NodeChange>(table.Update(a, From("10.0.0.2"))), NodeChange::kUplinksChanged)
      << "relays of this node must forward elsewhere";
  a.bond.reset();
  EXPECT_EQ(std::get<NodeChange>(table.Update(a, From("10.0.0.2"))), NodeChange::kUplinksChanged);
  EXPECT_EQ(std::get<NodeChange>(table.Update(a, From("10.0.0.3"))), NodeChange::kUplinksChanged)
      << "a new source address changes where relayed traffic goes";
  ASSERT_EQ(table.nodes().size(), 1u);
  EXPECT_EQ(table.nodes().at("node-a").last.version, "0.4");
}

TEST(NodeTable, ExpiresNodesNotHeardForNodeTimeout) {
  FakeSteadyClock clock;
  NodeTable table(seconds(30), clock.fn());
  table.Update(Sample("node-a"), From("10.0.0.2"));
  clock.now += seconds(20);
  table.Update(Sample("node-b"), From("10.0.0.3"));
  clock.now += seconds(10);  // a: exactly 30 s
  EXPECT_TRUE(table.Expire().nodes.empty());
  clock.now += milliseconds(1);
  std::vector<MeshNode> gone = table.Expire().nodes;
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_EQ(gone[0].last.node_id, "node-a");
  EXPECT_EQ(table.nodes().size(), 1u);
  clock.now += seconds(21);
  ASSERT_EQ(table.Expire().nodes.size(), 1u);
  EXPECT_TRUE(table.nodes().empty());
  EXPECT_EQ(std::get<NodeChange>(table.Update(Sample("node-a"), From("10.0.0.2"))),
            NodeChange::kJoined);
}

TEST(NodeTable, ANodeHeardOverBothFamiliesIsOneNodeWithBothAddresses) {
  FakeSteadyClock clock;
  NodeTable table(seconds(30), clock.fn());
  Announcement a = Sample();
  EXPECT_EQ(std::get<NodeChange>(table.Update(a, From("10.0.0.2", 3))), NodeChange::kJoined);
  EXPECT_EQ(std::get<NodeChange>(table.Update(OverIpv6(a), From("fe80::2", 3))),
            NodeChange::kAddressAdded);
  a.seq++;
  EXPECT_EQ(std::get<NodeChange>(table.Update(a, From("10.0.0.2", 3))), NodeChange::kRefreshed);
  EXPECT_EQ(std::get<NodeChange>(table.Update(OverIpv6(a), From("fe80::2", 3))),
            NodeChange::kRefreshed);
  ASSERT_EQ(table.nodes().size(), 1u);
  const MeshNode& n = table.nodes().at("node-a");
  ASSERT_TRUE(n.ipv4 && n.ipv6);
  EXPECT_EQ(n.ipv4->from, From("10.0.0.2", 3));
  EXPECT_EQ(n.ipv6->from, From("fe80::2", 3));
  EXPECT_EQ(n.PreferredAddress(), From("10.0.0.2", 3)) << "IPv4 first";
  EXPECT_EQ(n.RelayAddress(false), From("10.0.0.2", 3));
  EXPECT_EQ(n.RelayAddress(true), From("fe80::2", 3)) << "a relay keeps the peer's family";
  EXPECT_EQ(RelayUnsupportedReason(n), std::nullopt) << "its peer is IPv4, heard over IPv4";
}

TEST(NodeTable, AnOlderCopyLateOnTheOtherFamilyDoesNotTurnTheNodeBack) {
  FakeSteadyClock clock;
  NodeTable table(seconds(30), clock.fn());
  Announcement a = Sample();
  table.Update(a, From("10.0.0.2"));
  const Announcement older = a;
  a.seq++;
  a.uplinks[0].capacity_kbps = 1;
  EXPECT_EQ(std::get<NodeChange>(table.Update(a, From("10.0.0.2"))), NodeChange::kMeasured);
  // The IPv6 copy of the announcement before arrives only now.
  clock.now += seconds(1);
  EXPECT_EQ(std::get<NodeChange>(table.Update(OverIpv6(older), From("fe80::2"))),
            NodeChange::kAddressAdded);
  const MeshNode& n = table.nodes().at("node-a");
  EXPECT_EQ(n.last.seq, a.seq);
  EXPECT_EQ(n.last.uplinks[0].capacity_kbps, 1u);
  EXPECT_EQ(n.ipv6->at, clock.now) << "its address is fresh all the same";
}

TEST(NodeTable, ALinkLocalAddressKeepsItsInterface) {
  FakeSteadyClock clock;
  NodeTable table(seconds(30), clock.fn());
  const Announcement a = OverIpv6(Sample());
  EXPECT_EQ(std::get<NodeChange>(table.Update(a, From("fe80::2", 4))), NodeChange::kJoined);
  const MeshNode& n = table.nodes().at("node-a");
  ASSERT_TRUE(n.ipv6.has_value());
  EXPECT_FALSE(n.ipv4.has_value());
  EXPECT_EQ(n.ipv6->from.ifindex, 4);
  EXPECT_EQ(ScopedAddressText(n.PreferredAddress()), "fe80::2%4");
  EXPECT_EQ(ScopedAddressText(From("2001:db8::2", 4)), "2001:db8::2") << "global: no zone";
  EXPECT_EQ(ScopedAddressText(From("10.0.0.2", 4)), "10.0.0.2");
  // The same link-local address on another interface is another place.
  Announcement next = a;
  next.seq++;
  EXPECT_EQ(std::get<NodeChange>(table.Update(next, From("fe80::2", 5))),
            NodeChange::kUplinksChanged);
  EXPECT_EQ(table.nodes().at("node-a").ipv6->from.ifindex, 5);
}

TEST(NodeTable, EachFamilysAddressExpiresOnItsOwnAndTheNodeWithTheLast) {
  FakeSteadyClock clock;
  NodeTable table(seconds(30), clock.fn());
  Announcement a = Sample();
  table.Update(a, From("10.0.0.2"));
  table.Update(OverIpv6(a), From("fe80::2"));
  // IPv4 goes quiet on the LAN (its address removed); IPv6 goes on.
  for (int i = 0; i < 4; ++i) {
    clock.now += seconds(10);
    a.seq++;
    table.Update(OverIpv6(a), From("fe80::2"));
  }
  NodeTable::Expired expired = table.Expire();
  EXPECT_TRUE(expired.nodes.empty());
  ASSERT_EQ(expired.addresses.size(), 1u);
  EXPECT_EQ(expired.addresses[0].first, "node-a");
  EXPECT_EQ(expired.addresses[0].second, From("10.0.0.2"));
  const MeshNode& n = table.nodes().at("node-a");
  EXPECT_FALSE(n.ipv4.has_value());
  EXPECT_FALSE(n.RelayAddress(false).has_value()) << "relays must not use a stale IPv4 address";
  EXPECT_THAT(RelayUnsupportedReason(n).value_or(""), HasSubstr("heard only over IPv6"));
  EXPECT_TRUE(RemotePaths(table, false).empty());
  EXPECT_EQ(RemotePaths(table, true).size(), 1u) << "eth0 relays IPv6 too";
  // Then IPv6 too: the node goes, exactly after node_timeout.
  clock.now += seconds(30);
  EXPECT_TRUE(table.Expire().nodes.empty());
  clock.now += milliseconds(1);
  expired = table.Expire();
  ASSERT_EQ(expired.nodes.size(), 1u);
  EXPECT_TRUE(expired.addresses.empty()) << "a removed node is reported once, as a node";
  EXPECT_TRUE(table.nodes().empty());
}

TEST(NodeTable, AnIpv6OnlyNodeExpiresAfterNodeTimeout) {
  FakeSteadyClock clock;
  NodeTable table(seconds(30), clock.fn());
  table.Update(OverIpv6(Sample("node-a")), From("fe80::2"));
  table.Update(OverIpv6(Sample("node-b")), From("fe80::3"));
  clock.now += seconds(20);
  Announcement b = Sample("node-b");
  b.seq++;
  table.Update(OverIpv6(b), From("fe80::3"));
  clock.now += seconds(10);
  EXPECT_TRUE(table.Expire().nodes.empty());
  clock.now += milliseconds(1);
  std::vector<MeshNode> gone = table.Expire().nodes;
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_EQ(gone[0].last.node_id, "node-a");
  EXPECT_EQ(gone[0].ipv6->from, From("fe80::2"));
  EXPECT_EQ(table.nodes().count("node-b"), 1u);
}

TEST(NodeTable, RefusesNewNodesWhenFull) {
  FakeSteadyClock clock;
  NodeTable table(seconds(30), clock.fn());
  for (size_t i = 0; i < kMaxNodes; ++i) {
    ASSERT_TRUE(std::holds_alternative<NodeChange>(
        table.Update(Sample(absl::StrCat("n", i)), From("10.0.0.2"))));
  }
  std::variant<NodeChange, Drop> r = table.Update(Sample("one-too-many"), From("10.0.0.2"));
  ASSERT_TRUE(std::holds_alternative<Drop>(r));
  EXPECT_EQ(std::get<Drop>(r).reason, DropReason::kTableFull);
  // Known nodes still refresh.
  EXPECT_EQ(std::get<NodeChange>(table.Update(Sample("n0"), From("10.0.0.2"))), NodeChange::kRefreshed);
}

TEST(RemotePaths, AreTheSharedUplinksOfRelayingNodes) {
  FakeSteadyClock clock;
  NodeTable table(seconds(30), clock.fn());
  table.Update(Sample("node-b"), From("10.0.0.3"));
  Announcement no_relay = Sample("node-c");
  no_relay.relay.reset();
  table.Update(no_relay, From("10.0.0.4"));
  table.Update(Sample("node-a"), From("10.0.0.2"));
  std::vector<RemotePath> paths = RemotePaths(table, false);
  std::vector<std::string> names;
  for (const RemotePath& p : paths) names.push_back(p.node_id + "/" + p.uplink.name);
  EXPECT_THAT(names, ::testing::ElementsAre("node-a/eth0", "node-a/wwan0", "node-b/eth0",
                                            "node-b/wwan0"));
  EXPECT_EQ(paths[0].node_address, From("10.0.0.2"));
  EXPECT_EQ(paths[0].relay_port, 7211) << "each uplink's own port";
  EXPECT_EQ(paths[1].relay_port, 7212);
  EXPECT_EQ(paths[1].uplink.cap_remaining_bytes, 5'000'000'000ULL);
  EXPECT_EQ(paths[1].share_remaining_bytes, 2'000'000'000ULL);
}

TEST(RemotePaths, CandidatesOfAFamilyAreTheUplinksRelayingItOfNodesHeardOverIt) {
  FakeSteadyClock clock;
  NodeTable table(seconds(30), clock.fn());
  table.Update(OverIpv6(Sample("node-v6")), From("fe80::6"));
  table.Update(Sample("node-both"), From("10.0.0.3"));
  table.Update(OverIpv6(Sample("node-both")), From("fe80::3"));
  ASSERT_EQ(table.nodes().size(), 2u);
  std::vector<std::string> names;
  for (const RemotePath& p : RemotePaths(table, false)) {
    names.push_back(p.node_id + "/" + p.uplink.name);
    EXPECT_EQ(p.node_address, From("10.0.0.3")) << "the dual-stack node's IPv4";
  }
  EXPECT_THAT(names, ::testing::ElementsAre("node-both/eth0", "node-both/wwan0"));
  names.clear();
  for (const RemotePath& p : RemotePaths(table, true)) {
    names.push_back(absl::StrCat(p.node_id, "/", p.uplink.name, " at ",
                                 ScopedAddressText(p.node_address)));
  }
  EXPECT_THAT(names, ::testing::ElementsAre("node-both/eth0 at fe80::3%2",
                                            "node-v6/eth0 at fe80::6%2"))
      << "wwan0 relays no IPv6";
}

TEST(RemotePaths, WhyRelayingCannotHappenIsNamed) {
  FakeSteadyClock clock;
  NodeTable table(seconds(30), clock.fn());
  // Neither shares nor bonds: nothing to say, whatever the family.
  Announcement plain = OverIpv6(Sample("plain"));
  plain.relay.reset();
  plain.bond.reset();
  table.Update(plain, From("fe80::7"));
  EXPECT_EQ(RelayUnsupportedReason(table.nodes().at("plain")), std::nullopt);
  // Asks for relays only (a bond endpoint), heard over IPv6 only.
  Announcement origin = OverIpv6(Sample("origin"));
  origin.relay.reset();
  table.Update(origin, From("fe80::8"));
  EXPECT_EQ(RelayUnsupportedReason(table.nodes().at("origin")),
            "its bonding peer 10.200.0.2 is IPv4 but it is heard only over IPv6: a relay keeps "
            "the peer's family on the LAN too");
  // Heard over IPv4, but its bonding peer is IPv6.
  Announcement v6_peer = Sample("v6-peer");
  v6_peer.bond->peer_address = IpOf("2001:db8::7");
  table.Update(v6_peer, From("10.0.0.9"));
  EXPECT_THAT(RelayUnsupportedReason(table.nodes().at("v6-peer")).value_or(""),
              HasSubstr("its bonding peer 2001:db8::7 is IPv6 but it is heard only over IPv4"));
  // Heard over both: relayed over IPv6.
  table.Update(OverIpv6(v6_peer), From("fe80::9"));
  EXPECT_EQ(RelayUnsupportedReason(table.nodes().at("v6-peer")), std::nullopt);
}

TEST(RemotePaths, ASharedUplinkWithoutARelayPortIsNoCandidate) {
  // Decoding refuses it; the table itself does not check.
  FakeSteadyClock clock;
  NodeTable table(seconds(30), clock.fn());
  Announcement a = Sample("node-a");
  a.uplinks[1].relay_port = 0;
  table.Update(a, From("10.0.0.2"));
  std::vector<RemotePath> paths = RemotePaths(table, false);
  ASSERT_EQ(paths.size(), 1u);
  EXPECT_EQ(paths[0].uplink.name, "eth0");
}

TEST(RemotePaths, TopologyChangesShowUpInTheDiff) {
  FakeSteadyClock clock;
  NodeTable table(seconds(30), clock.fn());
  std::vector<RemotePath> before = RemotePaths(table, false);
  table.Update(Sample("node-a"), From("10.0.0.2"));  // joins: two shared uplinks
  std::vector<RemotePath> after = RemotePaths(table, false);
  PathSetDiff d = DiffPaths(before, after);
  EXPECT_EQ(d.added.size(), 2u);
  EXPECT_TRUE(d.removed.empty() && d.changed.empty());
  EXPECT_TRUE(DiffPaths(after, after).empty());

  // node-a stops sharing wwan0 and its eth0 gets slower; node-b joins.
  Announcement a = Sample("node-a");
  a.seq++;
  a.uplinks[1].shared = false;
  a.uplinks[1].relay_port = 0;
  a.uplinks[0].capacity_kbps = 20'000;
  table.Update(a, From("10.0.0.2"));
  clock.now += seconds(20);
  table.Update(Sample("node-b"), From("10.0.0.3"));
  before = after;
  after = RemotePaths(table, false);
  d = DiffPaths(before, after);
  ASSERT_EQ(d.removed.size(), 1u);
  EXPECT_EQ(d.removed[0].uplink.name, "wwan0");
  ASSERT_EQ(d.changed.size(), 1u);
  EXPECT_EQ(d.changed[0].uplink.capacity_kbps, 20'000u);
  ASSERT_EQ(d.added.size(), 2u);
  EXPECT_EQ(d.added[0].node_id, "node-b");

  // node-a goes silent: its paths are withdrawn, node-b's stay.
  clock.now += seconds(11);
  ASSERT_EQ(table.Expire().nodes.size(), 1u);
  before = after;
  after = RemotePaths(table, false);
  d = DiffPaths(before, after);
  ASSERT_EQ(d.removed.size(), 1u);
  EXPECT_EQ(d.removed[0].node_id, "node-a");
  EXPECT_TRUE(d.added.empty() && d.changed.empty());
}

TEST(DropMonitor, CountsEveryDropLogsAtMostOneLinePerReasonPerInterval) {
  DropMonitor monitor(seconds(10));
  std::chrono::steady_clock::time_point t{};
  const Drop forged{DropReason::kBadTag, "HMAC does not match"};
  std::optional<std::string> line = monitor.Record(forged, "10.0.0.9", t);
  ASSERT_TRUE(line.has_value());
  EXPECT_THAT(*line, HasSubstr("10.0.0.9"));
  EXPECT_THAT(*line, HasSubstr("authentication failed"));
  for (int i = 0; i < 99; ++i) {
    EXPECT_FALSE(monitor.Record(forged, "10.0.0.9", t + seconds(9)).has_value());
  }
  // Another reason has its own budget.
  EXPECT_TRUE(monitor.Record({DropReason::kReplayed, "seq"}, "10.0.0.9", t).has_value());
  line = monitor.Record(forged, "10.0.0.9", t + seconds(10));
  ASSERT_TRUE(line.has_value());
  EXPECT_THAT(*line, HasSubstr("99 more"));
  EXPECT_EQ(monitor.count(DropReason::kBadTag), 101u);
  EXPECT_EQ(monitor.count(DropReason::kReplayed), 1u);
  EXPECT_EQ(monitor.total(), 102u);
}

class IntakeTest : public ::testing::Test {
 protected:
  FakeSteadyClock steady;
  ReplayGuard replay{seconds(60), steady.fn()};
  NodeTable table{seconds(30), steady.fn()};
  DropMonitor drops;
  AnnouncementIntake intake{kKey, "me", replay, table, drops, steady.fn()};

  AnnouncementIntake::Result Receive(const std::vector<uint8_t>& f, size_t wire_size = 0) {
    return intake.Receive(ReceivedDatagram{f, wire_size ? wire_size : f.size(), From("10.0.0.2")});
  }
};

TEST_F(IntakeTest, AcceptsJoinsAndRefreshes) {
  Announcement a = Sample();
  AnnouncementIntake::Result r = Receive(Encode(a));
  EXPECT_EQ(r.change, NodeChange::kJoined);
  EXPECT_EQ(r.node_id, "node-a");
  a.seq++;
  EXPECT_EQ(Receive(Encode(a)).change, NodeChange::kRefreshed);
  EXPECT_EQ(drops.total(), 0u);
}

TEST_F(IntakeTest, AttacksAreDroppedCountedAndLeaveTheTableAlone) {
  const std::vector<uint8_t> good = Encode(Sample());
  ASSERT_EQ(Receive(good).change, NodeChange::kJoined);
  const auto before = table.nodes().at("node-a").last;

  AnnouncementIntake::Result replayed = Receive(good);
  EXPECT_FALSE(replayed.change.has_value());
  ASSERT_TRUE(replayed.log_line.has_value());
  EXPECT_THAT(*replayed.log_line, HasSubstr("replayed"));

  Announcement evil = Sample();
  evil.seq = 100;
  evil.uplinks.clear();
  EXPECT_FALSE(Receive(Encode(evil, "attacker key 0123456")).change.has_value());
  std::vector<uint8_t> truncated(good.begin(), good.end() - 1);
  EXPECT_FALSE(Receive(truncated).change.has_value());
  EXPECT_FALSE(Receive(std::vector<uint8_t>(kMaxAnnouncementSize + 1, 'M'), 9000).change);

  EXPECT_EQ(drops.count(DropReason::kReplayed), 1u);
  EXPECT_EQ(drops.count(DropReason::kBadTag), 1u);
  EXPECT_EQ(drops.count(DropReason::kLengthMismatch), 1u);
  EXPECT_EQ(drops.count(DropReason::kOversized), 1u);
  EXPECT_EQ(table.nodes().at("node-a").last, before);
  EXPECT_EQ(table.nodes().size(), 1u);
}

TEST_F(IntakeTest, Ipv6AnnouncementsAreTakenWithTheirScopeBesideIpv4Ones) {
  const Announcement a = Sample();
  ReceivedDatagram over_ipv6{Encode(OverIpv6(a)), 0, From("fe80::2", 3), kDiscoveryHopLimit};
  over_ipv6.wire_size = over_ipv6.bytes.size();
  EXPECT_EQ(intake.Receive(over_ipv6).change, NodeChange::kJoined);
  EXPECT_EQ(Receive(Encode(a)).change, NodeChange::kAddressAdded) << "the IPv4 copy, same seq";
  EXPECT_EQ(intake.Receive(over_ipv6).change, std::nullopt) << "the IPv6 copy again";
  EXPECT_EQ(drops.count(DropReason::kReplayed), 1u);
  ASSERT_EQ(table.nodes().size(), 1u);
  EXPECT_EQ(table.nodes().at("node-a").ipv6->from, From("fe80::2", 3));
  EXPECT_EQ(table.nodes().at("node-a").ipv4->from, From("10.0.0.2"));
}

TEST_F(IntakeTest, Ipv6FromBeyondTheLinkIsDropped) {
  const std::vector<uint8_t> frame = Encode(OverIpv6(Sample()));
  for (std::optional<int> hops : {std::optional<int>(254), std::optional<int>(1),
                                   std::optional<int>()}) {
    AnnouncementIntake::Result r =
        intake.Receive(ReceivedDatagram{frame, frame.size(), From("2001:db8::2"), hops});
    EXPECT_FALSE(r.change.has_value());
  }
  EXPECT_EQ(drops.count(DropReason::kOffLink), 3u);
  EXPECT_TRUE(table.nodes().empty());
  // Through the same intake, it is the hop limit that was wrong.
  EXPECT_EQ(intake.Receive(ReceivedDatagram{frame, frame.size(), From("2001:db8::2"), 255}).change,
            NodeChange::kJoined);
}

TEST_F(IntakeTest, ACopyReplayedOverTheOtherFamilyIsDropped) {
  // A copy captured from the IPv4 broadcast, sent again over IPv6 (and the
  // reverse) before the genuine one: it would claim the node's address there.
  const std::vector<uint8_t> ipv4_copy = Encode(Sample());
  AnnouncementIntake::Result r =
      intake.Receive(ReceivedDatagram{ipv4_copy, ipv4_copy.size(), From("fe80::66"), 255});
  EXPECT_FALSE(r.change.has_value());
  ASSERT_TRUE(r.log_line.has_value());
  EXPECT_THAT(*r.log_line, HasSubstr("family mismatch"));
  EXPECT_THAT(*r.log_line, HasSubstr("fe80::66%2"));
  EXPECT_FALSE(Receive(Encode(OverIpv6(Sample()))).change.has_value());
  EXPECT_EQ(drops.count(DropReason::kFamilyMismatch), 2u);
  EXPECT_TRUE(table.nodes().empty());
}

TEST_F(IntakeTest, OurOwnBroadcastEchoIsIgnoredNotCounted) {
  AnnouncementIntake::Result r = Receive(Encode(Sample("me")));
  EXPECT_FALSE(r.change.has_value());
  EXPECT_FALSE(r.log_line.has_value());
  EXPECT_TRUE(table.nodes().empty());
  EXPECT_EQ(drops.total(), 0u);
}

}  // namespace
}  // namespace meshbpf
