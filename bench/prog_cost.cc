// meshbpf-prog-cost [RUNS]: per-packet cost of every TC program of the data
// path (mb_encap, mb_decap) against an empty TC program (bench/noop.bpf.c),
// measured in the same run with BPF_PROG_TEST_RUN on representative packets:
// 64 B, full-size (1500 B on the uplink) and a GSO super-packet.
//
// How it is measured, and why not with one call of repeat = 1e6: test_run
// runs the program `repeat` times on the SAME skb, without restoring it. The
// empty program leaves it alone, but mb_encap would encapsulate its own output
// again on every round (growing by 40 B until the MTU check drops it) and
// mb_decap would see the already decapsulated inner packet. So every program,
// the empty one included, is run RUNS times (default 200,000) on a fresh copy
// of the packet with repeat = 1, and the kernel's own per-run duration (taken
// around the program only, not the syscall or the skb setup) is collected;
// the median is reported. That duration includes one clock read, the same for
// every program, so the empty program's figure is "timer + empty program";
// the empty program is also measured with repeat = 1e6 (valid for it) to show
// what the clock read costs. The GSO packet is as big as test_run allows (one
// page) and is marked GSO through __sk_buff.gso_size/gso_segs. test_run
// cannot set gso_type, and bpf_skb_adjust_room refuses that packet in both
// programs (verdict "drop"): the GSO row is the cost up to and including
// that refusal, not of a GSO packet sent (the lab's goodput tests cover those).
//
// The data path is configured like the lab client: two active paths (40 and
// 20 Mbit/s) over lo toward the peer 10.200.0.2, load_balance mode. test_run
// does not really redirect: the TC_ACT_REDIRECT verdict ends the measurement.
// Output: one JSON object per (program, packet) on stdout. Needs root.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/pkt_cls.h>
#include <net/if.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "bpf/meshbpf.h"
#include "meshbpf.skel.h"
#include "noop.skel.h"
#include "tests/packet_builder.h"

namespace {

using namespace meshbpf::testing;

constexpr uint16_t kPort = 7201;
constexpr const char* kPeer = "10.200.0.2";
constexpr int kDefaultRuns = 200000;
constexpr int kNoopRepeat = 1000000;
constexpr uint16_t kMss = 1408;  // TCP payload of a 1460-byte bond packet

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "meshbpf-prog-cost: %s\n", what.c_str());
  std::exit(1);
}

void Update(bpf_map* map, const void* key, const void* value, const char* what) {
  if (bpf_map_update_elem(bpf_map__fd(map), key, value, BPF_ANY) != 0)
    Die(std::string("writing ") + what + ": " + std::strerror(errno));
}

// The client's configuration as the agent writes it (see tests/bpf_datapath_fixture.h).
void Configure(meshbpf_bpf* skel, uint32_t lo) {
  const uint32_t zero = 0;
  mb_config c{};
  c.bond_ifindex = lo;
  c.listen_port = kPort;
  c.mode = MB_MODE_LOAD_BALANCE;
  c.configured = 1;
  Update(skel->maps.mb_config, &zero, &c, "mb_config");
  const char* sources[] = {"10.201.1.2", "10.201.2.2"};
  const char* gateways[] = {"10.201.1.1", "10.201.2.1"};
  const uint32_t rates_kbps[] = {40000, 20000};
  for (uint32_t id = 0; id < 2; ++id) {
    mb_path p{};
    p.ifindex = lo;
    p.src_ip = Ip(sources[id]);
    p.dst_ip = Ip(kPeer);
    p.gateway = Ip(gateways[id]);
    p.src_port = kPort;
    p.dst_port = kPort;
    p.mtu = 1500;
    p.rate_kbps = rates_kbps[id];
    p.state = MB_PATH_ACTIVE;
    Update(skel->maps.mb_paths, &id, &p, "mb_paths");
  }
  const uint32_t peer = Ip(kPeer);
  const mb_peer v{};
  Update(skel->maps.mb_peers, &peer, &v, "mb_peers");
}

struct Packet {
  std::string name;
  Bytes bytes;
  uint32_t gso_segs = 0;  // 0: not GSO
};

struct Result {
  uint32_t median_ns;
  uint32_t verdict;
};

const char* VerdictName(uint32_t v) {
  switch (v) {
    case TC_ACT_OK: return "ok";
    case TC_ACT_SHOT: return "drop";
    case TC_ACT_REDIRECT: return "redirect";
    default: return "other";
  }
}

// Median of `runs` single-packet runs, each on a fresh copy of the packet.
Result Measure(bpf_program* prog, const Packet& packet, int runs) {
  std::vector<uint32_t> durations;
  durations.reserve(static_cast<size_t>(runs));
  Bytes out(packet.bytes.size() + 512);
  uint32_t verdict = 0;
  for (int i = 0; i < runs; ++i) {
    __sk_buff ctx{};
    ctx.gso_segs = packet.gso_segs;
    ctx.gso_size = packet.gso_segs ? kMss : 0;
    bpf_test_run_opts opts{};
    opts.sz = sizeof(opts);
    opts.data_in = packet.bytes.data();
    opts.data_size_in = static_cast<uint32_t>(packet.bytes.size());
    opts.data_out = out.data();
    opts.data_size_out = static_cast<uint32_t>(out.size());
    opts.ctx_in = &ctx;
    opts.ctx_size_in = sizeof(ctx);
    opts.repeat = 1;
    if (bpf_prog_test_run_opts(bpf_program__fd(prog), &opts) != 0)
      Die(std::string("test_run of ") + bpf_program__name(prog) + " on " + packet.name + ": " +
          std::strerror(errno));
    durations.push_back(opts.duration);
    verdict = opts.retval;
  }
  std::nth_element(durations.begin(), durations.begin() + runs / 2, durations.end());
  return {durations[static_cast<size_t>(runs / 2)], verdict};
}

// The empty program with one test_run of kNoopRepeat rounds: the cost of the
// program alone, without the per-run clock read.
uint32_t NoopRepeated(bpf_program* prog, const Packet& packet) {
  Bytes out(packet.bytes.size() + 512);
  bpf_test_run_opts opts{};
  opts.sz = sizeof(opts);
  opts.data_in = packet.bytes.data();
  opts.data_size_in = static_cast<uint32_t>(packet.bytes.size());
  opts.data_out = out.data();
  opts.data_size_out = static_cast<uint32_t>(out.size());
  opts.repeat = kNoopRepeat;
  if (bpf_prog_test_run_opts(bpf_program__fd(prog), &opts) != 0)
    Die(std::string("test_run of the empty program: ") + std::strerror(errno));
  return opts.duration;
}

void Print(const char* program, const Packet& packet, const char* method, uint32_t ns,
           const char* verdict) {
  std::printf(
      "{\"kind\": \"cost\", \"program\": \"%s\", \"packet\": \"%s\", \"bytes\": %zu, \"method\": \"%s\", "
      "\"ns\": %u, \"verdict\": \"%s\"}\n",
      program, packet.name.c_str(), packet.bytes.size(), method, ns, verdict);
}

int ParseRuns(int argc, char** argv) {
  if (argc == 1) return kDefaultRuns;
  const std::string_view text = argc == 2 ? argv[1] : "";
  int runs = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), runs);
  if (argc > 2 || ec != std::errc() || end != text.data() + text.size() || runs < 1)
    Die("usage: meshbpf-prog-cost [RUNS] (RUNS: a positive number of runs per packet, got '" +
        std::string(text) + "')");
  return runs;
}

}  // namespace

int main(int argc, char** argv) {
  const int runs = ParseRuns(argc, argv);
  const uint32_t lo = if_nametoindex("lo");
  if (lo == 0) Die("no lo interface");

  meshbpf_bpf* skel = meshbpf_bpf__open();
  if (!skel) Die(std::string("opening the data path: ") + std::strerror(errno));
  // Private, unpinned maps: a benchmark must not touch a running agent's.
  bpf_map* map;
  bpf_object__for_each_map(map, skel->obj) bpf_map__set_pin_path(map, nullptr);
  if (meshbpf_bpf__load(skel) != 0) Die("loading the data path failed (root needed)");
  Configure(skel, lo);
  noop_bpf* noop = noop_bpf__open_and_load();
  if (!noop) Die("loading the empty TC program failed (root needed)");

  // Inner (bond-side) packets: 64-byte frame, full-size (1460-byte IPv4, the
  // bond MTU, 1500 B once encapsulated), and the biggest GSO packet one page
  // of test_run data holds (2 x MSS of TCP payload).
  const std::vector<Packet> inner = {
      {"64 B", Ipv4Packet("10.203.0.2", "10.202.0.2", IPPROTO_TCP, 64 - 14 - 40)},
      {"1500 B", Ipv4Packet("10.203.0.2", "10.202.0.2", IPPROTO_TCP, 1460 - 40)},
      {"GSO 2x1408", Ipv4Packet("10.203.0.2", "10.202.0.2", IPPROTO_TCP, 2 * kMss), 2},
  };
  for (const Packet& p : inner) {
    // What the far end's mb_decap receives for this packet.
    const Packet outer{p.name, MeshPacket(kPeer, L3(p.bytes)), p.gso_segs};
    const Result empty = Measure(noop->progs.mb_noop, p, runs);
    Print("empty TC program", p, "median of single runs", empty.median_ns,
          VerdictName(empty.verdict));
    const Result encap = Measure(skel->progs.mb_encap, p, runs);
    Print("mb_encap", p, "median of single runs", encap.median_ns, VerdictName(encap.verdict));
    const Result decap = Measure(skel->progs.mb_decap, outer, runs);
    Print("mb_decap", outer, "median of single runs", decap.median_ns,
          VerdictName(decap.verdict));
    Print("empty TC program", p, "repeat 1e6", NoopRepeated(noop->progs.mb_noop, p), "ok");
  }
  noop_bpf__destroy(noop);
  meshbpf_bpf__destroy(skel);
  return 0;
}
