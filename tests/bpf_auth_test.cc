// BPF_PROG_TEST_RUN tests of tunnel authentication and encryption
// (bpf/lib/auth.h, bpf/lib/cipher.h): mb_encap tags (and encrypts) what it
// sends, mb_decap delivers only packets whose tag verifies and whose counter
// is new, and drops the rest by reason. Tags are checked against SipHash-2-4
// and ciphertexts against ChaCha20, both computed by OpenSSL. The node talks
// to itself: its transmit and receive sessions hold the same keys.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "bpf/meshbpf.h"
#include "tests/bpf_datapath_fixture.h"
#include "tests/packet_builder.h"

namespace meshbpf::testing {
namespace {

using Key = std::array<uint8_t, MB_AUTH_KEY_LEN>;
using CipherKey = std::array<uint8_t, MB_CIPHER_KEY_LEN>;

constexpr uint32_t kEpoch = 7;
// Offsets in an authenticated frame (outer IPv4 without options).
constexpr size_t kAuth = kWire + sizeof(mb_wire_hdr);
constexpr size_t kEpochAt = kAuth, kCounterAt = kAuth + 4, kTagAt = kAuth + 12;
constexpr size_t kAuthInner = kInner + sizeof(mb_auth_hdr);

static_assert(sizeof(mb_auth_hdr) == 20 && MB_AUTH_SIGNED_HDR_LEN == 24);
static_assert(MB_AUTH_OVERHEAD == 60);

Key TestKey() {
  Key k{};
  for (size_t i = 0; i < k.size(); ++i) k[i] = static_cast<uint8_t>(i);
  return k;
}

CipherKey TestCipherKey() {
  CipherKey k{};
  for (size_t i = 0; i < k.size(); ++i) k[i] = static_cast<uint8_t>(0xa0 + i);
  return k;
}

// ChaCha20 by OpenSSL: its 16-byte IV is the 32-bit block counter, then the
// 96-bit nonce, each little-endian (RFC 8439).
Bytes OpenSslChaCha20(const CipherKey& key, uint32_t first_block, const std::array<uint8_t, 12>& nonce,
                      const Bytes& in) {
  std::array<uint8_t, 16> iv{};
  for (int i = 0; i < 4; ++i) iv[i] = static_cast<uint8_t>(first_block >> (8 * i));
  std::memcpy(iv.data() + 4, nonce.data(), nonce.size());
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  Bytes out(in.size());
  int len = 0;
  const bool ok = ctx && EVP_EncryptInit_ex(ctx, EVP_chacha20(), nullptr, key.data(), iv.data()) == 1 &&
                  EVP_EncryptUpdate(ctx, out.data(), &len, in.data(), static_cast<int>(in.size())) == 1 &&
                  static_cast<size_t>(len) == in.size();
  EVP_CIPHER_CTX_free(ctx);
  EXPECT_TRUE(ok) << "OpenSSL ChaCha20 failed";
  return out;
}

// The nonce of a packet (bpf/meshbpf.h, "Encryption"): epoch || counter of its first copy.
std::array<uint8_t, 12> NonceOf(uint32_t epoch, uint64_t counter) {
  std::array<uint8_t, 12> n{};
  for (int i = 0; i < 4; ++i) n[i] = static_cast<uint8_t>(epoch >> (8 * i));
  for (int i = 0; i < 8; ++i) n[4 + i] = static_cast<uint8_t>(counter >> (8 * i));
  return n;
}

// SipHash-2-4 with a 64-bit output, by OpenSSL: the known answer.
Bytes OpenSslSipHash(const Key& key, const Bytes& message) {
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "SIPHASH", nullptr);
  EVP_MAC_CTX* ctx = mac ? EVP_MAC_CTX_new(mac) : nullptr;
  size_t size = 8;
  const OSSL_PARAM params[] = {OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &size),
                               OSSL_PARAM_construct_end()};
  Bytes out(8);
  size_t out_len = 0;
  const bool ok = ctx && EVP_MAC_init(ctx, key.data(), key.size(), params) == 1 &&
                  EVP_MAC_update(ctx, message.data(), message.size()) == 1 &&
                  EVP_MAC_final(ctx, out.data(), &out_len, out.size()) == 1 && out_len == 8;
  EVP_MAC_CTX_free(ctx);
  EVP_MAC_free(mac);
  EXPECT_TRUE(ok) << "OpenSSL SIPHASH failed";
  return out;
}

// The byte string an authenticated frame's tag covers (bpf/meshbpf.h,
// "Authentication"): inner packet, zeros to a multiple of 8, mb_wire_hdr,
// epoch and counter, the inner length as a little-endian 64-bit word.
Bytes SignedBytes(const Bytes& frame) {
  Bytes m(frame.begin() + kAuthInner, frame.end());
  const uint64_t inner_len = m.size();
  m.resize((m.size() + 7) / 8 * 8, 0);
  m.insert(m.end(), frame.begin() + kWire, frame.begin() + kTagAt);
  for (int i = 0; i < 8; ++i) m.push_back(static_cast<uint8_t>(inner_len >> (8 * i)));
  return m;
}

uint64_t CounterOf(const Bytes& frame) {
  return (uint64_t{Get32(frame, kCounterAt)} << 32) | Get32(frame, kCounterAt + 4);
}

class AuthTest : public DatapathTest {
 protected:
  void SetUp() override {
    DatapathTest::SetUp();
    if (SetUpStopped()) return;
    SetAuthenticate(1);
    InstallTx(TestKey(), kEpoch, 0);
    InstallRx(TestKey(), kEpoch);
  }

  void SetEncrypt(uint8_t on) {
    EditConfig([&](mb_config& c) { c.encrypt = on; });
  }
  void SetAuthenticate(uint8_t on) {
    EditConfig([&](mb_config& c) { c.authenticate = on; });
  }
  void InstallTx(const Key& k, uint32_t epoch, uint64_t next_counter) {
    mb_auth_tx tx{};
    std::memcpy(tx.key, k.data(), k.size());
    const CipherKey cipher = TestCipherKey();
    std::memcpy(tx.cipher_key, cipher.data(), cipher.size());
    tx.epoch = epoch;
    tx.next_counter = next_counter;
    uint32_t key = 0;
    ASSERT_EQ(bpf_map_update_elem(Fd(skel_->maps.mb_auth_tx), &key, &tx, BPF_ANY), 0);
  }
  // A new receive session in `slot`: its window starts empty.
  void InstallRx(const Key& k, uint32_t epoch, uint32_t slot = 0) {
    mb_auth_rx rx{};
    std::memcpy(rx.key, k.data(), k.size());
    const CipherKey cipher = TestCipherKey();
    std::memcpy(rx.cipher_key, cipher.data(), cipher.size());
    rx.epoch = epoch;
    ASSERT_EQ(bpf_map_update_elem(Fd(skel_->maps.mb_auth_rx), &slot, &rx, BPF_ANY), 0);
  }
  mb_auth_rx ReadRx(uint32_t slot) {
    mb_auth_rx rx{};
    EXPECT_EQ(bpf_map_lookup_elem(Fd(skel_->maps.mb_auth_rx), &slot, &rx), 0);
    return rx;
  }
  void SetNextCounter(uint64_t counter) {
    mb_auth_tx tx{};
    uint32_t key = 0;
    ASSERT_EQ(bpf_map_lookup_elem(Fd(skel_->maps.mb_auth_tx), &key, &tx), 0);
    tx.next_counter = counter;
    ASSERT_EQ(bpf_map_update_elem(Fd(skel_->maps.mb_auth_tx), &key, &tx, BPF_ANY), 0);
  }

  // A genuine frame from the peer carrying `counter`.
  Bytes Genuine(uint64_t counter, size_t payload = 300) {
    SetNextCounter(counter);
    Bytes wire = FromPeer(Ipv4Packet("10.202.0.2", "10.203.0.2", IPPROTO_UDP, payload));
    EXPECT_EQ(CounterOf(wire), counter);
    return wire;
  }
  uint32_t DecapCounter(uint64_t counter) { return Decap(Genuine(counter)).verdict; }

  uint64_t AuthDrops(int reason) { return Counters(MB_NO_PATH).drops[reason]; }
  uint64_t Received() { return Counters(0).rx_packets + Counters(1).rx_packets; }
};

TEST(SipHashOracle, OpenSslMatchesTheReferenceVector) {
  // SipHash paper, appendix A: key 00..0f, message 00..0e, output
  // 0xa129ca6149be45e5, written little-endian (the reference code's vectors.h).
  Bytes message(15);
  for (size_t i = 0; i < message.size(); ++i) message[i] = static_cast<uint8_t>(i);
  const Bytes expected = {0xe5, 0x45, 0xbe, 0x49, 0x61, 0xca, 0x29, 0xa1};
  EXPECT_EQ(OpenSslSipHash(TestKey(), message), expected);
}

TEST(ChaCha20Oracle, OpenSslMatchesTheRfc8439Vector) {
  // RFC 8439, 2.4.2: key 00..1f, nonce 00 00 00 00 00 00 00 4a 00 00 00 00,
  // block counter 1; the first 16 bytes of the ciphertext.
  CipherKey key{};
  for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(i);
  const std::array<uint8_t, 12> nonce = {0, 0, 0, 0, 0, 0, 0, 0x4a, 0, 0, 0, 0};
  const std::string text = "Ladies and Gentlemen of the class of '99: If I could offer you only one tip "
                           "for the future, sunscreen would be it.";
  const Bytes out = OpenSslChaCha20(key, 1, nonce, Bytes(text.begin(), text.end()));
  const Bytes expected = {0x6e, 0x2e, 0x35, 0x9a, 0x25, 0x68, 0xf9, 0x80,
                          0x41, 0xba, 0x07, 0x28, 0xdd, 0x0d, 0x69, 0x81};
  EXPECT_EQ(Bytes(out.begin(), out.begin() + 16), expected);
}

TEST_F(AuthTest, EncapTagsEachPacketWithAFreshCounterAndTheOpenSslTag) {
  for (size_t payload : {0u, 1u, 7u, 300u, 1372u}) {  // inner lengths of every residue mod 8
    const Bytes in = Ipv4Packet("10.203.0.2", "10.202.0.2", IPPROTO_UDP, payload);
    RunResult r = Encap(in);
    ASSERT_EQ(r.verdict, kRedirect) << payload;
    ASSERT_EQ(r.out.size(), in.size() + MB_AUTH_OVERHEAD);
    EXPECT_EQ(r.out[kWire], MB_WIRE_VERSION_AUTH);
    EXPECT_EQ(Get32(r.out, kEpochAt), kEpoch);
    EXPECT_EQ(Get16(r.out, kOuterIp + 2), r.out.size() - 14) << "outer length covers the tag";
    EXPECT_TRUE(BytesEqual(Bytes(r.out.begin() + kAuthInner, r.out.end()), L3(in), "inner", true));
    const Bytes tag(r.out.begin() + kTagAt, r.out.begin() + kTagAt + 8);
    EXPECT_EQ(tag, OpenSslSipHash(TestKey(), SignedBytes(r.out))) << "payload " << payload;
  }
  mb_auth_tx tx{};
  uint32_t key = 0;
  ASSERT_EQ(bpf_map_lookup_elem(Fd(skel_->maps.mb_auth_tx), &key, &tx), 0);
  EXPECT_EQ(tx.next_counter, 5u) << "one counter per packet sent";
}

TEST_F(AuthTest, GenuinePacketDecapsulatesToTheExactInnerBytes) {
  const Bytes in = Ipv4Packet("10.202.0.2", "10.203.0.2", IPPROTO_TCP, 1200);
  const Bytes wire = FromPeer(in);
  RunResult r = Decap(wire);
  ASSERT_EQ(r.verdict, kRedirect);
  EXPECT_TRUE(std::equal(kBondMac, kBondMac + 6, r.out.begin()));
  EXPECT_TRUE(BytesEqual(L3(r.out), L3(in), "decap", true));
  EXPECT_EQ(Counters(0).rx_packets, 1u);
  EXPECT_EQ(Counters(0).rx_bytes, in.size() - 14);
  EXPECT_EQ(TotalDrops(), 0u);
}

// Every single-bit change of the tunnel header or the inner packet is
// dropped, for the reason the changed field implies, and moves nothing: the
// genuine packet is still accepted afterwards.
TEST_F(AuthTest, EveryBitFlipInHeaderOrPayloadIsDroppedAndMovesNothing) {
  const Bytes wire = Genuine(1000, 8);
  size_t runs = 0, passed_up = 0;
  for (size_t byte = kWire; byte < wire.size(); ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      Bytes forged = wire;
      forged[byte] ^= static_cast<uint8_t>(1u << bit);
      ++runs;
      if (byte == kWire && forged[byte] == MB_WIRE_VERSION_HANDSHAKE) {
        // Version 3 is a handshake message: up to the agent, which checks its own MAC.
        ASSERT_EQ(Decap(forged).verdict, kNotOurs);
        ++passed_up;
        continue;
      }
      int reason = MB_DROP_AUTH_BAD_TAG;
      if (byte == kWire || (byte == kWire + 1 && forged[byte] >= MB_MAX_PATHS))
        reason = MB_DROP_BAD_HEADER;  // no version 1 is one bit from version 2
      else if (byte >= kEpochAt && byte < kEpochAt + 4)
        reason = MB_DROP_AUTH_EPOCH;
      const uint64_t before = AuthDrops(reason);
      ASSERT_EQ(Decap(forged).verdict, kShot) << "byte " << byte << " bit " << bit;
      ASSERT_EQ(AuthDrops(reason), before + 1) << "byte " << byte << " bit " << bit;
    }
  }
  EXPECT_EQ(runs, (wire.size() - kWire) * 8);
  EXPECT_EQ(passed_up, 1u);
  EXPECT_EQ(TotalDrops(), runs - passed_up);
  EXPECT_EQ(Received(), 0u);
  EXPECT_EQ(Decap(wire).verdict, kRedirect) << "forgeries moved the window";
}

TEST_F(AuthTest, ReplayIsDropped) {
  const Bytes wire = Genuine(42);
  EXPECT_EQ(Decap(wire).verdict, kRedirect);
  EXPECT_EQ(Decap(wire).verdict, kShot);
  EXPECT_EQ(AuthDrops(MB_DROP_AUTH_REPLAY), 1u);
  EXPECT_EQ(Received(), 1u);
}

TEST_F(AuthTest, CounterBehindTheWindowIsTooOldAndTheEdgeIsNot) {
  EXPECT_EQ(DecapCounter(10000), kRedirect);
  EXPECT_EQ(DecapCounter(10000 - MB_AUTH_WINDOW - 1), kShot);
  EXPECT_EQ(AuthDrops(MB_DROP_AUTH_TOO_OLD), 1u);
  EXPECT_EQ(DecapCounter(10000 - MB_AUTH_WINDOW), kRedirect) << "the window's last counter";
  EXPECT_EQ(DecapCounter(10000 - MB_AUTH_WINDOW), kShot);
  EXPECT_EQ(AuthDrops(MB_DROP_AUTH_REPLAY), 1u);
}

TEST_F(AuthTest, FarJumpAheadThenGenuineOlderPacketsWithinTheWindow) {
  for (uint64_t c : {100u, 101u}) EXPECT_EQ(DecapCounter(c), kRedirect);
  const uint64_t far = 100 + 50 * MB_AUTH_WINDOW;  // the whole bitmap moves
  EXPECT_EQ(DecapCounter(far), kRedirect);
  EXPECT_EQ(DecapCounter(101), kShot) << "now behind the window";
  EXPECT_EQ(AuthDrops(MB_DROP_AUTH_TOO_OLD), 1u);
  // Older packets still on their way, within the window, in any order; the
  // words cleared by the jump must not remember counters from before it.
  for (uint64_t back : {1u, 4031u, 64u, 63u, 2000u, unsigned{MB_AUTH_WINDOW}})
    EXPECT_EQ(DecapCounter(far - back), kRedirect) << far - back;
  for (uint64_t back : {0u, 1u, 64u, 2000u}) EXPECT_EQ(DecapCounter(far - back), kShot);
  EXPECT_EQ(AuthDrops(MB_DROP_AUTH_REPLAY), 4u);
}

TEST_F(AuthTest, ShortJumpKeepsTheBitsOfCountersStillInTheWindow) {
  EXPECT_EQ(DecapCounter(5000), kRedirect);
  EXPECT_EQ(DecapCounter(5000 + 3 * 64 + 5), kRedirect);
  EXPECT_EQ(DecapCounter(5000), kShot) << "moving three words ahead kept its bit";
  EXPECT_EQ(AuthDrops(MB_DROP_AUTH_REPLAY), 1u);
}

// The bitmap is a ring of words: counters crossing its end (every 4096), and
// the counter's upper 32 bits turning over, inside the window, out of order.
TEST_F(AuthTest, CounterWrapsInsideTheWindow) {
  for (uint64_t base : {uint64_t{MB_AUTH_BITMAP_WORDS * 64 * 3}, uint64_t{1} << 32}) {
    const std::vector<uint64_t> order = {base + 3, base - 2, base + 70, base - 1,
                                         base,     base + 1, base - 64, base + 2};
    for (uint64_t c : order) EXPECT_EQ(DecapCounter(c), kRedirect) << c;
    for (uint64_t c : order) EXPECT_EQ(DecapCounter(c), kShot) << "replay of " << c;
    EXPECT_EQ(DecapCounter(base + 4), kRedirect) << "a gap left open stays open";
  }
  EXPECT_EQ(AuthDrops(MB_DROP_AUTH_REPLAY), 16u);
  EXPECT_EQ(TotalDrops(), 16u);
}

TEST_F(AuthTest, WrongEpochIsDroppedWithoutMovingTheWindow) {
  InstallTx(TestKey(), kEpoch + 1, 9000);
  EXPECT_EQ(Decap(FromPeer(Ipv4Packet("10.202.0.2", "10.203.0.2", IPPROTO_UDP, 100))).verdict,
            kShot);
  EXPECT_EQ(AuthDrops(MB_DROP_AUTH_EPOCH), 1u);
  InstallTx(TestKey(), kEpoch, 1);
  EXPECT_EQ(DecapCounter(1), kRedirect) << "the window did not move to 9000";
}

TEST_F(AuthTest, OtherKeyIsABadTag) {
  Key other = TestKey();
  other[15] ^= 1;
  InstallTx(other, kEpoch, 0);
  EXPECT_EQ(Decap(FromPeer(Ipv4Packet("10.202.0.2", "10.203.0.2", IPPROTO_UDP, 100))).verdict,
            kShot);
  EXPECT_EQ(AuthDrops(MB_DROP_AUTH_BAD_TAG), 1u);
}

TEST_F(AuthTest, NoSessionDropsBothWays) {
  const Bytes wire = Genuine(3);
  InstallTx(TestKey(), 0, 0);
  InstallRx(TestKey(), 0);
  EXPECT_EQ(Encap(Ipv4Packet("10.203.0.2", "10.202.0.2", IPPROTO_UDP, 100)).verdict, kShot);
  EXPECT_EQ(Decap(wire).verdict, kShot);
  EXPECT_EQ(AuthDrops(MB_DROP_AUTH_NO_SESSION), 2u);
  EXPECT_EQ(Counters(0).tx_packets + Counters(1).tx_packets, 1u) << "only the genuine one";
}

TEST_F(AuthTest, TruncationsAreDroppedAsTruncated) {
  const Bytes wire = Genuine(5, 100);
  // Inside the auth header, at the tag, and inside the inner packet.
  for (size_t len : {kAuth + 3, kTagAt + 4, kAuthInner, kAuthInner + 20, wire.size() - 1}) {
    Bytes cut(wire.begin(), wire.begin() + static_cast<long>(len));
    EXPECT_EQ(Decap(cut).verdict, kShot) << len;
  }
  EXPECT_EQ(AuthDrops(MB_DROP_TRUNCATED), 5u);
  EXPECT_EQ(TotalDrops(), 5u);
  EXPECT_EQ(Decap(wire).verdict, kRedirect);
}

TEST_F(AuthTest, BothEndsMustAgree) {
  // An unauthenticated packet where authentication is on ...
  EXPECT_EQ(Decap(MeshPacket(kPeer, InnerL3())).verdict, kShot);
  EXPECT_EQ(AuthDrops(MB_DROP_AUTH_MISSING), 1u);
  // ... and an authenticated one where it is off.
  const Bytes wire = Genuine(1);
  SetAuthenticate(0);
  EXPECT_EQ(Decap(wire).verdict, kShot);
  EXPECT_EQ(AuthDrops(MB_DROP_BAD_HEADER), 1u);
  EXPECT_EQ(Received(), 0u);
}

// Redundant copies share a bond_seq but each has its own counter: after
// authentication, the second copy is a duplicate for de-duplication, not a
// replay.
TEST_F(AuthTest, RedundantCopiesGetTheirOwnCountersAndDedupStaysBehindAuth) {
  Configure(1, MB_MODE_REDUNDANT);
  SetAuthenticate(1);
  const Bytes in = Ipv4Packet("10.202.0.2", "10.203.0.2", IPPROTO_UDP, 200);
  const Bytes first = FromPeer(in);
  // Path 0's copy was tagged (counter 0), then skipped: lo has no neighbour
  // for its gateway here (see bpf_dedup_test.cc). The skb leaves on path 1.
  EXPECT_EQ(Counters(0).drops[MB_DROP_CLONE_FAILED], 1u);
  EXPECT_EQ(CounterOf(first), 1u);
  // The same packet once more under the same bond_seq: another copy of it.
  uint32_t key = 0;
  mb_sched sched{};
  ASSERT_EQ(bpf_map_lookup_elem(Fd(skel_->maps.mb_sched), &key, &sched), 0);
  sched.bond_seq -= 1;
  ASSERT_EQ(bpf_map_update_elem(Fd(skel_->maps.mb_sched), &key, &sched, BPF_ANY), 0);
  const Bytes second = FromPeer(in);
  ASSERT_EQ(Get32(second, kWire + 4), Get32(first, kWire + 4)) << "one bond_seq";
  EXPECT_EQ(CounterOf(second), 3u) << "a counter per copy";

  EXPECT_EQ(Decap(first).verdict, kRedirect);
  EXPECT_EQ(Decap(second).verdict, kShot);
  EXPECT_EQ(Counters(1).drops[MB_DROP_DUPLICATE], 1u);
  EXPECT_EQ(AuthDrops(MB_DROP_AUTH_REPLAY), 0u);
  EXPECT_EQ(Decap(second).verdict, kShot);
  EXPECT_EQ(AuthDrops(MB_DROP_AUTH_REPLAY), 1u) << "the same copy again is a replay";
}

TEST_F(AuthTest, GsoPacketsAreRefusedNotTaggedWhole) {
  const Bytes in = Ipv4Packet("10.203.0.2", "10.202.0.2", IPPROTO_TCP, 2 * 1408);
  __sk_buff ctx{};
  ctx.gso_segs = 2;
  ctx.gso_size = 1408;
  Bytes out(in.size() + 512);
  bpf_test_run_opts opts{};
  opts.sz = sizeof(opts);
  opts.data_in = in.data();
  opts.data_size_in = static_cast<uint32_t>(in.size());
  opts.data_out = out.data();
  opts.data_size_out = static_cast<uint32_t>(out.size());
  opts.ctx_in = &ctx;
  opts.ctx_size_in = sizeof(ctx);
  opts.repeat = 1;
  ASSERT_EQ(bpf_prog_test_run_opts(bpf_program__fd(skel_->progs.mb_encap), &opts), 0);
  EXPECT_EQ(opts.retval, kShot);
  EXPECT_EQ(AuthDrops(MB_DROP_AUTH_GSO), 1u);
}

}  // namespace
}  // namespace meshbpf::testing

namespace meshbpf::testing {
namespace {

// A rekey: the new session goes into the other receive slot, and packets of
// both sessions verify, each in its own window, until the old one is gone.
TEST_F(AuthTest, BothReceiveSessionsVerifyEachInItsOwnWindow) {
  Key next = TestKey();
  next[0] ^= 0xff;
  InstallRx(next, kEpoch + 1, 1);
  const Bytes old_session = Genuine(40);
  EXPECT_EQ(Decap(old_session).verdict, kRedirect);
  InstallTx(next, kEpoch + 1, 40);  // the same counter, under the new session
  EXPECT_EQ(Decap(FromPeer(Ipv4Packet("10.202.0.2", "10.203.0.2", IPPROTO_UDP, 100))).verdict,
            kRedirect)
      << "the new session's window is its own";
  EXPECT_EQ(ReadRx(0).verified, 1u);
  EXPECT_EQ(ReadRx(1).verified, 1u);
  EXPECT_EQ(Decap(old_session).verdict, kShot);
  EXPECT_EQ(AuthDrops(MB_DROP_AUTH_REPLAY), 1u);
  // A third epoch matches neither slot.
  InstallTx(next, kEpoch + 2, 0);
  EXPECT_EQ(Decap(FromPeer(Ipv4Packet("10.202.0.2", "10.203.0.2", IPPROTO_UDP, 100))).verdict, kShot);
  EXPECT_EQ(AuthDrops(MB_DROP_AUTH_EPOCH), 1u);
}

// Handshake messages (agent/core/handshake.h) go up to the agent's socket,
// uncounted, and only while authentication is on.
// A learned path's far end roams with any packet that verifies, data as
// well as probes (as WireGuard's does): a NAT's new mapping is followed on
// its first packet. A forged or replayed packet from elsewhere moves nothing.
TEST_F(AuthTest, OnALearnedPathAVerifiedPacketFromElsewherePassesAndIsRecorded) {
  EditConfig([](mb_config& c) { c.learn_paths = 1; });
  for (uint32_t id : {0u, 1u}) EditPath(id, [](mb_path& p) { p.flags |= MB_PATH_F_LEARN; });
  auto from_elsewhere = [](Bytes wire) {  // the NAT's new mapping
    const uint32_t addr = Ip("198.51.100.7");
    std::memcpy(&wire[kOuterIp + 12], &addr, 4);
    wire[kOuterIp + 10] = wire[kOuterIp + 11] = 0;
    Put16(wire, kOuterIp + 10, Ipv4Checksum(&wire[kOuterIp], 20));
    Put16(wire, kOuterUdp, 40000);
    return wire;
  };
  auto learned = [&](const Bytes& wire) {
    const uint32_t path = Parse(wire).path_id;
    mb_learned_source seen{};
    EXPECT_EQ(bpf_map_lookup_elem(Fd(skel_->maps.mb_learned), &path, &seen), 0);
    return seen;
  };

  const Bytes genuine = Genuine(100);
  ASSERT_EQ(Decap(genuine).verdict, kRedirect);
  EXPECT_EQ(learned(genuine).saddr, 0u) << "from the path's endpoint: nothing to learn";
  Bytes forged = from_elsewhere(Genuine(101));
  forged.back() ^= 1;
  EXPECT_EQ(Decap(forged).verdict, kShot);
  EXPECT_EQ(AuthDrops(MB_DROP_AUTH_BAD_TAG), 1u);
  EXPECT_EQ(learned(forged).saddr, 0u);
  const Bytes replayed = from_elsewhere(genuine);
  EXPECT_EQ(Decap(replayed).verdict, kShot);
  EXPECT_EQ(AuthDrops(MB_DROP_AUTH_REPLAY), 1u);
  EXPECT_EQ(learned(replayed).saddr, 0u);

  const uint64_t before = MonotonicNs();
  const Bytes moved = from_elsewhere(Genuine(102));
  ASSERT_EQ(Decap(moved).verdict, kRedirect) << "data that verified, from the new mapping";
  const mb_learned_source seen = learned(moved);
  EXPECT_EQ(seen.saddr, Ip("198.51.100.7"));
  EXPECT_EQ(seen.sport, 40000);
  EXPECT_EQ(seen.daddr, Ip(kPeer)) << "our address it was sent to (this node talks to itself)";
  EXPECT_GE(seen.seen_ns, before);
  EXPECT_EQ(Received(), 2u);
}

TEST_F(AuthTest, HandshakeMessagesArePassedUpToTheAgent) {
  MeshOptions m;
  m.version = MB_WIRE_VERSION_HANDSHAKE;
  const Bytes handshake = MeshPacket(kPeer, Bytes(60, 0xab), m);
  EXPECT_EQ(Decap(handshake).verdict, kNotOurs);
  EXPECT_EQ(TotalDrops(), 0u);
  EXPECT_EQ(Received(), 0u);
  // From a source that is no peer: still dropped before anything reads it.
  EXPECT_EQ(Decap(MeshPacket("10.99.0.1", Bytes(60, 0xab), m)).verdict, kShot);
  EXPECT_EQ(AuthDrops(MB_DROP_UNKNOWN_SOURCE), 1u);
  SetAuthenticate(0);
  EXPECT_EQ(Decap(handshake).verdict, kShot);
  EXPECT_EQ(AuthDrops(MB_DROP_BAD_HEADER), 1u);
}

// Encryption: the inner packet leaves as OpenSSL's ChaCha20 of it under the
// nonce epoch || counter, flagged, and the tag covers the ciphertext. Sizes
// around the 64-byte blocks and the 512-byte chunks the walk reads.
TEST_F(AuthTest, EncryptedPacketIsOpenSslsChaCha20OfTheInnerTaggedAfterwards) {
  SetEncrypt(1);
  uint64_t counter = 0;
  for (size_t payload : {0u, 1u, 35u, 36u, 37u, 300u, 463u, 464u, 465u, 1372u}) {
    const Bytes in = Ipv4Packet("10.203.0.2", "10.202.0.2", IPPROTO_UDP, payload);
    RunResult r = Encap(in);
    ASSERT_EQ(r.verdict, kRedirect) << payload;
    ASSERT_EQ(r.out.size(), in.size() + MB_AUTH_OVERHEAD);
    EXPECT_EQ(r.out[kWire + 2] & MB_FLAG_ENCRYPTED, MB_FLAG_ENCRYPTED);
    EXPECT_EQ(r.out[kWire + 3], 0) << "the first copy";
    ASSERT_EQ(CounterOf(r.out), counter);
    const Bytes expected = OpenSslChaCha20(TestCipherKey(), 0, NonceOf(kEpoch, counter), L3(in));
    EXPECT_TRUE(BytesEqual(Bytes(r.out.begin() + kAuthInner, r.out.end()), expected, "ciphertext",
                           true))
        << payload;
    const Bytes tag(r.out.begin() + kTagAt, r.out.begin() + kTagAt + 8);
    EXPECT_EQ(tag, OpenSslSipHash(TestKey(), SignedBytes(r.out))) << "payload " << payload;
    ++counter;
  }
}

TEST_F(AuthTest, EncryptedPacketDecapsulatesToThePlaintextAndAFlippedBitIsATagFailure) {
  SetEncrypt(1);
  const Bytes in = Ipv4Packet("10.202.0.2", "10.203.0.2", IPPROTO_TCP, 1200);
  const Bytes wire = FromPeer(in);
  ASSERT_NE(Bytes(wire.begin() + kAuthInner, wire.end()), L3(in)) << "plaintext on the wire";
  Bytes forged = wire;
  forged[kAuthInner + 700] ^= 0x10;
  EXPECT_EQ(Decap(forged).verdict, kShot);
  EXPECT_EQ(AuthDrops(MB_DROP_AUTH_BAD_TAG), 1u);
  RunResult r = Decap(wire);
  ASSERT_EQ(r.verdict, kRedirect);
  EXPECT_TRUE(BytesEqual(L3(r.out), L3(in), "decrypted", true));
  EXPECT_EQ(Counters(0).rx_bytes, in.size() - 14);
}

// An end that encrypts accepts only encrypted packets, and refusing one
// moves no window: the same packet passes once the end stops requiring it.
TEST_F(AuthTest, WhereEncryptionIsOnAPlaintextPacketIsRefusedAndMovesNothing) {
  const Bytes plain = Genuine(5);
  SetEncrypt(1);
  EXPECT_EQ(Decap(plain).verdict, kShot);
  EXPECT_EQ(AuthDrops(MB_DROP_AUTH_PLAINTEXT), 1u);
  EXPECT_EQ(ReadRx(0).verified, 0u);
  SetEncrypt(0);
  EXPECT_EQ(Decap(plain).verdict, kRedirect);
  EXPECT_EQ(ReadRx(0).verified, 1u);
}

// Copies of one packet take consecutive counters and share its nonce: the
// copy that leaves second (copy 1, counter 1) decrypts with nonce 0.
TEST_F(AuthTest, ARedundantCopyFindsItsPacketsNonceFromItsCopyIndex) {
  Configure(1, MB_MODE_REDUNDANT);
  SetAuthenticate(1);
  SetEncrypt(1);
  const Bytes in = Ipv4Packet("10.202.0.2", "10.203.0.2", IPPROTO_UDP, 700);
  const Bytes wire = FromPeer(in);
  ASSERT_EQ(CounterOf(wire), 1u) << "path 0's copy took counter 0 (see the redundant test above)";
  EXPECT_EQ(wire[kWire + 3], 1) << "copy 1";
  const Bytes expected = OpenSslChaCha20(TestCipherKey(), 0, NonceOf(kEpoch, 0), L3(in));
  EXPECT_TRUE(BytesEqual(Bytes(wire.begin() + kAuthInner, wire.end()), expected, "ciphertext", true));
  RunResult r = Decap(wire);
  ASSERT_EQ(r.verdict, kRedirect);
  EXPECT_TRUE(BytesEqual(L3(r.out), L3(in), "decrypted", true));
}

}  // namespace
}  // namespace meshbpf::testing
