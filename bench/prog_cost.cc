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
//
// With resequencing on (mb_config.reseq_deadline_us), mb_decap is measured
// on the three ways a sequenced packet goes (docs/design/resequencing.md):
// in order (the fast path), held (ahead of a gap: copied into a slot,
// dropped) and filling a gap (it and the packets held behind it go out, all
// but the last as clones). Each measured run gets a fresh packet with the
// bond_seq its case needs; the runs that only set a case up (holding what a
// gap-filler releases, filling the gap behind a held packet) are not
// measured. The cost per released packet is the gap-filling run minus the
// in-order one, divided by the packets it released. test_run really sends
// the clones, so these runs happen in a private network namespace whose lo
// (ifindex 1, the bond here as on the host) is up and takes them. test_run
// runs the program outside softirq context, where netif_rx may also run the
// clone's receive (up to a routing drop in that namespace) before it
// returns, inside the measured time; a real ingress program only queues it.
// So the released figure is an upper bound.
//
// With authentication on (mb_config.authenticate, bpf/lib/auth.h), mb_encap
// and mb_decap are measured on the 64 B and full-size packets (a GSO packet
// is refused when authenticating). mb_decap accepts each counter once, so
// every measured run gets a fresh frame: mb_encap (not measured) makes it
// with the next counter, and its outer source becomes the peer's, as the
// far end would receive it. The ratio to the rows without authentication is
// what authentication adds (docs/design/tunnel-auth.md); the "encrypted"
// rows have encryption on too (mb_config.encrypt): ChaCha20 over the inner
// packet before the tag, and after it on the way in.
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
#include "tests/bpf_test_run.h"
#include "tests/packet_builder.h"

namespace {

using namespace meshbpf::testing;

constexpr uint16_t kPort = 7201;
constexpr const char* kPeer = "10.200.0.2";
constexpr int kDefaultRuns = 200000;
constexpr int kNoopRepeat = 1000000;
constexpr uint16_t kMss = 1408;  // TCP payload of a 1460-byte bond packet
// Longer than any run of this program: no held packet is released by it.
constexpr uint32_t kReseqDeadlineUs = 100000;
constexpr uint32_t kHeldBehindGap = 8;  // packets a measured gap-filler releases
// bond_seq in a MeshPacket: outer Ethernet, IPv4, UDP, then the wire header's
// version, path_id, flags, reserved.
constexpr size_t kBondSeqAt = 14 + 20 + 8 + 4;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "meshbpf-prog-cost: %s\n", what.c_str());
  std::exit(1);
}

void Update(bpf_map* map, const void* key, const void* value, const char* what) {
  if (bpf_map_update_elem(bpf_map__fd(map), key, value, BPF_ANY) != 0)
    Die(std::string("writing ") + what + ": " + std::strerror(errno));
}

// The client's configuration as the agent writes it (see tests/bpf_datapath_fixture.h).
void Configure(meshbpf_bpf* skel, uint32_t lo, uint32_t reseq_deadline_us,
               bool authenticate = false, bool keep_copies = false, bool encrypt = false) {
  const uint32_t zero = 0;
  mb_config c{};
  c.bond_ifindex = lo;
  c.listen_port = kPort;
  c.mode = MB_MODE_LOAD_BALANCE;
  c.reseq_deadline_us = reseq_deadline_us;
  c.authenticate = authenticate ? 1 : 0;
  c.encrypt = encrypt ? 1 : 0;
  c.keep_copies = keep_copies ? 1 : 0;
  c.path_slots = 2;
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

// One run: the kernel's duration of the program and its verdict.
struct Sample {
  uint32_t ns;
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

// One test_run of `repeat` rounds on a fresh copy of the packet: the
// kernel's duration per round and the verdict; the output frame into
// `output` if given.
Sample TestRun(bpf_program* prog, const Packet& packet, uint32_t repeat = 1,
               Bytes* output = nullptr) {
  Bytes out(packet.bytes.size() + 512);
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
  opts.repeat = repeat;
  if (bpf_prog_test_run_opts(bpf_program__fd(prog), &opts) != 0)
    Die(std::string("test_run of ") + bpf_program__name(prog) + " on " + packet.name + ": " +
        std::strerror(errno));
  if (output) *output = Bytes(out.begin(), out.begin() + opts.data_size_out);
  return {opts.duration, opts.retval};
}

uint32_t Median(std::vector<uint32_t>& durations) {
  const auto middle = durations.begin() + static_cast<long>(durations.size() / 2);
  std::nth_element(durations.begin(), middle, durations.end());
  return *middle;
}

// Median of `runs` single-packet runs, each on a fresh copy of the packet.
Result Measure(bpf_program* prog, const Packet& packet, int runs) {
  std::vector<uint32_t> durations;
  durations.reserve(static_cast<size_t>(runs));
  uint32_t verdict = 0;
  for (int i = 0; i < runs; ++i) {
    const Sample s = TestRun(prog, packet);
    durations.push_back(s.ns);
    verdict = s.verdict;
  }
  return {Median(durations), verdict};
}

// The empty program with one test_run of kNoopRepeat rounds: the cost of the
// program alone, without the per-run clock read.
uint32_t NoopRepeated(bpf_program* prog, const Packet& packet) {
  return TestRun(prog, packet, kNoopRepeat).ns;
}

// mb_decap with resequencing on, all on path 0. Path 1 is ACTIVE and
// silent, so a gap is never given up as lost: it waits for the packet that
// fills it. next_ follows the resequencer's next_seq across packet sizes.
class ReseqCost {
 public:
  explicit ReseqCost(meshbpf_bpf* skel) : skel_(skel) {}

  // An in-order packet: the fast path.
  Result InOrder(Packet& packet, int runs) {
    Sync(packet);
    std::vector<uint32_t> durations;
    for (int i = 0; i < runs; ++i)
      durations.push_back(Send(packet, next_++, TC_ACT_REDIRECT, "in order"));
    return Finish(durations, TC_ACT_REDIRECT);
  }

  // A packet one ahead of the next expected: held. Then, unmeasured, the
  // next expected one fills the gap and both go out.
  Result Held(Packet& packet, int runs) {
    Sync(packet);
    std::vector<uint32_t> durations;
    for (int i = 0; i < runs; ++i) {
      durations.push_back(Send(packet, next_ + 1, TC_ACT_SHOT, "held"));
      Send(packet, next_, TC_ACT_REDIRECT, "filling the gap behind a held one");
      next_ += 2;
    }
    return Finish(durations, TC_ACT_SHOT);
  }

  // The packet that fills a gap with kHeldBehindGap packets held behind it
  // (held first, unmeasured): the whole run that sends them all.
  Result FillsGap(Packet& packet, int runs) {
    Sync(packet);
    std::vector<uint32_t> durations;
    for (int i = 0; i < runs; ++i) {
      for (uint32_t ahead = 1; ahead <= kHeldBehindGap; ++ahead)
        Send(packet, next_ + ahead, TC_ACT_SHOT, "holding behind a gap");
      durations.push_back(Send(packet, next_, TC_ACT_REDIRECT, "filling a gap"));
      next_ += kHeldBehindGap + 1;
    }
    return Finish(durations, TC_ACT_REDIRECT);
  }

 private:
  // The first packet sets the resequencer's next_seq; later calls go on from it.
  void Sync(Packet& packet) {
    if (!synced_) Send(packet, next_++, TC_ACT_REDIRECT, "the first packet");
    synced_ = true;
  }

  // One run of mb_decap on `packet` numbered `seq`; dies unless the verdict
  // says the case went the way it is meant to.
  uint32_t Send(Packet& packet, uint32_t seq, uint32_t verdict, const char* what) {
    Put32(packet.bytes, kBondSeqAt, seq);
    const Sample s = TestRun(skel_->progs.mb_decap, packet);
    if (s.verdict != verdict)
      Die(std::string("resequencing, ") + what + " (" + packet.name + ", bond_seq " +
          std::to_string(seq) + "): verdict " + VerdictName(s.verdict) + ", expected " +
          VerdictName(verdict));
    return s.ns;
  }

  // The median, once the resequencer is where it should be: nothing held,
  // next_seq = next_ (a clone that failed would leave packets held).
  Result Finish(std::vector<uint32_t>& durations, uint32_t verdict) {
    const uint32_t key = 0;
    mb_reseq state{};
    if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.mb_reseq), &key, &state) != 0)
      Die(std::string("reading mb_reseq: ") + std::strerror(errno));
    if (state.held != 0 || state.next_seq != next_)
      Die("the resequencer did not release what it should: " + std::to_string(state.held) +
          " held, next_seq " + std::to_string(state.next_seq) + ", expected " +
          std::to_string(next_));
    return {Median(durations), verdict};
  }

  meshbpf_bpf* skel_;
  uint32_t next_ = 1;
  bool synced_ = false;
};

// Both directions of one session with the same key: this node receives what it sends.
void InstallSessions(meshbpf_bpf* skel) {
  const uint32_t zero = 0;
  mb_auth_tx tx{};
  mb_auth_rx rx{};
  for (uint8_t i = 0; i < MB_AUTH_KEY_LEN; ++i)
    tx.key[i] = rx.key[i] = static_cast<uint8_t>(0xa0 + i);
  for (uint8_t i = 0; i < MB_CIPHER_KEY_LEN; ++i)
    tx.cipher_key[i] = rx.cipher_key[i] = static_cast<uint8_t>(0x40 + i);
  tx.epoch = rx.epoch = 1;
  Update(skel->maps.mb_auth_tx, &zero, &tx, "mb_auth_tx");
  Update(skel->maps.mb_auth_rx, &zero, &rx, "mb_auth_rx");
}

// mb_decap on authenticated frames, each made fresh by mb_encap (see the top).
Result MeasureAuthenticatedDecap(meshbpf_bpf* skel, const Packet& inner, int runs) {
  std::vector<uint32_t> durations;
  durations.reserve(static_cast<size_t>(runs));
  const uint32_t peer = Ip(kPeer);
  for (int i = 0; i < runs; ++i) {
    Bytes frame;
    if (TestRun(skel->progs.mb_encap, inner, 1, &frame).verdict != TC_ACT_REDIRECT)
      Die("authenticated mb_encap did not send " + inner.name);
    std::memcpy(&frame[14 + 12], &peer, 4);
    Put16(frame, 14 + 10, 0);
    Put16(frame, 14 + 10, Ipv4Checksum(&frame[14], 20));
    const Sample s = TestRun(skel->progs.mb_decap, {inner.name, frame, 0});
    if (s.verdict != TC_ACT_REDIRECT)
      Die("authenticated mb_decap did not deliver " + inner.name + ": verdict " +
          VerdictName(s.verdict));
    durations.push_back(s.ns);
  }
  return {Median(durations), TC_ACT_REDIRECT};
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
  // As the agent loads it with loss repair on: copies for every slot.
  if (absl::Status s = meshbpf::SizeResequencer(skel, MB_RESEQ_WINDOW, /*loss_repair=*/true);
      !s.ok()) {
    Die(std::string(s.message()));
  }
  // Private, unpinned maps: a benchmark must not touch a running agent's.
  bpf_map* map;
  bpf_object__for_each_map(map, skel->obj) bpf_map__set_pin_path(map, nullptr);
  if (meshbpf_bpf__load(skel) != 0) Die("loading the data path failed (root needed)");
  Configure(skel, lo, /*reseq_deadline_us=*/0);
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

  // Authentication on, then also encryption; the GSO packet is refused, so
  // left out. The bond's MTU is then 60 bytes below the uplink's: full size
  // is 1440 B inside.
  InstallSessions(skel);
  const std::vector<Packet> authenticated = {
      inner[0], {"1500 B", Ipv4Packet("10.203.0.2", "10.202.0.2", IPPROTO_TCP, 1500 - MB_AUTH_OVERHEAD - 40)}};
  for (bool encrypt : {false, true}) {
    Configure(skel, lo, /*reseq_deadline_us=*/0, /*authenticate=*/true, /*keep_copies=*/false,
              encrypt);
    const char* encap_row = encrypt ? "mb_encap, encrypted" : "mb_encap, authenticated";
    const char* decap_row = encrypt ? "mb_decap, encrypted" : "mb_decap, authenticated";
    for (const Packet& p : authenticated) {
      const Result empty = Measure(noop->progs.mb_noop, p, runs);
      Print("empty TC program", p, "median of single runs", empty.median_ns,
            VerdictName(empty.verdict));
      const Result encap = Measure(skel->progs.mb_encap, p, runs);
      Print(encap_row, p, "median of single runs", encap.median_ns, VerdictName(encap.verdict));
      const Result decap = MeasureAuthenticatedDecap(skel, p, runs);
      const Packet outer{p.name, Bytes(p.bytes.size() + MB_AUTH_OVERHEAD), 0};  // its size
      Print(decap_row, outer, "median of single runs", decap.median_ns, VerdictName(decap.verdict));
    }
  }

  // Loss repair on: mb_encap keeps a copy of each frame (GSO: not kept).
  Configure(skel, lo, kReseqDeadlineUs, /*authenticate=*/false, /*keep_copies=*/true);
  for (const Packet& p : inner) {
    if (p.gso_segs) continue;
    const Result encap = Measure(skel->progs.mb_encap, p, runs);
    Print("mb_encap, loss repair (keeps a copy)", p, "median of single runs", encap.median_ns,
          VerdictName(encap.verdict));
  }

  // Resequencing on. The GSO packet is left out: it is never held.
  Configure(skel, lo, kReseqDeadlineUs);
  bool measured = false;
  InNetnsWithLoMtu(
      65536,
      [&] {
        ReseqCost reseq(skel);
        for (const Packet& p : inner) {
          if (p.gso_segs) continue;
          Packet outer{p.name, MeshPacket(kPeer, L3(p.bytes)), 0};
          const Result in_order = reseq.InOrder(outer, runs);
          const Result held = reseq.Held(outer, runs);
          const Result fills = reseq.FillsGap(outer, runs);
          Print("mb_decap, resequencing: in order", outer, "median of single runs",
                in_order.median_ns, VerdictName(in_order.verdict));
          Print("mb_decap, resequencing: held ahead of a gap", outer, "median of single runs",
                held.median_ns, VerdictName(held.verdict));
          const std::string held_behind = std::to_string(kHeldBehindGap);
          Print(("mb_decap, resequencing: fills a gap, " + held_behind + " held go out").c_str(),
                outer, "median of single runs", fills.median_ns, VerdictName(fills.verdict));
          const uint32_t per_released =
              fills.median_ns > in_order.median_ns
                  ? (fills.median_ns - in_order.median_ns) / kHeldBehindGap
                  : 0;
          Print("mb_decap, resequencing: per released packet", outer,
                ("(fills a gap - in order) / " + held_behind).c_str(), per_released, "redirect");
        }
        measured = true;
      },
      /*lo_up=*/true);
  if (!measured) Die("no private network namespace for the resequencing runs (see above)");
  noop_bpf__destroy(noop);
  meshbpf_bpf__destroy(skel);
  return 0;
}
