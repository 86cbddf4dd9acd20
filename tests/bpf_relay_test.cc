// BPF_PROG_TEST_RUN tests for relaying through a mesh neighbour and for
// learned paths (bpf/meshbpf.h, "Relaying" and MB_PATH_F_LEARN), in
// mb_decap: crafted packets in, verdict, output bytes and map changes
// checked. test_run does not really redirect: a relayed packet shows as the
// TC_ACT_REDIRECT verdict with the rewritten frame as output.
//
// The node under test plays two roles, each in its own fixture:
// - the relay R (10.210.0.2 on the LAN), serving origin O (10.210.0.1)
//   through its uplink path 0 (10.211.2.2) toward O's bonding peer P
//   (10.200.0.2) in relay slot 3;
// - the bonding peer with a learned path 2.
// Maps are loaded unpinned (no bpffs here), fresh for every test; devices
// are lo. RelayMapsTest pins them in a private bpffs it mounts on a temporary
// directory and unmounts again. Needs root (BPF load, unshare, mount).
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>
#include <linux/pkt_cls.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "agent/sys/map_io.h"
#include "bpf/meshbpf.h"
#include "meshbpf.skel.h"
#include "tests/bpf_test_run.h"
#include "tests/packet_builder.h"

namespace {

using namespace meshbpf::testing;

constexpr uint32_t kRedirect = TC_ACT_REDIRECT;
constexpr uint32_t kShot = TC_ACT_SHOT;
constexpr uint32_t kOk = TC_ACT_OK;

constexpr uint16_t kTunnelPort = 7201;  // everybody's listen port
constexpr uint16_t kProbePort = 7209;
constexpr uint16_t kRelayPort = 7211;  // R's first relay port
constexpr uint32_t kSlot = 3;
constexpr uint16_t kReturnPort = kRelayPort + MB_RELAY_RETURN_OFFSET + kSlot;
constexpr uint32_t kUplinkPath = 0;

constexpr const char* kOrigin = "10.210.0.1";
constexpr const char* kRelayLan = "10.210.0.2";
constexpr const char* kRelayUplink = "10.211.2.2";
constexpr const char* kBondPeer = "10.200.0.2";

// Offsets in a frame.
constexpr size_t kIp = 14, kUdp = 34, kInner = 14 + MB_ENCAP_OVERHEAD;

// What a correct relay makes of `in`: new outer addresses and ports, TTL - 1,
// the IPv4 checksum computed from scratch, UDP checksum 0, the rest as is.
Bytes Readdressed(const Bytes& in, const char* saddr, const char* daddr, uint16_t sport,
                  uint16_t dport) {
  Bytes want = in;
  const uint32_t s = Ip(saddr), d = Ip(daddr);
  std::memcpy(&want[kIp + 12], &s, 4);
  std::memcpy(&want[kIp + 16], &d, 4);
  want[kIp + 8] = static_cast<uint8_t>(want[kIp + 8] - 1);
  Put16(want, kIp + 10, 0);
  Put16(want, kIp + 10, Ipv4Checksum(&want[kIp], 20));
  Put16(want, kUdp, sport);
  Put16(want, kUdp + 2, dport);
  Put16(want, kUdp + 6, 0);
  return want;
}

::testing::AssertionResult SameBytes(const Bytes& actual, const Bytes& expected) {
  if (actual == expected) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure()
         << "bytes differ at offset " << FirstDifference(actual, expected) << " (sizes "
         << actual.size() << " vs " << expected.size() << "); output in "
         << DumpPcap(actual, "relay-actual") << ", expected in "
         << DumpPcap(expected, "relay-expected");
}

// The clock bpf_ktime_get_ns reads.
uint64_t MonotonicNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

class RelayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    skel_ = LoadUnpinnedDatapath();
    ASSERT_NE(skel_, nullptr);
    lo_ = if_nametoindex("lo");
    ASSERT_GT(lo_, 0u);

    config_.bond_ifindex = lo_;
    config_.listen_port = kTunnelPort;
    config_.configured = 1;
    config_.probe_port = kProbePort;
    config_.relay_port = kRelayPort;
    WriteConfig();

    // R's own uplink, which carries the relay (R bonds with some peer of its own).
    mb_path uplink{};
    uplink.ifindex = lo_;
    uplink.src_ip = Ip(kRelayUplink);
    uplink.dst_ip = Ip("10.200.9.9");
    uplink.gateway = Ip("10.211.2.1");
    uplink.src_port = uplink.dst_port = kTunnelPort;
    uplink.mtu = 1500;
    uplink.rate_kbps = 20000;
    uplink.state = MB_PATH_ACTIVE;
    SetPath(kUplinkPath, uplink);

    mb_relay r{};
    r.origin_ip = Ip(kOrigin);
    r.lan_ip = Ip(kRelayLan);
    r.peer_ip = Ip(kBondPeer);
    r.lan_ifindex = lo_;
    r.uplink_path = kUplinkPath;
    r.origin_port = kTunnelPort;
    r.peer_port = kTunnelPort;
    r.relay_port = kRelayPort;
    r.return_port = kReturnPort;
    r.in_use = 1;
    ASSERT_EQ(bpf_map_update_elem(Fd(skel_->maps.mb_relays), &kSlot, &r, BPF_ANY), 0);
    AddIndex(skel_->maps.mb_relay_fwd, kOrigin, kRelayPort, kSlot);
    AddIndex(skel_->maps.mb_relay_ret, kBondPeer, kReturnPort, kSlot);
  }
  void TearDown() override {
    if (skel_) meshbpf_bpf__destroy(skel_);
  }

  static int Fd(bpf_map* map) { return bpf_map__fd(map); }

  void WriteConfig() {
    uint32_t key = 0;
    ASSERT_EQ(bpf_map_update_elem(Fd(skel_->maps.mb_config), &key, &config_, BPF_ANY), 0);
  }
  void SetPath(uint32_t id, const mb_path& p) {
    ASSERT_EQ(bpf_map_update_elem(Fd(skel_->maps.mb_paths), &id, &p, BPF_ANY), 0);
  }
  void AddIndex(bpf_map* index, const char* addr, uint16_t port, uint32_t slot) {
    mb_relay_key key{};
    key.addr = Ip(addr);
    key.port = port;
    ASSERT_EQ(bpf_map_update_elem(Fd(index), &key, &slot, BPF_ANY), 0);
  }
  void SetCap(uint32_t slot, uint64_t limit, int64_t remaining, uint32_t policy = MB_CAP_STOP) {
    mb_budget b{};
    b.limit_bytes = limit;
    b.remaining_bytes = remaining;
    b.policy = policy;
    ASSERT_EQ(bpf_map_update_elem(Fd(skel_->maps.mb_budget), &slot, &b, BPF_ANY), 0);
  }
  int64_t Remaining(uint32_t slot) {
    mb_budget b{};
    EXPECT_EQ(bpf_map_lookup_elem(Fd(skel_->maps.mb_budget), &slot, &b), 0);
    return b.remaining_bytes;
  }

  mb_relay_counters RelayCounters(uint32_t slot) {
    return SumPerCpu(skel_->maps.mb_relay_counters, slot, mb_relay_counters_add);
  }
  uint64_t RelayDrops() {
    uint64_t n = 0;
    for (uint32_t slot = 0; slot < MB_MAX_RELAYS; ++slot) {
      const mb_relay_counters c = RelayCounters(slot);
      for (uint64_t d : c.drops) n += d;
    }
    return n;
  }
  mb_path_counters PathCounters(uint32_t slot) {
    return SumPerCpu(skel_->maps.mb_counters, slot, mb_counters_add);
  }

  RunResult Run(bpf_program* prog, const Bytes& in, uint32_t mark = 0) {
    return RunTc(prog, in, mark);
  }
  RunResult Decap(const Bytes& in) { return Run(skel_->progs.mb_decap, in); }

  // O's tunnel packet to R's relay port: `wire_len` bytes of outer IPv4.
  static Bytes FromOrigin(size_t wire_len = 1000, uint8_t ttl = 64,
                          uint16_t dst_port = kRelayPort, const char* src = kOrigin) {
    MeshOptions m;
    m.path_id = 1;
    m.src_port = kTunnelPort;
    m.dst_port = dst_port;
    m.dst = kRelayLan;
    m.ttl = ttl;
    Bytes inner = L3(Ipv4Packet("10.203.0.2", "10.202.0.2", IPPROTO_TCP,
                                wire_len - MB_ENCAP_OVERHEAD - 40));
    Bytes b = MeshPacket(src, inner, m);
    Put16(b, kUdp + 6, 0xbeef);  // a stale UDP checksum: the relay must clear it
    return b;
  }
  // P's answer to R's return port.
  static Bytes FromPeer(uint16_t src_port = kTunnelPort, size_t wire_len = 1000) {
    MeshOptions m;
    m.path_id = 1;
    m.src_port = src_port;
    m.dst_port = kReturnPort;
    m.dst = kRelayUplink;
    Bytes inner = L3(Ipv4Packet("10.202.0.2", "10.203.0.2", IPPROTO_TCP,
                                wire_len - MB_ENCAP_OVERHEAD - 40));
    return MeshPacket(kBondPeer, inner, m);
  }

  meshbpf_bpf* skel_ = nullptr;
  uint32_t lo_ = 0;
  mb_config config_{};
};

// ---------------------------------------------------------------- relaying

TEST_F(RelayTest, ForwardRewritesTheOuterHeaderTowardThePeer) {
  SetCap(MB_RELAY_BUDGET, 1'000'000, 1'000'000);
  SetCap(kUplinkPath, 2'000'000, 2'000'000);
  const Bytes in = FromOrigin();
  ASSERT_EQ(in.size(), 14u + 1000u);
  RunResult r = Decap(in);
  ASSERT_EQ(r.verdict, kRedirect);
  const Bytes& o = r.out;
  ASSERT_EQ(o.size(), in.size());
  EXPECT_EQ(Addr(o, kIp + 12), Ip(kRelayUplink)) << "source: R's uplink address";
  EXPECT_EQ(Addr(o, kIp + 16), Ip(kBondPeer)) << "destination: the origin's bonding peer";
  EXPECT_EQ(o[kIp + 8], 63) << "TTL - 1";
  EXPECT_EQ(Ipv4Checksum(&o[kIp], 20), 0) << "IPv4 checksum valid";
  EXPECT_EQ(Get16(o, kUdp), kReturnPort) << "source port: where P answers";
  EXPECT_EQ(Get16(o, kUdp + 2), kTunnelPort) << "the peer's tunnel port";
  EXPECT_EQ(Get16(o, kUdp + 6), 0) << "UDP checksum cleared";
  EXPECT_TRUE(SameBytes(Bytes(o.begin() + kUdp + 8, o.end()), Bytes(in.begin() + kUdp + 8, in.end())))
      << "wire header and inner packet untouched";
  EXPECT_TRUE(SameBytes(o, Readdressed(in, kRelayUplink, kBondPeer, kReturnPort, kTunnelPort)));

  const mb_relay_counters c = RelayCounters(kSlot);
  EXPECT_EQ(c.fwd_packets, 1u);
  EXPECT_EQ(c.fwd_bytes, 1000u) << "outer IPv4 size";
  EXPECT_EQ(c.ret_packets, 0u);
  EXPECT_EQ(RelayDrops(), 0u);
  EXPECT_EQ(Remaining(MB_RELAY_BUDGET), 1'000'000 - 1000) << "share budget charged";
  EXPECT_EQ(Remaining(kUplinkPath), 2'000'000 - 1000) << "the uplink's own cap charged";
  EXPECT_EQ(PathCounters(kUplinkPath).rx_packets, 0u) << "not counted as our own traffic";
}

TEST_F(RelayTest, ReturnRewritesTheOuterHeaderTowardTheOrigin) {
  SetCap(MB_RELAY_BUDGET, 1'000'000, 1'000'000);
  SetCap(kUplinkPath, 2'000'000, 2'000'000);
  const Bytes in = FromPeer();
  RunResult r = Decap(in);
  ASSERT_EQ(r.verdict, kRedirect);
  EXPECT_EQ(Addr(r.out, kIp + 12), Ip(kRelayLan));
  EXPECT_EQ(Addr(r.out, kIp + 16), Ip(kOrigin));
  EXPECT_EQ(Get16(r.out, kUdp), kRelayPort) << "from the port O sends to";
  EXPECT_EQ(Get16(r.out, kUdp + 2), kTunnelPort) << "O's tunnel port";
  EXPECT_EQ(Ipv4Checksum(&r.out[kIp], 20), 0);
  EXPECT_TRUE(SameBytes(r.out, Readdressed(in, kRelayLan, kOrigin, kRelayPort, kTunnelPort)));

  const mb_relay_counters c = RelayCounters(kSlot);
  EXPECT_EQ(c.ret_packets, 1u);
  EXPECT_EQ(c.ret_bytes, 1000u);
  EXPECT_EQ(c.fwd_packets, 0u);
  EXPECT_EQ(Remaining(MB_RELAY_BUDGET), 1'000'000 - 1000);
  EXPECT_EQ(Remaining(kUplinkPath), 2'000'000 - 1000);
}

TEST_F(RelayTest, UncappedBudgetsAreNotCounted) {
  ASSERT_EQ(Decap(FromOrigin()).verdict, kRedirect);
  EXPECT_EQ(Remaining(MB_RELAY_BUDGET), 0);
  EXPECT_EQ(Remaining(kUplinkPath), 0);
}

TEST_F(RelayTest, PacketsOfNoServedRelayPassUntouched) {
  struct Case {
    const char* what;
    Bytes in;
  };
  const Case cases[] = {
      {"unknown origin", FromOrigin(1000, 64, kRelayPort, "10.210.0.9")},
      {"known origin, another forward port", FromOrigin(1000, 64, kRelayPort + 1)},
      {"port below the span", FromOrigin(1000, 64, kRelayPort - 1)},
      {"port past the span", FromOrigin(1000, 64, kRelayPort + MB_RELAY_PORT_SPAN)},
      {"return port from other than the peer's address",
       FromOrigin(1000, 64, kReturnPort)},
  };
  for (const Case& c : cases) {
    RunResult r = Decap(c.in);
    EXPECT_EQ(r.verdict, kOk) << c.what;
    EXPECT_TRUE(SameBytes(r.out, c.in)) << c.what;
  }
  const mb_relay_counters k = RelayCounters(kSlot);
  EXPECT_EQ(k.fwd_packets + k.ret_packets, 0u);
  EXPECT_EQ(RelayDrops(), 0u);
}

TEST_F(RelayTest, NothingIsRelayedWithoutARelayPort) {
  config_.relay_port = 0;
  WriteConfig();
  const Bytes in = FromOrigin();
  RunResult r = Decap(in);
  EXPECT_EQ(r.verdict, kOk);
  EXPECT_TRUE(SameBytes(r.out, in));
  EXPECT_EQ(RelayCounters(kSlot).fwd_packets, 0u);
}

TEST_F(RelayTest, FreedSlotIsNotRelayed) {
  mb_relay freed{};
  ASSERT_EQ(bpf_map_update_elem(Fd(skel_->maps.mb_relays), &kSlot, &freed, BPF_ANY), 0);
  EXPECT_EQ(Decap(FromOrigin()).verdict, kOk);
  EXPECT_EQ(Decap(FromPeer()).verdict, kOk);
}

TEST_F(RelayTest, RelaysInFlowModeToo) {
  config_.mode = MB_MODE_FLOW;
  WriteConfig();
  EXPECT_EQ(Decap(FromOrigin()).verdict, kRedirect);
  EXPECT_EQ(RelayCounters(kSlot).fwd_packets, 1u);
}

TEST_F(RelayTest, ReturnFromAnotherSourcePortIsDroppedAndCounted) {
  const Bytes in = FromPeer(/*src_port=*/7999);
  EXPECT_EQ(Decap(in).verdict, kShot);
  const mb_relay_counters c = RelayCounters(kSlot);
  EXPECT_EQ(c.drops[MB_RELAY_DROP_WRONG_SOURCE], 1u);
  EXPECT_EQ(RelayDrops(), 1u);
  EXPECT_EQ(c.ret_packets, 0u);
}

TEST_F(RelayTest, SpentShareBudgetStopsRelayingBothWays) {
  // 1500 left: 1500 -> 500 -> -500, then spent.
  SetCap(MB_RELAY_BUDGET, 100'000, 1500);
  EXPECT_EQ(Decap(FromOrigin()).verdict, kRedirect);
  EXPECT_EQ(Decap(FromPeer()).verdict, kRedirect) << "the packet that crosses zero still goes";
  EXPECT_EQ(Remaining(MB_RELAY_BUDGET), -500);
  EXPECT_EQ(Decap(FromOrigin()).verdict, kShot);
  EXPECT_EQ(Decap(FromPeer()).verdict, kShot);
  const mb_relay_counters c = RelayCounters(kSlot);
  EXPECT_EQ(c.drops[MB_RELAY_DROP_SHARE_SPENT], 2u);
  EXPECT_EQ(RelayDrops(), 2u);
  EXPECT_EQ(c.fwd_packets, 1u);
  EXPECT_EQ(c.ret_packets, 1u);
  EXPECT_EQ(Remaining(MB_RELAY_BUDGET), -500) << "dropped packets are not charged";
}

TEST_F(RelayTest, SpentUplinkCapStopsRelayingWhateverItsPolicy) {
  SetCap(kUplinkPath, 100'000, 0, MB_CAP_LAST_RESORT);
  EXPECT_EQ(Decap(FromOrigin()).verdict, kShot);
  EXPECT_EQ(Decap(FromPeer()).verdict, kShot);
  EXPECT_EQ(RelayCounters(kSlot).drops[MB_RELAY_DROP_CAP_SPENT], 2u);
  EXPECT_EQ(RelayDrops(), 2u);
}

TEST_F(RelayTest, UnconfiguredUplinkPathDrops) {
  SetPath(kUplinkPath, mb_path{});
  EXPECT_EQ(Decap(FromOrigin()).verdict, kShot);
  EXPECT_EQ(RelayCounters(kSlot).drops[MB_RELAY_DROP_UPLINK_GONE], 1u);
}

TEST_F(RelayTest, ExpiringTtlIsDropped) {
  for (uint8_t ttl : {1, 0}) EXPECT_EQ(Decap(FromOrigin(1000, ttl)).verdict, kShot);
  EXPECT_EQ(RelayCounters(kSlot).drops[MB_RELAY_DROP_TTL], 2u);
  RunResult r = Decap(FromOrigin(1000, 2));
  EXPECT_EQ(r.verdict, kRedirect);
  EXPECT_EQ(r.out[kIp + 8], 1);
}

TEST_F(RelayTest, RateLimitDropsWhatExceedsTheBucket) {
  config_.relay_max_kbps = 8;  // 1000 bytes/s
  WriteConfig();
  // 2500 bytes in the bucket and no refill: its last refill lies an hour ahead.
  mb_relay_bucket bucket{};
  bucket.tokens_bytes = 2500;
  bucket.last_ns = MonotonicNs() + 3600ull * 1'000'000'000;
  uint32_t key = 0;
  ASSERT_EQ(bpf_map_update_elem(Fd(skel_->maps.mb_relay_bucket), &key, &bucket, BPF_ANY), 0);

  EXPECT_EQ(Decap(FromOrigin()).verdict, kRedirect);
  EXPECT_EQ(Decap(FromPeer()).verdict, kRedirect) << "both directions share the bucket";
  for (int i = 0; i < 3; ++i) EXPECT_EQ(Decap(FromOrigin()).verdict, kShot);
  EXPECT_EQ(Decap(FromOrigin(400)).verdict, kRedirect) << "what is left still fits 400 bytes";
  const mb_relay_counters c = RelayCounters(kSlot);
  EXPECT_EQ(c.drops[MB_RELAY_DROP_RATE], 3u);
  EXPECT_EQ(RelayDrops(), 3u);
  EXPECT_EQ(c.fwd_packets, 2u);
}

TEST_F(RelayTest, RateLimitRefillsAnIdleBucketTo64KiB) {
  config_.relay_max_kbps = 1;  // 125 bytes/s: 100 ms of it is far below the 64 KiB floor
  WriteConfig();
  // Idle since boot, one byte short of the floor. Never "now - an hour": the
  // monotonic clock starts near zero, and CI machines may have just booted.
  // Any refill (one byte takes 8 ms at 1 kbit/s) must stop at 64 KiB.
  mb_relay_bucket bucket{};
  bucket.tokens_bytes = 65535;
  bucket.last_ns = 0;
  uint32_t key = 0;
  ASSERT_EQ(bpf_map_update_elem(Fd(skel_->maps.mb_relay_bucket), &key, &bucket, BPF_ANY), 0);

  ASSERT_EQ(Decap(FromOrigin()).verdict, kRedirect);
  ASSERT_EQ(bpf_map_lookup_elem(Fd(skel_->maps.mb_relay_bucket), &key, &bucket), 0);
  EXPECT_EQ(bucket.tokens_bytes, 65536u - 1000u) << "refilled to the floor, then charged";
  // 65 x 1000 bytes fit in 65536; the 66th needs 464 more, which takes ~4 s to accrue.
  for (int i = 1; i < 65; ++i) ASSERT_EQ(Decap(FromOrigin()).verdict, kRedirect) << i;
  EXPECT_EQ(Decap(FromOrigin()).verdict, kShot);
  EXPECT_EQ(RelayCounters(kSlot).drops[MB_RELAY_DROP_RATE], 1u);
}

TEST_F(RelayTest, WithoutRateLimitTheBucketIsNotUsed) {
  for (int i = 0; i < 100; ++i) ASSERT_EQ(Decap(FromOrigin()).verdict, kRedirect);
  mb_relay_bucket bucket{};
  uint32_t key = 0;
  ASSERT_EQ(bpf_map_lookup_elem(Fd(skel_->maps.mb_relay_bucket), &key, &bucket), 0);
  EXPECT_EQ(bucket.last_ns, 0u);
}

// Runs body on a thread in a fresh network namespace whose lo (ifindex 1,
// the relay's devices here) has MTU 1500; the host's lo is never touched.
void InNetnsWithLoMtu1500(const std::function<void()>& body) {
  std::thread t([&] {
    if (unshare(CLONE_NEWNET) != 0) {
      ADD_FAILURE() << "unshare(CLONE_NEWNET): " << std::strerror(errno);
      return;
    }
    const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd, 0) << std::strerror(errno);
    ifreq req{};
    std::strncpy(req.ifr_name, "lo", IFNAMSIZ - 1);
    req.ifr_mtu = 1500;
    const int rc = ioctl(fd, SIOCSIFMTU, &req);
    const int saved = errno;
    close(fd);
    ASSERT_EQ(rc, 0) << "SIOCSIFMTU on the private lo: " << std::strerror(saved);
    ASSERT_EQ(if_nametoindex("lo"), 1u);
    body();
  });
  t.join();
}

TEST_F(RelayTest, PacketsTooBigForTheOutgoingDeviceAreDropped) {
  ASSERT_EQ(lo_, 1u) << "the private netns's lo must have the relay's ifindex";
  InNetnsWithLoMtu1500([&] {
    EXPECT_EQ(Decap(FromOrigin(1500)).verdict, kRedirect);
    EXPECT_EQ(Decap(FromOrigin(1501)).verdict, kShot) << "forward: the uplink's MTU";
    EXPECT_EQ(Decap(FromPeer(kTunnelPort, 1500)).verdict, kRedirect);
    EXPECT_EQ(Decap(FromPeer(kTunnelPort, 1501)).verdict, kShot) << "return: the LAN's MTU";
    EXPECT_EQ(RelayCounters(kSlot).drops[MB_RELAY_DROP_TOO_BIG], 2u);
    EXPECT_EQ(RelayDrops(), 2u);
  });
}

// ---------------------------------------------------------------- learned paths

constexpr uint32_t kLearnedPath = 2;
constexpr const char* kOurAddr = "10.200.0.2";  // where the relayed packets arrive

class LearnedPathTest : public RelayTest {
 protected:
  void SetUp() override {
    RelayTest::SetUp();
    if (HasFatalFailure()) return;
    config_.relay_port = 0;
    config_.learn_paths = 1;
    WriteConfig();
    // As the agent writes a learned path whose far end is not known yet.
    mb_path p{};
    p.ifindex = lo_;
    p.src_ip = Ip(kOurAddr);
    p.src_port = kTunnelPort;
    p.mtu = 1500;
    p.rate_kbps = 20000;
    p.state = MB_PATH_DISABLED;
    p.flags = MB_PATH_F_LEARN;
    SetPath(kLearnedPath, p);
  }

  // A tunnel packet on the learned path from R's uplink address:return port;
  // a probe (inner UDP to the probe port) or data.
  static Bytes OnLearnedPath(bool probe, const char* src = kRelayUplink,
                             uint16_t src_port = kReturnPort) {
    MeshOptions m;
    m.path_id = kLearnedPath;
    m.src_port = src_port;
    m.dst = kOurAddr;
    Ipv4Options o;
    o.dst_port = probe ? kProbePort : 5201;
    return MeshPacket(src, L3(Ipv4Packet("10.203.0.2", "10.203.0.1", IPPROTO_UDP, 60, o)), m);
  }

  mb_learned_source Learned() {
    mb_learned_source s{};
    EXPECT_EQ(bpf_map_lookup_elem(Fd(skel_->maps.mb_learned), &kLearnedPath, &s), 0);
    return s;
  }

  void Adopt(const char* addr, uint16_t port) {
    mb_path p{};
    ASSERT_EQ(bpf_map_lookup_elem(Fd(skel_->maps.mb_paths), &kLearnedPath, &p), 0);
    p.dst_ip = Ip(addr);
    p.dst_port = port;
    p.state = MB_PATH_ACTIVE;
    SetPath(kLearnedPath, p);
    uint32_t peer = Ip(addr);
    mb_peer v{};
    ASSERT_EQ(bpf_map_update_elem(Fd(skel_->maps.mb_peers), &peer, &v, BPF_ANY), 0);
  }
};

TEST_F(LearnedPathTest, ProbeFromANewSourcePassesAndIsRecorded) {
  const uint64_t before = MonotonicNs();
  RunResult r = Decap(OnLearnedPath(/*probe=*/true));
  ASSERT_EQ(r.verdict, kRedirect) << "delivered into the bond although its source is no peer";
  EXPECT_EQ(Get16(r.out, 12), kEthIpv4);
  EXPECT_EQ(Get16(r.out, 14 + 20 + 2), kProbePort) << "the inner probe, decapsulated";
  const mb_learned_source s = Learned();
  EXPECT_EQ(s.saddr, Ip(kRelayUplink));
  EXPECT_EQ(s.daddr, Ip(kOurAddr));
  EXPECT_EQ(s.sport, kReturnPort);
  EXPECT_EQ(s.ifindex, lo_);
  EXPECT_GE(s.seen_ns, before);
  EXPECT_LE(s.seen_ns, MonotonicNs());
  EXPECT_EQ(PathCounters(kLearnedPath).rx_packets, 1u);
}

TEST_F(LearnedPathTest, DataFromANewSourceIsDropped) {
  EXPECT_EQ(Decap(OnLearnedPath(/*probe=*/false)).verdict, kShot);
  EXPECT_EQ(PathCounters(kLearnedPath).drops[MB_DROP_WRONG_ENDPOINT], 1u);
  EXPECT_EQ(Learned().saddr, 0u) << "data teaches nothing";
}

TEST_F(LearnedPathTest, DataFromTheLearnedEndpointPasses) {
  Adopt(kRelayUplink, kReturnPort);
  EXPECT_EQ(Decap(OnLearnedPath(/*probe=*/false)).verdict, kRedirect);
  EXPECT_EQ(PathCounters(kLearnedPath).rx_packets, 1u);
  EXPECT_EQ(Learned().saddr, 0u) << "the known endpoint is not recorded again";
  // The same address from another port is another endpoint.
  EXPECT_EQ(Decap(OnLearnedPath(false, kRelayUplink, kReturnPort + 1)).verdict, kShot);
  EXPECT_EQ(PathCounters(kLearnedPath).drops[MB_DROP_WRONG_ENDPOINT], 1u);
  // A probe from a new endpoint is still recorded: the relay moved.
  EXPECT_EQ(Decap(OnLearnedPath(true, "10.211.3.2")).verdict, kRedirect);
  EXPECT_EQ(Learned().saddr, Ip("10.211.3.2"));
}

TEST_F(LearnedPathTest, OtherPathsStillNeedAKnownPeer) {
  mb_path other{};
  other.ifindex = lo_;
  other.src_ip = Ip(kOurAddr);
  other.dst_ip = Ip("10.201.9.9");
  other.src_port = other.dst_port = kTunnelPort;
  other.state = MB_PATH_ACTIVE;
  other.rate_kbps = 1000;
  SetPath(1, other);
  MeshOptions m;
  m.path_id = 1;
  Ipv4Options o;
  o.dst_port = kProbePort;
  EXPECT_EQ(Decap(MeshPacket("10.201.9.9", L3(Ipv4Packet("10.203.0.2", "10.203.0.1",
                                                         IPPROTO_UDP, 60, o)), m))
                .verdict,
            kShot);
  EXPECT_EQ(PathCounters(MB_NO_PATH).drops[MB_DROP_UNKNOWN_SOURCE], 1u);
  EXPECT_EQ(Learned().saddr, 0u);
}

TEST_F(LearnedPathTest, WithoutLearnPathsTheFlagIsNotConsulted) {
  config_.learn_paths = 0;
  WriteConfig();
  EXPECT_EQ(Decap(OnLearnedPath(/*probe=*/true)).verdict, kShot);
  EXPECT_EQ(PathCounters(MB_NO_PATH).drops[MB_DROP_UNKNOWN_SOURCE], 1u);
  EXPECT_EQ(Learned().saddr, 0u);
}

TEST_F(LearnedPathTest, ProbeIsNotForcedOntoAPathWithoutEndpoint) {
  const Bytes probe = Ipv4Packet("10.203.0.1", "10.203.0.2", IPPROTO_UDP, 40);
  EXPECT_EQ(Run(skel_->progs.mb_encap, probe, MB_PROBE_MARK | kLearnedPath).verdict, kShot);
  EXPECT_EQ(PathCounters(MB_NO_PATH).drops[MB_DROP_NO_PATH], 1u);
  Adopt(kRelayUplink, kReturnPort);
  RunResult r = Run(skel_->progs.mb_encap, probe, MB_PROBE_MARK | kLearnedPath);
  ASSERT_EQ(r.verdict, kRedirect);
  EXPECT_EQ(Addr(r.out, kIp + 16), Ip(kRelayUplink));
  EXPECT_EQ(Get16(r.out, kUdp + 2), kReturnPort);
}

// ---------------------------------------------------------------- RelayMaps

// The agent's side: RelayMaps over the pinned maps of a loaded data path.
class RelayMapsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/meshbpf-relay-maps-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr) << std::strerror(errno);
    dir_ = dir;
    ASSERT_EQ(mount("bpf", dir_.c_str(), "bpf", 0, "mode=0700"), 0)
        << "mounting a bpffs on " << dir_ << ": " << std::strerror(errno);
    mounted_ = true;
    bpf_object_open_opts opts{};
    opts.sz = sizeof(opts);
    opts.pin_root_path = dir_.c_str();
    skel_ = meshbpf_bpf__open_opts(&opts);
    ASSERT_NE(skel_, nullptr) << std::strerror(errno);
    ASSERT_EQ(meshbpf_bpf__load(skel_), 0) << "load failed (root needed)";
    absl::StatusOr<std::unique_ptr<meshbpf::RelayMaps>> maps =
        meshbpf::RelayMaps::OpenPinned(dir_);
    ASSERT_TRUE(maps.ok()) << maps.status();
    maps_ = std::move(*maps);
  }
  void TearDown() override {
    maps_.reset();
    if (skel_) meshbpf_bpf__destroy(skel_);
    if (mounted_) umount(dir_.c_str());
    if (!dir_.empty()) rmdir(dir_.c_str());
  }

  static mb_relay Relay(const char* origin, uint16_t relay_port, uint16_t return_port) {
    mb_relay r{};
    r.origin_ip = Ip(origin);
    r.lan_ip = Ip(kRelayLan);
    r.peer_ip = Ip(kBondPeer);
    r.lan_ifindex = 1;
    r.uplink_path = kUplinkPath;
    r.origin_port = r.peer_port = kTunnelPort;
    r.relay_port = relay_port;
    r.return_port = return_port;
    r.in_use = 1;
    return r;
  }

  // An index map's content as {address text:port -> slot}.
  std::map<std::string, uint32_t> Index(bpf_map* map) {
    std::map<std::string, uint32_t> out;
    mb_relay_key key{}, next{};
    const int fd = bpf_map__fd(map);
    for (const void* prev = nullptr; bpf_map_get_next_key(fd, prev, &next) == 0; prev = &key) {
      key = next;
      uint32_t slot = 0;
      EXPECT_EQ(bpf_map_lookup_elem(fd, &key, &slot), 0);
      char text[INET_ADDRSTRLEN];
      in_addr a{key.addr};
      inet_ntop(AF_INET, &a, text, sizeof(text));
      out[std::string(text) + ":" + std::to_string(key.port)] = slot;
    }
    return out;
  }

  std::string dir_;
  bool mounted_ = false;
  meshbpf_bpf* skel_ = nullptr;
  std::unique_ptr<meshbpf::RelayMaps> maps_;
};

TEST_F(RelayMapsTest, SyncWritesSlotsAndBothIndexes) {
  ASSERT_TRUE(maps_->Sync({{3, Relay(kOrigin, kRelayPort, kReturnPort)},
                           {5, Relay("10.210.0.7", kRelayPort + 1, kRelayPort + 37)}})
                  .ok());
  using Map = std::map<std::string, uint32_t>;
  EXPECT_EQ(Index(skel_->maps.mb_relay_fwd),
            (Map{{"10.210.0.1:7211", 3}, {"10.210.0.7:7212", 5}}));
  EXPECT_EQ(Index(skel_->maps.mb_relay_ret),
            (Map{{"10.200.0.2:7246", 3}, {"10.200.0.2:7248", 5}}));
  absl::StatusOr<std::map<uint32_t, mb_relay>> read = maps_->Read();
  ASSERT_TRUE(read.ok()) << read.status();
  ASSERT_EQ(read->size(), 2u);
  EXPECT_EQ(read->at(5).origin_ip, Ip("10.210.0.7"));

  // Slot 3 goes, slot 5 gets another origin: no index entry of either old relay stays.
  ASSERT_TRUE(maps_->Sync({{5, Relay("10.210.0.8", kRelayPort + 1, kRelayPort + 37)}}).ok());
  EXPECT_EQ(Index(skel_->maps.mb_relay_fwd), (Map{{"10.210.0.8:7212", 5}}));
  EXPECT_EQ(Index(skel_->maps.mb_relay_ret), (Map{{"10.200.0.2:7248", 5}}));
  read = maps_->Read();
  ASSERT_TRUE(read.ok()) << read.status();
  ASSERT_EQ(read->size(), 1u);
  mb_relay slot3{};
  ASSERT_EQ(bpf_map_lookup_elem(bpf_map__fd(skel_->maps.mb_relays), &kSlot, &slot3), 0);
  EXPECT_EQ(slot3.in_use, 0u) << "a dropped relay's slot is cleared";

  ASSERT_TRUE(maps_->Sync({}).ok());
  EXPECT_TRUE(Index(skel_->maps.mb_relay_fwd).empty());
  EXPECT_TRUE(maps_->Read()->empty());
}

TEST_F(RelayMapsTest, SyncRefusesBadRelaysWithAReason) {
  mb_relay not_in_use = Relay(kOrigin, kRelayPort, kReturnPort);
  not_in_use.in_use = 0;
  mb_relay bad_path = Relay(kOrigin, kRelayPort, kReturnPort);
  bad_path.uplink_path = MB_MAX_PATHS;
  const struct {
    std::map<uint32_t, mb_relay> relays;
    const char* reason;
  } cases[] = {
      {{{MB_MAX_RELAYS, Relay(kOrigin, kRelayPort, kReturnPort)}}, "past the table"},
      {{{0, not_in_use}}, "not marked in use"},
      {{{0, bad_path}}, "uplink path"},
      {{{0, Relay(kOrigin, kRelayPort, kReturnPort)},
        {1, Relay(kOrigin, kRelayPort, kReturnPort + 1)}},
       "same mb_relay_fwd key 10.210.0.1:7211"},
  };
  for (const auto& c : cases) {
    absl::Status s = maps_->Sync(c.relays);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.reason;
    EXPECT_NE(std::string(s.message()).find(c.reason), std::string::npos) << s;
  }
  EXPECT_TRUE(Index(skel_->maps.mb_relay_fwd).empty()) << "nothing written on bad input";
}

TEST_F(RelayMapsTest, CountersAndLearnedSourcesAreReadBack) {
  const int cpus = libbpf_num_possible_cpus();
  ASSERT_GT(cpus, 0);
  std::vector<mb_relay_counters> per_cpu(static_cast<size_t>(cpus));
  per_cpu[0].fwd_packets = 2;
  per_cpu[0].drops[MB_RELAY_DROP_RATE] = 1;
  per_cpu.back().fwd_packets += 3;
  per_cpu.back().ret_bytes = 700;
  ASSERT_EQ(bpf_map_update_elem(bpf_map__fd(skel_->maps.mb_relay_counters), &kSlot,
                                per_cpu.data(), BPF_ANY),
            0);
  absl::StatusOr<meshbpf::RelayCounterTable> counters = maps_->ReadCounters();
  ASSERT_TRUE(counters.ok()) << counters.status();
  EXPECT_EQ((*counters)[kSlot].fwd_packets, 5u) << "summed over CPUs";
  EXPECT_EQ((*counters)[kSlot].ret_bytes, 700u);
  EXPECT_EQ((*counters)[kSlot].drops[MB_RELAY_DROP_RATE], 1u);
  EXPECT_EQ((*counters)[0].fwd_packets, 0u);

  mb_learned_source seen{};
  seen.saddr = Ip(kRelayUplink);
  seen.sport = kReturnPort;
  const uint32_t path = 2;
  ASSERT_EQ(bpf_map_update_elem(bpf_map__fd(skel_->maps.mb_learned), &path, &seen, BPF_ANY), 0);
  absl::StatusOr<mb_learned_source> learned = maps_->ReadLearned(path);
  ASSERT_TRUE(learned.ok()) << learned.status();
  EXPECT_EQ(learned->saddr, Ip(kRelayUplink));
  EXPECT_EQ(learned->sport, kReturnPort);
  EXPECT_EQ(maps_->ReadLearned(MB_MAX_PATHS).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(RelayMapsTest, OpeningWithoutPinsSaysWhatIsMissing) {
  absl::StatusOr<std::unique_ptr<meshbpf::RelayMaps>> maps =
      meshbpf::RelayMaps::OpenPinned(dir_ + "/nothing-here");
  ASSERT_FALSE(maps.ok());
  EXPECT_EQ(maps.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(std::string(maps.status().message()).find("mb_relays is not pinned"),
            std::string::npos)
      << maps.status();
}

}  // namespace
