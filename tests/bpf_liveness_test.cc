// BPF_PROG_TEST_RUN tests of agent liveness (bpf/lib/liveness.h): mb_decap
// noting when a path last received, and mb_encap's scheduler keeping bonded
// traffic off silent paths only while the agent's heartbeat is stale.
//
// No assertion depends on the machine's speed or uptime beyond a few
// seconds: "stale" is a heartbeat at 1 ns with a 1 s bound, "silent" a path
// last heard at 1 ns with a 2 s bound, "receiving" a path heard just before
// the burst (which takes milliseconds, far inside the 2 s).
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>

#include "bpf/meshbpf.h"
#include "tests/bpf_datapath_fixture.h"
#include "tests/packet_builder.h"

namespace meshbpf::testing {
namespace {

constexpr uint32_t kStaleAfterMs = 1000, kSilentAfterMs = 2000;
constexpr uint64_t kLongAgoNs = 1;
// Slow model rates: back-to-back packets build virtual queues on both paths,
// so a burst spreads over both whatever the machine's speed (see
// bpf_sched_test.cc).
constexpr uint32_t kPath0Kbps = 200, kPath1Kbps = 100;
constexpr int kBurst = 30;

class LivenessTest : public DatapathTest {
 protected:
  void SetUp() override {
    DatapathTest::SetUp();
    if (SetUpStopped()) return;
    SetRate(0, kPath0Kbps);
    SetRate(1, kPath1Kbps);
  }

  void SetHeartbeat(uint64_t beat_ns) {
    const mb_heartbeat h{beat_ns, kStaleAfterMs, kSilentAfterMs};
    uint32_t key = 0;
    ASSERT_EQ(bpf_map_update_elem(Fd(skel_->maps.mb_heartbeat), &key, &h, BPF_ANY), 0);
  }
  void SetHeard(uint32_t path, uint64_t ns) {
    ASSERT_EQ(bpf_map_update_elem(Fd(skel_->maps.mb_path_rx_ns), &path, &ns, BPF_ANY), 0);
  }
  uint64_t Heard(uint32_t path) {
    uint64_t ns = 0;
    EXPECT_EQ(bpf_map_lookup_elem(Fd(skel_->maps.mb_path_rx_ns), &path, &ns), 0);
    return ns;
  }
  uint64_t Skips(uint32_t path) {
    return SumPerCpu<uint64_t>(skel_->maps.mb_unattended_skips, path,
                               +[](uint64_t* sum, const uint64_t* c) { *sum += *c; });
  }

  // Path 0 heard just now, path 1 long ago; then a burst: packets per path.
  std::array<int, 2> BurstWithPath1Silent() {
    SetHeard(1, kLongAgoNs);
    SetHeard(0, MonotonicNs());
    std::array<int, 2> sent{};
    const Bytes in = Ipv4Packet("10.203.0.2", "10.202.0.2", IPPROTO_UDP, 1000);
    for (int i = 0; i < kBurst; ++i) {
      RunResult r = Encap(in);
      EXPECT_EQ(r.verdict, kRedirect);
      const uint8_t path = Parse(r.out).path_id;
      if (path < 2) ++sent[path];
    }
    return sent;
  }
};

TEST_F(LivenessTest, DecapNotesWhenThePathLastReceived) {
  SetState(0, MB_PATH_DISABLED);  // the sender uses path 1
  const Bytes wire = FromPeer(Ipv4Packet("10.202.0.2", "10.203.0.2", IPPROTO_UDP, 200));
  ASSERT_EQ(wire[kWire + 1], 1);
  const uint64_t before = MonotonicNs();
  ASSERT_EQ(Decap(wire).verdict, kRedirect);
  EXPECT_GE(Heard(1), before);
  EXPECT_LE(Heard(1), MonotonicNs());
  EXPECT_EQ(Heard(0), 0u) << "nothing arrived on path 0";
}

TEST_F(LivenessTest, DecapDoesNotNoteAnUnknownSource) {
  Bytes wire = FromPeer(Ipv4Packet("10.202.0.2", "10.203.0.2", IPPROTO_UDP, 200));
  const uint32_t stranger = Ip("192.0.2.99");
  std::memcpy(&wire[kOuterIp + 12], &stranger, 4);
  wire[kOuterIp + 10] = wire[kOuterIp + 11] = 0;
  Put16(wire, kOuterIp + 10, Ipv4Checksum(&wire[kOuterIp], 20));
  ASSERT_EQ(Decap(wire).verdict, kShot);
  EXPECT_EQ(Heard(wire[kWire + 1]), 0u) << "a stranger's packet proves nothing about the path";
}

TEST_F(LivenessTest, FreshHeartbeatLeavesTheTableInCharge) {
  SetHeartbeat(MonotonicNs());
  const std::array<int, 2> sent = BurstWithPath1Silent();
  EXPECT_GT(sent[1], 0) << "the agent is alive: a silent but ACTIVE path is its call";
  EXPECT_EQ(sent[0] + sent[1], kBurst);
  EXPECT_EQ(Skips(1), 0u);
}

TEST_F(LivenessTest, StaleHeartbeatSkipsTheSilentPath) {
  SetHeartbeat(kLongAgoNs);
  const std::array<int, 2> sent = BurstWithPath1Silent();
  EXPECT_EQ(sent[0], kBurst) << "everything on the path still receiving";
  EXPECT_EQ(sent[1], 0);
  EXPECT_EQ(Skips(1), static_cast<uint64_t>(kBurst)) << "each packet counted once";
  EXPECT_EQ(Skips(0), 0u);
  EXPECT_EQ(TotalDrops(), 0u);
}

TEST_F(LivenessTest, StaleHeartbeatWithEveryPathSilentKeepsTheTable) {
  SetHeartbeat(kLongAgoNs);
  SetHeard(0, kLongAgoNs);
  SetHeard(1, kLongAgoNs);
  std::array<int, 2> sent{};
  const Bytes in = Ipv4Packet("10.203.0.2", "10.202.0.2", IPPROTO_UDP, 1000);
  for (int i = 0; i < kBurst; ++i) {
    RunResult r = Encap(in);
    ASSERT_EQ(r.verdict, kRedirect) << "silence everywhere tells nothing: nothing is dropped";
    ++sent[Parse(r.out).path_id & 1];
  }
  EXPECT_GT(sent[0], 0);
  EXPECT_GT(sent[1], 0);
  EXPECT_EQ(Skips(0) + Skips(1), 0u);
}

TEST_F(LivenessTest, NeverWrittenHeartbeatIsNotStale) {
  // mb_heartbeat as loaded: all zero (an agent that predates it, or never ticked).
  const std::array<int, 2> sent = BurstWithPath1Silent();
  EXPECT_GT(sent[1], 0);
  EXPECT_EQ(Skips(1), 0u);
}

TEST_F(LivenessTest, StaleHeartbeatFallsToAReceivingBackup) {
  SetHeartbeat(kLongAgoNs);
  SetState(1, MB_PATH_BACKUP);
  SetHeard(0, kLongAgoNs);  // the only ACTIVE path went quiet
  SetHeard(1, MonotonicNs());
  RunResult r = Encap(Ipv4Packet("10.203.0.2", "10.202.0.2", IPPROTO_UDP, 1000));
  ASSERT_EQ(r.verdict, kRedirect);
  EXPECT_EQ(Parse(r.out).path_id, 1) << "the backup still hears the peer";
  EXPECT_EQ(Skips(0), 1u);
}

}  // namespace
}  // namespace meshbpf::testing
