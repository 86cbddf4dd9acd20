// The session key exchange of tunnel authentication (issue 14, item 1;
// docs/design/tunnel-auth.md, "Key exchange"): two messages between the two
// ends of a bond, each with a static X25519 key pair and the other's public
// key from its config. Primitives from OpenSSL (X25519, HKDF-SHA256,
// HMAC-SHA256); this file only composes them, in the pattern of Noise KK:
//
//   initiation (I -> R): epoch_I, E_I, order, mac over it keyed from es, ss
//   response   (R -> I): epoch_R, epoch_I, E_R, mac keyed from the whole
//                         transcript and ee, se, es, ss
//
// Each message ends in a vouch: a MAC over all of it before, keyed from ss
// and the direction alone, so the receiver checks it with one HMAC and no
// X25519. Only the two nodes can make one: anyone else's message (a
// spoofer's flood, junk) is refused before it costs key agreement work or
// takes from the rate budget of messages that get it.
//
// Both ends then hold the same session keys, per direction a 128-bit key
// for the data path's SipHash tags and a 256-bit one for its ChaCha20. The
// initiation proves the initiator's static key (ss) to the responder, the
// response proves the responder's static key and freshness (it answers
// E_I) to the initiator; the responder learns that the initiator is live
// when the first data packet under the new key verifies in the kernel (key
// confirmation), and only then sends with it. ee gives forward secrecy: a static key stolen later does not
// open recorded sessions.
//
// Epochs: each end picks the epoch of the session it receives in; its peer
// writes that epoch into every packet it sends under the session.
//
// Order: each initiation carries a number the initiator never repeats or
// lowers (its wall clock in ns, or one more than the last if the clock went
// back), under the vouch: a responder refuses a copy of an older
// initiation than one it answered without any X25519 work, as WireGuard's
// timestamp does (TunnelSessions says when).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "bpf/meshbpf.h"

namespace meshbpf {

inline constexpr size_t kX25519KeySize = 32;
using X25519Key = std::array<uint8_t, kX25519KeySize>;

struct X25519KeyPair {
  X25519Key private_key{};
  X25519Key public_key{};
};

// A new key pair from OpenSSL's CSPRNG.
X25519KeyPair GenerateKeyPair();
// The public half of `private_key`.
X25519Key PublicKeyOf(const X25519Key& private_key);

// Keys as text: standard base64 of the 32 bytes (44 characters, as
// WireGuard writes them). `what` names the key in the error.
std::string KeyToBase64(const X25519Key& key);
absl::StatusOr<X25519Key> KeyFromBase64(absl::string_view text, absl::string_view what);
// A private key as `meshbpf genkey` writes it (surrounding whitespace, such
// as its newline, ignored) and its public half.
absl::StatusOr<X25519KeyPair> KeyPairFromPrivateText(absl::string_view text, absl::string_view what);

// One direction's keys: the data path's SipHash tag key and its ChaCha20
// key (bpf/meshbpf.h, "Authentication" and "Encryption"), independent.
struct DirectionKey {
  std::array<uint8_t, MB_AUTH_KEY_LEN> tag{};
  std::array<uint8_t, MB_CIPHER_KEY_LEN> cipher{};
  bool operator==(const DirectionKey&) const = default;
};

// What one end sends and receives in after a handshake: per direction, the
// keys and the epoch written into every packet (mb_auth_hdr.epoch).
struct SessionKeys {
  DirectionKey send_key;
  uint32_t send_epoch = 0;
  DirectionKey receive_key;
  uint32_t receive_epoch = 0;
};

// Handshake messages travel as UDP to the tunnel port, on the paths' own
// addresses and ports; their first byte, where tunnel packets carry their
// version, is MB_WIRE_VERSION_HANDSHAKE, so mb_decap passes them up.
inline constexpr uint8_t kHandshakeInitiation = 1;
inline constexpr uint8_t kHandshakeResponse = 2;
inline constexpr size_t kHandshakeMacSize = 32;
inline constexpr size_t kHandshakeVouchSize = 16;
// version type reserved(2) epoch_I(4) E_I(32) order(8) mac(32) vouch(16)
inline constexpr size_t kInitiationSize = 96;
// version type reserved(2) epoch_R(4) epoch_I(4) E_R(32) mac(32) vouch(16)
inline constexpr size_t kResponseSize = 92;
using InitiationBytes = std::array<uint8_t, kInitiationSize>;
using ResponseBytes = std::array<uint8_t, kResponseSize>;

// The type of a handshake message (kHandshakeInitiation or kHandshakeResponse),
// or an error naming what is wrong with its framing.
absl::StatusOr<uint8_t> HandshakeType(const uint8_t* data, size_t size);

// Both sides of one exchange between `local` and the peer's `peer_public`.
class Handshake {
 public:
  Handshake(const X25519KeyPair& local, const X25519Key& peer_public);

  // Initiator: the first message with a fresh ephemeral key and the epoch
  // the initiator will receive in. Keep the result until the response.
  struct Initiation {
    InitiationBytes message{};
    X25519KeyPair ephemeral;
    uint32_t receive_epoch = 0;
  };
  Initiation Initiate(const X25519KeyPair& ephemeral, uint32_t receive_epoch,
                      uint64_t order) const;
  // The order of an initiation (framing checked: HandshakeType).
  static uint64_t OrderOf(const uint8_t* initiation);

  // Responder: checks an initiation (size, framing, MAC) and answers it with
  // its own ephemeral key and the epoch it will receive in.
  struct Response {
    ResponseBytes message{};
    SessionKeys keys;
    X25519Key initiator_ephemeral{};  // tells a copy of the same initiation
  };
  absl::StatusOr<Response> Respond(const uint8_t* data, size_t size,
                                   const X25519KeyPair& ephemeral, uint32_t receive_epoch) const;

  // Initiator: checks the response to `sent` (size, framing, the epoch
  // echoed, MAC) and returns the session keys.
  absl::StatusOr<SessionKeys> Complete(const Initiation& sent, const uint8_t* data,
                                       size_t size) const;

  // Whether a message is framed right and vouched for by the peer (the
  // vouch MAC, one HMAC): the cheap check before any X25519. Respond and
  // Complete make it too.
  absl::Status Vouched(const uint8_t* data, size_t size) const;

  // Which end initiates when both try at once: the one with the smaller
  // public key (bytewise). The other drops its own attempt and answers.
  bool WinsCrossing() const;

 private:
  X25519KeyPair local_;
  X25519Key peer_public_;
  X25519Key static_shared_{};  // DH(s_local, S_peer): the same for every exchange
  // Vouch MAC keys, from ss: for what this end sends, and what it receives.
  std::vector<uint8_t> vouch_send_key_, vouch_receive_key_;
};

}  // namespace meshbpf
