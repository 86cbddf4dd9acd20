// An rtnetlink socket through libnl, as netdev, neighbors and policy_routing
// each open one for a request or two.
#pragma once

#include <netlink/netlink.h>

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace meshbpf {

struct NlSocketFree {
  void operator()(nl_sock* s) const { nl_socket_free(s); }
};
using NlSocket = std::unique_ptr<nl_sock, NlSocketFree>;

// A connected NETLINK_ROUTE socket.
absl::StatusOr<NlSocket> ConnectRtnetlink();
// "<what>: <libnl's text for err>".
absl::Status NlError(const std::string& what, int err);

}  // namespace meshbpf
