// The discovery socket: UDP on node_discovery.port, bound to one interface,
// broadcasting announcements to that interface's subnet and reading what
// others broadcast. I/O only; everything it reads goes to AnnouncementIntake.
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/core/discovery.h"

namespace meshbpf {

// The directed broadcast address of addr/prefix_len (prefix_len 0-32).
in_addr SubnetBroadcast(in_addr addr, int prefix_len);

// The broadcast address of the first IPv4 address on `ifname`.
absl::StatusOr<in_addr> InterfaceBroadcast(const std::string& ifname);

class DiscoverySocket {
 public:
  // Binds port on every address, but only for traffic of `ifname`
  // (SO_BINDTODEVICE), so one socket per interface can share the port.
  static absl::StatusOr<std::unique_ptr<DiscoverySocket>> Open(const std::string& ifname,
                                                               uint16_t port);
  ~DiscoverySocket();
  DiscoverySocket(const DiscoverySocket&) = delete;
  DiscoverySocket& operator=(const DiscoverySocket&) = delete;

  int fd() const { return fd_; }
  absl::Status Send(in_addr to, const std::vector<uint8_t>& frame);
  // Every datagram waiting now, up to `max_datagrams` so one busy peer cannot
  // hold the agent's loop. Datagrams longer than kMaxAnnouncementSize come
  // back cut, with their real wire_size.
  std::vector<ReceivedDatagram> Receive(size_t max_datagrams = 64);

 private:
  DiscoverySocket(int fd, uint16_t port) : fd_(fd), port_(port) {}
  int fd_;
  uint16_t port_;
};

}  // namespace meshbpf
