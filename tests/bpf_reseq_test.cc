// BPF_PROG_TEST_RUN tests of receive-side resequencing (bpf/lib/reseq.h):
// mb_decap delivers bonded packets into the bond in bond_seq order, holding
// early ones in mb_reseq_slots until the gap fills or the deadline passes.
//
// test_run really sends what bpf_clone_redirect sends, so every test that
// can release runs in a private network namespace whose lo (the bond here)
// takes those clones. What the program delivers itself shows as the verdict
// and the output bytes: after a release, the last frame released. No test
// depends on how fast test_run is: a deadline passes because the test moves
// the held packets' arrival times into the past.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <vector>

#include "bpf/meshbpf.h"
#include "tests/bpf_datapath_fixture.h"
#include "tests/bpf_test_run.h"
#include "tests/packet_builder.h"

namespace meshbpf::testing {
namespace {

constexpr uint32_t kLongDeadlineUs = 10'000'000;  // never passes during a test
constexpr uint32_t kShortDeadlineUs = 1'000;
constexpr size_t kSeqInInner = 40;  // where Inner() writes its sequence number

class ReseqTest : public DatapathTest {
 protected:
  void SetUp() override {
    DatapathTest::SetUp();
    if (SetUpStopped()) return;
    SetReseqDeadlineUs(kLongDeadlineUs);
  }

  // An inner packet that names its bond_seq, so a delivered frame says which it is.
  static Bytes Inner(uint32_t seq) {
    Bytes l3 = InnerL3();
    Put32(l3, kSeqInInner, seq);
    return l3;
  }
  static Bytes Packet(uint32_t seq, uint8_t flags = 0) {
    MeshOptions m;
    m.bond_seq = seq;
    m.flags = flags;
    return MeshPacket(kPeer, Inner(seq), m);
  }
  // The frame mb_decap delivers into the bond for Packet(seq).
  static Bytes Delivered(uint32_t seq) {
    const Bytes in = Packet(seq);
    Bytes frame(in.begin(), in.begin() + 14);
    std::copy(kBondMac, kBondMac + 6, frame.begin());
    Put16(frame, 12, kEthIpv4);
    const Bytes l3 = Inner(seq);
    frame.insert(frame.end(), l3.begin(), l3.end());
    return frame;
  }
  static uint32_t SeqOf(const RunResult& r) {
    return r.out.size() >= 14 + kSeqInInner + 4 ? Get32(r.out, 14 + kSeqInInner) : ~0u;
  }
  RunResult Receive(uint32_t seq, uint8_t flags = 0) { return Decap(Packet(seq, flags)); }

  mb_reseq State() {
    uint32_t key = 0;
    mb_reseq r{};
    EXPECT_EQ(bpf_map_lookup_elem(Fd(skel_->maps.mb_reseq), &key, &r), 0);
    return r;
  }
  void SetState(const mb_reseq& r) {
    uint32_t key = 0;
    ASSERT_EQ(bpf_map_update_elem(Fd(skel_->maps.mb_reseq), &key, &r, BPF_ANY), 0);
  }
  mb_reseq_slot Slot(uint32_t seq) {
    uint32_t key = seq % MB_RESEQ_WINDOW;
    mb_reseq_slot s{};
    EXPECT_EQ(bpf_map_lookup_elem(Fd(skel_->maps.mb_reseq_slots), &key, &s), 0);
    return s;
  }
  mb_reseq_counters Reseq() {
    return SumPerCpu(skel_->maps.mb_reseq_counters, 0, mb_reseq_counters_add);
  }

  // Moves the arrival of everything held `ns` into the past (never below 0:
  // the monotonic clock may be young on a machine that just booted).
  void AgeHeld(uint64_t ns) {
    const uint64_t now = MonotonicNs();
    const uint64_t past = now > ns ? now - ns : 0;
    mb_reseq r = State();
    r.head_arrival_ns = past;
    r.last_arrival_ns = past;
    SetState(r);
    for (uint32_t key = 0; key < MB_RESEQ_WINDOW; ++key) {
      mb_reseq_slot s{};
      ASSERT_EQ(bpf_map_lookup_elem(Fd(skel_->maps.mb_reseq_slots), &key, &s), 0);
      if (s.state != MB_RESEQ_HELD) continue;
      s.arrival_ns = past;
      ASSERT_EQ(bpf_map_update_elem(Fd(skel_->maps.mb_reseq_slots), &key, &s, BPF_ANY), 0);
    }
  }

  // Makes everything held due (its path's hold over), keeping arrival times,
  // and the last arrival long ago (the tick acts).
  void MakeHeldDue() {
    mb_reseq r = State();
    r.last_arrival_ns = 0;
    SetState(r);
    for (uint32_t key = 0; key < MB_RESEQ_WINDOW; ++key) {
      mb_reseq_slot s{};
      ASSERT_EQ(bpf_map_lookup_elem(Fd(skel_->maps.mb_reseq_slots), &key, &s), 0);
      if (s.state != MB_RESEQ_HELD) continue;
      s.due_ns = 0;
      ASSERT_EQ(bpf_map_update_elem(Fd(skel_->maps.mb_reseq_slots), &key, &s, BPF_ANY), 0);
    }
  }
  void SetHoldUs(uint32_t path, uint32_t us) {
    EditPath(path, [&](mb_path& p) { p.reseq_hold_us = us; });
  }
  RunResult ReceiveOn(uint32_t path, uint32_t seq) {
    MeshOptions m;
    m.bond_seq = seq;
    m.path_id = static_cast<uint8_t>(path);
    return Decap(MeshPacket(kPeer, Inner(seq), m));
  }
  RunResult Tick() { return Run(skel_->progs.mb_reseq_tick, Bytes(64, 0)); }

  // Runs body where released clones end in a private namespace's lo.
  static void InLab(const std::function<void()>& body) {
    InNetnsWithLoMtu(65536, body, /*lo_up=*/true);
  }
};

// What the bond (the private lo) receives: the bond_seq of every frame
// that arrives after Open(), in arrival order.
class BondCapture {
 public:
  BondCapture() {
    fd_ = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));
    sockaddr_ll at{};
    at.sll_family = AF_PACKET;
    at.sll_protocol = htons(ETH_P_ALL);
    at.sll_ifindex = static_cast<int>(if_nametoindex("lo"));
    bound_ = fd_ >= 0 && bind(fd_, reinterpret_cast<sockaddr*>(&at), sizeof(at)) == 0;
  }
  ~BondCapture() {
    if (fd_ >= 0) close(fd_);
  }
  bool ok() const { return bound_; }
  std::vector<uint32_t> Seqs() {
    std::vector<uint32_t> seqs;
    uint8_t frame[2048];
    for (;;) {
      const ssize_t n = recv(fd_, frame, sizeof(frame), 0);
      if (n < 0) break;
      if (static_cast<size_t>(n) >= 14 + kSeqInInner + 4) {
        seqs.push_back(Get32(Bytes(frame, frame + n), 14 + kSeqInInner));
      }
    }
    return seqs;
  }

 private:
  int fd_ = -1;
  bool bound_ = false;
};

TEST_F(ReseqTest, OffDeliversAsPacketsArrive) {
  SetReseqDeadlineUs(0);
  for (uint32_t seq : {1u, 3u, 2u, 9u}) {
    RunResult r = Receive(seq);
    ASSERT_EQ(r.verdict, kRedirect) << seq;
    EXPECT_TRUE(BytesEqual(r.out, Delivered(seq), "off"));
  }
  EXPECT_EQ(State().synced, 0u) << "off never touches the resequencer";
  EXPECT_EQ(Reseq().held, 0u);
}

TEST_F(ReseqTest, InOrderPacketsPassStraightThrough) {
  for (uint32_t seq = 100; seq < 104; ++seq) {
    RunResult r = Receive(seq);
    ASSERT_EQ(r.verdict, kRedirect) << seq;
    EXPECT_TRUE(BytesEqual(r.out, Delivered(seq), "in-order"));
  }
  const mb_reseq s = State();
  EXPECT_EQ(s.next_seq, 104u);
  EXPECT_EQ(s.held, 0u);
  EXPECT_EQ(s.busy, 0u);
  EXPECT_EQ(Counters(0).rx_packets, 4u);
}

TEST_F(ReseqTest, EarlyPacketIsHeldAsItsDeliveredFrame) {
  ASSERT_EQ(Receive(1).verdict, kRedirect);
  EXPECT_EQ(Receive(3).verdict, kShot) << "held: its skb is dropped";
  const mb_reseq s = State();
  EXPECT_EQ(s.next_seq, 2u);
  EXPECT_EQ(s.held, 1u);
  const mb_reseq_slot slot = Slot(3);
  EXPECT_EQ(slot.seq, 3u);
  EXPECT_EQ(slot.state, MB_RESEQ_HELD);
  EXPECT_TRUE(BytesEqual(Bytes(slot.data, slot.data + slot.len), Delivered(3), "held"));
  EXPECT_EQ(Reseq().held, 1u);
  EXPECT_EQ(Counters(0).rx_packets, 2u) << "a held packet has been received";
  EXPECT_EQ(TotalDrops(), 0u) << "holding is not a drop";
}

TEST_F(ReseqTest, FillingTheGapReleasesHeldPacketsInOrder) {
  InLab([&] {
    ASSERT_EQ(Receive(1).verdict, kRedirect);
    ASSERT_EQ(Receive(4).verdict, kShot);
    ASSERT_EQ(Receive(3).verdict, kShot);
    ASSERT_EQ(Receive(6).verdict, kShot);
    // 2 goes out first as a clone, then 3 as a clone, and 4, the last of the
    // run, leaves in the skb itself; 6 waits for 5.
    RunResult r = Receive(2);
    ASSERT_EQ(r.verdict, kRedirect);
    EXPECT_TRUE(BytesEqual(r.out, Delivered(4), "last-released"));
    const mb_reseq s = State();
    EXPECT_EQ(s.next_seq, 5u);
    EXPECT_EQ(s.held, 1u);
    EXPECT_EQ(Slot(3).state, MB_RESEQ_EMPTY);
    EXPECT_EQ(Slot(4).state, MB_RESEQ_EMPTY);
    EXPECT_EQ(Slot(6).state, MB_RESEQ_HELD);
    const mb_reseq_counters c = Reseq();
    EXPECT_EQ(c.held, 3u);
    EXPECT_EQ(c.released_in_order, 2u);
    EXPECT_EQ(c.gaps_skipped, 0u);

    r = Receive(5);
    ASSERT_EQ(r.verdict, kRedirect);
    EXPECT_EQ(SeqOf(r), 6u);
    EXPECT_EQ(State().held, 0u);
    EXPECT_EQ(Reseq().released_in_order, 3u);
  });
}

TEST_F(ReseqTest, HeldPacketsWaitWhileTheDeadlineHasNotPassed) {
  ASSERT_EQ(Receive(1).verdict, kRedirect);
  ASSERT_EQ(Receive(3).verdict, kShot);
  EXPECT_EQ(Receive(4).verdict, kShot) << "a 10 s deadline does not pass during a test";
  EXPECT_EQ(State().held, 2u);
  EXPECT_EQ(Reseq().released_deadline, 0u);
}

TEST_F(ReseqTest, DeadlineReleasesUpToTheNextGap) {
  InLab([&] {
    SetReseqDeadlineUs(kShortDeadlineUs);
    ASSERT_EQ(Receive(1).verdict, kRedirect);
    ASSERT_EQ(Receive(3).verdict, kShot);
    ASSERT_EQ(Receive(4).verdict, kShot);
    AgeHeld(10ull * kShortDeadlineUs * 1000);
    // 7 arrives and is held; 2 is given up, 3 and 4 go out, 5 is a new gap.
    RunResult r = Receive(7);
    ASSERT_EQ(r.verdict, kRedirect);
    EXPECT_TRUE(BytesEqual(r.out, Delivered(4), "deadline-release"));
    const mb_reseq s = State();
    EXPECT_EQ(s.next_seq, 5u);
    EXPECT_EQ(s.held, 1u);
    EXPECT_EQ(Slot(7).state, MB_RESEQ_HELD);
    EXPECT_EQ(s.head_arrival_ns, Slot(7).arrival_ns) << "the deadline now runs from 7's arrival";
    const mb_reseq_counters c = Reseq();
    EXPECT_EQ(c.released_deadline, 2u);
    EXPECT_EQ(c.gaps_skipped, 1u);

    // 2 turns up after it was given up: delivered at once, counted late.
    r = Receive(2);
    ASSERT_EQ(r.verdict, kRedirect);
    EXPECT_EQ(SeqOf(r), 2u);
    EXPECT_EQ(Reseq().late, 1u);
    EXPECT_EQ(State().next_seq, 5u);
  });
}

TEST_F(ReseqTest, DeadlineLooksPastEveryGapInFrontOfADuePacket) {
  InLab([&] {
    SetReseqDeadlineUs(kShortDeadlineUs);
    ASSERT_EQ(Receive(1).verdict, kRedirect);
    ASSERT_EQ(Receive(3).verdict, kShot);
    ASSERT_EQ(Receive(5).verdict, kShot);
    AgeHeld(10ull * kShortDeadlineUs * 1000);
    // 8 is held, fresh; 3 and 5 are due: gaps 2 and 4 are given up, not 6-7.
    RunResult r = Receive(8);
    ASSERT_EQ(r.verdict, kRedirect);
    EXPECT_TRUE(BytesEqual(r.out, Delivered(5), "deadline-two-gaps"));
    const mb_reseq s = State();
    EXPECT_EQ(s.next_seq, 6u);
    EXPECT_EQ(s.held, 1u);
    const mb_reseq_counters c = Reseq();
    EXPECT_EQ(c.released_deadline, 2u);
    EXPECT_EQ(c.gaps_skipped, 2u);
  });
}

TEST_F(ReseqTest, PacketAWindowAheadFlushesTheBufferInOrder) {
  InLab([&] {
    ASSERT_EQ(Receive(1).verdict, kRedirect);
    ASSERT_EQ(Receive(3).verdict, kShot);
    ASSERT_EQ(Receive(5).verdict, kShot);
    const uint32_t far = 2 + MB_RESEQ_WINDOW;
    // 3 and 5 leave as clones, then `far` in the skb; every gap before it is given up.
    RunResult r = Receive(far);
    ASSERT_EQ(r.verdict, kRedirect);
    EXPECT_TRUE(BytesEqual(r.out, Delivered(far), "after-flush"));
    const mb_reseq s = State();
    EXPECT_EQ(s.next_seq, far + 1);
    EXPECT_EQ(s.held, 0u);
    const mb_reseq_counters c = Reseq();
    EXPECT_EQ(c.released_full, 2u);
    EXPECT_EQ(c.gaps_skipped, 2u) << "2 and 4";
    EXPECT_EQ(Receive(far + 1).verdict, kRedirect) << "the sequence resumes after it";
  });
}

TEST_F(ReseqTest, LastPacketOfTheWindowIsStillHeld) {
  ASSERT_EQ(Receive(1).verdict, kRedirect);
  EXPECT_EQ(Receive(1 + MB_RESEQ_WINDOW).verdict, kShot) << "next expected is 2: just inside";
  EXPECT_EQ(Reseq().released_full, 0u);
}

// A bond fast enough for more slots (ReseqSlots): the map and the index
// follow the number the agent loads it with.
class ReseqLargeTest : public ReseqTest {
 protected:
  static constexpr uint32_t kSlots = 2 * MB_RESEQ_WINDOW;
  uint32_t ReseqSlotCount() const override { return kSlots; }
};

TEST_F(ReseqLargeTest, HoldsAWindowOfEverySlot) {
  InLab([&] {
    ASSERT_EQ(Receive(1).verdict, kRedirect);
    ASSERT_EQ(Receive(1 + MB_RESEQ_WINDOW).verdict, kShot) << "the default window's edge: held";
    ASSERT_EQ(Receive(1 + kSlots).verdict, kShot) << "next expected is 2: just inside";
    EXPECT_EQ(Reseq().released_full, 0u);
    EXPECT_EQ(State().held, 2u);
    // 1 + kSlots and 1 + MB_RESEQ_WINDOW share no slot (they did in 1,024).
    RunResult r = Receive(2 + kSlots);
    ASSERT_EQ(r.verdict, kRedirect) << "a window ahead: the held ones leave first, then this";
    EXPECT_TRUE(BytesEqual(r.out, Delivered(2 + kSlots), "after-flush"));
    EXPECT_EQ(Reseq().released_full, 2u);
    EXPECT_EQ(State().next_seq, 3u + kSlots);
  });
}

// How far behind means "the peer restarted" scales with the slots: a
// packet 5,001 behind is a resync with 1,024 slots, only late with 2,048.
TEST_F(ReseqTest, FiveThousandBehindIsARestartWithTheDefaultSlots) {
  ASSERT_EQ(Receive(10000).verdict, kRedirect);
  ASSERT_EQ(Receive(5000).verdict, kRedirect);
  EXPECT_EQ(Reseq().resyncs, 1u);
  EXPECT_EQ(State().next_seq, 5001u);
}

TEST_F(ReseqLargeTest, FiveThousandBehindIsOnlyLate) {
  ASSERT_EQ(Receive(10000).verdict, kRedirect);
  ASSERT_EQ(Receive(5000).verdict, kRedirect);
  EXPECT_EQ(Reseq().resyncs, 0u);
  EXPECT_EQ(Reseq().late, 1u);
  EXPECT_EQ(State().next_seq, 10001u);
}

// link_aggregation.max_queue_size: a smaller bound than the slots.
TEST_F(ReseqTest, ConfiguredWindowBoundsWhatIsHeld) {
  constexpr uint16_t kWindow = 16;
  EditConfig([&](mb_config& c) { c.reseq_window = kWindow; });
  InLab([&] {
    ASSERT_EQ(Receive(1).verdict, kRedirect);
    EXPECT_EQ(Receive(1 + kWindow).verdict, kShot) << "next expected is 2: just inside";
    EXPECT_EQ(Reseq().released_full, 0u);
    RunResult r = Receive(2 + kWindow);
    ASSERT_EQ(r.verdict, kRedirect) << "a window ahead: the held one leaves first, then this";
    EXPECT_TRUE(BytesEqual(r.out, Delivered(2 + kWindow), "after-flush"));
    EXPECT_EQ(Reseq().released_full, 1u);
    EXPECT_EQ(State().held, 0u);
    EXPECT_EQ(State().next_seq, 3u + kWindow);
  });
}

TEST_F(ReseqTest, SequenceWrapsAround) {
  InLab([&] {
    ASSERT_EQ(Receive(0xfffffffeu).verdict, kRedirect);
    ASSERT_EQ(Receive(1).verdict, kShot) << "past the wrap: ahead, held";
    ASSERT_EQ(Receive(0).verdict, kShot);
    RunResult r = Receive(0xffffffffu);
    ASSERT_EQ(r.verdict, kRedirect);
    EXPECT_EQ(SeqOf(r), 1u);
    EXPECT_EQ(State().next_seq, 2u);
    EXPECT_EQ(Reseq().released_in_order, 2u);
  });
}

TEST_F(ReseqTest, SecondCopyOfAHeldPacketIsDropped) {
  ASSERT_EQ(Receive(1).verdict, kRedirect);
  ASSERT_EQ(Receive(3).verdict, kShot);
  EXPECT_EQ(Receive(3).verdict, kShot);
  EXPECT_EQ(Reseq().duplicates, 1u);
  EXPECT_EQ(State().held, 1u);
}

TEST_F(ReseqTest, RedundantCopiesAreDeduplicatedBeforeResequencing) {
  InLab([&] {
    ASSERT_EQ(Receive(1, MB_FLAG_REDUNDANT).verdict, kRedirect);
    ASSERT_EQ(Receive(3, MB_FLAG_REDUNDANT).verdict, kShot);
    EXPECT_EQ(Receive(3, MB_FLAG_REDUNDANT).verdict, kShot);
    EXPECT_EQ(Counters(0).drops[MB_DROP_DUPLICATE], 1u) << "the de-dup window caught it";
    EXPECT_EQ(Reseq().duplicates, 0u);
    EXPECT_EQ(SeqOf(Receive(2, MB_FLAG_REDUNDANT)), 3u);
  });
}

TEST_F(ReseqTest, PacketBehindTheNextExpectedIsDeliveredLate) {
  ASSERT_EQ(Receive(10).verdict, kRedirect);
  ASSERT_EQ(Receive(11).verdict, kRedirect);
  RunResult r = Receive(5);
  ASSERT_EQ(r.verdict, kRedirect);
  EXPECT_EQ(SeqOf(r), 5u);
  EXPECT_EQ(Reseq().late, 1u);
  EXPECT_EQ(State().next_seq, 12u);
}

TEST_F(ReseqTest, RestartedPeerResynchronises) {
  ASSERT_EQ(Receive(100000).verdict, kRedirect);
  RunResult r = Receive(1);
  ASSERT_EQ(r.verdict, kRedirect);
  EXPECT_EQ(SeqOf(r), 1u);
  EXPECT_EQ(Reseq().resyncs, 1u);
  EXPECT_EQ(State().next_seq, 2u);
  EXPECT_EQ(Receive(2).verdict, kRedirect);
}

TEST_F(ReseqTest, ProbesAreNeverResequenced) {
  ASSERT_EQ(Receive(1).verdict, kRedirect);
  RunResult r = Receive(7, MB_FLAG_UNSEQUENCED);
  ASSERT_EQ(r.verdict, kRedirect);
  EXPECT_EQ(SeqOf(r), 7u);
  EXPECT_EQ(State().next_seq, 2u);
  EXPECT_EQ(State().held, 0u);
}

TEST_F(ReseqTest, ProbeReleasesHeldPacketsPastTheDeadline) {
  InLab([&] {
    SetReseqDeadlineUs(kShortDeadlineUs);
    ASSERT_EQ(Receive(1).verdict, kRedirect);
    ASSERT_EQ(Receive(3).verdict, kShot);
    AgeHeld(10ull * kShortDeadlineUs * 1000);
    // No data follows: the next probe is the tick. It goes out first, then 3.
    RunResult r = Receive(1, MB_FLAG_UNSEQUENCED);
    ASSERT_EQ(r.verdict, kRedirect);
    EXPECT_EQ(SeqOf(r), 3u);
    EXPECT_EQ(State().held, 0u);
    EXPECT_EQ(State().next_seq, 4u);
    EXPECT_EQ(Reseq().released_deadline, 1u);
  });
}

TEST_F(ReseqTest, ProbesTakeNoBondSequenceNumber) {
  const Bytes inner = Ipv4Packet("10.203.0.2", "10.202.0.2", IPPROTO_UDP, 40);
  RunResult data = Encap(inner);
  ASSERT_EQ(data.verdict, kRedirect);
  RunResult probe = Run(skel_->progs.mb_encap, inner, MB_PROBE_MARK | 1);
  ASSERT_EQ(probe.verdict, kRedirect);
  RunResult next = Encap(inner);
  ASSERT_EQ(next.verdict, kRedirect);
  EXPECT_EQ(Parse(probe.out).bond_seq, Parse(data.out).bond_seq) << "the last one handed out";
  EXPECT_EQ(probe.out[kWire + 2], MB_FLAG_UNSEQUENCED);
  EXPECT_EQ(Parse(next.out).bond_seq, Parse(data.out).bond_seq + 1) << "no gap left behind";
}

// mb_reseq.busy names its owner (CPU number + 1). Either owner makes a
// packet pass and leaves the state alone: another CPU after a bounded wait,
// this CPU (the agent's tick, interrupted by a softirq) at once, since
// waiting for it cannot end (the wait itself is not asserted: timing).
TEST_F(ReseqTest, BusyResequencerPassesThePacketAndMarksItsNumber) {
  cpu_set_t was;
  ASSERT_EQ(sched_getaffinity(0, sizeof(was), &was), 0);
  cpu_set_t cpu0;
  CPU_ZERO(&cpu0);
  CPU_SET(0, &cpu0);
  ASSERT_EQ(sched_setaffinity(0, sizeof(cpu0), &cpu0), 0) << "the test runs its programs on CPU 0";
  uint32_t base = 1, passed = 0;
  for (uint32_t owner : {1u /* CPU 0: this one */, 2u /* CPU 1: another */}) {
    SCOPED_TRACE(owner == 1 ? "owner: this CPU" : "owner: another CPU");
    InLab([&] {
      ASSERT_EQ(Receive(base).verdict, kRedirect);
      mb_reseq s = State();
      s.busy = owner;
      SetState(s);
      RunResult r = Receive(base + 2);
      ASSERT_EQ(r.verdict, kRedirect);
      EXPECT_EQ(SeqOf(r), base + 2);
      EXPECT_EQ(Reseq().passed, ++passed);
      EXPECT_EQ(Slot(base + 2).state, MB_RESEQ_PASSED);
      EXPECT_EQ(State().busy, owner) << "the owner's state is left to it";
      s.busy = 0;
      SetState(s);
      ASSERT_EQ(Receive(base + 1).verdict, kRedirect);
      EXPECT_EQ(State().next_seq, base + 3) << base + 2 << " is not waited for";
      EXPECT_EQ(Receive(base + 3).verdict, kRedirect);
    });
    base += 4;
  }
  ASSERT_EQ(sched_setaffinity(0, sizeof(was), &was), 0);
}

TEST_F(ReseqTest, FrameTooLongForASlotPassesOutOfOrder) {
  ASSERT_EQ(Receive(1).verdict, kRedirect);
  MeshOptions m;
  m.bond_seq = 3;
  Bytes big = L3(Ipv4Packet("10.202.0.2", "10.203.0.2", IPPROTO_UDP, MB_RESEQ_FRAME_MAX));
  EXPECT_EQ(Decap(MeshPacket(kPeer, big, m)).verdict, kRedirect);
  EXPECT_EQ(Reseq().passed, 1u);
  EXPECT_EQ(Slot(3).state, MB_RESEQ_PASSED);
  EXPECT_EQ(State().held, 0u);
}

// Delay equalisation: a path nearer than the slowest holds even in-order packets.
TEST_F(ReseqTest, InOrderPacketFromAHeldPathWaitsItsHold) {
  SetHoldUs(0, kLongDeadlineUs);
  ASSERT_EQ(ReceiveOn(1, 1).verdict, kRedirect) << "path 1 holds nothing";
  EXPECT_EQ(ReceiveOn(0, 2).verdict, kShot) << "in order, but its path holds it";
  const mb_reseq s = State();
  EXPECT_EQ(s.next_seq, 2u);
  EXPECT_EQ(s.held, 1u);
  const mb_reseq_slot slot = Slot(2);
  EXPECT_EQ(slot.state, MB_RESEQ_HELD);
  EXPECT_GE(slot.due_ns, slot.arrival_ns + uint64_t{kLongDeadlineUs} * 1000);
  EXPECT_EQ(ReceiveOn(1, 3).verdict, kShot) << "3 may not overtake the waiting 2";
  EXPECT_EQ(State().held, 2u);
}

TEST_F(ReseqTest, TickReleasesDuePacketsInOrderAsClones) {
  InLab([&] {
    BondCapture bond;
    ASSERT_TRUE(bond.ok()) << std::strerror(errno);
    SetHoldUs(0, kLongDeadlineUs);
    for (uint32_t seq = 1; seq <= 3; ++seq) ASSERT_EQ(ReceiveOn(0, seq).verdict, kShot) << seq;
    EXPECT_EQ(Tick().verdict, kShot);
    EXPECT_EQ(State().held, 3u) << "not due yet: the tick leaves them";
    EXPECT_TRUE(bond.Seqs().empty());
    MakeHeldDue();
    EXPECT_EQ(Tick().verdict, kShot) << "under test_run only clones leave";
    EXPECT_EQ(bond.Seqs(), (std::vector<uint32_t>{1, 2, 3}));
    const mb_reseq s = State();
    EXPECT_EQ(s.held, 0u);
    EXPECT_EQ(s.next_seq, 4u);
    EXPECT_EQ(s.busy, 0u);
    EXPECT_EQ(Reseq().released_in_order, 3u);
  });
}

TEST_F(ReseqTest, PacketNotDueStopsTheReleaseOfThoseBehindIt) {
  InLab([&] {
    BondCapture bond;
    ASSERT_TRUE(bond.ok()) << std::strerror(errno);
    SetHoldUs(0, kLongDeadlineUs);
    ASSERT_EQ(ReceiveOn(0, 1).verdict, kShot);
    MakeHeldDue();
    RunResult r = ReceiveOn(0, 2);
    ASSERT_EQ(r.verdict, kRedirect);
    EXPECT_EQ(SeqOf(r), 1u) << "1 leaves in 2's skb; 2 is held";
    ASSERT_EQ(ReceiveOn(1, 3).verdict, kShot) << "3 waits behind 2";
    EXPECT_TRUE(bond.Seqs().empty());
    EXPECT_EQ(State().next_seq, 2u);
    EXPECT_EQ(State().held, 2u);
  });
}

TEST_F(ReseqTest, TickReleasesPastAGapWhoseDeadlinePassed) {
  InLab([&] {
    BondCapture bond;
    ASSERT_TRUE(bond.ok()) << std::strerror(errno);
    SetReseqDeadlineUs(kShortDeadlineUs);
    ASSERT_EQ(Receive(1).verdict, kRedirect);
    ASSERT_EQ(Receive(3).verdict, kShot);
    ASSERT_EQ(Receive(4).verdict, kShot);
    bond.Seqs();
    AgeHeld(10ull * kShortDeadlineUs * 1000);
    EXPECT_EQ(Tick().verdict, kShot);
    EXPECT_EQ(bond.Seqs(), (std::vector<uint32_t>{3, 4})) << "2 given up, nothing else arrived";
    EXPECT_EQ(State().next_seq, 5u);
    EXPECT_EQ(Reseq().gaps_skipped, 1u);
    EXPECT_EQ(Reseq().released_deadline, 2u);
  });
}

TEST_F(ReseqTest, TickWithNothingHeldOrResequencingOffSendsNothing) {
  InLab([&] {
    BondCapture bond;
    ASSERT_TRUE(bond.ok()) << std::strerror(errno);
    EXPECT_EQ(Tick().verdict, kShot);
    ASSERT_EQ(Receive(1).verdict, kRedirect);
    ASSERT_EQ(Receive(3).verdict, kShot);
    bond.Seqs();
    SetReseqDeadlineUs(0);
    AgeHeld(20ull * kLongDeadlineUs * 1000);
    EXPECT_EQ(Tick().verdict, kShot);
    EXPECT_TRUE(bond.Seqs().empty());
    EXPECT_EQ(State().held, 1u);
  });
}

// Loss: each path delivers in order, so a number every ACTIVE path is past is lost.
TEST_F(ReseqTest, GapIsGivenUpOnceEveryActivePathIsPast) {
  InLab([&] {
    ASSERT_EQ(ReceiveOn(0, 1).verdict, kRedirect);
    ASSERT_EQ(ReceiveOn(0, 3).verdict, kShot);
    EXPECT_EQ(State().held, 1u) << "path 1 may still bring 2";
    AgeHeld(MB_RESEQ_LOST_GRACE_NS);
    RunResult r = ReceiveOn(1, 4);
    ASSERT_EQ(r.verdict, kRedirect) << "both paths are past 2: it was lost";
    EXPECT_EQ(SeqOf(r), 4u);
    const mb_reseq s = State();
    EXPECT_EQ(s.next_seq, 5u);
    EXPECT_EQ(s.held, 0u);
    EXPECT_EQ(s.path_top_seq[0], 3u);
    EXPECT_EQ(s.path_top_seq[1], 4u);
    const mb_reseq_counters c = Reseq();
    EXPECT_EQ(c.gaps_skipped, 1u);
    EXPECT_EQ(c.released_lost, 2u);
    EXPECT_EQ(c.released_deadline, 0u) << "no deadline was waited for";
  });
}

TEST_F(ReseqTest, GapEveryPathIsPastWaitsTheGraceForAnotherCpu) {
  ASSERT_EQ(ReceiveOn(0, 1).verdict, kRedirect);
  ASSERT_EQ(ReceiveOn(0, 3).verdict, kShot);
  EXPECT_EQ(ReceiveOn(1, 4).verdict, kShot) << "3 arrived just now: 2 may be a CPU behind";
  EXPECT_EQ(State().next_seq, 2u);
  EXPECT_EQ(Reseq().released_lost, 0u);
}

TEST_F(ReseqTest, ProbeShowsItsPathIsPastAGap) {
  InLab([&] {
    ASSERT_EQ(ReceiveOn(0, 1).verdict, kRedirect);
    ASSERT_EQ(ReceiveOn(0, 3).verdict, kShot);
    AgeHeld(MB_RESEQ_LOST_GRACE_NS);
    MeshOptions probe;
    probe.bond_seq = 3;  // the last handed out before the probe left on path 1
    probe.path_id = 1;
    probe.flags = MB_FLAG_UNSEQUENCED;
    RunResult r = Decap(MeshPacket(kPeer, Inner(3), probe));
    ASSERT_EQ(r.verdict, kRedirect);
    EXPECT_EQ(State().next_seq, 4u) << "2 was lost: 3 is released behind the probe";
    EXPECT_EQ(Reseq().released_lost, 1u);
  });
}

// Loss repair, the receiving half (bpf/lib/repair.h sends): a gap every
// path is past is reported to the agent and waits for its repair.
class RepairReceiveTest : public ReseqTest {
 protected:
  void SetUp() override {
    ReseqTest::SetUp();
    if (SetUpStopped()) return;
    SetRepairWaitUs(kLongDeadlineUs);
  }
  void SetRepairWaitUs(uint32_t us) {
    EditConfig([&](mb_config& c) { c.repair_wait_us = us; });
  }
  std::vector<mb_repair_request> Requests() {
    std::vector<mb_repair_request> out;
    ConsumeRingBuffer(skel_->maps.mb_repair_requests, [&](const void* data, size_t size) {
      EXPECT_EQ(size, sizeof(mb_repair_request));
      mb_repair_request r{};
      std::memcpy(&r, data, std::min(size, sizeof(r)));
      out.push_back(r);
    });
    return out;
  }
  RunResult RepairOn(uint32_t path, uint32_t seq) {
    MeshOptions m;
    m.bond_seq = seq;
    m.path_id = static_cast<uint8_t>(path);
    m.flags = MB_FLAG_REPAIR;
    return Decap(MeshPacket(kPeer, Inner(seq), m));
  }
  // Opens gaps 2 and 4, each reported once both paths are past it; 3, 5
  // and 6 are held.
  void LoseTwo() {
    ASSERT_EQ(ReceiveOn(0, 1).verdict, kRedirect);
    ASSERT_EQ(ReceiveOn(0, 3).verdict, kShot);
    AgeHeld(MB_RESEQ_LOST_GRACE_NS);
    ASSERT_EQ(ReceiveOn(1, 5).verdict, kShot) << "2 waits for its repair; path 0 may bring 4";
    ASSERT_EQ(ReceiveOn(0, 6).verdict, kShot) << "4 waits for its repair too";
  }
};

TEST_F(RepairReceiveTest, LostNumbersAreReportedOnceEach) {
  LoseTwo();
  std::vector<mb_repair_request> requests = Requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].first_seq, 2u);
  EXPECT_EQ(requests[0].missing, 0b1u);
  EXPECT_EQ(requests[1].first_seq, 3u) << "2 was reported before";
  EXPECT_EQ(requests[1].missing, 0b10u) << "3 is held, 4 lost";
  EXPECT_EQ(Reseq().repairs_requested, 2u);
  EXPECT_EQ(State().next_seq, 2u);
  EXPECT_EQ(State().held, 3u);

  ASSERT_EQ(ReceiveOn(1, 7).verdict, kShot);
  EXPECT_TRUE(Requests().empty()) << "nothing new lost";
  EXPECT_EQ(Reseq().released_lost, 0u);
  EXPECT_EQ(Reseq().gaps_skipped, 0u);
}

TEST_F(RepairReceiveTest, RepairsFillTheirGapsAndEverythingGoesOutInOrder) {
  InLab([&] {
    BondCapture bond;
    ASSERT_TRUE(bond.ok()) << std::strerror(errno);
    LoseTwo();
    bond.Seqs();
    SetHoldUs(1, kLongDeadlineUs);  // the near path's hold: a repair does not wait it
    RunResult r = RepairOn(1, 2);
    ASSERT_EQ(r.verdict, kRedirect);
    EXPECT_EQ(SeqOf(r), 3u);
    EXPECT_EQ(bond.Seqs(), (std::vector<uint32_t>{2}));
    r = RepairOn(1, 4);
    ASSERT_EQ(r.verdict, kRedirect);
    EXPECT_EQ(SeqOf(r), 6u);
    EXPECT_EQ(bond.Seqs(), (std::vector<uint32_t>{4, 5}));
    const mb_reseq_counters c = Reseq();
    EXPECT_EQ(c.repaired, 2u);
    EXPECT_EQ(c.gaps_skipped, 0u);
    EXPECT_EQ(c.released_lost, 0u);
    EXPECT_EQ(State().next_seq, 7u);
  });
}

TEST_F(RepairReceiveTest, UnrepairedGapIsGivenUpOnceTheWaitIsOver) {
  InLab([&] {
    BondCapture bond;
    ASSERT_TRUE(bond.ok()) << std::strerror(errno);
    SetRepairWaitUs(1'000);
    LoseTwo();
    bond.Seqs();
    mb_reseq r = State();
    r.repair_asked_ns = 0;  // reported long ago, and nothing arrived since
    r.last_arrival_ns = 0;
    SetState(r);
    RunResult out = Tick();
    EXPECT_EQ(out.verdict, kShot);
    EXPECT_EQ(bond.Seqs(), (std::vector<uint32_t>{3, 5, 6}));
    EXPECT_EQ(Reseq().released_lost, 3u);
    EXPECT_EQ(Reseq().gaps_skipped, 2u);
    EXPECT_EQ(Reseq().repaired, 0u);

    RunResult late = RepairOn(1, 2);
    EXPECT_EQ(late.verdict, kRedirect) << "a repair after its gap was given up is still delivered";
    EXPECT_EQ(Reseq().late, 0u) << "late counts a path's late packets: the deadline widens for them";
    EXPECT_EQ(Reseq().repaired, 0u);
  });
}

TEST_F(RepairReceiveTest, WithoutRepairLostGapsAreGivenUpAtOnceAndNothingIsReported) {
  SetRepairWaitUs(0);
  ASSERT_EQ(ReceiveOn(0, 1).verdict, kRedirect);
  ASSERT_EQ(ReceiveOn(0, 3).verdict, kShot);
  AgeHeld(MB_RESEQ_LOST_GRACE_NS);
  EXPECT_EQ(ReceiveOn(1, 4).verdict, kRedirect);
  EXPECT_TRUE(Requests().empty());
  EXPECT_EQ(Reseq().repairs_requested, 0u);
}

TEST_F(RepairReceiveTest, ALongLossIsReportedAFullSpanAtATime) {
  ASSERT_EQ(ReceiveOn(0, 1).verdict, kRedirect);
  const uint32_t past = 2 + MB_REPAIR_REQUEST_SPAN + 10;
  ASSERT_EQ(ReceiveOn(0, past).verdict, kShot);
  AgeHeld(MB_RESEQ_LOST_GRACE_NS);
  ASSERT_EQ(ReceiveOn(1, past + 1).verdict, kShot);
  ASSERT_EQ(ReceiveOn(1, past + 2).verdict, kShot);
  std::vector<mb_repair_request> requests = Requests();
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].first_seq, 2u);
  EXPECT_EQ(requests[0].missing, ~0ull);
  EXPECT_EQ(requests[1].first_seq, 2u + MB_REPAIR_REQUEST_SPAN);
  EXPECT_EQ(requests[1].missing, (1ull << 10) - 1) << "the rest, up to the held one";
  EXPECT_EQ(Reseq().repairs_requested, MB_REPAIR_REQUEST_SPAN + 10u);
}

TEST_F(ReseqTest, InactivePathIsNotWaitedForAndSilentActiveOneIs) {
  ASSERT_EQ(ReceiveOn(0, 1).verdict, kRedirect);
  ASSERT_EQ(ReceiveOn(0, 3).verdict, kShot);
  ASSERT_EQ(ReceiveOn(0, 4).verdict, kShot);
  EXPECT_EQ(State().held, 2u) << "path 1 is ACTIVE and has said nothing";
  DatapathTest::SetState(1, MB_PATH_BACKUP);
  AgeHeld(MB_RESEQ_LOST_GRACE_NS);
  EXPECT_EQ(ReceiveOn(0, 5).verdict, kRedirect) << "path 0 alone is past 2";
  EXPECT_EQ(State().next_seq, 6u);
}

TEST_F(ReseqTest, TickLeavesTheReleaseToArrivalsWhilePacketsArrive) {
  SetHoldUs(0, kLongDeadlineUs);
  ASSERT_EQ(ReceiveOn(0, 1).verdict, kShot);
  MakeHeldDue();
  mb_reseq s = State();
  s.last_arrival_ns = MonotonicNs();
  SetState(s);
  EXPECT_EQ(Tick().verdict, kShot);
  EXPECT_EQ(State().held, 1u) << "a packet arrived under a tick ago";
}

TEST_F(ReseqTest, BusyResequencerSkipsTheTick) {
  SetHoldUs(0, kLongDeadlineUs);
  ASSERT_EQ(ReceiveOn(0, 1).verdict, kShot);
  MakeHeldDue();
  mb_reseq s = State();
  s.busy = 1;  // a CPU is inside (CPU 0): the tick must not touch the slots
  SetState(s);
  EXPECT_EQ(Tick().verdict, kShot);
  EXPECT_EQ(State().held, 1u);
  EXPECT_EQ(State().busy, 1u);
}

}  // namespace
}  // namespace meshbpf::testing
