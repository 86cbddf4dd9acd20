// The fixture of the BPF tests of relaying and learned paths: the node under
// test as the relay R of an origin's bond (bpf/meshbpf.h, "Relaying").
//
// R (10.210.0.2 on the LAN) serves origin O (10.210.0.1) through its uplink
// path 0 (10.211.2.2) toward O's bonding peer P (10.200.0.2) in relay slot 3.
// test_run does not really redirect: a relayed packet shows as the
// TC_ACT_REDIRECT verdict with the rewritten frame as output. Needs root;
// skipped without it.
#pragma once

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>

#include "bpf/meshbpf.h"
#include "meshbpf.skel.h"
#include "tests/bpf_datapath_fixture.h"
#include "tests/bpf_test_run.h"
#include "tests/packet_builder.h"

namespace meshbpf::testing {

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

// What a correct relay makes of `in`: new outer addresses and ports, TTL - 1,
// the IPv4 checksum computed from scratch, UDP checksum 0, the rest as is.
inline Bytes Readdressed(const Bytes& in, const char* saddr, const char* daddr, uint16_t sport,
                  uint16_t dport) {
  Bytes want = in;
  const uint32_t s = Ip(saddr), d = Ip(daddr);
  std::memcpy(&want[kOuterIp + 12], &s, 4);
  std::memcpy(&want[kOuterIp + 16], &d, 4);
  want[kOuterIp + 8] = static_cast<uint8_t>(want[kOuterIp + 8] - 1);
  Put16(want, kOuterIp + 10, 0);
  Put16(want, kOuterIp + 10, Ipv4Checksum(&want[kOuterIp], 20));
  Put16(want, kOuterUdp, sport);
  Put16(want, kOuterUdp + 2, dport);
  Put16(want, kOuterUdp + 6, 0);
  return want;
}

class RelayTest : public BpfProgTest {
 protected:
  void SetUp() override {
    BpfProgTest::SetUp();
    if (SetUpStopped()) return;

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
    Put16(b, kOuterUdp + 6, 0xbeef);  // a stale UDP checksum: the relay must clear it
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

  mb_config config_{};
};

}  // namespace meshbpf::testing
