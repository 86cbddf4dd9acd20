// BPF_PROG_TEST_RUN tests of data caps (bpf/lib/caps.h) with a peer; flow
// mode's are in bpf_flow_test.cc.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>

#include "bpf/meshbpf.h"
#include "tests/bpf_datapath_fixture.h"
#include "tests/packet_builder.h"

namespace meshbpf::testing {
namespace {

// mb_budget[path]: the agent grants limit_bytes; the data path charges the
// wire size (outer IPv4 packet) of every packet sent or received on the
// path and, once nothing is left, stops using it (or keeps it as a last
// resort).

// A 1000-byte IPv4 packet: 1040 bytes on the wire once encapsulated.
constexpr size_t kCapPayload = 1000 - 28;
constexpr int64_t kCapWire = 1000 + MB_ENCAP_OVERHEAD;

TEST_F(DatapathTest, CapIsChargedTheWireSizeOfEveryPacketSent) {
  Bytes in = Ipv4Packet("10.203.0.2", "10.202.0.2", IPPROTO_UDP, kCapPayload);
  ASSERT_EQ(in.size() - 14, 1000u);
  SetCap(0, 1'000'000, 1'000'000);
  for (int i = 0; i < 30; ++i) ASSERT_EQ(Encap(in).verdict, kRedirect);
  const mb_path_counters c0 = Counters(0);
  EXPECT_GT(c0.tx_packets, 0u);
  EXPECT_GT(Counters(1).tx_packets, 0u) << "both paths in use";
  EXPECT_EQ(Remaining(0), 1'000'000 - static_cast<int64_t>(c0.tx_packets) * kCapWire)
      << "only path 0's own packets, at their encapsulated size";
  EXPECT_EQ(Remaining(1), 0) << "an uncapped path is not counted";
}

TEST_F(DatapathTest, StopPolicyTakesASpentPathOutWithinOnePacket) {
  SetState(1, MB_PATH_DISABLED);
  Bytes in = Ipv4Packet("10.203.0.2", "10.202.0.2", IPPROTO_UDP, kCapPayload);
  SetCap(0, 3000, 3000, MB_CAP_STOP);
  // 3000 -> 1960 -> 920 -> -120: the packet that crosses zero still goes
  // (the check comes first), the next one finds nothing left.
  for (int i = 0; i < 3; ++i) ASSERT_EQ(Encap(in).verdict, kRedirect) << i;
  EXPECT_EQ(Remaining(0), 3000 - 3 * kCapWire);
  EXPECT_EQ(Encap(in).verdict, kShot) << "the only path is spent";
  EXPECT_EQ(Counters(MB_NO_PATH).drops[MB_DROP_NO_PATH], 1u);
  EXPECT_EQ(Counters(0).tx_packets, 3u);
  EXPECT_EQ(Remaining(0), 3000 - 3 * kCapWire) << "a dropped packet costs nothing";
  // Another path in service carries everything; the spent one stays out.
  SetState(1, MB_PATH_ACTIVE);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(Encap(in).out[kWire + 1], 1);
  // Also as a backup: a spent stop-policy path is no backup.
  SetState(0, MB_PATH_BACKUP);
  SetState(1, MB_PATH_DISABLED);
  EXPECT_EQ(Encap(in).verdict, kShot);
  // The agent grants a new budget (reset, new period): back in service.
  SetState(0, MB_PATH_ACTIVE);
  SetCap(0, 3000, 3000);
  EXPECT_EQ(Encap(in).verdict, kRedirect);
  EXPECT_EQ(Counters(0).tx_packets, 4u);
}

TEST_F(DatapathTest, LastResortPathCarriesTrafficOnlyWhenNothingElseCan) {
  Bytes in = Ipv4Packet("10.203.0.2", "10.202.0.2", IPPROTO_UDP, kCapPayload);
  SetCap(0, 5000, 0, MB_CAP_LAST_RESORT);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(Encap(in).out[kWire + 1], 1) << "path 1 is usable";
  EXPECT_EQ(Counters(0).tx_packets, 0u);
  // Path 1 out: the spent path stands in, and what it carries is counted.
  SetState(1, MB_PATH_DISABLED);
  for (int i = 0; i < 3; ++i) {
    RunResult r = Encap(in);
    ASSERT_EQ(r.verdict, kRedirect);
    EXPECT_EQ(r.out[kWire + 1], 0);
  }
  EXPECT_EQ(Remaining(0), -3 * kCapWire);
  // Not when the path itself is out of service.
  SetState(0, MB_PATH_DISABLED);
  EXPECT_EQ(Encap(in).verdict, kShot);
  // A path in service beats it again.
  SetState(0, MB_PATH_ACTIVE);
  SetState(1, MB_PATH_ACTIVE);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(Encap(in).out[kWire + 1], 1);
}

TEST_F(DatapathTest, RedundantModeSkipsASpentPath) {
  Configure(1, MB_MODE_REDUNDANT);
  SetCap(1, 5000, 0, MB_CAP_STOP);
  Bytes in = Ipv4Packet("10.203.0.2", "10.202.0.2", IPPROTO_UDP, kCapPayload);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(Encap(in).out[kWire + 1], 0);
  EXPECT_EQ(Counters(1).tx_packets, 0u);
  EXPECT_EQ(Counters(0).tx_packets, 5u);
}

TEST_F(DatapathTest, ProbesStopOnASpentPathUnlessItIsALastResort) {
  Bytes probe = Ipv4Packet("10.203.0.2", "10.203.0.1", IPPROTO_UDP, 40);
  // Stop policy: unanswered probes tell the peer to stop sending on it too.
  SetCap(1, 5000, 0, MB_CAP_STOP);
  EXPECT_EQ(Run(skel_->progs.mb_encap, probe, MB_PROBE_MARK | 1).verdict, kShot);
  EXPECT_EQ(Counters(MB_NO_PATH).drops[MB_DROP_NO_PATH], 1u);
  EXPECT_EQ(Remaining(1), 0) << "a dropped probe costs nothing";
  // Last resort: the path must stay known to be working.
  SetCap(1, 5000, 0, MB_CAP_LAST_RESORT);
  RunResult r = Run(skel_->progs.mb_encap, probe, MB_PROBE_MARK | 1);
  ASSERT_EQ(r.verdict, kRedirect);
  EXPECT_EQ(r.out[kWire + 1], 1);
  EXPECT_EQ(Remaining(1), -static_cast<int64_t>(probe.size() - 14 + MB_ENCAP_OVERHEAD));
}

TEST_F(DatapathTest, DecapChargesWhatArrivedOnThePath) {
  SetState(1, MB_PATH_DISABLED);  // the sender uses path 0
  Bytes in = Ipv4Packet("10.202.0.2", "10.203.0.2", IPPROTO_UDP, kCapPayload);
  Bytes wire = FromPeer(in);
  ASSERT_EQ(wire[kWire + 1], 0);
  ASSERT_EQ(wire.size() - 14, static_cast<size_t>(kCapWire));
  SetCap(0, 2000, 2000, MB_CAP_STOP);
  for (int i = 0; i < 3; ++i) {
    RunResult r = Decap(wire);
    // Already carried by the uplink: delivered even once the cap is spent.
    ASSERT_EQ(r.verdict, kRedirect) << i;
    EXPECT_TRUE(BytesEqual(L3(r.out), L3(in), "decap-capped", true));
  }
  EXPECT_EQ(Remaining(0), 2000 - 3 * kCapWire);
}

}  // namespace
}  // namespace meshbpf::testing
