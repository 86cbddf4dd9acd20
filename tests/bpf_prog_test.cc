// BPF_PROG_TEST_RUN tests for the TC programs mb_encap and mb_decap: crafted
// packets in, verdict, output bytes and map changes checked. test_run never
// really redirects or drops: a redirect shows as the TC_ACT_REDIRECT verdict
// with the rewritten packet as output. On a byte mismatch the output (and the
// expected bytes) are written as pcaps under /tmp for Wireshark.
//
// Each test gets a fresh skeleton with unpinned maps (there is no bpffs on
// the test machines), configured the way the agent configures it: two active
// paths (40 and 20 Mbit/s) over lo toward the peer 10.200.0.2. The MTU test
// runs on a thread inside a private network namespace whose lo has MTU 1500;
// nothing on the host is changed. Needs root (BPF load, unshare).
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>
#include <linux/pkt_cls.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "bpf/meshbpf.h"
#include "meshbpf.skel.h"
#include "tests/bpf_test_run.h"
#include "tests/packet_builder.h"

namespace {

using namespace meshbpf::testing;

static_assert(MB_ENCAP_OVERHEAD == 40, "outer IPv4 + UDP + wire header");
static_assert(sizeof(mb_wire_hdr) == 12);

constexpr uint16_t kPort = 7201;
constexpr uint8_t kBondMac[6] = {0x02, 0x4d, 0x42, 0x00, 0x00, 0x01};
constexpr const char* kPeer = "10.200.0.2";
constexpr const char* kPath0Src = "10.201.1.2";
constexpr const char* kPath1Src = "10.201.2.2";

// Offsets in an encapsulated frame.
constexpr size_t kOuterIp = 14, kOuterUdp = 34, kWire = 42, kInner = 14 + MB_ENCAP_OVERHEAD;

constexpr uint32_t kRedirect = TC_ACT_REDIRECT;
constexpr uint32_t kShot = TC_ACT_SHOT;
constexpr uint32_t kOk = TC_ACT_OK;

std::string CurrentTestName() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  return info ? info->name() : "unknown";
}

// Byte comparison that, on a mismatch, names the first differing offset and
// writes both frames as pcaps. Frames that are only an L3 part get a dummy
// Ethernet header in the pcap so Wireshark still decodes them.
::testing::AssertionResult BytesEqual(const Bytes& actual, const Bytes& expected,
                                      const std::string& what, bool l3_only = false) {
  if (actual == expected) return ::testing::AssertionSuccess();
  auto frame = [&](const Bytes& b) {
    if (!l3_only) return b;
    Bytes f = Ethernet(!b.empty() && b[0] >> 4 == 6 ? kEthIpv6 : kEthIpv4);
    f.insert(f.end(), b.begin(), b.end());
    return f;
  };
  const std::string name = CurrentTestName() + "-" + what;
  return ::testing::AssertionFailure()
         << what << ": bytes differ at offset " << FirstDifference(actual, expected)
         << " (sizes " << actual.size() << " vs " << expected.size() << "); output written to "
         << DumpPcap(frame(actual), name) << ", expected to "
         << DumpPcap(frame(expected), name + "-want");
}

// An encapsulated frame's header fields.
struct Encapsulated {
  uint8_t path_id;
  uint32_t bond_seq;
  uint32_t path_seq;
};
Encapsulated Parse(const Bytes& o) {
  return {o[kWire + 1], Get32(o, kWire + 4), Get32(o, kWire + 8)};
}

class DatapathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    skel_ = LoadUnpinnedDatapath();
    ASSERT_NE(skel_, nullptr);
    lo_ = if_nametoindex("lo");
    ASSERT_GT(lo_, 0u);
    Configure(1);
    SetPath(0, kPath0Src, "10.201.1.1", 40000, MB_PATH_ACTIVE);
    SetPath(1, kPath1Src, "10.201.2.1", 20000, MB_PATH_ACTIVE);
    AddPeer(kPeer);
  }
  void TearDown() override {
    if (skel_) meshbpf_bpf__destroy(skel_);
  }

  void Configure(uint8_t configured, uint8_t mode = MB_MODE_LOAD_BALANCE,
                 uint16_t latency_bytes = 0) {
    mb_config c{};
    c.bond_ifindex = lo_;
    c.listen_port = kPort;
    std::memcpy(c.bond_mac, kBondMac, 6);
    c.mode = mode;
    c.latency_bytes = latency_bytes;
    c.configured = configured;
    uint32_t key = 0;
    ASSERT_EQ(bpf_map_update_elem(bpf_map__fd(skel_->maps.mb_config), &key, &c, BPF_ANY), 0);
  }

  void SetPath(uint32_t id, const char* src, const char* gw, uint32_t rate_kbps, uint8_t state) {
    mb_path p{};
    p.ifindex = lo_;  // bpf_check_mtu needs a real device
    p.src_ip = Ip(src);
    p.dst_ip = Ip(kPeer);
    p.gateway = Ip(gw);
    p.src_port = kPort;
    p.dst_port = kPort;
    p.mtu = 1500;
    p.rate_kbps = rate_kbps;
    p.state = state;
    ASSERT_EQ(bpf_map_update_elem(bpf_map__fd(skel_->maps.mb_paths), &id, &p, BPF_ANY), 0);
  }

  void SetState(uint32_t id, uint8_t state) {
    mb_path p{};
    ASSERT_EQ(bpf_map_lookup_elem(bpf_map__fd(skel_->maps.mb_paths), &id, &p), 0);
    p.state = state;
    ASSERT_EQ(bpf_map_update_elem(bpf_map__fd(skel_->maps.mb_paths), &id, &p, BPF_ANY), 0);
  }

  void SetDelay(uint32_t id, uint32_t owd_us) {
    mb_path p{};
    ASSERT_EQ(bpf_map_lookup_elem(bpf_map__fd(skel_->maps.mb_paths), &id, &p), 0);
    p.owd_us = owd_us;
    ASSERT_EQ(bpf_map_update_elem(bpf_map__fd(skel_->maps.mb_paths), &id, &p, BPF_ANY), 0);
  }

  void AddPeer(const char* addr) {
    uint32_t key = Ip(addr);
    mb_peer v{};
    ASSERT_EQ(bpf_map_update_elem(bpf_map__fd(skel_->maps.mb_peers), &key, &v, BPF_ANY), 0);
  }

  RunResult Run(bpf_program* prog, const Bytes& in, uint32_t mark = 0) {
    return RunTc(prog, in, mark);
  }
  RunResult Encap(const Bytes& in) { return Run(skel_->progs.mb_encap, in); }
  RunResult Decap(const Bytes& in) { return Run(skel_->progs.mb_decap, in); }

  // A frame as the far side receives it from us: encapsulated by mb_encap,
  // with the outer source rewritten to the peer's address (the far side's
  // mb_peers holds our addresses; in this single-node test it holds kPeer).
  Bytes FromPeer(const Bytes& inner_frame) {
    RunResult r = Encap(inner_frame);
    EXPECT_EQ(r.verdict, kRedirect);
    if (r.out.size() < kInner) return r.out;
    const uint32_t peer = Ip(kPeer);
    std::memcpy(&r.out[kOuterIp + 12], &peer, 4);
    r.out[kOuterIp + 10] = r.out[kOuterIp + 11] = 0;
    Put16(r.out, kOuterIp + 10, Ipv4Checksum(&r.out[kOuterIp], 20));
    return r.out;
  }

  mb_path_counters Counters(uint32_t slot) {
    return SumPerCpu(skel_->maps.mb_counters, slot, mb_counters_add);
  }

  // Every drop counter of every slot, so a test can assert that exactly the
  // expected one moved.
  uint64_t TotalDrops() {
    uint64_t n = 0;
    for (uint32_t slot = 0; slot < MB_COUNTER_SLOTS; ++slot) {
      mb_path_counters c = Counters(slot);
      for (int r = 0; r < MB_DROP_REASONS; ++r) n += c.drops[r];
    }
    return n;
  }

  meshbpf_bpf* skel_ = nullptr;
  uint32_t lo_ = 0;
};

// ---------------------------------------------------------------- mb_encap

TEST_F(DatapathTest, EncapsulatesIpv4WithCorrectHeaders) {
  Ipv4Options opt;
  opt.tos = 0xb8;  // DSCP EF
  Bytes in = Ipv4Packet("10.203.0.2", "10.202.0.2", IPPROTO_TCP, 1000, opt);
  RunResult r = Encap(in);
  ASSERT_EQ(r.verdict, kRedirect);
  ASSERT_EQ(r.out.size(), in.size() + MB_ENCAP_OVERHEAD);
  const Bytes& o = r.out;
  EXPECT_EQ(Get16(o, 12), kEthIpv4);
  EXPECT_EQ(o[kOuterIp], 0x45) << "version 4, ihl 5";
  EXPECT_EQ(o[kOuterIp + 1], 0xb8) << "inner DSCP copied to the outer header";
  EXPECT_EQ(Get16(o, kOuterIp + 2), o.size() - 14) << "tot_len";
  EXPECT_EQ(Get16(o, kOuterIp + 6), 0x4000) << "DF set, no fragment offset";
  EXPECT_EQ(o[kOuterIp + 8], 64) << "ttl";
  EXPECT_EQ(o[kOuterIp + 9], IPPROTO_UDP);
  EXPECT_EQ(Ipv4Checksum(&o[kOuterIp], 20), 0) << "outer header checksum valid";
  EXPECT_EQ(Addr(o, kOuterIp + 12), Ip(kPath0Src)) << "idle bond: the fastest path wins";
  EXPECT_EQ(Addr(o, kOuterIp + 16), Ip(kPeer));
  EXPECT_EQ(Get16(o, kOuterUdp), kPort);
  EXPECT_EQ(Get16(o, kOuterUdp + 2), kPort);
  EXPECT_EQ(Get16(o, kOuterUdp + 4), o.size() - kOuterUdp) << "UDP length";
  EXPECT_EQ(Get16(o, kOuterUdp + 6), 0) << "UDP checksum 0";
  EXPECT_EQ(o[kWire], MB_WIRE_VERSION);
  EXPECT_EQ(o[kWire + 1], 0) << "path id";
  EXPECT_EQ(o[kWire + 2], 0) << "flags";
  EXPECT_EQ(o[kWire + 3], 0) << "reserved";
  EXPECT_EQ(Get32(o, kWire + 4), 1u) << "bond sequence";
  EXPECT_EQ(Get32(o, kWire + 8), 1u) << "path sequence";
  EXPECT_TRUE(BytesEqual(Bytes(o.begin() + kInner, o.end()), L3(in), "inner", true));

  mb_path_counters c = Counters(0);
  EXPECT_EQ(c.tx_packets, 1u);
  EXPECT_EQ(c.tx_bytes, in.size() - 14);

  // The next packet: bond sequence 2, and the path sequence of whichever
  // path it took continues that path's own numbering.
  RunResult r2 = Encap(in);
  ASSERT_EQ(r2.verdict, kRedirect);
  Encapsulated e2 = Parse(r2.out);
  EXPECT_EQ(e2.bond_seq, 2u);
  ASSERT_LT(e2.path_id, 2);
  EXPECT_EQ(e2.path_seq, e2.path_id == 0 ? 2u : 1u);
  EXPECT_EQ(Addr(r2.out, kOuterIp + 12), Ip(e2.path_id == 0 ? kPath0Src : kPath1Src))
      << "outer source is the chosen path's";
  EXPECT_EQ(Ipv4Checksum(&r2.out[kOuterIp], 20), 0);
}

TEST_F(DatapathTest, OuterTosCarriesDscpButNotEcn) {
  Ipv4Options opt;
  opt.tos = 0xbb;  // EF + CE
  RunResult r = Encap(Ipv4Packet("10.203.0.2", "10.202.0.2", IPPROTO_UDP, 100, opt));
  ASSERT_EQ(r.verdict, kRedirect);
  EXPECT_EQ(r.out[kOuterIp + 1], 0xb8);
  EXPECT_EQ(Ipv4Checksum(&r.out[kOuterIp], 20), 0);
}

TEST_F(DatapathTest, SequenceNumbersAdvancePerBondAndPerPath) {
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

TEST_F(DatapathTest, SplitsTrafficInProportionToRates) {
  // 1000-byte L3 packets, back to back: far faster than 1000 B / 20 Mbit/s =
  // 400 us, so both virtual queues build and the split follows the rates.
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
  const double ratio = static_cast<double>(packets[0]) / static_cast<double>(std::max<uint64_t>(packets[1], 1));
  std::cout << "[ split    ] path0 (40 Mbit/s) " << packets[0] << " packets, path1 (20 Mbit/s) "
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
// (1500 x 1000 B is ~210 ms of virtual time per path): the backlogs are
// rebased but the split must not change.
TEST_F(DatapathTest, SplitHoldsUnderSustainedOverload) {
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
  const double ratio = static_cast<double>(packets[0]) / static_cast<double>(std::max<uint64_t>(packets[1], 1));
  const double late = static_cast<double>(last_third[0]) / static_cast<double>(std::max<uint64_t>(last_third[1], 1));
  std::cout << "[ split    ] overload: " << packets[0] << " vs " << packets[1] << " (ratio " << ratio
            << "), last third " << last_third[0] << " vs " << last_third[1] << " (ratio " << late
            << ")\n";
  EXPECT_GT(ratio, 1.6);
  EXPECT_LT(ratio, 2.4);
  EXPECT_GT(late, 1.6) << "past the horizon the split drifted";
  EXPECT_LT(late, 2.4) << "past the horizon the split drifted";
  mb_sched sched{};
  uint32_t key = 0;
  ASSERT_EQ(bpf_map_lookup_elem_flags(bpf_map__fd(skel_->maps.mb_sched), &key, &sched, BPF_F_LOCK),
            0);
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);  // bpf_ktime_get_ns's clock
  const uint64_t now = static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + ts.tv_nsec;
  for (int p = 0; p < 2; ++p) {
    EXPECT_LE(sched.busy_until_ns[p], now + 50'000'000ull + 100'000'000ull)
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

TEST_F(DatapathTest, DropsEverythingUntilConfigured) {
  Configure(0);
  Bytes in = Ipv4Packet("10.203.0.2", "10.202.0.2", IPPROTO_UDP, 100);
  RunResult r = Encap(in);
  EXPECT_EQ(r.verdict, kShot);
  EXPECT_TRUE(BytesEqual(r.out, in, "unchanged"));
  EXPECT_EQ(Counters(MB_NO_PATH).drops[MB_DROP_NO_CONFIG], 1u);
  EXPECT_EQ(TotalDrops(), 1u);
}

TEST_F(DatapathTest, DropsNonIpOnTheBond) {
  Bytes arp = Ethernet(kEthArp);
  arp.resize(42, 0);
  EXPECT_EQ(Encap(arp).verdict, kShot);
  EXPECT_EQ(Counters(MB_NO_PATH).drops[MB_DROP_UNSUPPORTED_L3], 1u);
  EXPECT_EQ(TotalDrops(), 1u);
}

// Frames shorter than the L3 header their ethertype promises (down to a bare
// 14-byte Ethernet header claiming IPv4) must be dropped as truncated, never
// encapsulated. This kernel's BPF_PROG_TEST_RUN refuses such frames itself
// (EINVAL: a TC test frame needs a full IPv4 / IPv6 header), so the program's
// own check is only reached where test_run lets a frame through; if it lets
// none through the test is skipped, saying so.
TEST_F(DatapathTest, TruncatedInputIsDroppedNotEncapsulated) {
  std::vector<std::pair<std::string, Bytes>> frames;
  frames.emplace_back("ethernet-only", Ethernet(kEthIpv4));
  for (size_t l3 : {1u, 10u, 19u}) {
    Bytes v4 = Ipv4Packet("10.203.0.2", "10.202.0.2", IPPROTO_UDP, 0);
    v4.resize(14 + l3);
    frames.emplace_back("ipv4-l3-" + std::to_string(l3), v4);
  }
  for (size_t l3 : {1u, 20u, 39u}) {
    Bytes v6 = Ipv6Packet(0, 0);
    v6.resize(14 + l3);
    frames.emplace_back("ipv6-l3-" + std::to_string(l3), v6);
  }
  uint64_t driven = 0;
  std::string refused;
  for (const auto& [name, in] : frames) {
    Bytes out(512);
    bpf_test_run_opts opts{};
    opts.sz = sizeof(opts);
    opts.data_in = in.data();
    opts.data_size_in = static_cast<uint32_t>(in.size());
    opts.data_out = out.data();
    opts.data_size_out = static_cast<uint32_t>(out.size());
    opts.repeat = 1;
    if (bpf_prog_test_run_opts(bpf_program__fd(skel_->progs.mb_encap), &opts) != 0) {
      EXPECT_EQ(errno, EINVAL) << name;
      refused += " " + name;
      continue;
    }
    ++driven;
    EXPECT_EQ(opts.retval, kShot) << name;
    EXPECT_EQ(opts.data_size_out, in.size()) << name << ": not encapsulated";
  }
  EXPECT_EQ(Counters(MB_NO_PATH).drops[MB_DROP_TRUNCATED], driven);
  EXPECT_EQ(TotalDrops(), driven);
  EXPECT_EQ(Counters(0).tx_packets + Counters(1).tx_packets, 0u);
  if (driven == 0) {
    GTEST_SKIP() << "BPF_PROG_TEST_RUN refused every truncated frame (EINVAL):" << refused
                 << "; mb_encap's MB_DROP_TRUNCATED check cannot be reached from test_run here";
  }
}

// The shortest frames test_run accepts: a bare IP header.
TEST_F(DatapathTest, BareIpv4HeaderIsStillEncapsulated) {
  Bytes in = Ipv4Packet("10.203.0.2", "10.202.0.2", IPPROTO_UDP, 0);
  in.resize(14 + 20);
  RunResult r = Encap(in);
  ASSERT_EQ(r.verdict, kRedirect);
  EXPECT_EQ(r.out.size(), in.size() + MB_ENCAP_OVERHEAD);
  EXPECT_TRUE(BytesEqual(Bytes(r.out.begin() + kInner, r.out.end()), L3(in), "inner", true));
}

TEST_F(DatapathTest, BareIpv6HeaderIsStillEncapsulated) {
  Bytes in = Ipv6Packet(0, 0);
  ASSERT_EQ(in.size(), 14u + 40u);
  RunResult r = Encap(in);
  ASSERT_EQ(r.verdict, kRedirect);
  EXPECT_EQ(r.out.size(), in.size() + MB_ENCAP_OVERHEAD);
  EXPECT_TRUE(BytesEqual(Bytes(r.out.begin() + kInner, r.out.end()), L3(in), "inner", true));
}

TEST_F(DatapathTest, EncapsulatesIpv6) {
  Bytes in = Ipv6Packet(200, /*traffic_class=*/0xb9);  // EF + ECT(1)
  RunResult r = Encap(in);
  ASSERT_EQ(r.verdict, kRedirect);
  ASSERT_EQ(r.out.size(), in.size() + MB_ENCAP_OVERHEAD);
  EXPECT_EQ(Get16(r.out, 12), kEthIpv4) << "outer is IPv4";
  EXPECT_EQ(r.out[kOuterIp], 0x45);
  EXPECT_EQ(r.out[kOuterIp + 1], 0xb8) << "traffic class DSCP copied, ECN not";
  EXPECT_EQ(Get16(r.out, kOuterIp + 2), r.out.size() - 14);
  EXPECT_EQ(Ipv4Checksum(&r.out[kOuterIp], 20), 0);
  EXPECT_EQ(Addr(r.out, kOuterIp + 16), Ip(kPeer));
  EXPECT_EQ(Get16(r.out, kOuterUdp + 4), r.out.size() - kOuterUdp);
  EXPECT_TRUE(BytesEqual(Bytes(r.out.begin() + kInner, r.out.end()), L3(in), "inner-v6", true));
  EXPECT_EQ(Counters(0).tx_bytes, in.size() - 14);
}

// Runs body on a thread inside a fresh network namespace whose loopback has
// the given MTU. test_run gives the skb the loopback of the caller's netns and
// bpf_check_mtu looks the uplink's ifindex up in that netns, so the paths'
// ifindex (lo = 1 everywhere) now names a 1500-byte device. The namespace
// disappears when the thread exits; the host's lo is never touched.
void InNetnsWithLoMtu(int mtu, const std::function<void()>& body) {
  std::thread t([&] {
    if (unshare(CLONE_NEWNET) != 0) {
      ADD_FAILURE() << "unshare(CLONE_NEWNET): " << std::strerror(errno);
      return;
    }
    const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd, 0) << std::strerror(errno);
    ifreq req{};
    std::strncpy(req.ifr_name, "lo", IFNAMSIZ - 1);
    req.ifr_mtu = mtu;
    const int rc = ioctl(fd, SIOCSIFMTU, &req);
    const int saved = errno;
    req.ifr_mtu = 0;
    ASSERT_EQ(ioctl(fd, SIOCGIFMTU, &req), 0);
    close(fd);
    ASSERT_EQ(rc, 0) << "SIOCSIFMTU on the private lo: " << std::strerror(saved);
    ASSERT_EQ(req.ifr_mtu, mtu);
    ASSERT_EQ(if_nametoindex("lo"), 1u);
    body();
  });
  t.join();
}

TEST_F(DatapathTest, DropsPacketsTooBigForTheUplink) {
  ASSERT_EQ(lo_, 1u) << "the private netns's lo must have the paths' ifindex";
  InNetnsWithLoMtu(1500, [&] {
    // 1460 + 40 = 1500: fits exactly.
    Bytes fits = Ipv4Packet("10.203.0.2", "10.202.0.2", IPPROTO_TCP, 1460 - 40);
    ASSERT_EQ(fits.size(), 14u + 1460u);
    RunResult ok = Encap(fits);
    EXPECT_EQ(ok.verdict, kRedirect);
    EXPECT_EQ(ok.out.size(), 14u + 1500u);

    // One byte more: dropped, counted on the chosen path, packet untouched.
    Bytes big = Ipv4Packet("10.203.0.2", "10.202.0.2", IPPROTO_TCP, 1461 - 40);
    RunResult r = Encap(big);
    EXPECT_EQ(r.verdict, kShot);
    EXPECT_TRUE(BytesEqual(r.out, big, "too-big-unchanged"));
    const mb_path_counters c0 = Counters(0), c1 = Counters(1);
    EXPECT_EQ(c0.drops[MB_DROP_TOO_BIG] + c1.drops[MB_DROP_TOO_BIG], 1u);
    EXPECT_EQ(TotalDrops(), 1u);
    EXPECT_EQ(c0.tx_packets + c1.tx_packets, 1u) << "only the packet that fitted was sent";

    // IPv6 at the same boundary.
    Bytes v6_fits = Ipv6Packet(1460 - 40, 0);
    EXPECT_EQ(Encap(v6_fits).verdict, kRedirect);
    Bytes v6_big = Ipv6Packet(1461 - 40, 0);
    EXPECT_EQ(Encap(v6_big).verdict, kShot);
    EXPECT_EQ(TotalDrops(), 2u);
  });
}

// ---------------------------------------------------------------- mb_decap

TEST_F(DatapathTest, DecapRoundTripDeliversTheOriginalIntoTheBond) {
  Bytes in = Ipv4Packet("10.202.0.2", "10.203.0.2", IPPROTO_TCP, 1200);
  Bytes wire = FromPeer(in);
  RunResult r = Decap(wire);
  ASSERT_EQ(r.verdict, kRedirect);
  ASSERT_EQ(r.out.size(), in.size());
  EXPECT_TRUE(std::equal(kBondMac, kBondMac + 6, r.out.begin())) << "dst MAC is the bond's";
  EXPECT_EQ(Get16(r.out, 12), kEthIpv4);
  EXPECT_TRUE(BytesEqual(L3(r.out), L3(in), "decap", true));
  mb_path_counters c = Counters(0);
  EXPECT_EQ(c.rx_packets, 1u);
  EXPECT_EQ(c.rx_bytes, in.size() - 14);
  EXPECT_EQ(Counters(1).rx_packets, 0u);
  EXPECT_EQ(TotalDrops(), 0u);
}

TEST_F(DatapathTest, DecapCountsOnTheSendersPath) {
  SetState(0, MB_PATH_DISABLED);  // the sender uses path 1
  Bytes in = Ipv4Packet("10.202.0.2", "10.203.0.2", IPPROTO_UDP, 500);
  Bytes wire = FromPeer(in);
  ASSERT_EQ(wire[kWire + 1], 1);
  RunResult r = Decap(wire);
  ASSERT_EQ(r.verdict, kRedirect);
  EXPECT_TRUE(BytesEqual(L3(r.out), L3(in), "decap-path1", true));
  EXPECT_EQ(Counters(1).rx_packets, 1u);
  EXPECT_EQ(Counters(1).rx_bytes, in.size() - 14);
  EXPECT_EQ(Counters(0).rx_packets, 0u);
}

TEST_F(DatapathTest, DecapRestoresIpv6Protocol) {
  Bytes in = Ipv6Packet(100, 0x28);
  Bytes wire = FromPeer(in);
  RunResult r = Decap(wire);
  ASSERT_EQ(r.verdict, kRedirect);
  ASSERT_EQ(r.out.size(), in.size());
  EXPECT_TRUE(std::equal(kBondMac, kBondMac + 6, r.out.begin()));
  EXPECT_EQ(Get16(r.out, 12), kEthIpv6);
  EXPECT_TRUE(BytesEqual(L3(r.out), L3(in), "decap-v6", true));
  EXPECT_EQ(Counters(0).rx_bytes, in.size() - 14);
}

Bytes InnerL3() { return L3(Ipv4Packet("10.202.0.2", "10.203.0.2", IPPROTO_TCP, 300)); }

TEST_F(DatapathTest, DecapDropsUnknownSources) {
  Bytes in = MeshPacket("192.0.2.66", InnerL3());
  EXPECT_EQ(Decap(in).verdict, kShot);
  EXPECT_EQ(Counters(MB_NO_PATH).drops[MB_DROP_UNKNOWN_SOURCE], 1u);
  EXPECT_EQ(TotalDrops(), 1u);
  EXPECT_EQ(Counters(0).rx_packets, 0u);
}

TEST_F(DatapathTest, DecapPassesOtherTrafficUntouched) {
  Ipv4Options other_port;
  other_port.dst_port = 53;
  Ipv4Options our_port;
  our_port.dst_port = kPort;
  Bytes bad_ihl = MeshPacket(kPeer, InnerL3());
  bad_ihl[kOuterIp] = 0x44;  // a header length no IPv4 packet can have
  std::vector<std::pair<std::string, Bytes>> others = {
      {"udp-other-port", Ipv4Packet(kPeer, kPath0Src, IPPROTO_UDP, 50, other_port)},
      {"tcp", Ipv4Packet(kPeer, kPath0Src, IPPROTO_TCP, 50)},
      {"tcp-to-our-port", Ipv4Packet(kPeer, kPath0Src, IPPROTO_TCP, 50, our_port)},
      {"icmp", Ipv4Packet(kPeer, kPath0Src, IPPROTO_ICMP, 50)},
      {"udp-to-our-port-ihl-4", bad_ihl},
      {"ipv6", Ipv6Packet(60, 0)},
  };
  Bytes arp = Ethernet(kEthArp);
  arp.resize(42, 0);
  others.emplace_back("arp", arp);
  // IPv6 outer carrying a UDP datagram to our port: meshbpf is IPv4-outer only.
  Bytes v6udp = Ipv6Packet(8 + 40, 0);
  v6udp[14 + 6] = IPPROTO_UDP;
  Put16(v6udp, 54, kPort);
  Put16(v6udp, 56, kPort);
  Put16(v6udp, 58, 48);
  others.emplace_back("ipv6-udp-to-our-port", v6udp);
  for (const auto& [name, pkt] : others) {
    RunResult r = Decap(pkt);
    EXPECT_EQ(r.verdict, kOk) << name;
    EXPECT_TRUE(BytesEqual(r.out, pkt, "pass-" + name));
  }
  EXPECT_EQ(TotalDrops(), 0u);
  EXPECT_EQ(Counters(0).rx_packets, 0u);
}

TEST_F(DatapathTest, DecapIgnoresOurPortWhileUnconfigured) {
  Configure(0);
  Bytes in = MeshPacket(kPeer, InnerL3());
  RunResult r = Decap(in);
  EXPECT_EQ(r.verdict, kOk);
  EXPECT_TRUE(BytesEqual(r.out, in, "unconfigured"));
  EXPECT_EQ(TotalDrops(), 0u);
}

TEST_F(DatapathTest, DecapDropsTruncatedMeshPackets) {
  Bytes truncated = MeshPacket(kPeer, InnerL3());
  truncated.resize(14 + 20 + 8 + 6);  // wire header cut short
  EXPECT_EQ(Decap(truncated).verdict, kShot);
  EXPECT_EQ(Counters(MB_NO_PATH).drops[MB_DROP_TRUNCATED], 1u);

  Bytes no_inner = MeshPacket(kPeer, InnerL3());
  no_inner.resize(14 + 20 + 8 + 12);  // complete wire header, nothing inside
  EXPECT_EQ(Decap(no_inner).verdict, kShot);
  EXPECT_EQ(Counters(MB_NO_PATH).drops[MB_DROP_TRUNCATED], 2u);
  EXPECT_EQ(TotalDrops(), 2u);
  EXPECT_EQ(Counters(0).rx_packets, 0u);
}

// The inner packet must hold at least the header its version nibble names;
// the encap side refuses shorter ones (MB_DROP_TRUNCATED), and so must decap
// rather than deliver a malformed packet into the bond and count it received.
TEST_F(DatapathTest, DecapDropsInnerIpv4ShorterThanItsHeader) {
  Bytes inner = InnerL3();
  inner.resize(8);  // 0x45 ... but only 8 bytes
  RunResult r = Decap(MeshPacket(kPeer, inner));
  EXPECT_EQ(r.verdict, kShot);
  EXPECT_EQ(TotalDrops(), 1u);
  EXPECT_EQ(Counters(0).rx_packets, 0u);
}

TEST_F(DatapathTest, DecapDropsInnerIpv6ShorterThanItsHeader) {
  Bytes inner = L3(Ipv6Packet(0, 0));
  inner.resize(30);  // version 6, but 10 bytes short of an IPv6 header
  RunResult r = Decap(MeshPacket(kPeer, inner));
  EXPECT_EQ(r.verdict, kShot) << "a 30-byte \"IPv6 packet\" was delivered into the bond; output "
                              << DumpPcap(r.out, CurrentTestName() + "-out");
  EXPECT_EQ(Counters(0).drops[MB_DROP_TRUNCATED] + Counters(MB_NO_PATH).drops[MB_DROP_TRUNCATED],
            1u);
  EXPECT_EQ(Counters(0).rx_packets, 0u);
}

TEST_F(DatapathTest, DecapDropsBadHeaders) {
  MeshOptions v2;
  v2.version = 2;
  EXPECT_EQ(Decap(MeshPacket(kPeer, InnerL3(), v2)).verdict, kShot);
  EXPECT_EQ(Counters(MB_NO_PATH).drops[MB_DROP_BAD_HEADER], 1u);

  MeshOptions far_path;
  far_path.path_id = 200;
  EXPECT_EQ(Decap(MeshPacket(kPeer, InnerL3(), far_path)).verdict, kShot);
  EXPECT_EQ(Counters(MB_NO_PATH).drops[MB_DROP_BAD_HEADER], 2u);

  MeshOptions first_bad;
  first_bad.path_id = MB_MAX_PATHS;
  EXPECT_EQ(Decap(MeshPacket(kPeer, InnerL3(), first_bad)).verdict, kShot);
  EXPECT_EQ(Counters(MB_NO_PATH).drops[MB_DROP_BAD_HEADER], 3u);

  Bytes bad_inner = InnerL3();
  bad_inner[0] = 0x55;  // version nibble 5
  MeshOptions path3;
  path3.path_id = 3;
  EXPECT_EQ(Decap(MeshPacket(kPeer, bad_inner, path3)).verdict, kShot);
  EXPECT_EQ(Counters(3).drops[MB_DROP_UNSUPPORTED_L3], 1u);

  EXPECT_EQ(TotalDrops(), 4u);
  for (uint32_t p = 0; p < MB_MAX_PATHS; ++p) EXPECT_EQ(Counters(p).rx_packets, 0u);
}

TEST_F(DatapathTest, DecapHandlesOuterIpOptions) {
  Bytes inner = InnerL3();
  MeshOptions m;
  m.path_id = 1;
  m.option_words = 1;  // ihl 6
  Bytes in = MeshPacket(kPeer, inner, m);
  ASSERT_EQ(in[kOuterIp], 0x46);
  RunResult r = Decap(in);
  ASSERT_EQ(r.verdict, kRedirect);
  ASSERT_EQ(r.out.size(), 14 + inner.size());
  EXPECT_EQ(Get16(r.out, 12), kEthIpv4);
  EXPECT_TRUE(BytesEqual(L3(r.out), inner, "decap-options", true));
  EXPECT_EQ(Counters(1).rx_packets, 1u);
  EXPECT_EQ(Counters(1).rx_bytes, inner.size());

  m.option_words = 10;  // ihl 15, the largest
  RunResult r15 = Decap(MeshPacket(kPeer, inner, m));
  ASSERT_EQ(r15.verdict, kRedirect);
  EXPECT_TRUE(BytesEqual(L3(r15.out), inner, "decap-options-15", true));
}

TEST_F(DatapathTest, DecapLeavesFragmentsAlone) {
  for (uint16_t frag : {uint16_t{0x2000} /* MF */, uint16_t{0x0010} /* offset 128 */,
                        uint16_t{0x2010} /* MF + offset */}) {
    Ipv4Options o;
    o.frag = frag;
    o.src_port = kPort;
    o.dst_port = kPort;
    Bytes in = Ipv4Packet(kPeer, kPath0Src, IPPROTO_UDP, 100, o);
    RunResult r = Decap(in);
    EXPECT_EQ(r.verdict, kOk) << "frag_off " << std::hex << frag;
    EXPECT_TRUE(BytesEqual(r.out, in, "fragment"));
  }
  EXPECT_EQ(TotalDrops(), 0u);
}

// ------------------------------------------------- modes and probes (encap)

TEST_F(DatapathTest, LatencyModeSendsUrgentPacketsOnTheLowestDelayPath) {
  Configure(1, MB_MODE_LATENCY, /*latency_bytes=*/200);
  SetDelay(0, 30000);  // the fast path is far away
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

TEST_F(DatapathTest, RedundantModeMarksCopiesAndSharesTheBondSequence) {
  Configure(1, MB_MODE_REDUNDANT);
  RunResult r = Encap(Ipv4Packet("10.203.0.2", "10.202.0.2", IPPROTO_UDP, 300));
  ASSERT_EQ(r.verdict, kRedirect);
  EXPECT_EQ(r.out[kWire + 1], 1) << "the skb itself leaves on the last active path";
  EXPECT_EQ(r.out[kWire + 2], MB_FLAG_REDUNDANT);
  EXPECT_EQ(Get32(r.out, kWire + 4), 1u);
  // Path 0's copy is a clone; lo has no neighbour for its gateway here, so
  // it is skipped and counted rather than sent with wrong MACs.
  EXPECT_EQ(Counters(0).drops[MB_DROP_CLONE_FAILED], 1u);
  EXPECT_EQ(Counters(1).tx_packets, 1u);
}

TEST_F(DatapathTest, DedupDeliversEachRedundantPacketOnce) {
  MeshOptions m;
  m.flags = MB_FLAG_REDUNDANT;
  m.bond_seq = 77;
  Bytes first = MeshPacket(kPeer, InnerL3(), m);
  m.path_id = 1;
  Bytes copy = MeshPacket(kPeer, InnerL3(), m);
  EXPECT_EQ(Decap(first).verdict, kRedirect);
  EXPECT_EQ(Decap(copy).verdict, kShot);
  EXPECT_EQ(Counters(1).drops[MB_DROP_DUPLICATE], 1u);
  m.bond_seq = 78;
  EXPECT_EQ(Decap(MeshPacket(kPeer, InnerL3(), m)).verdict, kRedirect)
      << "the next sequence number is new";
  EXPECT_EQ(Counters(0).rx_packets + Counters(1).rx_packets, 2u);
}

TEST_F(DatapathTest, DedupLeavesUnmarkedPacketsAlone) {
  // Bonded (non-redundant) packets never repeat a bond_seq; not checked.
  MeshOptions m;
  m.bond_seq = 5;
  Bytes a = MeshPacket(kPeer, InnerL3(), m);
  EXPECT_EQ(Decap(a).verdict, kRedirect);
  EXPECT_EQ(Decap(a).verdict, kRedirect);
}

TEST_F(DatapathTest, DedupDropsPacketsOlderThanTheWindow) {
  auto redundant = [&](uint32_t seq) {
    MeshOptions m;
    m.flags = MB_FLAG_REDUNDANT;
    m.bond_seq = seq;
    return Decap(MeshPacket(kPeer, InnerL3(), m)).verdict;
  };
  EXPECT_EQ(redundant(10000), kRedirect);
  EXPECT_EQ(redundant(10000 - MB_DEDUP_WINDOW + 1), kRedirect) << "just inside the window";
  EXPECT_EQ(redundant(10000 - MB_DEDUP_WINDOW), kShot);
  EXPECT_EQ(Counters(0).drops[MB_DROP_TOO_OLD], 1u);
}

TEST_F(DatapathTest, DedupHandlesSequenceWrapAround) {
  auto redundant = [&](uint32_t seq) {
    MeshOptions m;
    m.flags = MB_FLAG_REDUNDANT;
    m.bond_seq = seq;
    return Decap(MeshPacket(kPeer, InnerL3(), m)).verdict;
  };
  EXPECT_EQ(redundant(0xfffffff0u), kRedirect);
  EXPECT_EQ(redundant(3), kRedirect) << "past the wrap: newer";
  EXPECT_EQ(redundant(0xfffffff8u), kRedirect) << "late, in window";
  EXPECT_EQ(redundant(3), kShot) << "duplicate across the wrap";
  EXPECT_EQ(Counters(0).drops[MB_DROP_DUPLICATE], 1u);
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

// ---------------------------------------------------------------- flow mode
//
// No peer: each flow is pinned to a path and source-NATed to its address;
// replies are NATed back on the uplink and delivered into the bond.

constexpr const char* kBondAddr = "10.203.0.2";
constexpr const char* kServer = "10.202.0.2";
constexpr size_t kIpSrc = 14 + 12, kIpDst = 14 + 16;

class FlowModeTest : public DatapathTest {
 protected:
  void SetUp() override {
    DatapathTest::SetUp();
    if (HasFatalFailure()) return;
    Configure(1, MB_MODE_FLOW);
  }

  static Bytes Tcp(uint16_t sport, size_t payload = 200, const char* src = kBondAddr,
                   const char* dst = kServer) {
    Ipv4Options o;
    o.src_port = sport;
    o.dst_port = 5201;
    return WithL4Checksum(Ipv4Packet(src, dst, IPPROTO_TCP, payload, o));
  }

  // Which path a NATed packet left on, by its new source address.
  static int PathOf(const Bytes& out) {
    if (Addr(out, kIpSrc) == Ip(kPath0Src)) return 0;
    if (Addr(out, kIpSrc) == Ip(kPath1Src)) return 1;
    return -1;
  }

  // Sends `in`, expects it NATed (not encapsulated) and returns its path.
  int SendFlow(const Bytes& in) {
    RunResult r = Encap(in);
    EXPECT_EQ(r.verdict, kRedirect);
    EXPECT_EQ(r.out.size(), in.size()) << "flow mode does not encapsulate";
    return r.out.size() == in.size() ? PathOf(r.out) : -1;
  }

  // The same frame with the source (or destination) address replaced and
  // every checksum recomputed from scratch: what a correct NAT produces.
  static Bytes Readdressed(const Bytes& in, size_t addr_off, const char* addr) {
    Bytes want = in;
    const uint32_t a = Ip(addr);
    std::memcpy(&want[addr_off], &a, 4);
    Put16(want, 14 + 10, 0);
    Put16(want, 14 + 10, Ipv4Checksum(&want[14], (want[14] & 0xf) * 4u));
    return want;
  }

  uint64_t FlowEntries(bpf_map* map) {
    mb_flow_key key{}, next{};
    uint64_t n = 0;
    const int fd = bpf_map__fd(map);
    for (const void* k = nullptr; bpf_map_get_next_key(fd, k, &next) == 0; k = &key) {
      key = next;
      ++n;
    }
    return n;
  }
};

TEST_F(FlowModeTest, SourceNatsTcpWithCorrectChecksums) {
  uint64_t l3_bytes = 0;
  for (size_t options : {0u, 2u}) {
    Ipv4Options o;
    o.option_words = options;
    o.src_port = static_cast<uint16_t>(41000 + options);
    Bytes in = WithL4Checksum(Ipv4Packet(kBondAddr, kServer, IPPROTO_TCP, 700, o));
    ASSERT_EQ(L4Checksum(in), 0);
    l3_bytes += in.size() - 14;
    RunResult r = Encap(in);
    ASSERT_EQ(r.verdict, kRedirect);
    ASSERT_EQ(r.out.size(), in.size()) << "not encapsulated";
    const int path = PathOf(r.out);
    ASSERT_GE(path, 0) << "source is one of the paths' addresses";
    EXPECT_EQ(Ipv4Checksum(&r.out[14], (r.out[14] & 0xf) * 4u), 0) << "IPv4 header checksum";
    EXPECT_EQ(L4Checksum(r.out), 0) << "TCP checksum over the new pseudo-header";
    // Byte for byte: only the source address and the two checksums changed.
    Bytes want = WithL4Checksum(Readdressed(in, kIpSrc, path == 0 ? kPath0Src : kPath1Src));
    EXPECT_TRUE(BytesEqual(L3(r.out), L3(want), "snat-tcp", true)) << options << " option words";
  }
  const mb_path_counters c0 = Counters(0), c1 = Counters(1);
  EXPECT_EQ(c0.tx_packets + c1.tx_packets, 2u);
  EXPECT_EQ(c0.tx_bytes + c1.tx_bytes, l3_bytes);
  EXPECT_EQ(TotalDrops(), 0u);
}

TEST_F(FlowModeTest, SourceNatsUdpAndKeepsAnAbsentChecksumAbsent) {
  Ipv4Options o;
  o.src_port = 53000;
  o.dst_port = 53;
  Bytes with_sum = WithL4Checksum(Ipv4Packet(kBondAddr, kServer, IPPROTO_UDP, 333, o));
  RunResult r = Encap(with_sum);
  ASSERT_EQ(r.verdict, kRedirect);
  const int path = PathOf(r.out);
  ASSERT_GE(path, 0);
  EXPECT_NE(Get16(r.out, L4ChecksumOffset(r.out)), 0);
  EXPECT_EQ(L4Checksum(r.out), 0) << "UDP checksum over the new pseudo-header";
  EXPECT_TRUE(BytesEqual(L3(r.out), L3(WithL4Checksum(Readdressed(
                                        with_sum, kIpSrc, path == 0 ? kPath0Src : kPath1Src))),
                         "snat-udp", true));

  // Checksum 0 means "none" in UDP over IPv4: it must stay 0, not become
  // the adjustment alone (which the receiver would take as a bad checksum).
  o.src_port = 53001;
  Bytes no_sum = Ipv4Packet(kBondAddr, kServer, IPPROTO_UDP, 333, o);
  ASSERT_EQ(Get16(no_sum, L4ChecksumOffset(no_sum)), 0);
  RunResult z = Encap(no_sum);
  ASSERT_EQ(z.verdict, kRedirect);
  ASSERT_GE(PathOf(z.out), 0);
  EXPECT_EQ(Get16(z.out, L4ChecksumOffset(z.out)), 0);
  EXPECT_EQ(Ipv4Checksum(&z.out[14], 20), 0);
}

TEST_F(FlowModeTest, IcmpEchoIsNatedByIdentifierAndComesBack) {
  Ipv4Options req;
  req.icmp_id = 0x1234;
  Bytes ping = WithL4Checksum(Ipv4Packet(kBondAddr, kServer, IPPROTO_ICMP, 56, req));
  RunResult r = Encap(ping);
  ASSERT_EQ(r.verdict, kRedirect);
  const int path = PathOf(r.out);
  ASSERT_GE(path, 0);
  const char* nat = path == 0 ? kPath0Src : kPath1Src;
  EXPECT_EQ(Ipv4Checksum(&r.out[14], 20), 0);
  EXPECT_EQ(L4Checksum(r.out), 0) << "ICMP's checksum covers no addresses: still right";
  EXPECT_TRUE(BytesEqual(L3(r.out), L3(Readdressed(ping, kIpSrc, nat)), "snat-icmp", true));

  Ipv4Options rep;
  rep.icmp_type = 0;  // echo reply
  rep.icmp_id = 0x1234;
  Bytes reply = WithL4Checksum(Ipv4Packet(kServer, nat, IPPROTO_ICMP, 56, rep));
  RunResult back = Decap(reply);
  ASSERT_EQ(back.verdict, kRedirect);
  EXPECT_TRUE(std::equal(kBondMac, kBondMac + 6, back.out.begin())) << "dst MAC is the bond's";
  EXPECT_EQ(L4Checksum(back.out), 0);
  EXPECT_TRUE(BytesEqual(L3(back.out), L3(Readdressed(reply, kIpDst, kBondAddr)), "unnat-icmp",
                         true));
  EXPECT_EQ(Counters(static_cast<uint32_t>(path)).rx_packets, 1u);

  // Another identifier belongs to somebody else (e.g. the host's own ping).
  rep.icmp_id = 0x1235;
  Bytes other = WithL4Checksum(Ipv4Packet(kServer, nat, IPPROTO_ICMP, 56, rep));
  RunResult passed = Decap(other);
  EXPECT_EQ(passed.verdict, kOk);
  EXPECT_TRUE(BytesEqual(passed.out, other, "icmp-other-id"));
  EXPECT_EQ(TotalDrops(), 0u);
}

TEST_F(FlowModeTest, ReplyIsNatedBackIntoTheBondWithCorrectChecksums) {
  Bytes out = Tcp(42000);
  const int path = SendFlow(out);
  ASSERT_GE(path, 0);
  const char* nat = path == 0 ? kPath0Src : kPath1Src;
  Ipv4Options o;
  o.src_port = 5201;
  o.dst_port = 42000;
  Bytes reply = WithL4Checksum(Ipv4Packet(kServer, nat, IPPROTO_TCP, 1400, o));
  RunResult r = Decap(reply);
  ASSERT_EQ(r.verdict, kRedirect);
  ASSERT_EQ(r.out.size(), reply.size());
  EXPECT_TRUE(std::equal(kBondMac, kBondMac + 6, r.out.begin())) << "dst MAC is the bond's";
  EXPECT_EQ(Get16(r.out, 12), kEthIpv4);
  EXPECT_EQ(Addr(r.out, kIpDst), Ip(kBondAddr));
  EXPECT_EQ(Ipv4Checksum(&r.out[14], 20), 0);
  EXPECT_EQ(L4Checksum(r.out), 0);
  EXPECT_TRUE(BytesEqual(L3(r.out), L3(WithL4Checksum(Readdressed(reply, kIpDst, kBondAddr))),
                         "unnat-tcp", true));
  const mb_path_counters c = Counters(static_cast<uint32_t>(path));
  EXPECT_EQ(c.rx_packets, 1u);
  EXPECT_EQ(c.rx_bytes, reply.size() - 14);
  EXPECT_EQ(Counters(static_cast<uint32_t>(1 - path)).rx_packets, 0u);
}

TEST_F(FlowModeTest, ReplyWithZeroUdpChecksumKeepsIt) {
  Ipv4Options o;
  o.src_port = 40001;
  o.dst_port = 9000;
  const int path = SendFlow(Ipv4Packet(kBondAddr, kServer, IPPROTO_UDP, 100, o));
  ASSERT_GE(path, 0);
  std::swap(o.src_port, o.dst_port);
  Bytes reply = Ipv4Packet(kServer, path == 0 ? kPath0Src : kPath1Src, IPPROTO_UDP, 100, o);
  RunResult r = Decap(reply);
  ASSERT_EQ(r.verdict, kRedirect);
  EXPECT_EQ(Get16(r.out, L4ChecksumOffset(r.out)), 0);
  EXPECT_TRUE(BytesEqual(L3(r.out), L3(Readdressed(reply, kIpDst, kBondAddr)), "unnat-udp0",
                         true));
}

TEST_F(FlowModeTest, PacketsOfNoNatedFlowPassUntouched) {
  const int path = SendFlow(Tcp(42000));
  ASSERT_GE(path, 0);
  const char* nat = path == 0 ? kPath0Src : kPath1Src;
  const char* other_nat = path == 0 ? kPath1Src : kPath0Src;
  auto tcp = [](const char* src, const char* dst, uint16_t sport, uint16_t dport) {
    Ipv4Options o;
    o.src_port = sport;
    o.dst_port = dport;
    return WithL4Checksum(Ipv4Packet(src, dst, IPPROTO_TCP, 100, o));
  };
  Ipv4Options ours;
  ours.src_port = kPort;
  ours.dst_port = kPort;
  Bytes arp = Ethernet(kEthArp);
  arp.resize(42, 0);
  const std::vector<std::pair<std::string, Bytes>> others = {
      {"other-local-port", tcp(kServer, nat, 5201, 42001)},
      {"other-remote-port", tcp(kServer, nat, 5202, 42000)},
      {"other-remote", tcp("10.202.0.3", nat, 5201, 42000)},
      {"other-path-address", tcp(kServer, other_nat, 5201, 42000)},
      {"udp-same-ports", Ipv4Packet(kServer, nat, IPPROTO_UDP, 100, [] {
         Ipv4Options u;
         u.src_port = 5201;
         u.dst_port = 42000;
         return u;
       }())},
      {"meshbpf-port-from-peer", Ipv4Packet(kPeer, nat, IPPROTO_UDP, 100, ours)},
      {"ipv6", Ipv6Packet(60, 0)},
      {"arp", arp},
  };
  for (const auto& [name, pkt] : others) {
    RunResult r = Decap(pkt);
    EXPECT_EQ(r.verdict, kOk) << name;
    EXPECT_TRUE(BytesEqual(r.out, pkt, "pass-" + name));
  }
  EXPECT_EQ(TotalDrops(), 0u) << "the uplink serves the host normally";
  EXPECT_EQ(Counters(0).rx_packets + Counters(1).rx_packets, 0u);
}

TEST_F(FlowModeTest, AFlowStaysOnOnePath) {
  for (uint16_t sport = 43000; sport < 43020; ++sport) {
    const int first = SendFlow(Tcp(sport));
    ASSERT_GE(first, 0);
    for (int i = 0; i < 20; ++i) {
      ASSERT_EQ(SendFlow(Tcp(sport, 100 + 50 * i)), first) << "flow " << sport << " packet " << i;
    }
  }
}

TEST_F(FlowModeTest, FlowsSpreadInProportionToRates) {
  constexpr int kFlows = 1000;
  int on[2] = {0, 0};
  for (int i = 0; i < kFlows; ++i) {
    const int path = SendFlow(Tcp(static_cast<uint16_t>(20000 + i)));
    ASSERT_GE(path, 0);
    ++on[path];
  }
  const double ratio = static_cast<double>(on[0]) / std::max(on[1], 1);
  std::cout << "[ flows    ] 40:20 Mbit/s: " << on[0] << " vs " << on[1] << " flows (ratio "
            << ratio << ")\n";
  EXPECT_GT(ratio, 1.5);
  EXPECT_LT(ratio, 2.7);
  EXPECT_EQ(Counters(0).tx_packets, static_cast<uint64_t>(on[0]));
  EXPECT_EQ(Counters(1).tx_packets, static_cast<uint64_t>(on[1]));
  EXPECT_EQ(FlowEntries(skel_->maps.mb_flows), static_cast<uint64_t>(kFlows));
  EXPECT_EQ(FlowEntries(skel_->maps.mb_nat_reverse), static_cast<uint64_t>(kFlows));
}

TEST_F(FlowModeTest, PinnedFlowMovesOnlyWhenItsPathBecomesUnusable) {
  // A flow on path 0.
  uint16_t sport = 44000;
  while (SendFlow(Tcp(sport)) != 0) ASSERT_LT(++sport, 44100) << "no flow hashed to path 0";
  // Rates that would now send nearly every new flow to path 1: the pin holds.
  SetPath(0, kPath0Src, "10.201.1.1", 1, MB_PATH_ACTIVE);
  SetPath(1, kPath1Src, "10.201.2.1", 1000000, MB_PATH_ACTIVE);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(SendFlow(Tcp(sport)), 0) << "pinned, not re-hashed";
  // A backup path also keeps its flows.
  SetState(0, MB_PATH_BACKUP);
  EXPECT_EQ(SendFlow(Tcp(sport)), 0);
  // Path 0 taken out: the flow moves to path 1, NATed to its address, and
  // its replies find their way back through the new mapping.
  SetState(0, MB_PATH_DISABLED);
  EXPECT_EQ(SendFlow(Tcp(sport)), 1);
  Ipv4Options o;
  o.src_port = 5201;
  o.dst_port = sport;
  Bytes reply = WithL4Checksum(Ipv4Packet(kServer, kPath1Src, IPPROTO_TCP, 100, o));
  RunResult back = Decap(reply);
  ASSERT_EQ(back.verdict, kRedirect);
  EXPECT_EQ(Addr(back.out, kIpDst), Ip(kBondAddr));
  EXPECT_EQ(Counters(1).rx_packets, 1u);
  // Path 0 returns: the flow stays where it is now (moving changes its address).
  SetState(0, MB_PATH_ACTIVE);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(SendFlow(Tcp(sport)), 1);
}

TEST_F(FlowModeTest, PinnedFlowIsRepickedWhenItsPathChangesAddress) {
  SetState(1, MB_PATH_DISABLED);
  ASSERT_EQ(SendFlow(Tcp(45000)), 0);
  SetPath(0, "10.201.1.99", "10.201.1.1", 40000, MB_PATH_ACTIVE);
  RunResult r = Encap(Tcp(45000));
  ASSERT_EQ(r.verdict, kRedirect);
  EXPECT_EQ(Addr(r.out, kIpSrc), Ip("10.201.1.99")) << "NATed to the path's current address";
  EXPECT_EQ(L4Checksum(r.out), 0);
}

TEST_F(FlowModeTest, BackupCarriesNewFlowsOnlyWhenNoPathIsActive) {
  SetState(1, MB_PATH_BACKUP);
  for (uint16_t sport = 46000; sport < 46050; ++sport) EXPECT_EQ(SendFlow(Tcp(sport)), 0);
  SetState(0, MB_PATH_DISABLED);
  for (uint16_t sport = 46100; sport < 46110; ++sport) EXPECT_EQ(SendFlow(Tcp(sport)), 1);
  SetState(1, MB_PATH_DISABLED);
  RunResult r = Encap(Tcp(46200));
  EXPECT_EQ(r.verdict, kShot);
  EXPECT_EQ(Counters(MB_NO_PATH).drops[MB_DROP_NO_PATH], 1u);
  EXPECT_EQ(TotalDrops(), 1u);
}

TEST_F(FlowModeTest, FragmentsOfADatagramShareAPath) {
  // The first fragment carries the UDP header, later ones do not: both are
  // keyed by addresses only, so they leave from the same address.
  for (int d = 0; d < 20; ++d) {
    const std::string server = "10.202.0." + std::to_string(10 + d);
    Ipv4Options first;
    first.frag = 0x2000;  // MF, offset 0
    first.src_port = static_cast<uint16_t>(47000 + d);
    Ipv4Options rest;
    rest.frag = 0x00b9;  // offset 1480
    const int a = SendFlow(Ipv4Packet(kBondAddr, server.c_str(), IPPROTO_UDP, 1472, first));
    const int b = SendFlow(Ipv4Packet(kBondAddr, server.c_str(), IPPROTO_UDP, 500, rest));
    ASSERT_GE(a, 0);
    EXPECT_EQ(a, b) << "datagram to " << server;
  }
  EXPECT_EQ(TotalDrops(), 0u);
}

TEST_F(FlowModeTest, Ipv6IsDroppedAndCounted) {
  Bytes v6 = Ipv6Packet(100, 0);
  RunResult r = Encap(v6);
  EXPECT_EQ(r.verdict, kShot);
  EXPECT_TRUE(BytesEqual(r.out, v6, "v6-unchanged"));
  EXPECT_EQ(Counters(MB_NO_PATH).drops[MB_DROP_UNSUPPORTED_L3], 1u);
  EXPECT_EQ(TotalDrops(), 1u);
}

TEST_F(FlowModeTest, ProbeMarkIsAnOrdinaryFlow) {
  SetState(1, MB_PATH_DISABLED);
  RunResult r = Run(skel_->progs.mb_encap, Tcp(48000), MB_PROBE_MARK | 1);
  ASSERT_EQ(r.verdict, kRedirect);
  EXPECT_EQ(PathOf(r.out), 0) << "no peer to reflect probes: the mark forces nothing";
}

TEST_F(FlowModeTest, NoEncapOverheadAgainstTheUplinkMtu) {
  ASSERT_EQ(lo_, 1u) << "the private netns's lo must have the paths' ifindex";
  InNetnsWithLoMtu(1500, [&] {
    Bytes fits = Tcp(49000, 1500 - 40);
    ASSERT_EQ(fits.size(), 14u + 1500u);
    EXPECT_EQ(Encap(fits).verdict, kRedirect) << "a full 1500-byte packet fits the uplink";
    Bytes big = Tcp(49000, 1501 - 40);
    RunResult r = Encap(big);
    EXPECT_EQ(r.verdict, kShot);
    EXPECT_TRUE(BytesEqual(r.out, big, "too-big-unchanged"));
    EXPECT_EQ(Counters(0).drops[MB_DROP_TOO_BIG] + Counters(1).drops[MB_DROP_TOO_BIG], 1u);
  });
}

// ---------------------------------------------------------------- data caps
//
// mb_budget[path]: the agent grants limit_bytes; the data path charges the
// wire size (outer IPv4 packet) of every packet sent or received on the
// path and, once nothing is left, stops using it (or keeps it as a last
// resort).

void SetCap(meshbpf_bpf* skel, uint32_t path, uint64_t limit, int64_t remaining,
            uint32_t policy = MB_CAP_STOP) {
  mb_budget b{};
  b.limit_bytes = limit;
  b.remaining_bytes = remaining;
  b.policy = policy;
  ASSERT_EQ(bpf_map_update_elem(bpf_map__fd(skel->maps.mb_budget), &path, &b, BPF_ANY), 0);
}

int64_t Remaining(meshbpf_bpf* skel, uint32_t path) {
  mb_budget b{};
  EXPECT_EQ(bpf_map_lookup_elem(bpf_map__fd(skel->maps.mb_budget), &path, &b), 0);
  return b.remaining_bytes;
}

// A 1000-byte IPv4 packet: 1040 bytes on the wire once encapsulated.
constexpr size_t kCapPayload = 1000 - 28;
constexpr int64_t kCapWire = 1000 + MB_ENCAP_OVERHEAD;

TEST_F(DatapathTest, CapIsChargedTheWireSizeOfEveryPacketSent) {
  Bytes in = Ipv4Packet("10.203.0.2", "10.202.0.2", IPPROTO_UDP, kCapPayload);
  ASSERT_EQ(in.size() - 14, 1000u);
  SetCap(skel_, 0, 1'000'000, 1'000'000);
  for (int i = 0; i < 30; ++i) ASSERT_EQ(Encap(in).verdict, kRedirect);
  const mb_path_counters c0 = Counters(0);
  EXPECT_GT(c0.tx_packets, 0u);
  EXPECT_GT(Counters(1).tx_packets, 0u) << "both paths in use";
  EXPECT_EQ(Remaining(skel_, 0), 1'000'000 - static_cast<int64_t>(c0.tx_packets) * kCapWire)
      << "only path 0's own packets, at their encapsulated size";
  EXPECT_EQ(Remaining(skel_, 1), 0) << "an uncapped path is not counted";
}

TEST_F(DatapathTest, StopPolicyTakesASpentPathOutWithinOnePacket) {
  SetState(1, MB_PATH_DISABLED);
  Bytes in = Ipv4Packet("10.203.0.2", "10.202.0.2", IPPROTO_UDP, kCapPayload);
  SetCap(skel_, 0, 3000, 3000, MB_CAP_STOP);
  // 3000 -> 1960 -> 920 -> -120: the packet that crosses zero still goes
  // (the check comes first), the next one finds nothing left.
  for (int i = 0; i < 3; ++i) ASSERT_EQ(Encap(in).verdict, kRedirect) << i;
  EXPECT_EQ(Remaining(skel_, 0), 3000 - 3 * kCapWire);
  EXPECT_EQ(Encap(in).verdict, kShot) << "the only path is spent";
  EXPECT_EQ(Counters(MB_NO_PATH).drops[MB_DROP_NO_PATH], 1u);
  EXPECT_EQ(Counters(0).tx_packets, 3u);
  EXPECT_EQ(Remaining(skel_, 0), 3000 - 3 * kCapWire) << "a dropped packet costs nothing";
  // Another path in service carries everything; the spent one stays out.
  SetState(1, MB_PATH_ACTIVE);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(Encap(in).out[kWire + 1], 1);
  // Also as a backup: a spent stop-policy path is no backup.
  SetState(0, MB_PATH_BACKUP);
  SetState(1, MB_PATH_DISABLED);
  EXPECT_EQ(Encap(in).verdict, kShot);
  // The agent grants a new budget (reset, new period): back in service.
  SetState(0, MB_PATH_ACTIVE);
  SetCap(skel_, 0, 3000, 3000);
  EXPECT_EQ(Encap(in).verdict, kRedirect);
  EXPECT_EQ(Counters(0).tx_packets, 4u);
}

TEST_F(DatapathTest, LastResortPathCarriesTrafficOnlyWhenNothingElseCan) {
  Bytes in = Ipv4Packet("10.203.0.2", "10.202.0.2", IPPROTO_UDP, kCapPayload);
  SetCap(skel_, 0, 5000, 0, MB_CAP_LAST_RESORT);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(Encap(in).out[kWire + 1], 1) << "path 1 is usable";
  EXPECT_EQ(Counters(0).tx_packets, 0u);
  // Path 1 out: the spent path stands in, and what it carries is counted.
  SetState(1, MB_PATH_DISABLED);
  for (int i = 0; i < 3; ++i) {
    RunResult r = Encap(in);
    ASSERT_EQ(r.verdict, kRedirect);
    EXPECT_EQ(r.out[kWire + 1], 0);
  }
  EXPECT_EQ(Remaining(skel_, 0), -3 * kCapWire);
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
  SetCap(skel_, 1, 5000, 0, MB_CAP_STOP);
  Bytes in = Ipv4Packet("10.203.0.2", "10.202.0.2", IPPROTO_UDP, kCapPayload);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(Encap(in).out[kWire + 1], 0);
  EXPECT_EQ(Counters(1).tx_packets, 0u);
  EXPECT_EQ(Counters(0).tx_packets, 5u);
}

TEST_F(DatapathTest, ProbesStopOnASpentPathUnlessItIsALastResort) {
  Bytes probe = Ipv4Packet("10.203.0.2", "10.203.0.1", IPPROTO_UDP, 40);
  // Stop policy: unanswered probes tell the peer to stop sending on it too.
  SetCap(skel_, 1, 5000, 0, MB_CAP_STOP);
  EXPECT_EQ(Run(skel_->progs.mb_encap, probe, MB_PROBE_MARK | 1).verdict, kShot);
  EXPECT_EQ(Counters(MB_NO_PATH).drops[MB_DROP_NO_PATH], 1u);
  EXPECT_EQ(Remaining(skel_, 1), 0) << "a dropped probe costs nothing";
  // Last resort: the path must stay known to be working.
  SetCap(skel_, 1, 5000, 0, MB_CAP_LAST_RESORT);
  RunResult r = Run(skel_->progs.mb_encap, probe, MB_PROBE_MARK | 1);
  ASSERT_EQ(r.verdict, kRedirect);
  EXPECT_EQ(r.out[kWire + 1], 1);
  EXPECT_EQ(Remaining(skel_, 1), -static_cast<int64_t>(probe.size() - 14 + MB_ENCAP_OVERHEAD));
}

TEST_F(DatapathTest, DecapChargesWhatArrivedOnThePath) {
  SetState(1, MB_PATH_DISABLED);  // the sender uses path 0
  Bytes in = Ipv4Packet("10.202.0.2", "10.203.0.2", IPPROTO_UDP, kCapPayload);
  Bytes wire = FromPeer(in);
  ASSERT_EQ(wire[kWire + 1], 0);
  ASSERT_EQ(wire.size() - 14, static_cast<size_t>(kCapWire));
  SetCap(skel_, 0, 2000, 2000, MB_CAP_STOP);
  for (int i = 0; i < 3; ++i) {
    RunResult r = Decap(wire);
    // Already carried by the uplink: delivered even once the cap is spent.
    ASSERT_EQ(r.verdict, kRedirect) << i;
    EXPECT_TRUE(BytesEqual(L3(r.out), L3(in), "decap-capped", true));
  }
  EXPECT_EQ(Remaining(skel_, 0), 2000 - 3 * kCapWire);
}

TEST_F(FlowModeTest, SpentPathTakesNoFlowsAndLosesItsOwn) {
  // A flow on path 0, then path 0's cap runs out.
  uint16_t sport = 47000;
  while (SendFlow(Tcp(sport)) != 0) ASSERT_LT(++sport, 47100) << "no flow hashed to path 0";
  const Bytes pkt = Tcp(sport);
  SetCap(skel_, 0, 10'000, 10'000);
  EXPECT_EQ(SendFlow(pkt), 0);
  EXPECT_EQ(Remaining(skel_, 0), 10'000 - static_cast<int64_t>(pkt.size() - 14))
      << "flow mode charges the IPv4 packet";
  SetCap(skel_, 0, 10'000, 0);
  EXPECT_EQ(SendFlow(pkt), 1) << "the pinned flow moves off the spent path";
  for (uint16_t p = 47200; p < 47230; ++p) EXPECT_EQ(SendFlow(Tcp(p)), 1);
  // With the last-resort policy it takes flows only when nothing else can.
  SetCap(skel_, 0, 10'000, 0, MB_CAP_LAST_RESORT);
  for (uint16_t p = 47300; p < 47310; ++p) EXPECT_EQ(SendFlow(Tcp(p)), 1);
  SetState(1, MB_PATH_DISABLED);
  EXPECT_EQ(SendFlow(Tcp(47400)), 0);
}

}  // namespace
