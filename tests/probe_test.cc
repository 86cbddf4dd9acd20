#include "agent/core/probe.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "bpf/meshbpf.h"

namespace meshbpf {
namespace {

ProbeMessage SampleProbe() {
  ProbeMessage m;
  m.type = ProbeMessage::Type::kReply;
  m.path_id = 3;
  m.seq = 0xfffffffe;
  m.sent_ns = 0x0102030405060708ULL;
  m.reflected_ns = 42;
  m.rx_packets = 0x1122334455667788ULL;
  m.rx_bytes = 7;
  return m;
}

TEST(Probe, RoundTripsWithAndWithoutKey) {
  for (const std::string key : {"", "a mesh key of some length"}) {
    ProbeBytes b = EncodeProbe(SampleProbe(), key);
    absl::StatusOr<ProbeMessage> m = DecodeProbe(b.data(), b.size(), key);
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_EQ(m->type, ProbeMessage::Type::kReply);
    EXPECT_EQ(m->path_id, 3);
    EXPECT_EQ(m->seq, 0xfffffffeu);
    EXPECT_EQ(m->sent_ns, 0x0102030405060708ULL);
    EXPECT_EQ(m->reflected_ns, 42u);
    EXPECT_EQ(m->rx_packets, 0x1122334455667788ULL);
    EXPECT_EQ(m->rx_bytes, 7u);
  }
}

TEST(Probe, RejectsWrongKeyMissingKeyAndTampering) {
  ProbeBytes b = EncodeProbe(SampleProbe(), "right key 0123456");
  EXPECT_EQ(DecodeProbe(b.data(), b.size(), "wrong key 0123456").status().code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_FALSE(DecodeProbe(b.data(), b.size(), "").ok()) << "keyless node accepted a keyed probe";
  ProbeBytes keyless = EncodeProbe(SampleProbe(), "");
  EXPECT_FALSE(DecodeProbe(keyless.data(), keyless.size(), "right key 0123456").ok())
      << "keyed node accepted an unauthenticated probe";
  for (size_t byte : {9, 30, 40}) {  // sequence number, rx packets, rx bytes
    ProbeBytes tampered = b;
    tampered[byte] ^= 1;
    EXPECT_FALSE(DecodeProbe(tampered.data(), tampered.size(), "right key 0123456").ok()) << byte;
  }
}

TEST(Probe, RejectsMalformedInputNamingTheProblem) {
  ProbeBytes b = EncodeProbe(SampleProbe(), "");
  EXPECT_THAT(std::string(DecodeProbe(b.data(), b.size() - 1, "").status().message()),
              ::testing::HasSubstr("59 bytes"));
  EXPECT_FALSE(DecodeProbe(b.data(), 0, "").ok());
  ProbeBytes bad = b;
  bad[0] = 'X';
  EXPECT_THAT(std::string(DecodeProbe(bad.data(), bad.size(), "").status().message()),
              ::testing::HasSubstr("magic"));
  bad = b;
  bad[4] = 9;
  EXPECT_THAT(std::string(DecodeProbe(bad.data(), bad.size(), "").status().message()),
              ::testing::HasSubstr("version"));
  for (uint8_t type : {0, 4, 7}) {
    bad = b;
    bad[5] = type;
    EXPECT_THAT(std::string(DecodeProbe(bad.data(), bad.size(), "").status().message()),
                ::testing::HasSubstr("type"))
        << int{type};
  }
  ProbeMessage far = SampleProbe();
  far.path_id = MB_MAX_PATHS;
  bad = EncodeProbe(far, "");
  EXPECT_THAT(std::string(DecodeProbe(bad.data(), bad.size(), "").status().message()),
              ::testing::HasSubstr("path id"));
}

// Size probes (path MTU discovery) arrive padded to a whole datagram; the
// flag that allows it is under the MAC, so nobody can pad an ordinary one.
TEST(Probe, SizeProbesMayBePaddedOthersNot) {
  ProbeMessage request = SampleProbe();
  request.type = ProbeMessage::Type::kRequest;
  request.size_probe = true;
  ProbeBytes head = EncodeProbe(request, "key");
  std::vector<uint8_t> padded(head.begin(), head.end());
  padded.resize(1432, 0);  // a 1500-byte packet once encapsulated
  absl::StatusOr<ProbeMessage> m = DecodeProbe(padded.data(), padded.size(), "key");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_TRUE(m->size_probe);
  EXPECT_EQ(m->seq, request.seq);
  ProbeBytes reply = EncodeProbe(*m, "key");
  EXPECT_TRUE(DecodeProbe(reply.data(), reply.size(), "key")->size_probe) << "the reply says so too";

  ProbeBytes plain = EncodeProbe(SampleProbe(), "key");
  std::vector<uint8_t> padded_plain(plain.begin(), plain.end());
  padded_plain.resize(1432, 0);
  EXPECT_THAT(std::string(DecodeProbe(padded_plain.data(), padded_plain.size(), "key").status().message()),
              ::testing::HasSubstr("1432 bytes"));
  padded.resize(kProbeMaxSize + 1, 0);
  EXPECT_FALSE(DecodeProbe(padded.data(), padded.size(), "key").ok()) << "beyond a jumbo frame";
  head[7] |= 0x80;
  EXPECT_THAT(std::string(DecodeProbe(head.data(), head.size(), "key").status().message()),
              ::testing::HasSubstr("unknown flags"));
}

ProbeMessage RepairRequest() {
  ProbeMessage m;
  m.type = ProbeMessage::Type::kRepairRequest;
  m.path_id = 1;
  m.sent_ns = 99;
  m.repair_first_seq = 0xfffffff0;  // the bitmap reaches past the wrap
  m.repair_missing = 0x8000000000000005ULL;
  return m;
}

// A repair request's sequence number and bitmap take the seq and rx_packets slots.
TEST(Probe, AReplySaysWhetherItsSenderRepairsUnderTheMac) {
  for (const bool repairs : {false, true}) {
    ProbeMessage reply = SampleProbe();
    reply.repairs = repairs;
    const ProbeBytes b = EncodeProbe(reply, "key");
    absl::StatusOr<ProbeMessage> m = DecodeProbe(b.data(), b.size(), "key");
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_EQ(m->repairs, repairs);
    ProbeBytes flipped = b;
    flipped[7] ^= 0x02;
    EXPECT_EQ(DecodeProbe(flipped.data(), flipped.size(), "key").status().code(),
              absl::StatusCode::kPermissionDenied)
        << "a forged claim fails the MAC";
  }
  // Only a reply speaks for its sender: a request never carries the flag.
  ProbeMessage request = SampleProbe();
  request.type = ProbeMessage::Type::kRequest;
  request.repairs = true;
  ProbeBytes b = EncodeProbe(request, "");
  EXPECT_EQ(b[7], 0);
  b[7] = 0x02;
  EXPECT_THAT(std::string(DecodeProbe(b.data(), b.size(), "").status().message()),
              ::testing::HasSubstr("repairs flag on a message that is not a reply"));
}

TEST(RepairRequest, RoundTripsInTheProbeSlots) {
  for (const std::string key : {"", "a mesh key of some length"}) {
    const ProbeBytes b = EncodeProbe(RepairRequest(), key);
    EXPECT_EQ(b[5], 3);
    absl::StatusOr<ProbeMessage> m = DecodeProbe(b.data(), b.size(), key);
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_EQ(m->type, ProbeMessage::Type::kRepairRequest);
    EXPECT_EQ(m->path_id, 1);
    EXPECT_EQ(m->sent_ns, 99u);
    EXPECT_EQ(m->repair_first_seq, 0xfffffff0u);
    EXPECT_EQ(m->repair_missing, 0x8000000000000005ULL);
    EXPECT_EQ(m->seq, 0u) << "a request's fields stay empty";
    EXPECT_EQ(m->rx_packets, 0u);
    EXPECT_EQ(EncodeProbe(*m, key), b);
  }
  ProbeMessage probe = SampleProbe();
  probe.type = ProbeMessage::Type::kRequest;
  probe.repair_missing = 1;  // ignored outside a repair request
  const ProbeBytes probe_bytes = EncodeProbe(probe, "");
  absl::StatusOr<ProbeMessage> decoded = DecodeProbe(probe_bytes.data(), probe_bytes.size(), "");
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(decoded->repair_missing, 0u);
  EXPECT_EQ(decoded->rx_packets, probe.rx_packets);
}

TEST(RepairRequest, AForgedOneFailsAuthentication) {
  const ProbeBytes b = EncodeProbe(RepairRequest(), "right key 0123456");
  for (size_t byte : {5, 9, 35}) {  // type, first sequence number, bitmap
    ProbeBytes forged = b;
    forged[byte] ^= 2;
    EXPECT_EQ(DecodeProbe(forged.data(), forged.size(), "right key 0123456").status().code(),
              absl::StatusCode::kPermissionDenied)
        << byte;
  }
  const ProbeBytes keyless = EncodeProbe(RepairRequest(), "");
  EXPECT_EQ(DecodeProbe(keyless.data(), keyless.size(), "right key 0123456").status().code(),
            absl::StatusCode::kPermissionDenied);
}

TEST(RepairRequest, RejectsAnEmptyBitmapOrASizeProbeFlag) {
  ProbeMessage nothing = RepairRequest();
  nothing.repair_missing = 0;
  ProbeBytes b = EncodeProbe(nothing, "key");
  EXPECT_THAT(std::string(DecodeProbe(b.data(), b.size(), "key").status().message()),
              ::testing::HasSubstr("repair request with no sequence number missing"));
  ProbeMessage sized = RepairRequest();
  sized.size_probe = true;
  b = EncodeProbe(sized, "key");
  EXPECT_THAT(std::string(DecodeProbe(b.data(), b.size(), "key").status().message()),
              ::testing::HasSubstr("repair request flagged as a size probe"));
  std::vector<uint8_t> padded(b.begin(), b.end());
  padded.resize(1432, 0);
  EXPECT_THAT(std::string(DecodeProbe(padded.data(), padded.size(), "key").status().message()),
              ::testing::HasSubstr("size probe"))
      << "nor padded like one";
}

}  // namespace
}  // namespace meshbpf
