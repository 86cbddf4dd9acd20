#include "agent/sys/repair_channel.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <span>

#include "absl/strings/str_cat.h"
#include "agent/core/inet_checksum.h"
#include "agent/sys/marked_send.h"

namespace meshbpf {
namespace {

// The copy of `seq` read once from its slot (seq modulo the map's
// entries, a power of two); false when the map cannot be read.
bool ReadCopy(int copies_fd, uint32_t entries, uint32_t seq, mb_repair_copy* copy) {
  uint32_t key = seq & (entries - 1);
  return bpf_map_lookup_elem(copies_fd, &key, copy) == 0;
}

}  // namespace

absl::StatusOr<std::unique_ptr<RepairChannel>> RepairChannel::Open(int requests_fd, int copies_fd,
                                                                   int bond_ifindex) {
  const int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    return absl::InternalError(absl::StrCat("loss repair: opening a packet socket: ", std::strerror(errno)));
  }
  // Nothing is received on it: protocol 0 binds it to the bond for sending only.
  sockaddr_ll at{};
  at.sll_family = AF_PACKET;
  at.sll_ifindex = bond_ifindex;
  if (bind(fd, reinterpret_cast<sockaddr*>(&at), sizeof(at)) != 0) {
    const int err = errno;
    close(fd);
    return absl::InternalError(absl::StrCat("loss repair: binding a packet socket to the bond: ",
                                            std::strerror(err)));
  }
  auto on_record = [](void* ctx, void* data, size_t size) -> int {
    auto* self = static_cast<RepairChannel*>(ctx);
    if (self->on_request_ == nullptr || size < sizeof(mb_repair_request)) return 0;
    mb_repair_request r;
    std::memcpy(&r, data, sizeof(r));
    (*self->on_request_)(r);
    return 0;
  };
  bpf_map_info info{};
  uint32_t info_len = sizeof(info);
  if (bpf_obj_get_info_by_fd(copies_fd, &info, &info_len) != 0 || info.max_entries == 0) {
    const int err = errno;
    close(fd);
    return absl::InternalError(absl::StrCat("loss repair: reading mb_repair_copies' size: ",
                                            std::strerror(err)));
  }
  auto channel = std::unique_ptr<RepairChannel>(
      new RepairChannel(copies_fd, info.max_entries, fd, bond_ifindex));
  channel->requests_ = ring_buffer__new(requests_fd, on_record, channel.get(), nullptr);
  if (channel->requests_ == nullptr) {
    return absl::InternalError(absl::StrCat("loss repair: reading mb_repair_requests: ",
                                            std::strerror(errno)));
  }
  return channel;
}

RepairChannel::~RepairChannel() {
  if (requests_ != nullptr) ring_buffer__free(requests_);
  close(socket_fd_);
}

int RepairChannel::fd() const { return ring_buffer__epoll_fd(requests_); }

void RepairChannel::DrainRequests(const std::function<void(const mb_repair_request&)>& on_request) {
  on_request_ = &on_request;
  ring_buffer__consume(requests_);
  on_request_ = nullptr;
}

absl::StatusOr<RepairChannel::Sent> RepairChannel::SendCopy(uint32_t seq, uint8_t path_id) {
  // Read twice: mb_encap may be reusing the slot while the syscall copies
  // it (it zeroes len first and writes seq and len last), and a frame torn
  // between two packets must never go out under either's number.
  mb_repair_copy copy, again;
  if (!ReadCopy(copies_fd_, copies_entries_, seq, &copy) ||
      !ReadCopy(copies_fd_, copies_entries_, seq, &again)) {
    return absl::InternalError(absl::StrCat("loss repair: reading mb_repair_copies: ", std::strerror(errno)));
  }
  if (copy.seq != seq || copy.len < ETH_HLEN || copy.len > MB_RESEQ_FRAME_MAX ||
      again.seq != copy.seq || again.len != copy.len ||
      std::memcmp(copy.data, again.data, copy.len) != 0) {
    return Sent::kNoCopy;
  }
  const std::span<uint8_t> frame(copy.data, copy.len);
  FixTransportChecksum(frame);
  iovec iov{copy.data, copy.len};
  sockaddr_ll to{};
  to.sll_family = AF_PACKET;
  to.sll_ifindex = bond_ifindex_;
  std::memcpy(&to.sll_protocol, &copy.data[12], 2);  // the frame's EtherType, network order
  const uint32_t mark = MB_REPAIR_MARK | static_cast<uint32_t>(path_id) << MB_REPAIR_PATH_SHIFT |
                        (seq & MB_REPAIR_SEQ_MASK);
  if (SendMarked(socket_fd_, &to, sizeof(to), &iov, 1, mark, MSG_DONTWAIT) < 0) {
    return absl::UnavailableError(absl::StrCat("loss repair: sending the copy of ", seq, ": ",
                                               std::strerror(errno)));
  }
  return Sent::kSent;
}

}  // namespace meshbpf
