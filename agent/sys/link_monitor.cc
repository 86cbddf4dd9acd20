#include "agent/sys/link_monitor.h"

#include <linux/rtnetlink.h>
#include <netlink/netlink.h>
#include <sys/socket.h>

#include <cerrno>

#include "absl/strings/str_cat.h"

namespace meshbpf {

absl::StatusOr<std::unique_ptr<LinkMonitor>> LinkMonitor::Open() {
  nl_sock* sock = nl_socket_alloc();
  if (!sock) return absl::ResourceExhaustedError("allocating a netlink socket");
  nl_socket_disable_seq_check(sock);
  int err = nl_connect(sock, NETLINK_ROUTE);
  if (err >= 0) err = nl_socket_add_memberships(sock, RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR, 0);
  if (err >= 0) err = nl_socket_set_nonblocking(sock);
  if (err < 0) {
    nl_socket_free(sock);
    return absl::InternalError(absl::StrCat("subscribing to link events: ", nl_geterror(err)));
  }
  return std::unique_ptr<LinkMonitor>(new LinkMonitor(sock));
}

LinkMonitor::~LinkMonitor() { nl_socket_free(sock_); }

int LinkMonitor::fd() const { return nl_socket_get_fd(sock_); }

LinkMonitor::Drained LinkMonitor::Drain() {
  // The content does not matter (see the header): read and discard.
  static char buffer[16384];
  Drained result = Drained::kRead;
  for (int reads = 0; reads < kMaxReadsPerDrain; ++reads) {
    if (recv(fd(), buffer, sizeof(buffer), MSG_DONTWAIT) >= 0) continue;
    if (errno == EINTR) continue;
    // ENOBUFS is reported once; the next read returns what came after it.
    if (errno != ENOBUFS) break;
    result = Drained::kOverflowed;
  }
  return result;
}

}  // namespace meshbpf
