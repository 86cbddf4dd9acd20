// The sockets of the session handshake (agent/core/handshake.h): messages
// leave on a chosen path exactly as its tunnel packets do (same addresses,
// ports and next hop, through a packet socket, so no host route is needed)
// and arrive on the tunnel port, where mb_decap passes them up.
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <functional>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "agent/core/ip_address.h"
#include "bpf/meshbpf.h"

namespace meshbpf {

// Where a handshake message came from (an IPv4 sender unmapped).
struct HandshakeSender {
  IpAddress address;
  uint16_t port = 0;  // host order
};

class HandshakeSocket {
 public:
  // Binds UDP `port` (the tunnel port) on every address, IPv4 and IPv6
  // (IPv4 alone on a host without IPv6). Needs CAP_NET_RAW
  // for the packet socket, so before the agent drops privileges.
  static absl::StatusOr<std::unique_ptr<HandshakeSocket>> Open(uint16_t port);
  ~HandshakeSocket();
  HandshakeSocket(const HandshakeSocket&) = delete;
  HandshakeSocket& operator=(const HandshakeSocket&) = delete;

  int fd() const { return udp_fd_; }
  // On `path`, as its tunnel packets leave. Unavailable while its next
  // hop's MAC is not resolved yet.
  absl::Status SendOnPath(const mb_path& path, const uint8_t* data, size_t size) const;
  // Through the host's routes (a sender that is no configured path).
  absl::Status SendTo(const HandshakeSender& to, const uint8_t* data, size_t size) const;

  static constexpr size_t kMaxDatagramsPerDrain = 64;
  // ~4,000 handshake-sized datagrams (the kernel counts ~256 B per one).
  static constexpr int kReceiveBufferBytes = 1 << 20;
  // Reads what is pending (at most kMaxDatagramsPerDrain).
  void Drain(
      const std::function<void(const uint8_t*, size_t, const HandshakeSender&)>& on_message) const;

 private:
  HandshakeSocket(int udp_fd, int packet_fd, bool dual_stack)
      : udp_fd_(udp_fd), packet_fd_(packet_fd), dual_stack_(dual_stack) {}
  int udp_fd_;
  int packet_fd_;
  bool dual_stack_;  // udp_fd_ is IPv6, IPv4 senders mapped
};

}  // namespace meshbpf
