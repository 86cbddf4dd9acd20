#include "agent/core/probe.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "agent/core/mesh_auth.h"
#include "bpf/meshbpf.h"

namespace meshbpf {
namespace {

constexpr uint32_t kProbeMagic = 0x4d425052;  // "MBPR"
constexpr uint8_t kProbeVersion = 2;
constexpr size_t kMacOffset = kProbeWireSize - 16;

void PutBig(uint8_t* p, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) p[i] = static_cast<uint8_t>(v >> (8 * (bytes - 1 - i)));
}
uint64_t GetBig(const uint8_t* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = v << 8 | p[i];
  return v;
}

void Mac(const uint8_t* data, const std::string& key, uint8_t out[16]) {
  std::memset(out, 0, 16);
  if (key.empty()) return;
  std::memcpy(out, HmacSha256(key, data, kMacOffset).data(), 16);
}

}  // namespace

ProbeBytes EncodeProbe(const ProbeMessage& m, const std::string& key) {
  ProbeBytes b{};
  PutBig(&b[0], kProbeMagic, 4);
  b[4] = kProbeVersion;
  b[5] = static_cast<uint8_t>(m.type);
  b[6] = m.path_id;
  PutBig(&b[8], m.seq, 4);
  PutBig(&b[12], m.sent_ns, 8);
  PutBig(&b[20], m.reflected_ns, 8);
  PutBig(&b[28], m.rx_packets, 8);
  PutBig(&b[36], m.rx_bytes, 8);
  Mac(b.data(), key, &b[kMacOffset]);
  return b;
}

absl::StatusOr<ProbeMessage> DecodeProbe(const uint8_t* data, size_t size,
                                         const std::string& key) {
  if (size != kProbeWireSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("probe of ", size, " bytes (expected ", kProbeWireSize, ")"));
  }
  if (GetBig(data, 4) != kProbeMagic) return absl::InvalidArgumentError("probe: bad magic");
  if (data[4] != kProbeVersion) {
    return absl::InvalidArgumentError(absl::StrCat("probe: unknown version ", data[4]));
  }
  if (data[5] != static_cast<uint8_t>(ProbeMessage::Type::kRequest) &&
      data[5] != static_cast<uint8_t>(ProbeMessage::Type::kReply)) {
    return absl::InvalidArgumentError(absl::StrCat("probe: unknown type ", data[5]));
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
  m.seq = static_cast<uint32_t>(GetBig(data + 8, 4));
  m.sent_ns = GetBig(data + 12, 8);
  m.reflected_ns = GetBig(data + 20, 8);
  m.rx_packets = GetBig(data + 28, 8);
  m.rx_bytes = GetBig(data + 36, 8);
  return m;
}

absl::StatusOr<std::unique_ptr<ProbeSocket>> ProbeSocket::Open(in_addr bond_address,
                                                               uint16_t port, std::string key) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("probe socket: ", std::strerror(errno)));
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
  iovec iov{bytes.data(), bytes.size()};
  // The mark travels per message, so one socket serves every path.
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(uint32_t))] = {};
  msghdr msg{};
  msg.msg_name = const_cast<sockaddr_in*>(&to);
  msg.msg_namelen = sizeof(to);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SO_MARK;
  c->cmsg_len = CMSG_LEN(sizeof(uint32_t));
  const uint32_t mark = MB_PROBE_MARK | path_id;
  std::memcpy(CMSG_DATA(c), &mark, sizeof(mark));
  if (sendmsg(fd_, &msg, 0) < 0) {
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

void ProbeSocket::Drain(uint64_t now_ns, const std::function<void(const ProbeMessage&)>& on_request,
                        const std::function<PathRx(uint8_t path)>& rx_of,
                        const std::function<void(const ProbeMessage&, uint64_t)>& on_reply,
                        const std::function<void(const std::string&)>& on_invalid) {
  uint8_t buf[512];
  sockaddr_in from{};
  socklen_t from_len = sizeof(from);
  ssize_t n;
  while ((n = recvfrom(fd_, buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&from),
                       &from_len)) >= 0) {
    absl::StatusOr<ProbeMessage> m = DecodeProbe(buf, static_cast<size_t>(n), key_);
    if (!m.ok()) {
      on_invalid(std::string(m.status().message()));
    } else if (m->type == ProbeMessage::Type::kReply) {
      on_reply(*m, now_ns);
    } else {
      on_request(*m);
      ProbeMessage reply = *m;
      reply.type = ProbeMessage::Type::kReply;
      reply.reflected_ns = now_ns;
      const PathRx rx = rx_of(m->path_id);
      reply.rx_packets = rx.packets;
      reply.rx_bytes = rx.bytes;
      if (absl::Status s = SendOnPath(from, m->path_id, reply); !s.ok()) {
        on_invalid(std::string(s.message()));
      }
    }
    from_len = sizeof(from);
  }
}

}  // namespace meshbpf
