#include "agent/sys/discovery_socket.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>

#include "absl/strings/str_cat.h"
#include "agent/core/config.h"
#include "agent/core/net_format.h"

namespace meshbpf {

in_addr SubnetBroadcast(in_addr addr, int prefix_len) {
  in_addr out;
  out.s_addr = htonl(ntohl(addr.s_addr) | ~PrefixMask(prefix_len));
  return out;
}

absl::StatusOr<in_addr> InterfaceBroadcast(const std::string& ifname) {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) {
    return absl::InternalError(absl::StrCat("listing addresses: ", std::strerror(errno)));
  }
  std::optional<in_addr> found;
  for (ifaddrs* i = list; i != nullptr && !found; i = i->ifa_next) {
    if (i->ifa_addr == nullptr || i->ifa_addr->sa_family != AF_INET || ifname != i->ifa_name ||
        i->ifa_netmask == nullptr) {
      continue;
    }
    const in_addr addr = reinterpret_cast<const sockaddr_in*>(i->ifa_addr)->sin_addr;
    const uint32_t mask = ntohl(reinterpret_cast<const sockaddr_in*>(i->ifa_netmask)->sin_addr.s_addr);
    found = SubnetBroadcast(addr, __builtin_popcount(mask));
  }
  freeifaddrs(list);
  if (!found) {
    return absl::NotFoundError(absl::StrCat(ifname, " has no IPv4 address to broadcast from"));
  }
  return *found;
}

absl::StatusOr<std::unique_ptr<DiscoverySocket>> DiscoverySocket::Open(const std::string& ifname,
                                                                       uint16_t port) {
  if (ifname.empty() || ifname.size() >= IFNAMSIZ) {
    return absl::InvalidArgumentError(absl::StrCat("\"", ifname, "\" is not an interface name"));
  }
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("discovery socket: ", std::strerror(errno)));
  auto fail = [&](absl::string_view what) {
    const int err = errno;
    close(fd);
    return absl::InternalError(absl::StrCat("discovery socket on ", ifname, ", port ", port, ": ",
                                            what, ": ", std::strerror(err)));
  };
  const int one = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof(one)) != 0) return fail("SO_BROADCAST");
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0) return fail("SO_REUSEADDR");
  if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname.c_str(),
                 static_cast<socklen_t>(ifname.size())) != 0) {
    return fail("SO_BINDTODEVICE");
  }
  // Broadcasts arrive addressed to the subnet's broadcast address, so the
  // socket must listen on every address, not the interface's own.
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_ANY);
  addr.sin_port = htons(port);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return fail("bind");
  return std::unique_ptr<DiscoverySocket>(new DiscoverySocket(fd, port));
}

DiscoverySocket::~DiscoverySocket() { close(fd_); }

absl::Status DiscoverySocket::Send(in_addr to, const std::vector<uint8_t>& frame) {
  sockaddr_in dest{};
  dest.sin_family = AF_INET;
  dest.sin_addr = to;
  dest.sin_port = htons(port_);
  if (sendto(fd_, frame.data(), frame.size(), 0, reinterpret_cast<sockaddr*>(&dest),
             sizeof(dest)) < 0) {
    return absl::UnavailableError(absl::StrCat("sending an announcement to ", Ipv4Text(to), ": ",
                                               std::strerror(errno)));
  }
  return absl::OkStatus();
}

std::vector<ReceivedDatagram> DiscoverySocket::Receive(size_t max_datagrams) {
  std::vector<ReceivedDatagram> out;
  // One byte more than the limit is enough to see that a datagram is too
  // long; MSG_TRUNC then reports how long it really was.
  uint8_t buf[kMaxAnnouncementSize + 1];
  while (out.size() < max_datagrams) {
    sockaddr_in from{};
    socklen_t from_len = sizeof(from);
    const ssize_t n = recvfrom(fd_, buf, sizeof(buf), MSG_TRUNC,
                               reinterpret_cast<sockaddr*>(&from), &from_len);
    if (n < 0) break;  // EAGAIN: drained (other errors: retried on the next wakeup)
    ReceivedDatagram d;
    d.wire_size = static_cast<size_t>(n);
    d.bytes.assign(buf, buf + std::min(d.wire_size, sizeof(buf)));
    d.from = from.sin_addr;
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace meshbpf
