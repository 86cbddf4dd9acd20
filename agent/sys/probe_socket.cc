#include "agent/sys/probe_socket.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "agent/sys/marked_send.h"
#include "bpf/meshbpf.h"

namespace meshbpf {

absl::StatusOr<std::unique_ptr<ProbeSocket>> ProbeSocket::Open(in_addr bond_address,
                                                               uint16_t port, std::string key) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("probe socket: ", std::strerror(errno)));
  // DF always, and never fragmented for a route's cached path MTU: a size
  // probe must cross the path whole or not at all.
  const int pmtu = IP_PMTUDISC_PROBE;
  if (setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof(pmtu)) != 0) {
    const int err = errno;
    close(fd);
    return absl::InternalError(absl::StrCat("probe socket: IP_MTU_DISCOVER: ", std::strerror(err)));
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr = bond_address;
  addr.sin_port = htons(port);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    const int err = errno;
    close(fd);
    return absl::InternalError(
        absl::StrCat("binding the probe socket to the bond address, port ", port, ": ",
                     std::strerror(err)));
  }
  return std::unique_ptr<ProbeSocket>(new ProbeSocket(fd, std::move(key)));
}

ProbeSocket::~ProbeSocket() { close(fd_); }

absl::Status ProbeSocket::SendOnPath(const sockaddr_in& to, uint8_t path_id,
                                     const ProbeMessage& message) {
  ProbeBytes bytes = EncodeProbe(message, key_);
  // A size probe's padding: zeros up to its datagram size.
  static const std::array<uint8_t, kProbeMaxSize> kZeros{};
  const size_t padding =
      message.datagram_bytes > kProbeWireSize
          ? std::min<size_t>(message.datagram_bytes, kProbeMaxSize) - kProbeWireSize
          : 0;
  iovec iov[2] = {{bytes.data(), bytes.size()}, {const_cast<uint8_t*>(kZeros.data()), padding}};
  if (SendMarked(fd_, &to, sizeof(to), iov, padding ? 2 : 1, MB_PROBE_MARK | path_id, 0) < 0) {
    return absl::UnavailableError(
        absl::StrCat("sending a probe on path ", path_id, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

absl::Status ProbeSocket::SendRequest(in_addr peer, uint16_t port, const ProbeMessage& request) {
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_addr = peer;
  to.sin_port = htons(port);
  return SendOnPath(to, request.path_id, request);
}

void ProbeSocket::Drain(uint64_t now_ns, const Handlers& handlers) {
  uint8_t buf[kProbeMaxSize];
  sockaddr_in from{};
  socklen_t from_len = sizeof(from);
  ssize_t n;
  for (size_t datagrams = 0;
       datagrams < kMaxDatagramsPerDrain &&
       (n = recvfrom(fd_, buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&from), &from_len)) >= 0;
       ++datagrams) {
    absl::StatusOr<ProbeMessage> m = DecodeProbe(buf, static_cast<size_t>(n), key_);
    if (!m.ok()) {
      handlers.on_invalid(std::string(m.status().message()));
    } else if (m->type == ProbeMessage::Type::kReply) {
      handlers.on_reply(*m, now_ns);
    } else if (m->type == ProbeMessage::Type::kRepairRequest) {
      handlers.on_repair_request(*m);
    } else {
      handlers.on_request(*m);
      ProbeMessage reply = *m;
      reply.type = ProbeMessage::Type::kReply;
      reply.reflected_ns = now_ns;
      reply.repairs = handlers.repairs;
      const PathRx rx = handlers.rx_of(m->path_id);
      reply.rx_packets = rx.packets;
      reply.rx_bytes = rx.bytes;
      if (absl::Status s = SendOnPath(from, m->path_id, reply); !s.ok()) {
        handlers.on_invalid(std::string(s.message()));
      }
    }
    from_len = sizeof(from);
  }
}

}  // namespace meshbpf
