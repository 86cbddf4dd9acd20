// Message authentication with the mesh key (node_discovery.mesh_key):
// HMAC-SHA256 from libcrypto and a constant-time tag comparison, shared by
// path probes and discovery announcements.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"

namespace meshbpf {

inline constexpr size_t kHmacSha256Size = 32;
using HmacSha256Tag = std::array<uint8_t, kHmacSha256Size>;

HmacSha256Tag HmacSha256(absl::string_view key, const uint8_t* data, size_t size);

// Compares in time independent of where the inputs differ, so a forger
// cannot learn a valid tag byte by byte from response timing.
bool ConstantTimeEqual(const uint8_t* a, const uint8_t* b, size_t size);

}  // namespace meshbpf
