#include "agent/sys/handshake_socket.h"

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"

namespace meshbpf {
namespace {

absl::Status Failed(const std::string& what, int err) {
  return absl::Status(absl::ErrnoToStatusCode(err), absl::StrCat("handshake socket: ", what, ": ",
                                                                 std::strerror(err)));
}

// The ones' complement sum of RFC 1071, folded.
uint32_t SumWords(const uint8_t* data, size_t size, uint32_t sum) {
  for (size_t i = 0; i + 1 < size; i += 2) sum += (uint32_t{data[i]} << 8) | data[i + 1];
  if (size % 2) sum += uint32_t{data[size - 1]} << 8;
  return sum;
}
uint16_t Fold(uint32_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

}  // namespace

absl::StatusOr<std::unique_ptr<HandshakeSocket>> HandshakeSocket::Open(uint16_t port) {
  const int udp = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (udp < 0) return Failed("socket", errno);
  // Room for a flood of junk while the loop serves its other sources: what
  // overflows is lost with the genuine message among it. Past rmem_max
  // with CAP_NET_ADMIN; else as far as it allows.
  const int buffer = kReceiveBufferBytes;
  if (setsockopt(udp, SOL_SOCKET, SO_RCVBUFFORCE, &buffer, sizeof(buffer)) != 0) {
    setsockopt(udp, SOL_SOCKET, SO_RCVBUF, &buffer, sizeof(buffer));
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  if (bind(udp, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    const int err = errno;
    close(udp);
    return Failed(absl::StrCat("binding UDP port ", port, " (the tunnel port: is another "
                                                          "instance authenticating on it?)"),
                  err);
  }
  // Protocol 0: sends only, never receives a copy of the host's traffic.
  const int packet = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (packet < 0) {
    const int err = errno;
    close(udp);
    return Failed("packet socket (needs CAP_NET_RAW)", err);
  }
  return std::unique_ptr<HandshakeSocket>(new HandshakeSocket(udp, packet));
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
  std::vector<uint8_t> packet(sizeof(iphdr) + sizeof(udphdr) + size);
  iphdr ip{};
  ip.version = 4;
  ip.ihl = 5;
  ip.tot_len = htons(static_cast<uint16_t>(packet.size()));
  ip.frag_off = htons(IP_DF);
  ip.ttl = 64;
  ip.protocol = IPPROTO_UDP;
  ip.saddr = path.src_ip;
  ip.daddr = path.dst_ip;
  std::memcpy(packet.data(), &ip, sizeof(ip));
  const uint16_t ip_sum = Fold(SumWords(packet.data(), sizeof(ip), 0));
  packet[10] = static_cast<uint8_t>(ip_sum >> 8);
  packet[11] = static_cast<uint8_t>(ip_sum);

  udphdr udp{};
  udp.source = htons(path.src_port);
  udp.dest = htons(path.dst_port);
  udp.len = htons(static_cast<uint16_t>(sizeof(udp) + size));
  uint8_t* l4 = packet.data() + sizeof(ip);
  std::memcpy(l4, &udp, sizeof(udp));
  std::memcpy(l4 + sizeof(udp), data, size);
  // Pseudo header: addresses, protocol, UDP length.
  uint32_t sum = SumWords(packet.data() + 12, 8, 0);
  sum += IPPROTO_UDP + sizeof(udp) + size;
  uint16_t udp_sum = Fold(SumWords(l4, sizeof(udp) + size, sum));
  if (udp_sum == 0) udp_sum = 0xffff;
  l4[6] = static_cast<uint8_t>(udp_sum >> 8);
  l4[7] = static_cast<uint8_t>(udp_sum);

  sockaddr_ll to{};
  to.sll_family = AF_PACKET;
  to.sll_protocol = htons(ETH_P_IP);
  to.sll_ifindex = static_cast<int>(path.ifindex);
  to.sll_halen = ETH_ALEN;
  std::memcpy(to.sll_addr, path.next_hop_mac, ETH_ALEN);
  if (sendto(packet_fd_, packet.data(), packet.size(), 0, reinterpret_cast<sockaddr*>(&to),
             sizeof(to)) < 0) {
    return Failed(absl::StrCat("sending on ifindex ", path.ifindex), errno);
  }
  return absl::OkStatus();
}

absl::Status HandshakeSocket::SendTo(const sockaddr_in& to, const uint8_t* data,
                                     size_t size) const {
  if (sendto(udp_fd_, data, size, 0, reinterpret_cast<const sockaddr*>(&to), sizeof(to)) < 0) {
    return Failed("sending", errno);
  }
  return absl::OkStatus();
}

void HandshakeSocket::Drain(
    const std::function<void(const uint8_t*, size_t, const sockaddr_in&)>& on_message) const {
  std::array<uint8_t, 512> buffer;
  for (size_t i = 0; i < kMaxDatagramsPerDrain; ++i) {
    sockaddr_in from{};
    socklen_t from_len = sizeof(from);
    const ssize_t n = recvfrom(udp_fd_, buffer.data(), buffer.size(), MSG_TRUNC,
                               reinterpret_cast<sockaddr*>(&from), &from_len);
    if (n < 0) return;  // EAGAIN: drained; anything else: the next wakeup retries
    // Longer than any handshake message: refused for its size either way.
    on_message(buffer.data(), std::min(static_cast<size_t>(n), buffer.size()), from);
  }
}

}  // namespace meshbpf
