// Path probes: a small authenticated UDP message, sent through the bond with
// a per-path mark (MB_PROBE_MARK | path id) so the data path carries it on
// exactly that path, and reflected by the peer's agent on the same path.
#pragma once

#include <netinet/in.h>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace meshbpf {

struct ProbeMessage {
  enum class Type : uint8_t { kRequest = 1, kReply = 2 };
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
};

// magic(4) version(1) type(1) path(1) reserved(1) seq(4) sent(8) reflected(8)
// rx_packets(8) rx_bytes(8) mac(16)
inline constexpr size_t kProbeWireSize = 60;

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
// Rejects wrong size, magic, version, type, path id and MAC, naming which.
absl::StatusOr<ProbeMessage> DecodeProbe(const uint8_t* data, size_t size,
                                         const std::string& key);

// The agent's probe socket, bound to the bond address: sends requests on a
// chosen path, answers requests from the peer on the path they came on, and
// hands replies to the caller.
class ProbeSocket {
 public:
  static absl::StatusOr<std::unique_ptr<ProbeSocket>> Open(in_addr bond_address, uint16_t port,
                                                           std::string key);
  ~ProbeSocket();
  ProbeSocket(const ProbeSocket&) = delete;
  ProbeSocket& operator=(const ProbeSocket&) = delete;

  int fd() const { return fd_; }
  absl::Status SendRequest(in_addr peer, uint16_t port, const ProbeMessage& request);
  // Reads all pending datagrams: each valid request goes to `on_request`
  // first (a learned path adopts the endpoint it came from there, so the
  // reply already goes back that way), then is reflected with
  // `rx_of(path)`; replies go to `on_reply` with the local receive time,
  // anything invalid to `on_invalid`.
  void Drain(uint64_t now_ns, const std::function<void(const ProbeMessage&)>& on_request,
             const std::function<PathRx(uint8_t path)>& rx_of,
             const std::function<void(const ProbeMessage&, uint64_t)>& on_reply,
             const std::function<void(const std::string&)>& on_invalid);

 private:
  ProbeSocket(int fd, std::string key) : fd_(fd), key_(std::move(key)) {}
  absl::Status SendOnPath(const sockaddr_in& to, uint8_t path_id, const ProbeMessage& message);
  int fd_;
  std::string key_;
};

}  // namespace meshbpf
