// What a handshake message costs the agent that receives it, in µs, each
// against the X25519 work of checking a genuine initiation in the same run:
//   meshbpf-handshake-cost [ROUNDS]
// A stranger's message (its own keys, a spoofed address) is refused by the
// vouch (one HMAC); a vouched one gets key agreement (four X25519).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "agent/core/handshake.h"

namespace {

using meshbpf::GenerateKeyPair;
using meshbpf::Handshake;
using meshbpf::X25519KeyPair;

// Median µs of `rounds` calls of `f` on messages[i].
template <typename F>
double MedianMicros(size_t rounds, F f) {
  std::vector<double> us;
  for (size_t i = 0; i < rounds; ++i) {
    const auto start = std::chrono::steady_clock::now();
    f(i);
    us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
                     .count());
  }
  std::nth_element(us.begin(), us.begin() + us.size() / 2, us.end());
  return us[us.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const size_t rounds = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 2000;
  if (rounds == 0) {
    std::fprintf(stderr, "usage: %s [ROUNDS > 0]\n", argv[0]);
    return 2;
  }
  const X25519KeyPair initiator = GenerateKeyPair(), responder = GenerateKeyPair();
  const Handshake from_initiator(initiator, responder.public_key);
  const Handshake from_stranger(GenerateKeyPair(), responder.public_key);
  const Handshake at_responder(responder, initiator.public_key);
  std::vector<Handshake::Initiation> genuine, forged;
  for (size_t i = 0; i < rounds; ++i) {
    genuine.push_back(from_initiator.Initiate(GenerateKeyPair(), 1 + i, 1 + i));
    forged.push_back(from_stranger.Initiate(GenerateKeyPair(), 1 + i, 1 + i));
  }
  const X25519KeyPair ephemeral = GenerateKeyPair();
  size_t answered = 0, refused = 0;
  const double checked_us = MedianMicros(rounds, [&](size_t i) {
    answered += at_responder.Respond(genuine[i].message.data(), genuine[i].message.size(),
                                     ephemeral, 7).ok();
  });
  const double refused_us = MedianMicros(rounds, [&](size_t i) {
    refused += !at_responder.Vouched(forged[i].message.data(), forged[i].message.size()).ok();
  });
  if (answered != rounds || refused != rounds) {
    std::fprintf(stderr, "answered %zu, refused %zu of %zu: the benchmark is broken\n", answered,
                 refused, rounds);
    return 1;
  }
  std::printf("genuine initiation checked and answered: %.1f us (baseline)\n", checked_us);
  std::printf("stranger's initiation refused by the vouch: %.2f us = %.4fx the baseline\n",
              refused_us, refused_us / checked_us);
  return 0;
}
