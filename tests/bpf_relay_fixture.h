// The fixture of the BPF tests of relaying and learned paths: the node under
// test as the relay R of an origin's bond (bpf/meshbpf.h, "Relaying").
//
// R (10.210.0.2 on the LAN) serves origin O (10.210.0.1) through its uplink
// path 0 (10.211.2.2) toward O's bonding peer P (10.200.0.2) in relay slot 3.
// The addresses of an IPv6 relay (O fe80::1, R fe80::2 on the LAN, R's IPv6
// uplink 2001:db8:2::2, P 2001:db8:200::2) are here too; its tests set it up.
// test_run does not really redirect: a relayed packet shows as the
// TC_ACT_REDIRECT verdict with the rewritten frame as output. Needs root;
// skipped without it.
#pragma once

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <vector>

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
constexpr const char* kOrigin6 = "fe80::1";
constexpr const char* kRelayLan6 = "fe80::2";
constexpr const char* kRelayUplink6 = "2001:db8:2::2";
constexpr const char* kBondPeer6 = "2001:db8:200::2";

// An address of either family (IPv6 if it has a colon) as the relay maps hold it.
inline mb_addr RelayAddr(const char* text) {
  mb_addr a{};
  if (std::strchr(text, ':') != nullptr) {
    EXPECT_EQ(inet_pton(AF_INET6, text, a.w), 1) << text;
  } else {
    a.w[0] = Ip(text);
  }
  return a;
}

// What a correct relay makes of `in`, IPv4 or IPv6: new outer addresses and
// ports, TTL (hop limit) - 1, the IPv4 checksum computed from scratch, UDP
// checksum 0, the rest as is.
inline Bytes Readdressed(const Bytes& in, const char* saddr, const char* daddr, uint16_t sport,
                         uint16_t dport) {
  Bytes want = in;
  const mb_addr s = RelayAddr(saddr), d = RelayAddr(daddr);
  size_t udp = kOuterUdp;
  if (Get16(in, 12) == kEthIpv6) {
    std::memcpy(&want[kOuterIp + 8], s.w, 16);
    std::memcpy(&want[kOuterIp + 24], d.w, 16);
    want[kOuterIp + 7] = static_cast<uint8_t>(want[kOuterIp + 7] - 1);
    udp = kOuterIp + 40;
  } else {
    std::memcpy(&want[kOuterIp + 12], s.w, 4);
    std::memcpy(&want[kOuterIp + 16], d.w, 4);
    want[kOuterIp + 8] = static_cast<uint8_t>(want[kOuterIp + 8] - 1);
    Put16(want, kOuterIp + 10, 0);
    Put16(want, kOuterIp + 10, Ipv4Checksum(&want[kOuterIp], 20));
  }
  Put16(want, udp, sport);
  Put16(want, udp + 2, dport);
  Put16(want, udp + 6, 0);
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
    mb_path uplink = RelayUplinkOverLo();
    uplink.src_ip = Ip(kRelayUplink);
    uplink.dst_ip = Ip("10.200.9.9");
    uplink.gateway = Ip("10.211.2.1");
    SetPath(kUplinkPath, uplink);
    AddRelay(kSlot, kOrigin, kRelayLan, kBondPeer, kUplinkPath, kReturnPort);
  }
  // An active path of R's over lo, addresses still to set.
  mb_path RelayUplinkOverLo() const {
    mb_path uplink{};
    uplink.ifindex = lo_;
    uplink.src_port = uplink.dst_port = kTunnelPort;
    uplink.mtu = 1500;
    uplink.rate_kbps = 20000;
    uplink.state = MB_PATH_ACTIVE;
    return uplink;
  }
  // Relay slot `slot` and its two index entries, as the agent writes them:
  // O (`origin`) sends to R's LAN address `lan` on lo at kRelayPort, P
  // (`peer`) answers over R's path `uplink_path` to `return_port`; tunnel
  // ports kTunnelPort. IPv6 (MB_RELAY_F_IPV6) if the addresses are.
  void AddRelay(uint32_t slot, const char* origin, const char* lan, const char* peer,
                uint32_t uplink_path, uint16_t return_port) {
    mb_relay r{};
    r.origin_ip = RelayAddr(origin);
    r.lan_ip = RelayAddr(lan);
    r.peer_ip = RelayAddr(peer);
    r.lan_ifindex = lo_;
    r.uplink_path = uplink_path;
    r.origin_port = kTunnelPort;
    r.peer_port = kTunnelPort;
    r.relay_port = kRelayPort;
    r.return_port = return_port;
    r.in_use = 1;
    r.flags = std::strchr(origin, ':') != nullptr ? MB_RELAY_F_IPV6 : 0;
    ASSERT_EQ(bpf_map_update_elem(Fd(skel_->maps.mb_relays), &slot, &r, BPF_ANY), 0);
    AddIndex(skel_->maps.mb_relay_fwd, origin, kRelayPort, slot);
    AddIndex(skel_->maps.mb_relay_ret, peer, return_port, slot);
  }
  void WriteConfig() {
    uint32_t key = 0;
    ASSERT_EQ(bpf_map_update_elem(Fd(skel_->maps.mb_config), &key, &config_, BPF_ANY), 0);
  }
  void SetPath(uint32_t id, const mb_path& p) {
    ASSERT_EQ(bpf_map_update_elem(Fd(skel_->maps.mb_paths), &id, &p, BPF_ANY), 0);
  }
  // An index entry {addr, port} -> slot, of addr's family.
  void AddIndex(bpf_map* index, const char* addr, uint16_t port, uint32_t slot) {
    mb_relay_key key{};
    key.addr = RelayAddr(addr);
    key.port = port;
    key.ipv6 = std::strchr(addr, ':') != nullptr;
    ASSERT_EQ(bpf_map_update_elem(Fd(index), &key, &slot, BPF_ANY), 0);
  }
  // How a packet the relay must refuse arrives, and the reason it is dropped for.
  struct RelayRefusal {
    const char* what;
    Bytes packet;
    uint32_t ingress;
    int reason;
  };
  // Each of `refusals` is dropped and counted under its reason in `slot`,
  // nothing is relayed.
  void ExpectRefused(uint32_t slot, const std::vector<RelayRefusal>& refusals) {
    uint64_t dropped = 0;
    for (const RelayRefusal& c : refusals) {
      const uint64_t before = RelayCounters(slot).drops[c.reason];
      EXPECT_EQ(RunTc(skel_->progs.mb_decap, c.packet, 0, c.ingress).verdict, kShot) << c.what;
      EXPECT_EQ(RelayCounters(slot).drops[c.reason], before + 1) << c.what;
      EXPECT_EQ(RelayDrops(), ++dropped) << c.what;
    }
    const mb_relay_counters c = RelayCounters(slot);
    EXPECT_EQ(c.fwd_packets + c.ret_packets, 0u);
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
