#include "agent/sys/handshake_socket.h"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/core/inet_checksum.h"

namespace meshbpf {
namespace {

absl::Status Failed(const std::string& what, int err) {
  return absl::Status(absl::ErrnoToStatusCode(err), absl::StrCat("handshake socket: ", what, ": ",
                                                                 std::strerror(err)));
}

// The UDP socket on the tunnel port: IPv6 taking IPv4 too (as mapped
// addresses), or IPv4 alone on a host without IPv6.
struct UdpSocket {
  int fd;
  bool dual_stack;
};
absl::StatusOr<UdpSocket> OpenUdp(uint16_t port) {
  int udp = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const bool v6 = udp >= 0;
  if (!v6) udp = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (udp < 0) return Failed("socket", errno);
  // Room for a flood of junk while the loop serves its other sources: what
  // overflows is lost with the genuine message among it. Past rmem_max
  // with CAP_NET_ADMIN; else as far as it allows.
  const int buffer = HandshakeSocket::kReceiveBufferBytes;
  if (setsockopt(udp, SOL_SOCKET, SO_RCVBUFFORCE, &buffer, sizeof(buffer)) != 0) {
    setsockopt(udp, SOL_SOCKET, SO_RCVBUF, &buffer, sizeof(buffer));
  }
  sockaddr_storage addr{};
  socklen_t len = 0;
  if (v6) {
    const int both = 0;
    setsockopt(udp, IPPROTO_IPV6, IPV6_V6ONLY, &both, sizeof(both));
    auto* a = reinterpret_cast<sockaddr_in6*>(&addr);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(port);
    len = sizeof(*a);
  } else {
    auto* a = reinterpret_cast<sockaddr_in*>(&addr);
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    len = sizeof(*a);
  }
  if (bind(udp, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    const int err = errno;
    close(udp);
    return Failed(absl::StrCat("binding UDP port ", port, " (the tunnel port: is another "
                                                          "instance authenticating on it?)"),
                  err);
  }
  return UdpSocket{udp, v6};
}

// A sender's address as the socket gave it; an IPv4 one mapped into IPv6 is unmapped.
HandshakeSender SenderOf(const sockaddr_storage& from) {
  if (from.ss_family == AF_INET) {
    const auto& a = reinterpret_cast<const sockaddr_in&>(from);
    return {IpAddress::V4(a.sin_addr), ntohs(a.sin_port)};
  }
  const auto& a = reinterpret_cast<const sockaddr_in6&>(from);
  if (IN6_IS_ADDR_V4MAPPED(&a.sin6_addr)) {
    in_addr v4{};
    std::memcpy(&v4, &a.sin6_addr.s6_addr[12], sizeof(v4));
    return {IpAddress::V4(v4), ntohs(a.sin6_port)};
  }
  return {IpAddress::V6(a.sin6_addr), ntohs(a.sin6_port)};
}

// The IPv4 or IPv6 and UDP headers of `path` around `size` bytes of
// `data`, checksums filled, behind 14 bytes of room for FixTransportChecksum's
// Ethernet header (not sent: the packet socket adds the real one).
std::vector<uint8_t> PathDatagram(const mb_path& path, const uint8_t* data, size_t size) {
  constexpr size_t kEth = 14;
  const bool v6 = path.flags & MB_PATH_F_IPV6;
  const size_t l3 = v6 ? sizeof(ip6_hdr) : sizeof(iphdr);
  std::vector<uint8_t> frame(kEth + l3 + sizeof(udphdr) + size);
  frame[12] = v6 ? 0x86 : 0x08;
  frame[13] = v6 ? 0xdd : 0x00;
  if (v6) {
    ip6_hdr ip{};
    ip.ip6_flow = htonl(6u << 28);
    ip.ip6_plen = htons(static_cast<uint16_t>(sizeof(udphdr) + size));
    ip.ip6_nxt = IPPROTO_UDP;
    ip.ip6_hlim = 64;
    std::memcpy(&ip.ip6_src, path.src_ip6, sizeof(ip.ip6_src));
    std::memcpy(&ip.ip6_dst, path.dst_ip6, sizeof(ip.ip6_dst));
    std::memcpy(&frame[kEth], &ip, sizeof(ip));
  } else {
    iphdr ip{};
    ip.version = 4;
    ip.ihl = 5;
    ip.tot_len = htons(static_cast<uint16_t>(l3 + sizeof(udphdr) + size));
    ip.frag_off = htons(IP_DF);
    ip.ttl = 64;
    ip.protocol = IPPROTO_UDP;
    ip.saddr = path.src_ip;
    ip.daddr = path.dst_ip;
    std::memcpy(&frame[kEth], &ip, sizeof(ip));
  }
  udphdr udp{};
  udp.source = htons(path.src_port);
  udp.dest = htons(path.dst_port);
  udp.len = htons(static_cast<uint16_t>(sizeof(udp) + size));
  udp.check = 0xffff;  // not 0: on IPv4 that would mean "no checksum", left so
  std::memcpy(&frame[kEth + l3], &udp, sizeof(udp));
  std::memcpy(&frame[kEth + l3 + sizeof(udp)], data, size);
  FixTransportChecksum(frame);
  frame.erase(frame.begin(), frame.begin() + kEth);
  return frame;
}

}  // namespace

absl::StatusOr<std::unique_ptr<HandshakeSocket>> HandshakeSocket::Open(uint16_t port) {
  absl::StatusOr<UdpSocket> udp = OpenUdp(port);
  if (!udp.ok()) return udp.status();
  // Protocol 0: sends only, never receives a copy of the host's traffic.
  const int packet = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (packet < 0) {
    const int err = errno;
    close(udp->fd);
    return Failed("packet socket (needs CAP_NET_RAW)", err);
  }
  return std::unique_ptr<HandshakeSocket>(new HandshakeSocket(udp->fd, packet, udp->dual_stack));
}

HandshakeSocket::~HandshakeSocket() {
  close(udp_fd_);
  close(packet_fd_);
}

absl::Status HandshakeSocket::SendOnPath(const mb_path& path, const uint8_t* data,
                                         size_t size) const {
  static constexpr std::array<uint8_t, 6> kUnresolved{};
  if (std::equal(kUnresolved.begin(), kUnresolved.end(), path.next_hop_mac)) {
    return absl::UnavailableError("handshake: the path's next hop is not resolved yet");
  }
  const std::vector<uint8_t> packet = PathDatagram(path, data, size);
  sockaddr_ll to{};
  to.sll_family = AF_PACKET;
  to.sll_protocol = htons((path.flags & MB_PATH_F_IPV6) ? ETH_P_IPV6 : ETH_P_IP);
  to.sll_ifindex = static_cast<int>(path.ifindex);
  to.sll_halen = ETH_ALEN;
  std::memcpy(to.sll_addr, path.next_hop_mac, ETH_ALEN);
  if (sendto(packet_fd_, packet.data(), packet.size(), 0, reinterpret_cast<sockaddr*>(&to),
             sizeof(to)) < 0) {
    return Failed(absl::StrCat("sending on ifindex ", path.ifindex), errno);
  }
  return absl::OkStatus();
}

absl::Status HandshakeSocket::SendTo(const HandshakeSender& to, const uint8_t* data,
                                     size_t size) const {
  sockaddr_storage addr{};
  socklen_t len = 0;
  if (dual_stack_) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&addr);
    a->sin6_family = AF_INET6;
    a->sin6_port = htons(to.port);
    if (to.address.is_v6()) {
      a->sin6_addr = to.address.v6();
    } else {  // ::ffff:a.b.c.d
      a->sin6_addr.s6_addr[10] = a->sin6_addr.s6_addr[11] = 0xff;
      std::memcpy(&a->sin6_addr.s6_addr[12], to.address.bytes.data(), 4);
    }
    len = sizeof(*a);
  } else if (!to.address.is_v6()) {
    auto* a = reinterpret_cast<sockaddr_in*>(&addr);
    a->sin_family = AF_INET;
    a->sin_port = htons(to.port);
    a->sin_addr = to.address.v4();
    len = sizeof(*a);
  } else {
    return absl::FailedPreconditionError("handshake socket: no IPv6 on this host");
  }
  if (sendto(udp_fd_, data, size, 0, reinterpret_cast<const sockaddr*>(&addr), len) < 0) {
    return Failed("sending", errno);
  }
  return absl::OkStatus();
}

void HandshakeSocket::Drain(
    const std::function<void(const uint8_t*, size_t, const HandshakeSender&)>& on_message) const {
  std::array<uint8_t, 512> buffer;
  for (size_t i = 0; i < kMaxDatagramsPerDrain; ++i) {
    sockaddr_storage from{};
    socklen_t from_len = sizeof(from);
    const ssize_t n = recvfrom(udp_fd_, buffer.data(), buffer.size(), MSG_TRUNC,
                               reinterpret_cast<sockaddr*>(&from), &from_len);
    if (n < 0) return;  // EAGAIN: drained; anything else: the next wakeup retries
    // Longer than any handshake message: refused for its size either way.
    on_message(buffer.data(), std::min(static_cast<size_t>(n), buffer.size()), SenderOf(from));
  }
}

}  // namespace meshbpf
