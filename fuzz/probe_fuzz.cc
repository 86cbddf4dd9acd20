// libFuzzer target for the probe codec: DecodeProbe on any bytes, keyed and
// keyless. Whatever it accepts must re-encode to the same bytes (but for the
// reserved byte, which the decoder ignores so a later version may use it).
#include <cstdlib>
#include <cstring>

#include "agent/core/mesh_auth.h"
#include "agent/core/probe.h"
#include "fuzz/fuzz_inputs.h"

namespace meshbpf::fuzz {
namespace {

constexpr size_t kReservedByte = 7;
constexpr size_t kMacOffset = kProbeWireSize - 16;

void CheckReencodes(const uint8_t* data, size_t size, const std::string& key) {
  absl::StatusOr<ProbeMessage> decoded = DecodeProbe(data, size, key);
  if (!decoded.ok()) return;
  const ProbeBytes again = EncodeProbe(*decoded, key);
  if (data[kReservedByte] == 0) {
    if (std::memcmp(again.data(), data, kProbeWireSize) != 0) abort();
    return;
  }
  // The reserved byte is written as 0, so only the fields can be compared.
  absl::StatusOr<ProbeMessage> redecoded = DecodeProbe(again.data(), again.size(), key);
  if (!redecoded.ok() || EncodeProbe(*redecoded, key) != again) abort();
}

}  // namespace
}  // namespace meshbpf::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace meshbpf;
  using namespace meshbpf::fuzz;
  if (size == 0) return 0;
  std::vector<uint8_t> probe(data + 1, data + size);
  if (data[0] % 2 == kAuthenticatedBody && probe.size() == kProbeWireSize) {
    const HmacSha256Tag tag = HmacSha256(kFuzzMeshKey, probe.data(), kMacOffset);
    std::memcpy(probe.data() + kMacOffset, tag.data(), 16);
  }
  CheckReencodes(probe.data(), probe.size(), kFuzzMeshKey);
  CheckReencodes(probe.data(), probe.size(), "");  // a keyless mesh: the MAC is zeros
  return 0;
}
