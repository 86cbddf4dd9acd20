#include "agent/sys/rtnetlink.h"

#include <linux/netlink.h>

#include "absl/strings/str_cat.h"

namespace meshbpf {

absl::Status NlError(const std::string& what, int err) {
  return absl::InternalError(absl::StrCat(what, ": ", nl_geterror(err)));
}

absl::StatusOr<NlSocket> ConnectRtnetlink() {
  NlSocket sock(nl_socket_alloc());
  if (!sock) return absl::ResourceExhaustedError("allocating a netlink socket");
  if (int err = nl_connect(sock.get(), NETLINK_ROUTE); err < 0) {
    return NlError("connecting to rtnetlink", err);
  }
  return sock;
}

}  // namespace meshbpf
