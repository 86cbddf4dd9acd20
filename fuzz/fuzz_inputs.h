// What the fuzzers and their seed generator (make_seeds.cc) agree on: keys,
// fake clocks, and how each fuzzer reads an input.
#pragma once

#include <cstdint>

namespace meshbpf::fuzz {

inline constexpr char kFuzzMeshKey[] = "fuzzing mesh key, 16+ chars";
inline constexpr uint64_t kFuzzWallClockMs = 1'700'000'000'000;

// Announcements and probes: an input's first byte picks the way in. Even:
// the rest is a datagram as received, exercising framing and the tag check.
// Odd: the rest gets tagged with kFuzzMeshKey first (announcements: it is a
// body that gets framed too), because a fuzzer never forges a valid HMAC and
// would otherwise never get past it.
inline constexpr uint8_t kRawDatagram = 0;
inline constexpr uint8_t kAuthenticatedBody = 1;

// Control protocol: the first byte, modulo 1 + the number of reply types,
// picks what the rest (JSON text) is read as: 0 a request the agent
// dispatches, i > 0 the reply ControlReply's alternative i - 1 (the CLI's side).
inline constexpr uint8_t kControlRequest = 0;

// Log records: the first byte picks the way in. Even: the rest is a log file
// line to parse. Odd: the rest is a message to write and read back, at a
// time 4 bytes of it set.
inline constexpr uint8_t kLogLine = 0;
inline constexpr uint8_t kLogMessage = 1;

// The data path: the first byte's low bit picks the program (0 mb_decap, 1
// mb_encap), bits 1-3 the bond mode (modulo the modes), bit 4 resequencing
// on; the rest is the frame, from its Ethernet header.
inline constexpr uint8_t kDatapathDecap = 0;
inline constexpr uint8_t kDatapathEncap = 1;
inline constexpr uint8_t kDatapathReseq = 1 << 4;
inline constexpr uint8_t DatapathSelector(uint8_t program, uint8_t mode, bool reseq) {
  return static_cast<uint8_t>(program | mode << 1 | (reseq ? kDatapathReseq : 0));
}

}  // namespace meshbpf::fuzz
