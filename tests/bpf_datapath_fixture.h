// The fixture of the BPF tests of mb_encap and mb_decap with a peer, and of
// flow mode: the data path configured as the agent configures it.
//
// Two active paths (40 and 20 Mbit/s) over lo toward the peer 10.200.0.2.
// test_run never really redirects or drops: a redirect shows as the
// TC_ACT_REDIRECT verdict with the rewritten packet as output. On a byte
// mismatch the output (and the expected bytes) are written as pcaps under
// /tmp for Wireshark. Needs root (BPF load, unshare); skipped without it.
#pragma once

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <functional>

#include "bpf/meshbpf.h"
#include "meshbpf.skel.h"
#include "tests/bpf_test_run.h"
#include "tests/packet_builder.h"

namespace meshbpf::testing {

static_assert(MB_ENCAP_OVERHEAD == 40, "outer IPv4 + UDP + wire header");
static_assert(sizeof(mb_wire_hdr) == 12);

constexpr uint16_t kPort = 7201;
constexpr uint8_t kBondMac[6] = {0x02, 0x4d, 0x42, 0x00, 0x00, 0x01};
constexpr const char* kPeer = "10.200.0.2";
constexpr const char* kPath0Src = "10.201.1.2";
constexpr const char* kPath1Src = "10.201.2.2";

// Offsets in an encapsulated frame.
constexpr size_t kOuterIp = 14, kOuterUdp = 34, kWire = 42, kInner = 14 + MB_ENCAP_OVERHEAD;

// An encapsulated frame's header fields.
struct Encapsulated {
  uint8_t path_id;
  uint32_t bond_seq;
  uint32_t path_seq;
};
inline Encapsulated Parse(const Bytes& o) {
  return {o[kWire + 1], Get32(o, kWire + 4), Get32(o, kWire + 8)};
}

// An inner packet (L3 only) as the peer sends it into the tunnel.
inline Bytes InnerL3() { return L3(Ipv4Packet("10.202.0.2", "10.203.0.2", IPPROTO_TCP, 300)); }

class DatapathTest : public BpfProgTest {
 protected:
  void SetUp() override {
    BpfProgTest::SetUp();
    if (SetUpStopped()) return;
    Configure(1);
    SetPath(0, kPath0Src, "10.201.1.1", 40000, MB_PATH_ACTIVE);
    SetPath(1, kPath1Src, "10.201.2.1", 20000, MB_PATH_ACTIVE);
    AddPeer(kPeer);
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

  // A path over lo without addresses yet.
  mb_path PathOverLo(uint32_t rate_kbps, uint8_t state) const {
    mb_path p{};
    p.ifindex = lo_;  // bpf_check_mtu needs a real device
    p.src_port = kPort;
    p.dst_port = kPort;
    p.mtu = 1500;
    p.rate_kbps = rate_kbps;
    p.state = state;
    return p;
  }

  void SetPath(uint32_t id, const char* src, const char* gw, uint32_t rate_kbps, uint8_t state) {
    mb_path p = PathOverLo(rate_kbps, state);
    p.src_ip = Ip(src);
    p.dst_ip = Ip(kPeer);
    p.gateway = Ip(gw);
    ASSERT_EQ(bpf_map_update_elem(bpf_map__fd(skel_->maps.mb_paths), &id, &p, BPF_ANY), 0);
  }

  // Changes path `id`'s entry in place.
  void EditPath(uint32_t id, const std::function<void(mb_path&)>& edit) {
    mb_path p{};
    ASSERT_EQ(bpf_map_lookup_elem(bpf_map__fd(skel_->maps.mb_paths), &id, &p), 0);
    edit(p);
    ASSERT_EQ(bpf_map_update_elem(bpf_map__fd(skel_->maps.mb_paths), &id, &p, BPF_ANY), 0);
  }
  void SetState(uint32_t id, uint8_t state) {
    EditPath(id, [&](mb_path& p) { p.state = state; });
  }
  // Changes mb_config in place.
  void EditConfig(const std::function<void(mb_config&)>& edit) {
    uint32_t key = 0;
    mb_config c{};
    ASSERT_EQ(bpf_map_lookup_elem(bpf_map__fd(skel_->maps.mb_config), &key, &c), 0);
    edit(c);
    ASSERT_EQ(bpf_map_update_elem(bpf_map__fd(skel_->maps.mb_config), &key, &c, BPF_ANY), 0);
  }
  void SetReseqDeadlineUs(uint32_t us) {
    EditConfig([&](mb_config& c) { c.reseq_deadline_us = us; });
  }
  void SetDelay(uint32_t id, uint32_t owd_us) {
    EditPath(id, [&](mb_path& p) { p.owd_us = owd_us; });
  }
  void SetRate(uint32_t id, uint32_t rate_kbps) {
    EditPath(id, [&](mb_path& p) { p.rate_kbps = rate_kbps; });
  }

  // Makes path `id` an IPv6 one (MB_PATH_F_IPV6) from `src` to `dst`.
  void SetPath6(uint32_t id, const char* src, const char* dst, uint32_t rate_kbps, uint8_t state) {
    mb_path p = PathOverLo(rate_kbps, state);
    p.flags = MB_PATH_F_IPV6;
    ASSERT_EQ(inet_pton(AF_INET6, src, p.src_ip6), 1);
    ASSERT_EQ(inet_pton(AF_INET6, dst, p.dst_ip6), 1);
    ASSERT_EQ(bpf_map_update_elem(bpf_map__fd(skel_->maps.mb_paths), &id, &p, BPF_ANY), 0);
  }

  void AddPeer6(const char* addr) {
    mb_ip6 key{};
    ASSERT_EQ(inet_pton(AF_INET6, addr, key.addr), 1);
    mb_peer v{};
    ASSERT_EQ(bpf_map_update_elem(bpf_map__fd(skel_->maps.mb_peers6), &key, &v, BPF_ANY), 0);
  }

  void AddPeer(const char* addr) {
    uint32_t key = Ip(addr);
    mb_peer v{};
    ASSERT_EQ(bpf_map_update_elem(bpf_map__fd(skel_->maps.mb_peers), &key, &v, BPF_ANY), 0);
  }

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
};

}  // namespace meshbpf::testing
