// BPF_PROG_TEST_RUN tests of loss repair's sending half (bpf/lib/repair.h):
// mb_encap keeps each bonded frame while repair is on, and sends a frame
// the agent marks as a repair on the marked path with the kept copy's
// bond_seq. The receiving half is in bpf_reseq_test.cc.
#include <bpf/bpf.h>
#include <gtest/gtest.h>

#include <cstdint>

#include "bpf/meshbpf.h"
#include "tests/bpf_datapath_fixture.h"
#include "tests/packet_builder.h"

namespace meshbpf::testing {
namespace {

constexpr size_t kWireFlags = kWire + 2;

class RepairSendTest : public DatapathTest {
 protected:
  void SetUp() override {
    DatapathTest::SetUp();
    if (SetUpStopped()) return;
    EditConfig([](mb_config& c) { c.keep_copies = 1; });
  }
  static Bytes Frame(uint16_t payload) {
    return Ipv4Packet("10.203.0.2", "10.202.0.2", IPPROTO_UDP, payload);
  }
  mb_repair_copy Copy(uint32_t seq) {
    uint32_t key = seq % MB_RESEQ_WINDOW;
    mb_repair_copy c{};
    EXPECT_EQ(bpf_map_lookup_elem(Fd(skel_->maps.mb_repair_copies), &key, &c), 0);
    return c;
  }
  static uint32_t RepairMark(uint32_t path, uint32_t seq) {
    return MB_REPAIR_MARK | path << MB_REPAIR_PATH_SHIFT | (seq & MB_REPAIR_SEQ_MASK);
  }
};

TEST_F(RepairSendTest, KeepsEachBondedFrameAsItEnteredTheBond) {
  const Bytes first = Frame(100), second = Frame(700);
  RunResult r1 = Encap(first);
  RunResult r2 = Encap(second);
  ASSERT_EQ(r1.verdict, kRedirect);
  ASSERT_EQ(r2.verdict, kRedirect);
  for (const auto& [frame, out] : {std::pair{first, r1.out}, std::pair{second, r2.out}}) {
    const uint32_t seq = Parse(out).bond_seq;
    const mb_repair_copy c = Copy(seq);
    EXPECT_EQ(c.seq, seq);
    ASSERT_EQ(c.len, frame.size());
    EXPECT_EQ(Bytes(c.data, c.data + c.len), frame);
  }
}

TEST_F(RepairSendTest, KeepsNothingWhenCopiesAreOffOrForAProbe) {
  // The receiving side's wait says nothing of what this end keeps.
  EditConfig([](mb_config& c) { c.keep_copies = 0; c.repair_wait_us = 5'000; });
  RunResult r = Encap(Frame(100));
  ASSERT_EQ(r.verdict, kRedirect);
  EXPECT_EQ(Copy(Parse(r.out).bond_seq).len, 0u);

  EditConfig([](mb_config& c) { c.keep_copies = 1; });
  RunResult probe = Run(skel_->progs.mb_encap, Frame(60), MB_PROBE_MARK | 1);
  ASSERT_EQ(probe.verdict, kRedirect);
  EXPECT_EQ(Copy(Parse(probe.out).bond_seq).len, 0u) << "a probe carries the last bond_seq";
}

TEST_F(RepairSendTest, RepairGoesOnTheMarkedPathWithItsOwnBondSeq) {
  const Bytes lost = Frame(300);
  RunResult original = Encap(lost);
  ASSERT_EQ(original.verdict, kRedirect);
  const Encapsulated o = Parse(original.out);
  ASSERT_EQ(Encap(Frame(400)).verdict, kRedirect);

  const uint32_t other_path = o.path_id == 0 ? 1 : 0;
  RunResult repair = Run(skel_->progs.mb_encap, lost, RepairMark(other_path, o.bond_seq));
  ASSERT_EQ(repair.verdict, kRedirect);
  const Encapsulated e = Parse(repair.out);
  EXPECT_EQ(e.path_id, other_path);
  EXPECT_EQ(e.bond_seq, o.bond_seq);
  EXPECT_EQ(repair.out[kWireFlags], MB_FLAG_REPAIR);
  EXPECT_EQ(Bytes(repair.out.begin() + kInner, repair.out.end()),
            Bytes(original.out.begin() + kInner, original.out.end()));
  EXPECT_EQ(Copy(o.bond_seq).seq, o.bond_seq) << "a repair is not kept again";

  RunResult next = Encap(Frame(500));
  ASSERT_EQ(next.verdict, kRedirect);
  EXPECT_EQ(Parse(next.out).bond_seq, o.bond_seq + 2) << "a repair takes no new number";
}

TEST_F(RepairSendTest, RepairOfAReusedCopyIsDroppedAndCounted) {
  const Bytes kept = Frame(300);
  RunResult original = Encap(kept);
  ASSERT_EQ(original.verdict, kRedirect);
  const uint32_t seq = Parse(original.out).bond_seq;

  // The slot now holds a number a whole window later.
  RunResult stale = Run(skel_->progs.mb_encap, kept, RepairMark(1, seq + MB_RESEQ_WINDOW));
  EXPECT_EQ(stale.verdict, kShot);
  // Or a frame of another length than the one sent.
  EXPECT_EQ(Run(skel_->progs.mb_encap, Frame(301), RepairMark(1, seq)).verdict, kShot);
  EXPECT_EQ(Counters(MB_NO_PATH).drops[MB_DROP_REPAIR_STALE], 2u);
  EXPECT_EQ(TotalDrops(), 2u);
}

TEST_F(RepairSendTest, RepairOnAPathThatCannotCarryItIsDropped) {
  const Bytes kept = Frame(300);
  RunResult original = Encap(kept);
  ASSERT_EQ(original.verdict, kRedirect);
  RunResult r = Run(skel_->progs.mb_encap, kept, RepairMark(5, Parse(original.out).bond_seq));
  EXPECT_EQ(r.verdict, kShot);
  EXPECT_EQ(Counters(MB_NO_PATH).drops[MB_DROP_NO_PATH], 1u);
}

}  // namespace
}  // namespace meshbpf::testing
