#include "agent/core/handshake.h"

#include <gtest/gtest.h>

#include <string>

namespace meshbpf {
namespace {

X25519Key FromHex(const std::string& hex) {
  X25519Key key{};
  for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(std::stoi(hex.substr(2 * i, 2), nullptr, 16));
  return key;
}

X25519KeyPair PairOf(const X25519Key& private_key) { return {private_key, PublicKeyOf(private_key)}; }

// RFC 7748, 6.1: Alice's and Bob's key pairs.
const X25519Key kAlicePrivate = FromHex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
const X25519Key kAlicePublic = FromHex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
const X25519Key kBobPrivate = FromHex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");

TEST(HandshakeKeys, PublicKeyMatchesRfc7748) { EXPECT_EQ(PublicKeyOf(kAlicePrivate), kAlicePublic); }

TEST(HandshakeKeys, APrivateKeyFileReadsWithItsNewline) {
  absl::StatusOr<X25519KeyPair> pair = KeyPairFromPrivateText(KeyToBase64(kAlicePrivate) + "\n", "key");
  ASSERT_TRUE(pair.ok()) << pair.status();
  EXPECT_EQ(pair->public_key, kAlicePublic);
  EXPECT_FALSE(KeyPairFromPrivateText("\n", "key").ok());
}

TEST(HandshakeKeys, Base64RoundTripsAndRefusesWhatIsNotAKey) {
  const std::string text = KeyToBase64(kAlicePublic);
  EXPECT_EQ(text, "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=");
  absl::StatusOr<X25519Key> back = KeyFromBase64(text, "key");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, kAlicePublic);
  for (const std::string& bad : {std::string(""), text.substr(1), text + "=",
                                 std::string(43, 'A') + "!", std::string(42, 'A') + "==",
                                 text.substr(0, 42) + "n="}) {  // stray bits in the last character
    absl::StatusOr<X25519Key> key = KeyFromBase64(bad, "link_aggregation.peer_public_key");
    ASSERT_FALSE(key.ok()) << bad;
    EXPECT_NE(key.status().message().find("link_aggregation.peer_public_key"), std::string::npos);
  }
}

class HandshakeTest : public ::testing::Test {
 protected:
  const X25519KeyPair alice_ = PairOf(kAlicePrivate);
  const X25519KeyPair bob_ = PairOf(kBobPrivate);
  const Handshake initiator_{alice_, bob_.public_key};
  const Handshake responder_{bob_, alice_.public_key};
};

TEST_F(HandshakeTest, BothEndsDeriveTheSameKeysPerDirection) {
  const Handshake::Initiation sent = initiator_.Initiate(GenerateKeyPair(), 11, 1);
  absl::StatusOr<Handshake::Response> response =
      responder_.Respond(sent.message.data(), sent.message.size(), GenerateKeyPair(), 22);
  ASSERT_TRUE(response.ok()) << response.status();
  absl::StatusOr<SessionKeys> keys =
      initiator_.Complete(sent, response->message.data(), response->message.size());
  ASSERT_TRUE(keys.ok()) << keys.status();
  EXPECT_EQ(keys->send_key, response->keys.receive_key);
  EXPECT_EQ(keys->receive_key, response->keys.send_key);
  EXPECT_NE(keys->send_key.tag, keys->receive_key.tag);
  EXPECT_NE(keys->send_key.cipher, keys->receive_key.cipher);
  EXPECT_EQ(keys->send_epoch, 22u);
  EXPECT_EQ(keys->receive_epoch, 11u);
  EXPECT_EQ(response->keys.send_epoch, 11u);
  EXPECT_EQ(response->keys.receive_epoch, 22u);
}

TEST_F(HandshakeTest, FreshEphemeralsGiveFreshKeys) {
  auto run = [&] {
    const Handshake::Initiation sent = initiator_.Initiate(GenerateKeyPair(), 1, 1);
    absl::StatusOr<Handshake::Response> r =
        responder_.Respond(sent.message.data(), sent.message.size(), GenerateKeyPair(), 2);
    return r->keys.send_key;
  };
  EXPECT_NE(run(), run());
}

TEST_F(HandshakeTest, EveryBitFlipOfEitherMessageIsRefused) {
  const Handshake::Initiation sent = initiator_.Initiate(GenerateKeyPair(), 5, 1);
  const X25519KeyPair responder_ephemeral = GenerateKeyPair();
  for (size_t bit = 0; bit < sent.message.size() * 8; ++bit) {
    InitiationBytes m = sent.message;
    m[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    EXPECT_FALSE(responder_.Respond(m.data(), m.size(), responder_ephemeral, 6).ok()) << "bit " << bit;
  }
  absl::StatusOr<Handshake::Response> response =
      responder_.Respond(sent.message.data(), sent.message.size(), responder_ephemeral, 6);
  ASSERT_TRUE(response.ok());
  for (size_t bit = 0; bit < response->message.size() * 8; ++bit) {
    ResponseBytes m = response->message;
    m[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    EXPECT_FALSE(initiator_.Complete(sent, m.data(), m.size()).ok()) << "bit " << bit;
  }
}

TEST_F(HandshakeTest, AnotherNodesKeyIsRefusedBothWays) {
  const X25519KeyPair mallory = GenerateKeyPair();
  // Mallory initiates toward Bob, who expects Alice.
  const Handshake impostor(mallory, bob_.public_key);
  const Handshake::Initiation forged = impostor.Initiate(GenerateKeyPair(), 1, 1);
  absl::StatusOr<Handshake::Response> r =
      responder_.Respond(forged.message.data(), forged.message.size(), GenerateKeyPair(), 2);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(absl::IsPermissionDenied(r.status())) << r.status();
  // Mallory answers Alice's initiation (she knows Alice's public key, not Bob's private one).
  const Handshake::Initiation sent = initiator_.Initiate(GenerateKeyPair(), 3, 1);
  const Handshake mallory_as_bob(mallory, alice_.public_key);
  absl::StatusOr<Handshake::Response> fake =
      mallory_as_bob.Respond(sent.message.data(), sent.message.size(), GenerateKeyPair(), 4);
  ASSERT_FALSE(fake.ok());  // the initiation is not for her key either
}

TEST_F(HandshakeTest, OnlyThePeerVouchesAndOnlyForItsDirection) {
  const Handshake::Initiation sent = initiator_.Initiate(GenerateKeyPair(), 12, 1);
  EXPECT_TRUE(responder_.Vouched(sent.message.data(), sent.message.size()).ok());
  // A stranger with keys of its own frames a perfect initiation: refused
  // by the cheap check, before any X25519.
  const Handshake stranger(GenerateKeyPair(), bob_.public_key);
  const Handshake::Initiation junk = stranger.Initiate(GenerateKeyPair(), 12, 1);
  const absl::Status refused = responder_.Vouched(junk.message.data(), junk.message.size());
  EXPECT_TRUE(absl::IsPermissionDenied(refused)) << refused;
  EXPECT_NE(refused.message().find("vouch"), std::string::npos) << refused;
  // Alice's own initiation reflected back to her is not vouched for.
  EXPECT_FALSE(initiator_.Vouched(sent.message.data(), sent.message.size()).ok());
  absl::StatusOr<Handshake::Response> response =
      responder_.Respond(sent.message.data(), sent.message.size(), GenerateKeyPair(), 13);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_TRUE(initiator_.Vouched(response->message.data(), response->message.size()).ok());
  EXPECT_FALSE(responder_.Vouched(response->message.data(), response->message.size()).ok());
  // The vouch covers every byte, the main MAC included.
  InitiationBytes flipped = sent.message;
  flipped[kInitiationSize - kHandshakeVouchSize - 1] ^= 1;
  EXPECT_FALSE(responder_.Vouched(flipped.data(), flipped.size()).ok());
}

// The order travels under the vouch and the MAC: an attacker cannot make a
// recorded initiation newer.
TEST_F(HandshakeTest, TheInitiationsOrderIsReadBackAndCannotBeChanged) {
  const Handshake::Initiation sent = initiator_.Initiate(GenerateKeyPair(), 3, 0x0102030405060708);
  EXPECT_EQ(Handshake::OrderOf(sent.message.data()), 0x0102030405060708u);
  InitiationBytes newer = sent.message;
  newer[8 + kX25519KeySize] ^= 0x80;  // the order's top byte
  EXPECT_FALSE(responder_.Vouched(newer.data(), newer.size()).ok());
  EXPECT_FALSE(responder_.Respond(newer.data(), newer.size(), GenerateKeyPair(), 4).ok());
}

TEST_F(HandshakeTest, AResponseToAnotherInitiationIsRefused) {
  const Handshake::Initiation first = initiator_.Initiate(GenerateKeyPair(), 7, 1);
  const Handshake::Initiation second = initiator_.Initiate(GenerateKeyPair(), 7, 1);
  absl::StatusOr<Handshake::Response> to_first =
      responder_.Respond(first.message.data(), first.message.size(), GenerateKeyPair(), 8);
  ASSERT_TRUE(to_first.ok());
  // Same epoch, other ephemeral: the transcript differs, so the MAC fails.
  EXPECT_FALSE(initiator_.Complete(second, to_first->message.data(), to_first->message.size()).ok());
}

TEST_F(HandshakeTest, FramingErrorsNameWhatIsWrong) {
  const Handshake::Initiation sent = initiator_.Initiate(GenerateKeyPair(), 9, 1);
  EXPECT_FALSE(HandshakeType(sent.message.data(), 3).ok());
  EXPECT_FALSE(HandshakeType(sent.message.data(), sent.message.size() - 1).ok());
  InitiationBytes wrong_version = sent.message;
  wrong_version[0] = MB_WIRE_VERSION;
  absl::StatusOr<uint8_t> type = HandshakeType(wrong_version.data(), wrong_version.size());
  ASSERT_FALSE(type.ok());
  EXPECT_NE(type.status().message().find("version"), std::string::npos);
  EXPECT_EQ(*HandshakeType(sent.message.data(), sent.message.size()), kHandshakeInitiation);
  // A response handed to the responder, an initiation to the initiator.
  EXPECT_FALSE(initiator_.Complete(sent, sent.message.data(), sent.message.size()).ok());
}

TEST_F(HandshakeTest, ALowOrderEphemeralIsRefused) {
  Handshake::Initiation sent = initiator_.Initiate(GenerateKeyPair(), 9, 1);
  std::fill(sent.message.begin() + 8, sent.message.begin() + 40, 0);  // the all-zero point
  absl::StatusOr<Handshake::Response> r =
      responder_.Respond(sent.message.data(), sent.message.size(), GenerateKeyPair(), 2);
  EXPECT_FALSE(r.ok());
}

TEST_F(HandshakeTest, CrossingHasExactlyOneWinner) {
  EXPECT_NE(initiator_.WinsCrossing(), responder_.WinsCrossing());
}

}  // namespace
}  // namespace meshbpf
