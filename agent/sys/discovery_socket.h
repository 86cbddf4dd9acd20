// The discovery sockets: UDP on node_discovery.port, bound to one interface.
// Per interface one IPv4 socket, which broadcasts announcements to the
// interface's subnet and reads what others broadcast, and one IPv6 socket,
// which sends to and reads from the link-local group kDiscoveryGroupIpv6.
// Two sockets rather than one dual-stack socket: IPv4 broadcast through an
// IPv6 socket (v4-mapped addresses) is a corner of the kernel few programs
// use, and a family missing on a host or a LAN then costs only its socket.
// I/O only; everything they read goes to AnnouncementIntake.
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/core/discovery.h"

namespace meshbpf {

// The directed broadcast address of addr/prefix_len (prefix_len 0-32).
in_addr SubnetBroadcast(in_addr addr, int prefix_len);

// What `ifname` can announce from now.
struct InterfaceFamilies {
  std::optional<in_addr> ipv4_broadcast;  // of its first IPv4 address; nullopt: no IPv4
  bool ipv6 = false;                      // it has an IPv6 address (link-local counts)
};
absl::StatusOr<InterfaceFamilies> AnnounceableFamilies(const std::string& ifname);

// The broadcast address of the first IPv4 address on `ifname`.
absl::StatusOr<in_addr> InterfaceBroadcast(const std::string& ifname);

class DiscoverySocket {
 public:
  // IPv4: binds port on every address, but only for traffic of `ifname`
  // (SO_BINDTODEVICE), so one socket per interface can share the port.
  static absl::StatusOr<std::unique_ptr<DiscoverySocket>> Open(const std::string& ifname,
                                                               uint16_t port);
  // IPv6 (IPV6_V6ONLY), likewise bound to `ifname`, sending to
  // kDiscoveryGroupIpv6 there with hop limit kDiscoveryHopLimit and
  // reporting each datagram's hop limit. Joins the group if it can (an
  // interface whose IPv6 is disabled cannot): see JoinGroup.
  static absl::StatusOr<std::unique_ptr<DiscoverySocket>> OpenIpv6(const std::string& ifname,
                                                                   uint16_t port);
  ~DiscoverySocket();
  DiscoverySocket(const DiscoverySocket&) = delete;
  DiscoverySocket& operator=(const DiscoverySocket&) = delete;

  int fd() const { return fd_; }
  int family() const { return family_; }
  // IPv6: joins kDiscoveryGroupIpv6 on the interface unless joined already.
  absl::Status JoinGroup();
  // The interface was created again under its name (a USB adapter
  // replugged), as `ifindex`: the socket was bound to the old device's
  // index, so binds again (IPv6: points multicast there and joins anew).
  absl::Status FollowDevice(const std::string& ifname, int ifindex);
  // IPv4 sockets: to a broadcast address.
  absl::Status Send(in_addr to, const std::vector<uint8_t>& frame);
  // IPv6 sockets: to kDiscoveryGroupIpv6 on the interface.
  absl::Status SendToGroup(const std::vector<uint8_t>& frame);
  // Every datagram waiting now, up to `max_datagrams` so one busy peer cannot
  // hold the agent's loop. Datagrams longer than kMaxAnnouncementSize come
  // back cut, with their real wire_size.
  std::vector<ReceivedDatagram> Receive(size_t max_datagrams = 64);

 private:
  DiscoverySocket(int fd, int family, uint16_t port, int ifindex)
      : fd_(fd), family_(family), port_(port), ifindex_(ifindex) {}
  int fd_;
  int family_;
  uint16_t port_;
  int ifindex_;
  bool joined_ = false;
};

}  // namespace meshbpf
