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
namespace {

in6_addr GroupAddress() {
  in6_addr group{};
  std::memcpy(&group, kDiscoveryGroupIpv6.data(), sizeof(group));
  return group;
}

}  // namespace

in_addr SubnetBroadcast(in_addr addr, int prefix_len) {
  in_addr out;
  out.s_addr = htonl(ntohl(addr.s_addr) | ~PrefixMask(prefix_len));
  return out;
}

absl::StatusOr<InterfaceFamilies> AnnounceableFamilies(const std::string& ifname) {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) {
    return absl::InternalError(absl::StrCat("listing addresses: ", std::strerror(errno)));
  }
  InterfaceFamilies found;
  for (ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr || ifname != i->ifa_name) continue;
    if (i->ifa_addr->sa_family == AF_INET6) found.ipv6 = true;
    if (i->ifa_addr->sa_family != AF_INET || i->ifa_netmask == nullptr || found.ipv4_broadcast) {
      continue;
    }
    const in_addr addr = reinterpret_cast<const sockaddr_in*>(i->ifa_addr)->sin_addr;
    const uint32_t mask = ntohl(reinterpret_cast<const sockaddr_in*>(i->ifa_netmask)->sin_addr.s_addr);
    found.ipv4_broadcast = SubnetBroadcast(addr, __builtin_popcount(mask));
  }
  freeifaddrs(list);
  return found;
}

absl::StatusOr<in_addr> InterfaceBroadcast(const std::string& ifname) {
  absl::StatusOr<InterfaceFamilies> families = AnnounceableFamilies(ifname);
  if (!families.ok()) return families.status();
  if (!families->ipv4_broadcast) {
    return absl::NotFoundError(absl::StrCat(ifname, " has no IPv4 address to broadcast from"));
  }
  return *families->ipv4_broadcast;
}

namespace {

// A socket of `family` bound to `port` on `ifname` (SO_BINDTODEVICE), with
// `configure` run between creating and binding it.
template <typename Configure>
absl::StatusOr<int> BoundSocket(const std::string& ifname, int family, uint16_t port,
                                Configure configure) {
  if (ifname.empty() || ifname.size() >= IFNAMSIZ) {
    return absl::InvalidArgumentError(absl::StrCat("\"", ifname, "\" is not an interface name"));
  }
  int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const char* family_name = family == AF_INET6 ? "IPv6" : "IPv4";
  if (fd < 0) {
    return absl::InternalError(
        absl::StrCat(family_name, " discovery socket: ", std::strerror(errno)));
  }
  auto fail = [&](absl::string_view what) {
    const int err = errno;
    close(fd);
    return absl::InternalError(absl::StrCat(family_name, " discovery socket on ", ifname,
                                            ", port ", port, ": ", what, ": ",
                                            std::strerror(err)));
  };
  const int one = 1;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0) return fail("SO_REUSEADDR");
  if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname.c_str(),
                 static_cast<socklen_t>(ifname.size())) != 0) {
    return fail("SO_BINDTODEVICE");
  }
  if (const char* failed = configure(fd)) return fail(failed);
  // Broadcasts arrive addressed to the subnet's broadcast address, multicast
  // to the group: the socket listens on every address, not the interface's own.
  if (family == AF_INET6) {
    sockaddr_in6 addr{};
    addr.sin6_family = AF_INET6;
    addr.sin6_addr = in6addr_any;
    addr.sin6_port = htons(port);
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return fail("bind");
  } else {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_ANY);
    addr.sin_port = htons(port);
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return fail("bind");
  }
  return fd;
}

}  // namespace

absl::StatusOr<std::unique_ptr<DiscoverySocket>> DiscoverySocket::Open(const std::string& ifname,
                                                                       uint16_t port) {
  absl::StatusOr<int> fd = BoundSocket(ifname, AF_INET, port, [](int fd) -> const char* {
    const int one = 1;
    return setsockopt(fd, SOL_SOCKET, SO_BROADCAST, &one, sizeof(one)) != 0 ? "SO_BROADCAST"
                                                                             : nullptr;
  });
  if (!fd.ok()) return fd.status();
  return std::unique_ptr<DiscoverySocket>(
      new DiscoverySocket(*fd, AF_INET, port, static_cast<int>(if_nametoindex(ifname.c_str()))));
}

absl::StatusOr<std::unique_ptr<DiscoverySocket>> DiscoverySocket::OpenIpv6(
    const std::string& ifname, uint16_t port) {
  const int ifindex = static_cast<int>(if_nametoindex(ifname.c_str()));
  if (ifindex == 0 && !ifname.empty() && ifname.size() < IFNAMSIZ) {
    return absl::NotFoundError(absl::StrCat("IPv6 discovery socket on ", ifname, ": ",
                                            std::strerror(errno)));
  }
  absl::StatusOr<int> fd = BoundSocket(ifname, AF_INET6, port, [ifindex](int fd) -> const char* {
    const int one = 1;
    const int hops = kDiscoveryHopLimit;
    // Only IPv6 here: the IPv4 socket has the port's IPv4 side.
    if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0) return "IPV6_V6ONLY";
    if (setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &ifindex, sizeof(ifindex)) != 0) {
      return "IPV6_MULTICAST_IF";
    }
    if (setsockopt(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops, sizeof(hops)) != 0) {
      return "IPV6_MULTICAST_HOPS";
    }
    if (setsockopt(fd, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, &one, sizeof(one)) != 0) {
      return "IPV6_RECVHOPLIMIT";
    }
    return nullptr;
  });
  if (!fd.ok()) return fd.status();
  std::unique_ptr<DiscoverySocket> socket(new DiscoverySocket(*fd, AF_INET6, port, ifindex));
  // Not joined yet is no failure: Announce tries again every interval.
  socket->JoinGroup().IgnoreError();
  return socket;
}

DiscoverySocket::~DiscoverySocket() { close(fd_); }

absl::Status DiscoverySocket::FollowDevice(const std::string& ifname, int ifindex) {
  if (setsockopt(fd_, SOL_SOCKET, SO_BINDTODEVICE, ifname.c_str(),
                 static_cast<socklen_t>(ifname.size())) != 0) {
    return absl::UnavailableError(absl::StrCat("binding the discovery socket to ", ifname,
                                               " again: ", std::strerror(errno)));
  }
  ifindex_ = ifindex;
  if (family_ != AF_INET6) return absl::OkStatus();
  if (setsockopt(fd_, IPPROTO_IPV6, IPV6_MULTICAST_IF, &ifindex, sizeof(ifindex)) != 0) {
    return absl::UnavailableError(
        absl::StrCat("IPV6_MULTICAST_IF on ", ifname, " again: ", std::strerror(errno)));
  }
  joined_ = false;  // the old device's membership went with it
  return JoinGroup();
}

absl::Status DiscoverySocket::JoinGroup() {
  if (family_ != AF_INET6 || joined_) return absl::OkStatus();
  ipv6_mreq join{};
  join.ipv6mr_multiaddr = GroupAddress();
  join.ipv6mr_interface = static_cast<unsigned>(ifindex_);
  if (setsockopt(fd_, IPPROTO_IPV6, IPV6_JOIN_GROUP, &join, sizeof(join)) != 0 &&
      errno != EADDRINUSE) {  // EADDRINUSE: joined already
    const int err = errno;
    return absl::UnavailableError(absl::StrCat(
        "joining ", IpText(IpAddress::V6(join.ipv6mr_multiaddr)), ": ", std::strerror(err)));
  }
  joined_ = true;
  return absl::OkStatus();
}

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

absl::Status DiscoverySocket::SendToGroup(const std::vector<uint8_t>& frame) {
  sockaddr_in6 dest{};
  dest.sin6_family = AF_INET6;
  dest.sin6_addr = GroupAddress();
  dest.sin6_port = htons(port_);
  dest.sin6_scope_id = static_cast<uint32_t>(ifindex_);
  if (sendto(fd_, frame.data(), frame.size(), 0, reinterpret_cast<sockaddr*>(&dest),
             sizeof(dest)) < 0) {
    return absl::UnavailableError(absl::StrCat("sending an announcement to ",
                                               IpText(IpAddress::V6(dest.sin6_addr)), ": ",
                                               std::strerror(errno)));
  }
  return absl::OkStatus();
}

std::vector<ReceivedDatagram> DiscoverySocket::Receive(size_t max_datagrams) {
  std::vector<ReceivedDatagram> out;
  // One byte more than the limit is enough to see that a datagram is too
  // long; MSG_TRUNC then reports how long it really was.
  uint8_t buf[kMaxAnnouncementSize + 1];
  alignas(cmsghdr) uint8_t control[CMSG_SPACE(sizeof(int))];
  while (out.size() < max_datagrams) {
    sockaddr_storage from{};
    iovec iov{buf, sizeof(buf)};
    msghdr msg{};
    msg.msg_name = &from;
    msg.msg_namelen = sizeof(from);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    const ssize_t n = recvmsg(fd_, &msg, MSG_TRUNC);
    if (n < 0) break;  // EAGAIN: drained (other errors: retried on the next wakeup)
    ReceivedDatagram d;
    d.wire_size = static_cast<size_t>(n);
    d.bytes.assign(buf, buf + std::min(d.wire_size, sizeof(buf)));
    // Bound to one interface: that is where it arrived (a link-local
    // sender's scope id says the same).
    d.from.ifindex = ifindex_;
    if (from.ss_family == AF_INET6) {
      d.from.address = IpAddress::V6(reinterpret_cast<const sockaddr_in6*>(&from)->sin6_addr);
      for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_HOPLIMIT &&
            c->cmsg_len >= CMSG_LEN(sizeof(int))) {
          int hops = 0;
          std::memcpy(&hops, CMSG_DATA(c), sizeof(hops));
          d.hop_limit = hops;
        }
      }
    } else {
      d.from.address = IpAddress::V4(reinterpret_cast<const sockaddr_in*>(&from)->sin_addr);
    }
    out.push_back(std::move(d));
  }
  return out;
}

}  // namespace meshbpf
