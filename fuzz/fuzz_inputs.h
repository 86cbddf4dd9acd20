// What the announcement fuzzer and its seed generator agree on: the key, the
// fake clocks, and how an input is read.
//
// An input's first byte picks the way in. Even: the rest is a datagram as
// received, exercising framing and the tag check. Odd: the rest is a body
// that gets framed and tagged with kFuzzMeshKey first, because a fuzzer never
// forges a valid HMAC and would otherwise never reach protobuf parsing,
// validation, replay checks and the node table.
#pragma once

#include <cstdint>

namespace meshbpf::fuzz {

inline constexpr char kFuzzMeshKey[] = "fuzzing mesh key, 16+ chars";
inline constexpr uint64_t kFuzzWallClockMs = 1'700'000'000'000;
inline constexpr uint8_t kRawDatagram = 0;
inline constexpr uint8_t kAuthenticatedBody = 1;

}  // namespace meshbpf::fuzz
