// libFuzzer target for the session handshake (agent/core/handshake.h) as the
// agent meets it: any bytes offered to a responder and to an initiator
// waiting for its answer, raw or as bit changes of genuine messages. Nothing
// may crash, and nothing but the genuine message may install a key: a
// fuzzer that gets one accepted has forged a MAC.
#include <cstdlib>
#include <cstring>
#include <vector>

#include "agent/core/handshake.h"
#include "agent/core/tunnel_sessions.h"

namespace meshbpf::fuzz {
namespace {

X25519KeyPair Fixed(uint8_t seed) {
  X25519Key private_key{};
  for (size_t i = 0; i < private_key.size(); ++i) private_key[i] = static_cast<uint8_t>(seed + 7 * i);
  return {private_key, PublicKeyOf(private_key)};
}

// Ends whose every choice is fixed, so the genuine messages are too.
TunnelSessions Sessions(const X25519KeyPair& local, const X25519Key& peer, uint8_t ephemeral_seed) {
  TunnelSessions::Sources sources;
  sources.ephemeral = [ephemeral_seed] { return Fixed(ephemeral_seed); };
  sources.random32 = [] { return 0x01020304u; };
  sources.wall_ns = [] { return uint64_t{1'700'000'000'000'000'000}; };  // reproducible
  return TunnelSessions(Handshake(local, peer), SessionTiming{}, sources);
}

struct Genuine {
  X25519KeyPair initiator = Fixed(1), responder = Fixed(2);
  InitiationBytes initiation{};
  ResponseBytes response{};
  Genuine() {
    TunnelSessions i = Sessions(initiator, responder.public_key, 3);
    initiation = *i.Start(0, {}).initiate;
    TunnelSessions r = Sessions(responder, initiator.public_key, 4);
    response = *r.OnMessage(initiation.data(), initiation.size(), 0, {}).reply;
  }
};

}  // namespace
}  // namespace meshbpf::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace meshbpf;
  using namespace meshbpf::fuzz;
  static const Genuine genuine;
  if (size == 0) return 0;
  const uint8_t mode = data[0] % 4;
  std::vector<uint8_t> message(data + 1, data + size);
  // Modes 2 and 3: the fuzz bytes flip bits of a genuine message.
  if (mode >= 2) {
    std::vector<uint8_t> base = mode == 2 ? std::vector<uint8_t>(genuine.initiation.begin(), genuine.initiation.end())
                                          : std::vector<uint8_t>(genuine.response.begin(), genuine.response.end());
    for (size_t i = 0; i < base.size() && i < message.size(); ++i) base[i] ^= message[i];
    message = base;
  }
  const bool to_responder = mode % 2 == 0;
  if (to_responder) {
    TunnelSessions responder = Sessions(genuine.responder, genuine.initiator.public_key, 4);
    SessionActions a = responder.OnMessage(message.data(), message.size(), 0, {});
    const bool is_genuine = message.size() == genuine.initiation.size() &&
                            std::memcmp(message.data(), genuine.initiation.data(), message.size()) == 0;
    if ((a.install_receive || a.install_send) && !is_genuine) abort();
  } else {
    TunnelSessions initiator = Sessions(genuine.initiator, genuine.responder.public_key, 3);
    initiator.Start(0, {});
    SessionActions a = initiator.OnMessage(message.data(), message.size(), 1, {});
    const bool is_genuine = message.size() == genuine.response.size() &&
                            std::memcmp(message.data(), genuine.response.data(), message.size()) == 0;
    if ((a.install_receive || a.install_send) && !is_genuine) abort();
    if (is_genuine && !a.install_send) abort();  // the oracle itself must hold
  }
  return 0;
}
