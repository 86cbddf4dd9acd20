#include "agent/core/handshake.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "agent/core/big_endian.h"
#include "agent/core/mesh_auth.h"

namespace meshbpf {
namespace {

using PkeyPtr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;

constexpr char kProtocolLabel[] = "meshbpf handshake v1 X25519 HKDF-SHA256";
constexpr size_t kSessionMaterialSize = 32 + 2 * MB_AUTH_KEY_LEN + 2 * MB_CIPHER_KEY_LEN;
// Bytes of each message the MAC covers: all before it (then the vouch).
constexpr size_t kInitiationSigned = kInitiationSize - kHandshakeVouchSize - kHandshakeMacSize;
constexpr size_t kResponseSigned = kResponseSize - kHandshakeVouchSize - kHandshakeMacSize;

PkeyPtr PrivateKey(const X25519Key& key) {
  return PkeyPtr(EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, nullptr, key.data(), key.size()),
                 EVP_PKEY_free);
}

// X25519(private, public). Fails on a low-order public key (all-zero
// result), which OpenSSL refuses: a peer cannot force a known secret.
absl::StatusOr<X25519Key> SharedSecret(const X25519Key& private_key, const X25519Key& public_key) {
  PkeyPtr own = PrivateKey(private_key);
  PkeyPtr other(EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, public_key.data(),
                                            public_key.size()),
                EVP_PKEY_free);
  X25519Key secret{};
  size_t len = secret.size();
  std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> ctx(
      own ? EVP_PKEY_CTX_new(own.get(), nullptr) : nullptr, EVP_PKEY_CTX_free);
  if (!ctx || !other || EVP_PKEY_derive_init(ctx.get()) <= 0 ||
      EVP_PKEY_derive_set_peer(ctx.get(), other.get()) <= 0 ||
      EVP_PKEY_derive(ctx.get(), secret.data(), &len) <= 0 || len != secret.size()) {
    return absl::InvalidArgumentError("handshake: X25519 failed (a low-order public key?)");
  }
  return secret;
}

// HKDF-SHA256 (RFC 5869), extract and expand, `out_size` bytes.
std::vector<uint8_t> Hkdf(const std::vector<uint8_t>& salt, const std::vector<uint8_t>& ikm,
                          const std::vector<uint8_t>& info, size_t out_size) {
  std::vector<uint8_t> out(out_size);
  EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  EVP_KDF_CTX* ctx = kdf ? EVP_KDF_CTX_new(kdf) : nullptr;
  EVP_KDF_free(kdf);
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<uint8_t*>(ikm.data()),
                                        ikm.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<uint8_t*>(salt.data()),
                                        salt.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<uint8_t*>(info.data()),
                                        info.size()),
      OSSL_PARAM_construct_end()};
  const bool ok = ctx && EVP_KDF_derive(ctx, out.data(), out.size(), params) > 0;
  EVP_KDF_CTX_free(ctx);
  // Only a broken OpenSSL install fails here; no key may come from it.
  if (!ok) std::abort();
  return out;
}

void Append(std::vector<uint8_t>& to, const uint8_t* data, size_t size) {
  to.insert(to.end(), data, data + size);
}
void Append(std::vector<uint8_t>& to, absl::string_view text) {
  Append(to, reinterpret_cast<const uint8_t*>(text.data()), text.size());
}

// Everything the keys derive from names both static keys, initiator first,
// so a message cannot be replayed toward another pair of nodes.
std::vector<uint8_t> PairInfo(absl::string_view what, const X25519Key& initiator,
                              const X25519Key& responder) {
  std::vector<uint8_t> info;
  Append(info, what);
  Append(info, initiator.data(), initiator.size());
  Append(info, responder.data(), responder.size());
  return info;
}

std::vector<uint8_t> Label() {
  std::vector<uint8_t> label;
  Append(label, kProtocolLabel);
  return label;
}

// The initiation's MAC key, from es = DH(e_I, S_R) and ss = DH(s_I, S_R).
std::vector<uint8_t> InitiationKey(const X25519Key& es, const X25519Key& ss,
                                   const X25519Key& initiator, const X25519Key& responder) {
  std::vector<uint8_t> ikm;
  Append(ikm, es.data(), es.size());
  Append(ikm, ss.data(), ss.size());
  return Hkdf(Label(), ikm, PairInfo("initiation", initiator, responder), 32);
}

// The key of the vouch MACs from `sender` to `receiver`, from ss alone.
std::vector<uint8_t> VouchKey(const X25519Key& ss, const X25519Key& sender,
                              const X25519Key& receiver) {
  return Hkdf(Label(), std::vector<uint8_t>(ss.begin(), ss.end()),
              PairInfo("vouch", sender, receiver), 32);
}

// The response's MAC key and both directions' session keys, from the
// transcript and all four DH results: mac key (32) | tag key I->R (16) |
// tag key R->I (16) | cipher key I->R (32) | cipher key R->I (32). (HKDF's
// output is a stream: the first 64 bytes are what they were before the
// cipher keys were added.)
std::vector<uint8_t> SessionMaterial(const InitiationBytes& initiation, const uint8_t* response,
                                     const X25519Key& ee, const X25519Key& se,
                                     const X25519Key& es, const X25519Key& ss,
                                     const X25519Key& initiator, const X25519Key& responder) {
  std::vector<uint8_t> transcript;
  Append(transcript, initiation.data(), initiation.size());
  Append(transcript, response, kResponseSigned);
  std::vector<uint8_t> salt(SHA256_DIGEST_LENGTH);
  SHA256(transcript.data(), transcript.size(), salt.data());
  std::vector<uint8_t> ikm;
  for (const X25519Key* k : {&ee, &se, &es, &ss}) Append(ikm, k->data(), k->size());
  return Hkdf(salt, ikm, PairInfo("session", initiator, responder), kSessionMaterialSize);
}

// The keys of the direction from the initiator (`from_initiator`) or to it.
DirectionKey DirectionKeyOf(const std::vector<uint8_t>& material, bool from_initiator) {
  DirectionKey key;
  std::memcpy(key.tag.data(), material.data() + (from_initiator ? 32 : 48), MB_AUTH_KEY_LEN);
  std::memcpy(key.cipher.data(), material.data() + (from_initiator ? 64 : 96), MB_CIPHER_KEY_LEN);
  return key;
}

HmacSha256Tag MacOf(const std::vector<uint8_t>& key, const uint8_t* message, size_t signed_size) {
  return HmacSha256(absl::string_view(reinterpret_cast<const char*>(key.data()), key.size()),
                    message, signed_size);
}

bool MacMatches(const std::vector<uint8_t>& key, const uint8_t* message, size_t signed_size) {
  return ConstantTimeEqual(MacOf(key, message, signed_size).data(), message + signed_size,
                           kHandshakeMacSize);
}

void Sign(const std::vector<uint8_t>& key, uint8_t* message, size_t signed_size) {
  const HmacSha256Tag mac = MacOf(key, message, signed_size);
  std::memcpy(message + signed_size, mac.data(), mac.size());
}

// The vouch: the last kHandshakeVouchSize bytes of a `size`-byte message.
void Vouch(const std::vector<uint8_t>& key, uint8_t* message, size_t size) {
  const size_t vouched = size - kHandshakeVouchSize;
  const HmacSha256Tag mac = MacOf(key, message, vouched);
  std::memcpy(message + vouched, mac.data(), kHandshakeVouchSize);
}

}  // namespace

X25519KeyPair GenerateKeyPair() {
  X25519KeyPair pair;
  // A CSPRNG that cannot seed must not yield a key.
  if (RAND_bytes(pair.private_key.data(), static_cast<int>(pair.private_key.size())) != 1) {
    std::abort();
  }
  pair.public_key = PublicKeyOf(pair.private_key);
  return pair;
}

X25519Key PublicKeyOf(const X25519Key& private_key) {
  PkeyPtr key = PrivateKey(private_key);
  X25519Key public_key{};
  size_t len = public_key.size();
  if (!key || EVP_PKEY_get_raw_public_key(key.get(), public_key.data(), &len) <= 0) std::abort();
  return public_key;
}

std::string KeyToBase64(const X25519Key& key) {
  std::string text(4 * ((key.size() + 2) / 3), '\0');
  EVP_EncodeBlock(reinterpret_cast<unsigned char*>(text.data()), key.data(),
                  static_cast<int>(key.size()));
  return text;
}

absl::StatusOr<X25519Key> KeyFromBase64(absl::string_view text, absl::string_view what) {
  const size_t expected = 4 * ((kX25519KeySize + 2) / 3);  // 44, one '=' of padding
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": ", why, " (a key is 32 bytes in base64: 44 characters, as "
                                      "`meshbpf genkey` and `meshbpf pubkey` write it)"));
  };
  if (text.size() != expected) return bad(absl::StrCat(text.size(), " characters"));
  if (text.back() != '=' || text[expected - 2] == '=') return bad("wrong padding");
  unsigned char decoded[33];
  if (EVP_DecodeBlock(decoded, reinterpret_cast<const unsigned char*>(text.data()),
                      static_cast<int>(text.size())) != 33) {
    return bad("not base64");
  }
  X25519Key key{};
  std::memcpy(key.data(), decoded, key.size());
  // The last character carries 2 bits beyond the key; canonical text has them 0.
  if (KeyToBase64(key) != text) return bad("not the canonical encoding");
  return key;
}

absl::StatusOr<X25519KeyPair> KeyPairFromPrivateText(absl::string_view text, absl::string_view what) {
  absl::StatusOr<X25519Key> key = KeyFromBase64(absl::StripAsciiWhitespace(text), what);
  if (!key.ok()) return key.status();
  return X25519KeyPair{*key, PublicKeyOf(*key)};
}

absl::StatusOr<uint8_t> HandshakeType(const uint8_t* data, size_t size) {
  if (size < 4) return absl::InvalidArgumentError(absl::StrCat("handshake: ", size, " bytes"));
  if (data[0] != MB_WIRE_VERSION_HANDSHAKE) {
    return absl::InvalidArgumentError(absl::StrCat("handshake: version ", data[0]));
  }
  if (data[2] != 0 || data[3] != 0) return absl::InvalidArgumentError("handshake: reserved bytes set");
  const uint8_t type = data[1];
  const size_t want = type == kHandshakeInitiation ? kInitiationSize
                      : type == kHandshakeResponse ? kResponseSize
                                                   : 0;
  if (want == 0) return absl::InvalidArgumentError(absl::StrCat("handshake: unknown type ", type));
  if (size != want) {
    return absl::InvalidArgumentError(
        absl::StrCat("handshake: ", size, " bytes, type ", type, " has ", want));
  }
  return type;
}

Handshake::Handshake(const X25519KeyPair& local, const X25519Key& peer_public)
    : local_(local), peer_public_(peer_public) {
  absl::StatusOr<X25519Key> ss = SharedSecret(local_.private_key, peer_public_);
  // A low-order configured peer key: every exchange then fails its MAC.
  if (ss.ok()) static_shared_ = *ss;
  vouch_send_key_ = VouchKey(static_shared_, local_.public_key, peer_public_);
  vouch_receive_key_ = VouchKey(static_shared_, peer_public_, local_.public_key);
}

absl::Status Handshake::Vouched(const uint8_t* data, size_t size) const {
  absl::StatusOr<uint8_t> type = HandshakeType(data, size);
  if (!type.ok()) return type.status();
  const size_t vouched = size - kHandshakeVouchSize;
  if (!ConstantTimeEqual(MacOf(vouch_receive_key_, data, vouched).data(), data + vouched,
                         kHandshakeVouchSize)) {
    return absl::PermissionDeniedError(
        "handshake: not vouched for by the configured peer_public_key (vouch MAC wrong): "
        "refused unread");
  }
  return absl::OkStatus();
}

bool Handshake::WinsCrossing() const {
  return std::lexicographical_compare(local_.public_key.begin(), local_.public_key.end(),
                                      peer_public_.begin(), peer_public_.end());
}

uint64_t Handshake::OrderOf(const uint8_t* initiation) {
  return GetBig(initiation + 8 + kX25519KeySize, 8);
}

Handshake::Initiation Handshake::Initiate(const X25519KeyPair& ephemeral, uint32_t receive_epoch,
                                          uint64_t order) const {
  Initiation out;
  out.ephemeral = ephemeral;
  out.receive_epoch = receive_epoch;
  uint8_t* m = out.message.data();
  m[0] = MB_WIRE_VERSION_HANDSHAKE;
  m[1] = kHandshakeInitiation;
  PutBig(m + 4, receive_epoch, 4);
  std::memcpy(m + 8, ephemeral.public_key.data(), kX25519KeySize);
  PutBig(m + 8 + kX25519KeySize, order, 8);
  absl::StatusOr<X25519Key> es = SharedSecret(ephemeral.private_key, peer_public_);
  // Only a low-order peer key fails: then the MAC is left zero and refused.
  if (es.ok()) {
    Sign(InitiationKey(*es, static_shared_, local_.public_key, peer_public_), m, kInitiationSigned);
  }
  Vouch(vouch_send_key_, m, kInitiationSize);
  return out;
}

absl::StatusOr<Handshake::Response> Handshake::Respond(const uint8_t* data, size_t size,
                                                       const X25519KeyPair& ephemeral,
                                                       uint32_t receive_epoch) const {
  if (absl::Status s = Vouched(data, size); !s.ok()) return s;
  if (data[1] != kHandshakeInitiation) return absl::InvalidArgumentError("handshake: not an initiation");
  InitiationBytes initiation;
  std::memcpy(initiation.data(), data, initiation.size());
  const uint32_t initiator_epoch = static_cast<uint32_t>(GetBig(data + 4, 4));
  if (initiator_epoch == 0) return absl::InvalidArgumentError("handshake: initiation with epoch 0");
  Response out;
  std::memcpy(out.initiator_ephemeral.data(), data + 8, kX25519KeySize);
  absl::StatusOr<X25519Key> es = SharedSecret(local_.private_key, out.initiator_ephemeral);
  if (!es.ok()) return es.status();
  if (!MacMatches(InitiationKey(*es, static_shared_, peer_public_, local_.public_key), data,
                  kInitiationSigned)) {
    return absl::PermissionDeniedError(
        "handshake: initiation MAC wrong (not from the configured peer_public_key, or modified)");
  }
  absl::StatusOr<X25519Key> ee = SharedSecret(ephemeral.private_key, out.initiator_ephemeral);
  absl::StatusOr<X25519Key> se = SharedSecret(ephemeral.private_key, peer_public_);
  if (!ee.ok()) return ee.status();
  if (!se.ok()) return se.status();
  uint8_t* m = out.message.data();
  m[0] = MB_WIRE_VERSION_HANDSHAKE;
  m[1] = kHandshakeResponse;
  PutBig(m + 4, receive_epoch, 4);
  PutBig(m + 8, initiator_epoch, 4);
  std::memcpy(m + 12, ephemeral.public_key.data(), kX25519KeySize);
  const std::vector<uint8_t> material = SessionMaterial(
      initiation, m, *ee, *se, *es, static_shared_, peer_public_, local_.public_key);
  Sign(std::vector<uint8_t>(material.begin(), material.begin() + 32), m, kResponseSigned);
  Vouch(vouch_send_key_, m, kResponseSize);
  out.keys.receive_key = DirectionKeyOf(material, /*from_initiator=*/true);
  out.keys.send_key = DirectionKeyOf(material, /*from_initiator=*/false);
  out.keys.receive_epoch = receive_epoch;
  out.keys.send_epoch = initiator_epoch;
  return out;
}

absl::StatusOr<SessionKeys> Handshake::Complete(const Initiation& sent, const uint8_t* data,
                                                size_t size) const {
  if (absl::Status s = Vouched(data, size); !s.ok()) return s;
  if (data[1] != kHandshakeResponse) return absl::InvalidArgumentError("handshake: not a response");
  if (GetBig(data + 8, 4) != sent.receive_epoch) {
    return absl::InvalidArgumentError("handshake: response to another initiation");
  }
  const uint32_t responder_epoch = static_cast<uint32_t>(GetBig(data + 4, 4));
  if (responder_epoch == 0) return absl::InvalidArgumentError("handshake: response with epoch 0");
  X25519Key responder_ephemeral{};
  std::memcpy(responder_ephemeral.data(), data + 12, kX25519KeySize);
  absl::StatusOr<X25519Key> ee = SharedSecret(sent.ephemeral.private_key, responder_ephemeral);
  absl::StatusOr<X25519Key> se = SharedSecret(local_.private_key, responder_ephemeral);
  absl::StatusOr<X25519Key> es = SharedSecret(sent.ephemeral.private_key, peer_public_);
  for (const auto* s : {&ee, &se, &es}) {
    if (!s->ok()) return s->status();
  }
  const std::vector<uint8_t> material = SessionMaterial(
      sent.message, data, *ee, *se, *es, static_shared_, local_.public_key, peer_public_);
  if (!MacMatches(std::vector<uint8_t>(material.begin(), material.begin() + 32), data,
                  kResponseSigned)) {
    return absl::PermissionDeniedError(
        "handshake: response MAC wrong (not from the configured peer_public_key, or modified)");
  }
  SessionKeys keys;
  keys.send_key = DirectionKeyOf(material, /*from_initiator=*/true);
  keys.receive_key = DirectionKeyOf(material, /*from_initiator=*/false);
  keys.send_epoch = responder_epoch;
  keys.receive_epoch = sent.receive_epoch;
  return keys;
}

}  // namespace meshbpf
