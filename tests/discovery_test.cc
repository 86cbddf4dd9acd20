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
  EXPECT_EQ(std::get<NodeChange>(table.Update(a, Ip("10.0.0.2"))), NodeChange::kJoined);
  a.seq++;
  EXPECT_EQ(std::get<NodeChange>(table.Update(a, Ip("10.0.0.2"))), NodeChange::kRefreshed);
  a.version = "0.4";
  EXPECT_EQ(std::get<NodeChange>(table.Update(a, Ip("10.0.0.2"))), NodeChange::kUpdated);
  a.uplinks[0].rtt_us += 1;
  EXPECT_EQ(std::get<NodeChange>(table.Update(a, Ip("10.0.0.2"))), NodeChange::kUplinksChanged);
  a.relay->share_remaining_bytes = 1;
  EXPECT_EQ(std::get<NodeChange>(table.Update(a, Ip("10.0.0.2"))), NodeChange::kUplinksChanged);
  a.relay.reset();
  EXPECT_EQ(std::get<NodeChange>(table.Update(a, Ip("10.0.0.2"))), NodeChange::kUplinksChanged);
  a.bond->tunnel_port = 7302;
  EXPECT_EQ(std::get<NodeChange>(table.Update(a, Ip("10.0.0.2"))), NodeChange::kUplinksChanged)
      << "relays of this node must forward elsewhere";
  a.bond.reset();
  EXPECT_EQ(std::get<NodeChange>(table.Update(a, Ip("10.0.0.2"))), NodeChange::kUplinksChanged);
  EXPECT_EQ(std::get<NodeChange>(table.Update(a, Ip("10.0.0.3"))), NodeChange::kUplinksChanged)
      << "a new source address changes where relayed traffic goes";
  ASSERT_EQ(table.nodes().size(), 1u);
  EXPECT_EQ(table.nodes().at("node-a").last.version, "0.4");
}

TEST(NodeTable, ExpiresNodesNotHeardForNodeTimeout) {
  FakeSteadyClock clock;
  NodeTable table(seconds(30), clock.fn());
  table.Update(Sample("node-a"), Ip("10.0.0.2"));
  clock.now += seconds(20);
  table.Update(Sample("node-b"), Ip("10.0.0.3"));
  clock.now += seconds(10);  // a: exactly 30 s
  EXPECT_TRUE(table.Expire().empty());
  clock.now += milliseconds(1);
  std::vector<MeshNode> gone = table.Expire();
  ASSERT_EQ(gone.size(), 1u);
  EXPECT_EQ(gone[0].last.node_id, "node-a");
  EXPECT_EQ(table.nodes().size(), 1u);
  clock.now += seconds(21);
  ASSERT_EQ(table.Expire().size(), 1u);
  EXPECT_TRUE(table.nodes().empty());
  EXPECT_EQ(std::get<NodeChange>(table.Update(Sample("node-a"), Ip("10.0.0.2"))),
            NodeChange::kJoined);
}

TEST(NodeTable, RefusesNewNodesWhenFull) {
  FakeSteadyClock clock;
  NodeTable table(seconds(30), clock.fn());
  for (size_t i = 0; i < kMaxNodes; ++i) {
    ASSERT_TRUE(std::holds_alternative<NodeChange>(
        table.Update(Sample(absl::StrCat("n", i)), Ip("10.0.0.2"))));
  }
  std::variant<NodeChange, Drop> r = table.Update(Sample("one-too-many"), Ip("10.0.0.2"));
  ASSERT_TRUE(std::holds_alternative<Drop>(r));
  EXPECT_EQ(std::get<Drop>(r).reason, DropReason::kTableFull);
  // Known nodes still refresh.
  EXPECT_EQ(std::get<NodeChange>(table.Update(Sample("n0"), Ip("10.0.0.2"))), NodeChange::kRefreshed);
}

TEST(RemotePaths, AreTheSharedUplinksOfRelayingNodes) {
  FakeSteadyClock clock;
  NodeTable table(seconds(30), clock.fn());
  table.Update(Sample("node-b"), Ip("10.0.0.3"));
  Announcement no_relay = Sample("node-c");
  no_relay.relay.reset();
  table.Update(no_relay, Ip("10.0.0.4"));
  table.Update(Sample("node-a"), Ip("10.0.0.2"));
  std::vector<RemotePath> paths = RemotePaths(table);
  std::vector<std::string> names;
  for (const RemotePath& p : paths) names.push_back(p.node_id + "/" + p.uplink.name);
  EXPECT_THAT(names, ::testing::ElementsAre("node-a/eth0", "node-a/wwan0", "node-b/eth0",
                                            "node-b/wwan0"));
  EXPECT_EQ(paths[0].node_address.s_addr, Ip("10.0.0.2").s_addr);
  EXPECT_EQ(paths[0].relay_port, 7211) << "each uplink's own port";
  EXPECT_EQ(paths[1].relay_port, 7212);
  EXPECT_EQ(paths[1].uplink.cap_remaining_bytes, 5'000'000'000ULL);
  EXPECT_EQ(paths[1].share_remaining_bytes, 2'000'000'000ULL);
}

TEST(RemotePaths, ASharedUplinkWithoutARelayPortIsNoCandidate) {
  // Decoding refuses it; the table itself does not check.
  FakeSteadyClock clock;
  NodeTable table(seconds(30), clock.fn());
  Announcement a = Sample("node-a");
  a.uplinks[1].relay_port = 0;
  table.Update(a, Ip("10.0.0.2"));
  std::vector<RemotePath> paths = RemotePaths(table);
  ASSERT_EQ(paths.size(), 1u);
  EXPECT_EQ(paths[0].uplink.name, "eth0");
}

TEST(RemotePaths, TopologyChangesShowUpInTheDiff) {
  FakeSteadyClock clock;
  NodeTable table(seconds(30), clock.fn());
  std::vector<RemotePath> before = RemotePaths(table);
  table.Update(Sample("node-a"), Ip("10.0.0.2"));  // joins: two shared uplinks
  std::vector<RemotePath> after = RemotePaths(table);
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
  table.Update(a, Ip("10.0.0.2"));
  clock.now += seconds(20);
  table.Update(Sample("node-b"), Ip("10.0.0.3"));
  before = after;
  after = RemotePaths(table);
  d = DiffPaths(before, after);
  ASSERT_EQ(d.removed.size(), 1u);
  EXPECT_EQ(d.removed[0].uplink.name, "wwan0");
  ASSERT_EQ(d.changed.size(), 1u);
  EXPECT_EQ(d.changed[0].uplink.capacity_kbps, 20'000u);
  ASSERT_EQ(d.added.size(), 2u);
  EXPECT_EQ(d.added[0].node_id, "node-b");

  // node-a goes silent: its paths are withdrawn, node-b's stay.
  clock.now += seconds(11);
  ASSERT_EQ(table.Expire().size(), 1u);
  before = after;
  after = RemotePaths(table);
  d = DiffPaths(before, after);
  ASSERT_EQ(d.removed.size(), 1u);
  EXPECT_EQ(d.removed[0].node_id, "node-a");
  EXPECT_TRUE(d.added.empty() && d.changed.empty());
}

TEST(DropMonitor, CountsEveryDropLogsAtMostOneLinePerReasonPerInterval) {
  DropMonitor monitor(seconds(10));
  std::chrono::steady_clock::time_point t{};
  const Drop forged{DropReason::kBadTag, "HMAC does not match"};
  std::optional<std::string> line = monitor.Record(forged, Ip("10.0.0.9"), t);
  ASSERT_TRUE(line.has_value());
  EXPECT_THAT(*line, HasSubstr("10.0.0.9"));
  EXPECT_THAT(*line, HasSubstr("authentication failed"));
  for (int i = 0; i < 99; ++i) {
    EXPECT_FALSE(monitor.Record(forged, Ip("10.0.0.9"), t + seconds(9)).has_value());
  }
  // Another reason has its own budget.
  EXPECT_TRUE(monitor.Record({DropReason::kReplayed, "seq"}, Ip("10.0.0.9"), t).has_value());
  line = monitor.Record(forged, Ip("10.0.0.9"), t + seconds(10));
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
    return intake.Receive(ReceivedDatagram{f, wire_size ? wire_size : f.size(), Ip("10.0.0.2")});
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

TEST_F(IntakeTest, OurOwnBroadcastEchoIsIgnoredNotCounted) {
  AnnouncementIntake::Result r = Receive(Encode(Sample("me")));
  EXPECT_FALSE(r.change.has_value());
  EXPECT_FALSE(r.log_line.has_value());
  EXPECT_TRUE(table.nodes().empty());
  EXPECT_EQ(drops.total(), 0u);
}

}  // namespace
}  // namespace meshbpf
