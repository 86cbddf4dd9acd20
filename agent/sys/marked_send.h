// Sending one datagram or frame with its own skb->mark (SO_MARK as a
// control message), so one socket serves every path: the data path reads
// the mark to choose the path (probes, repairs; bpf/meshbpf.h).
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <cstring>

namespace meshbpf {

// Sends `iov` (iov_count parts) to `to` with `mark`; sendmsg's result.
inline ssize_t SendMarked(int fd, const void* to, socklen_t to_len, iovec* iov, size_t iov_count,
                          uint32_t mark, int flags) {
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(uint32_t))] = {};
  msghdr msg{};
  msg.msg_name = const_cast<void*>(to);
  msg.msg_namelen = to_len;
  msg.msg_iov = iov;
  msg.msg_iovlen = iov_count;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SO_MARK;
  c->cmsg_len = CMSG_LEN(sizeof(uint32_t));
  std::memcpy(CMSG_DATA(c), &mark, sizeof(mark));
  return sendmsg(fd, &msg, flags);
}

}  // namespace meshbpf
