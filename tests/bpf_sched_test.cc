// BPF_PROG_TEST_RUN tests of the scheduler (bpf/lib/sched.h) through
// mb_encap: how packets spread over paths by rate, delay and state, the
// latency mode's urgent packets, and probes forced onto their path.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <thread>

#include "bpf/meshbpf.h"
#include "tests/bpf_datapath_fixture.h"
#include "tests/packet_builder.h"

namespace meshbpf::testing {
namespace {

// Tests of how the paths share a burst need their virtual queues to build
// up, so the packets must come faster than the paths drain them. At the
// fixture's 40 and 20 Mbit/s that meant a test_run call under ~200 us, which
// a slow or busy machine misses; at these rates a 1000-byte packet keeps
// path 0 busy for 40 ms and path 1 for 80 ms, and the split is the same for
// any call under ~20 ms (beyond that the queues drain between packets and
// everything goes to path 0). Path 0 is still twice as fast as path 1.
constexpr uint32_t kSlowPath0Kbps = 200, kSlowPath1Kbps = 100;

TEST_F(DatapathTest, SequenceNumbersAdvancePerBondAndPerPath) {
  SetRate(0, kSlowPath0Kbps);
  SetRate(1, kSlowPath1Kbps);
  Bytes in = Ipv4Packet("10.203.0.2", "10.202.0.2", IPPROTO_UDP, 1200);
  uint32_t last_bond = 0;
  uint32_t last_path[2] = {0, 0};
  for (int i = 0; i < 30; ++i) {
    RunResult r = Encap(in);
    ASSERT_EQ(r.verdict, kRedirect);
    Encapsulated e = Parse(r.out);
    ASSERT_LT(e.path_id, 2);
    EXPECT_EQ(e.bond_seq, last_bond + 1);
    EXPECT_EQ(e.path_seq, last_path[e.path_id] + 1) << "per-path numbering has no gaps";
    last_bond = e.bond_seq;
    last_path[e.path_id] = e.path_seq;
  }
  EXPECT_GT(last_path[0], 0u);
  EXPECT_GT(last_path[1], 0u) << "30 back-to-back packets spill onto the slower path";
}

// mb_config.path_slots: the scheduler asks only the paths the agent
// configured; a path beyond them is never chosen, even an active one.
TEST_F(DatapathTest, SchedulerLooksOnlyAtTheConfiguredPathSlots) {
  SetRate(0, kSlowPath0Kbps);
  SetRate(1, kSlowPath1Kbps);
  EditConfig([](mb_config& c) { c.path_slots = 1; });
  Bytes in = Ipv4Packet("10.203.0.2", "10.202.0.2", IPPROTO_UDP, 1200);
  for (int i = 0; i < 30; ++i) {
    RunResult r = Encap(in);
    ASSERT_EQ(r.verdict, kRedirect);
    EXPECT_EQ(Parse(r.out).path_id, 0) << "path 1 is beyond the slots";
  }
  EditConfig([](mb_config& c) { c.path_slots = 2; });
  int on_path1 = 0;
  for (int i = 0; i < 30; ++i) on_path1 += Parse(Encap(in).out).path_id == 1;
  EXPECT_GT(on_path1, 0) << "within the slots, the back-to-back packets spill onto path 1";
}

TEST_F(DatapathTest, SplitsTrafficInProportionToRates) {
  // 1000-byte L3 packets, back to back: both virtual queues build and the
  // split follows the rates.
  SetRate(0, kSlowPath0Kbps);
  SetRate(1, kSlowPath1Kbps);
  Bytes in = Ipv4Packet("10.203.0.2", "10.202.0.2", IPPROTO_UDP, 1000 - 28);
  ASSERT_EQ(in.size(), 14u + 1000u);
  constexpr int kPackets = 300;
  uint64_t packets[2] = {0, 0}, bytes[2] = {0, 0};
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kPackets; ++i) {
    RunResult r = Encap(in);
    ASSERT_EQ(r.verdict, kRedirect);
    Encapsulated e = Parse(r.out);
    ASSERT_LT(e.path_id, 2);
    EXPECT_EQ(Addr(r.out, kOuterIp + 12), Ip(e.path_id == 0 ? kPath0Src : kPath1Src));
    ++packets[e.path_id];
    bytes[e.path_id] += r.out.size() - kInner;  // the inner L3 packet
  }
  const auto elapsed = std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::steady_clock::now() - start);
  const double ratio =
      static_cast<double>(packets[0]) / static_cast<double>(std::max<uint64_t>(packets[1], 1));
  std::cout << "[ split    ] path0 " << packets[0] << " packets, path1 (half the rate) "
            << packets[1] << " packets, ratio " << ratio << ", " << kPackets << " calls in "
            << elapsed.count() << " us\n";
  RecordProperty("path0_packets", static_cast<int>(packets[0]));
  RecordProperty("path1_packets", static_cast<int>(packets[1]));
  EXPECT_GT(ratio, 1.6) << packets[0] << " vs " << packets[1];
  EXPECT_LT(ratio, 2.4) << packets[0] << " vs " << packets[1];
  for (uint32_t p = 0; p < 2; ++p) {
    mb_path_counters c = Counters(p);
    EXPECT_EQ(c.tx_packets, packets[p]) << "path " << p;
    EXPECT_EQ(c.tx_bytes, bytes[p]) << "path " << p;
    EXPECT_EQ(c.tx_bytes, packets[p] * 1000) << "path " << p;
  }
  EXPECT_EQ(TotalDrops(), 0u);
  // The scheduler's own numbering agrees with what went out.
  mb_sched sched{};
  uint32_t key = 0;
  ASSERT_EQ(bpf_map_lookup_elem_flags(bpf_map__fd(skel_->maps.mb_sched), &key, &sched, BPF_F_LOCK),
            0);
  EXPECT_EQ(sched.bond_seq, static_cast<uint32_t>(kPackets));
  EXPECT_EQ(sched.path_seq[0], packets[0]);
  EXPECT_EQ(sched.path_seq[1], packets[1]);
}

// Far more back-to-back traffic than the 50 ms scheduling horizon holds
// (1500 x 1000 B is 40 s of virtual time per path): the backlogs are rebased
// but the split must not change.
TEST_F(DatapathTest, SplitHoldsUnderSustainedOverload) {
  SetRate(0, kSlowPath0Kbps);
  SetRate(1, kSlowPath1Kbps);
  Bytes in = Ipv4Packet("10.203.0.2", "10.202.0.2", IPPROTO_UDP, 1000 - 28);
  uint64_t packets[2] = {0, 0}, last_third[2] = {0, 0};
  constexpr int kPackets = 1500;
  for (int i = 0; i < kPackets; ++i) {
    RunResult r = Encap(in);
    ASSERT_EQ(r.verdict, kRedirect);
    const uint8_t path = r.out[kWire + 1];
    ASSERT_LT(path, 2);
    ++packets[path];
    if (i >= kPackets * 2 / 3) ++last_third[path];
  }
  const double ratio =
      static_cast<double>(packets[0]) / static_cast<double>(std::max<uint64_t>(packets[1], 1));
  const double late = static_cast<double>(last_third[0]) /
                      static_cast<double>(std::max<uint64_t>(last_third[1], 1));
  std::cout << "[ split    ] overload: " << packets[0] << " vs " << packets[1] << " (ratio "
            << ratio << "), last third " << last_third[0] << " vs " << last_third[1] << " (ratio "
            << late << ")\n";
  EXPECT_GT(ratio, 1.6);
  EXPECT_LT(ratio, 2.4);
  EXPECT_GT(late, 1.6) << "past the horizon the split drifted";
  EXPECT_LT(late, 2.4) << "past the horizon the split drifted";
  mb_sched sched{};
  uint32_t key = 0;
  ASSERT_EQ(bpf_map_lookup_elem_flags(bpf_map__fd(skel_->maps.mb_sched), &key, &sched, BPF_F_LOCK),
            0);
  // A path's clock ends at most horizon + spread ahead, plus the packet it
  // was given last (80 ms on path 1).
  const uint64_t bound = MonotonicNs() + 50'000'000ull + 100'000'000ull + 80'000'000ull;
  for (int p = 0; p < 2; ++p) {
    EXPECT_LE(sched.busy_until_ns[p], bound)
        << "path " << p << ": backlog not bounded by horizon + spread";
  }
}

TEST_F(DatapathTest, IdleBondStartsAgainOnTheFastestPath) {
  Bytes in = Ipv4Packet("10.203.0.2", "10.202.0.2", IPPROTO_UDP, 1000 - 28);
  for (int i = 0; i < 10; ++i) ASSERT_EQ(Encap(in).verdict, kRedirect);  // ~2 ms of backlog
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  RunResult r = Encap(in);
  ASSERT_EQ(r.verdict, kRedirect);
  EXPECT_EQ(r.out[kWire + 1], 0) << "the queues drained while idle";
  EXPECT_EQ(Parse(r.out).bond_seq, 11u);
}

TEST_F(DatapathTest, LongerDelayPathOnlyTakesOverflow) {
  // Same rates, but path 1 is 20 ms further away: a short burst stays on path 0.
  SetPath(1, kPath1Src, "10.201.2.1", 40000, MB_PATH_ACTIVE);
  SetDelay(1, 20000);
  Bytes in = Ipv4Packet("10.203.0.2", "10.202.0.2", IPPROTO_UDP, 1000);
  int on_path1 = 0;
  for (int i = 0; i < 20; ++i) on_path1 += Encap(in).out[kWire + 1] == 1;
  EXPECT_EQ(on_path1, 0) << "20 packets queue ~4 ms on path 0, less than the 20 ms extra delay";
}

TEST_F(DatapathTest, ResequencingPeerHidesDelayUpToItsDeadline) {
  // The same burst with the peer resequencing up to 50 ms: the far path's
  // 20 ms no longer counts, so the paths fill by capacity.
  SetPath(1, kPath1Src, "10.201.2.1", 40000, MB_PATH_ACTIVE);
  SetDelay(1, 20000);
  SetReseqDeadlineUs(50000);
  Bytes in = Ipv4Packet("10.203.0.2", "10.202.0.2", IPPROTO_UDP, 1000);
  int on_path1 = 0;
  for (int i = 0; i < 20; ++i) on_path1 += Encap(in).out[kWire + 1] == 1;
  EXPECT_GE(on_path1, 8) << "equal rates: about half each";
  EXPECT_LE(on_path1, 12);
}

TEST_F(DatapathTest, DelayBeyondTheResequencingDeadlineStillCounts) {
  SetPath(1, kPath1Src, "10.201.2.1", 40000, MB_PATH_ACTIVE);
  SetDelay(1, 30000);
  SetReseqDeadlineUs(10000);  // 20 ms of the 30 are not hidden
  Bytes in = Ipv4Packet("10.203.0.2", "10.202.0.2", IPPROTO_UDP, 1000);
  int on_path1 = 0;
  for (int i = 0; i < 20; ++i) on_path1 += Encap(in).out[kWire + 1] == 1;
  EXPECT_EQ(on_path1, 0);
}

TEST_F(DatapathTest, UrgentPacketsCountTheWholeDelayWhenResequencing) {
  Configure(1, MB_MODE_LATENCY, 200);
  SetReseqDeadlineUs(50000);
  SetDelay(0, 20000);
  Bytes small = Ipv4Packet("10.203.0.2", "10.202.0.2", IPPROTO_UDP, 40);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(Encap(small).out[kWire + 1], 1) << "the nearer path";
}

TEST_F(DatapathTest, UsesTheOnlyActivePath) {
  Bytes in = Ipv4Packet("10.203.0.2", "10.202.0.2", IPPROTO_UDP, 1000);
  SetState(0, MB_PATH_DISABLED);
  for (int i = 0; i < 20; ++i) {
    RunResult r = Encap(in);
    ASSERT_EQ(r.verdict, kRedirect);
    EXPECT_EQ(r.out[kWire + 1], 1);
    EXPECT_EQ(Parse(r.out).path_seq, static_cast<uint32_t>(i + 1));
  }
  SetState(0, MB_PATH_ACTIVE);
  SetState(1, MB_PATH_DISABLED);
  for (int i = 0; i < 20; ++i) {
    RunResult r = Encap(in);
    ASSERT_EQ(r.verdict, kRedirect);
    EXPECT_EQ(r.out[kWire + 1], 0);
    EXPECT_EQ(Addr(r.out, kOuterIp + 12), Ip(kPath0Src));
  }
  EXPECT_EQ(Counters(1).tx_packets, 20u);
  EXPECT_EQ(Counters(0).tx_packets, 20u);
}

TEST_F(DatapathTest, FallsBackToBackupWhenNoPathIsActive) {
  Bytes in = Ipv4Packet("10.203.0.2", "10.202.0.2", IPPROTO_UDP, 1000);
  // An active path and a backup: the backup carries nothing.
  SetState(1, MB_PATH_BACKUP);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(Encap(in).out[kWire + 1], 0);
  // No active path: the backup carries everything.
  SetState(0, MB_PATH_DISABLED);
  for (int i = 0; i < 5; ++i) {
    RunResult r = Encap(in);
    ASSERT_EQ(r.verdict, kRedirect);
    EXPECT_EQ(r.out[kWire + 1], 1);
    EXPECT_EQ(Addr(r.out, kOuterIp + 12), Ip(kPath1Src));
    EXPECT_EQ(Parse(r.out).path_seq, static_cast<uint32_t>(i + 1));
    EXPECT_EQ(Parse(r.out).bond_seq, static_cast<uint32_t>(20 + i + 1));
  }
  EXPECT_EQ(Counters(1).tx_packets, 5u);
}

TEST_F(DatapathTest, DropsAndCountsWhenNoPathIsUsable) {
  SetState(0, MB_PATH_DISABLED);
  SetState(1, MB_PATH_DISABLED);
  Bytes in = Ipv4Packet("10.203.0.2", "10.202.0.2", IPPROTO_UDP, 100);
  EXPECT_EQ(Encap(in).verdict, kShot);
  EXPECT_EQ(Encap(in).verdict, kShot);
  EXPECT_EQ(Counters(MB_NO_PATH).drops[MB_DROP_NO_PATH], 2u);
  EXPECT_EQ(TotalDrops(), 2u);
  EXPECT_EQ(Counters(0).tx_packets + Counters(1).tx_packets, 0u);
}

TEST_F(DatapathTest, ActivePathWithoutRateIsNotUsed) {
  SetPath(0, kPath0Src, "10.201.1.1", 0, MB_PATH_ACTIVE);
  Bytes in = Ipv4Packet("10.203.0.2", "10.202.0.2", IPPROTO_UDP, 100);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(Encap(in).out[kWire + 1], 1);
}

TEST_F(DatapathTest, LatencyModeSendsUrgentPacketsOnTheLowestDelayPath) {
  Configure(1, MB_MODE_LATENCY, /*latency_bytes=*/200);
  SetRate(0, kSlowPath0Kbps);  // bulk must queue up to spill onto the far path
  SetRate(1, kSlowPath1Kbps);
  // The fast path is far away: 80 ms, more than the 40 ms it saves an EF
  // packet in serialisation.
  SetDelay(0, 80000);
  SetDelay(1, 5000);
  Bytes small = Ipv4Packet("10.203.0.2", "10.202.0.2", IPPROTO_UDP, 100);
  Ipv4Options ef;
  ef.tos = 0xb8;
  Bytes voice = Ipv4Packet("10.203.0.2", "10.202.0.2", IPPROTO_UDP, 1000, ef);
  Bytes bulk = Ipv4Packet("10.203.0.2", "10.202.0.2", IPPROTO_TCP, 1400);
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(Encap(small).out[kWire + 1], 1) << "small packet " << i;
    EXPECT_EQ(Encap(voice).out[kWire + 1], 1) << "EF packet " << i;
  }
  int bulk_on_path0 = 0;
  for (int i = 0; i < 200; ++i) bulk_on_path0 += Encap(bulk).out[kWire + 1] == 0;
  EXPECT_GT(bulk_on_path0, 60) << "bulk is still bonded across both paths";
  EXPECT_LT(bulk_on_path0, 200);
}

TEST_F(DatapathTest, GuardedPathCarriesNoBulkButUrgentPackets) {
  Configure(1, MB_MODE_LATENCY, /*latency_bytes=*/200);
  SetRate(0, kSlowPath0Kbps);  // bulk would spill onto path 1 without the flag
  SetRate(1, kSlowPath1Kbps);
  SetDelay(0, 20000);  // path 1 is the nearer one: urgent packets want it
  EditPath(1, [](mb_path& p) { p.flags |= MB_PATH_F_NO_BULK; });
  Bytes bulk = Ipv4Packet("10.203.0.2", "10.202.0.2", IPPROTO_TCP, 1400);
  Bytes small = Ipv4Packet("10.203.0.2", "10.202.0.2", IPPROTO_UDP, 40);
  for (int i = 0; i < 50; ++i) {
    RunResult r = Encap(bulk);
    ASSERT_EQ(r.verdict, kRedirect);
    EXPECT_EQ(r.out[kWire + 1], 0) << "bulk packet " << i;
  }
  for (int i = 0; i < 5; ++i) EXPECT_EQ(Encap(small).out[kWire + 1], 1) << "urgent packet " << i;
  // The flag off again: the same backlog spills bulk onto path 1.
  EditPath(1, [](mb_path& p) { p.flags &= ~MB_PATH_F_NO_BULK; });
  int bulk_on_path1 = 0;
  for (int i = 0; i < 50; ++i) bulk_on_path1 += Encap(bulk).out[kWire + 1] == 1;
  EXPECT_GT(bulk_on_path1, 0);
}

TEST_F(DatapathTest, ProbeMarkForcesItsPathEvenWhenDisabled) {
  SetState(1, MB_PATH_DISABLED);
  Bytes probe = Ipv4Packet("10.203.0.2", "10.203.0.1", IPPROTO_UDP, 40);
  for (uint32_t path : {1u, 0u, 1u}) {
    RunResult r = Run(skel_->progs.mb_encap, probe, MB_PROBE_MARK | path);
    ASSERT_EQ(r.verdict, kRedirect);
    EXPECT_EQ(r.out[kWire + 1], path);
  }
  EXPECT_EQ(Counters(1).tx_packets, 2u);
  // An unconfigured path id cannot be forced.
  EXPECT_EQ(Run(skel_->progs.mb_encap, probe, MB_PROBE_MARK | 5).verdict, kShot);
  // Nor can an id past the table, even one whose low bits name a real path.
  EXPECT_EQ(Run(skel_->progs.mb_encap, probe, MB_PROBE_MARK | MB_MAX_PATHS).verdict, kShot);
  // Other marks do not force anything: the disabled path stays unused.
  EXPECT_EQ(Run(skel_->progs.mb_encap, probe, 0x1234501).out[kWire + 1], 0);
}

}  // namespace
}  // namespace meshbpf::testing
