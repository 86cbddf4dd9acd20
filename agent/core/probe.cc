#include "agent/core/probe.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "agent/core/big_endian.h"
#include "agent/core/mesh_auth.h"
#include "bpf/meshbpf.h"

namespace meshbpf {
namespace {

constexpr uint32_t kProbeMagic = 0x4d425052;  // "MBPR"
constexpr uint8_t kProbeVersion = 2;
constexpr size_t kMacOffset = kProbeWireSize - 16;
constexpr uint8_t kFlagSizeProbe = 0x01;
constexpr uint8_t kFlagRepairs = 0x02;  // only in replies
constexpr uint8_t kKnownFlags = kFlagSizeProbe | kFlagRepairs;

void Mac(const uint8_t* data, const std::string& key, uint8_t out[16]) {
  std::memset(out, 0, 16);
  if (key.empty()) return;
  std::memcpy(out, HmacSha256(key, data, kMacOffset).data(), 16);
}

}  // namespace

ProbeBytes EncodeProbe(const ProbeMessage& m, const std::string& key) {
  const bool repair = m.type == ProbeMessage::Type::kRepairRequest;
  ProbeBytes b{};
  PutBig(&b[0], kProbeMagic, 4);
  b[4] = kProbeVersion;
  b[5] = static_cast<uint8_t>(m.type);
  b[6] = m.path_id;
  b[7] = (m.size_probe ? kFlagSizeProbe : 0) |
         (m.type == ProbeMessage::Type::kReply && m.repairs ? kFlagRepairs : 0);
  PutBig(&b[8], repair ? m.repair_first_seq : m.seq, 4);
  PutBig(&b[12], m.sent_ns, 8);
  PutBig(&b[20], m.reflected_ns, 8);
  PutBig(&b[28], repair ? m.repair_missing : m.rx_packets, 8);
  PutBig(&b[36], m.rx_bytes, 8);
  Mac(b.data(), key, &b[kMacOffset]);
  return b;
}

absl::StatusOr<ProbeMessage> DecodeProbe(const uint8_t* data, size_t size,
                                         const std::string& key) {
  const bool padded_size_probe =
      size > kProbeWireSize && size <= kProbeMaxSize && (data[7] & kFlagSizeProbe);
  if (size != kProbeWireSize && !padded_size_probe) {
    return absl::InvalidArgumentError(
        absl::StrCat("probe of ", size, " bytes (expected ", kProbeWireSize, ")"));
  }
  if (data[7] & ~kKnownFlags) {
    return absl::InvalidArgumentError(absl::StrCat("probe: unknown flags ", data[7]));
  }
  if ((data[7] & kFlagRepairs) && data[5] != static_cast<uint8_t>(ProbeMessage::Type::kReply)) {
    return absl::InvalidArgumentError("probe: the repairs flag on a message that is not a reply");
  }
  if (GetBig(data, 4) != kProbeMagic) return absl::InvalidArgumentError("probe: bad magic");
  if (data[4] != kProbeVersion) {
    return absl::InvalidArgumentError(absl::StrCat("probe: unknown version ", data[4]));
  }
  if (data[5] < static_cast<uint8_t>(ProbeMessage::Type::kRequest) ||
      data[5] > static_cast<uint8_t>(ProbeMessage::Type::kRepairRequest)) {
    return absl::InvalidArgumentError(absl::StrCat("probe: unknown type ", data[5]));
  }
  const bool repair = data[5] == static_cast<uint8_t>(ProbeMessage::Type::kRepairRequest);
  if (repair && (data[7] & kFlagSizeProbe)) {
    return absl::InvalidArgumentError("probe: a repair request flagged as a size probe");
  }
  if (repair && GetBig(data + 28, 8) == 0) {
    return absl::InvalidArgumentError("probe: a repair request with no sequence number missing");
  }
  if (data[6] >= MB_MAX_PATHS) {
    return absl::InvalidArgumentError(absl::StrCat("probe: path id ", data[6], " out of range"));
  }
  uint8_t mac[16];
  Mac(data, key, mac);
  if (!ConstantTimeEqual(mac, data + kMacOffset, sizeof(mac))) {
    return absl::PermissionDeniedError("probe: authentication failed (wrong or missing mesh key)");
  }
  ProbeMessage m;
  m.type = static_cast<ProbeMessage::Type>(data[5]);
  m.path_id = data[6];
  m.size_probe = (data[7] & kFlagSizeProbe) != 0;
  m.repairs = (data[7] & kFlagRepairs) != 0;
  const auto seq_slot = static_cast<uint32_t>(GetBig(data + 8, 4));
  const uint64_t rx_packets_slot = GetBig(data + 28, 8);
  if (repair) {
    m.repair_first_seq = seq_slot;
    m.repair_missing = rx_packets_slot;
  } else {
    m.seq = seq_slot;
    m.rx_packets = rx_packets_slot;
  }
  m.sent_ns = GetBig(data + 12, 8);
  m.reflected_ns = GetBig(data + 20, 8);
  m.rx_bytes = GetBig(data + 36, 8);
  return m;
}

}  // namespace meshbpf
