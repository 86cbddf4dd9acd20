// BPF_PROG_TEST_RUN tests of redundant mode: mb_encap marks the copies and
// numbers them alike, mb_decap delivers the first copy of each and drops the
// rest (bpf/lib/dedup.h).
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>

#include "bpf/meshbpf.h"
#include "tests/bpf_datapath_fixture.h"
#include "tests/packet_builder.h"

namespace meshbpf::testing {
namespace {

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
  EXPECT_EQ(Counters(0).rx_packets, 1u);
  EXPECT_EQ(Counters(1).rx_packets, 2u)
      << "the copy arrived on path 1: what the path carried counts, delivered or not";
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

}  // namespace
}  // namespace meshbpf::testing
