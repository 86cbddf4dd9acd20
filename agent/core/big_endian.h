// Unsigned integers in network byte order inside a message buffer, for the
// agent's own wire formats (probes, announcements, handshakes).
#pragma once

#include <cstdint>

namespace meshbpf {

// Writes the low `bytes` bytes of `v` at `p`, most significant first.
inline void PutBig(uint8_t* p, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) p[i] = static_cast<uint8_t>(v >> (8 * (bytes - 1 - i)));
}

// Reads `bytes` bytes at `p`, most significant first.
inline uint64_t GetBig(const uint8_t* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = v << 8 | p[i];
  return v;
}

}  // namespace meshbpf
