// Path probes: a small authenticated UDP message, sent through the bond with
// a per-path mark (MB_PROBE_MARK | path id) so the data path carries it on
// exactly that path, and reflected by the peer's agent on the same path.
// The same message carries loss repair requests (docs/design/loss-repair.md),
// which the peer's agent answers with its kept copies, not a reply.
// This is the message; the socket that sends it is agent/sys/probe_socket.h.
#pragma once

#include <netinet/in.h>

#include <array>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace meshbpf {

struct ProbeMessage {
  enum class Type : uint8_t { kRequest = 1, kReply = 2, kRepairRequest = 3 };
  Type type = Type::kRequest;
  uint8_t path_id = 0;
  uint32_t seq = 0;
  uint64_t sent_ns = 0;       // requester's clock when sent
  uint64_t reflected_ns = 0;  // reflector's clock when it answered
  // In a reply: the reflector's rx counters for this path when it answered.
  // The probe queued behind the data sent before it on the same path, so set
  // against the requester's tx counters at send time they give the path's
  // data loss and delivered rate.
  uint64_t rx_packets = 0;
  uint64_t rx_bytes = 0;
  // In a repair request: the receiver lost bond sequence number
  // repair_first_seq + i for every bit i set in repair_missing (never 0).
  uint32_t repair_first_seq = 0;
  uint64_t repair_missing = 0;
  // A size probe (agent/core/path_mtu.h): its request is padded with zeros
  // to a whole datagram, its reply is not; it has its own sequence numbers
  // and says nothing about the path's health.
  bool size_probe = false;
  // In a reply: the reflector answers repair requests (its loss repair is
  // on), so the requester's resequencer may wait for repairs from it.
  bool repairs = false;
  // Not on the wire: a size probe request is sent padded to this many
  // bytes of UDP payload.
  uint32_t datagram_bytes = 0;
};

// magic(4) version(1) type(1) path(1) flags(1: size probe, repairs) seq(4) sent(8) reflected(8)
// rx_packets(8) rx_bytes(8) mac(16) [zeros, size probes only]
// A repair request carries repair_first_seq in the seq slot and
// repair_missing in the rx_packets slot; it is never a size probe.
inline constexpr size_t kProbeWireSize = 60;
// The largest size probe read: a jumbo frame's datagram.
inline constexpr size_t kProbeMaxSize = 9216;

// A node's rx or tx counters for one path.
struct PathRx {
  uint64_t packets = 0;
  uint64_t bytes = 0;
};
using PathTx = PathRx;
using ProbeBytes = std::array<uint8_t, kProbeWireSize>;

// The MAC is HMAC-SHA256 (truncated to 16 bytes) keyed with the mesh key;
// with no key configured it is all zeros and only keyless peers accept it.
ProbeBytes EncodeProbe(const ProbeMessage& message, const std::string& key);
// Rejects wrong size (only a size probe may be longer, up to kProbeMaxSize),
// magic, version, type, flags, path id and MAC, and a repair request that is
// a size probe or misses nothing, naming which.
absl::StatusOr<ProbeMessage> DecodeProbe(const uint8_t* data, size_t size,
                                         const std::string& key);

}  // namespace meshbpf
