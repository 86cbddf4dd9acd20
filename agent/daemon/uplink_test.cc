#include "agent/daemon/uplink_test.h"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bpf/meshbpf.h"

namespace meshbpf {
namespace {

// RFC 863 discard: the peer's kernel takes the datagrams and drops them.
constexpr uint16_t kDiscardPort = 9;

}  // namespace

uint32_t Pacer::Due(uint64_t now_ns) {
  const double now = static_cast<double>(now_ns);
  if (now < next_ns_) return 0;
  const double owed = std::floor((now - next_ns_) / ns_per_packet_) + 1;
  const auto due = static_cast<uint32_t>(std::min<double>(owed, max_burst_));
  // Skipped packets stay skipped: the rate never runs ahead to catch up.
  next_ns_ = owed > max_burst_ ? now + ns_per_packet_ : next_ns_ + due * ns_per_packet_;
  return due;
}

bool MarksBracketLoad(const std::optional<DeliveryMark>& start,
                      const std::optional<DeliveryMark>& end, uint64_t load_start_ns,
                      uint64_t load_end_ns) {
  return start && end && start->sent_ns <= load_start_ns && end->sent_ns >= load_end_ns &&
         load_end_ns > load_start_ns && CountersMovedOn(*start, *end);
}

PathTestResult CompareMarks(const std::string& path, const std::optional<DeliveryMark>& start,
                            const std::optional<DeliveryMark>& end, uint64_t load_start_ns,
                            uint64_t load_end_ns) {
  PathTestResult r;
  r.path = path;
  if (!MarksBracketLoad(start, end, load_start_ns, load_end_ns)) return r;
  const double seconds = static_cast<double>(load_end_ns - load_start_ns) / 1e9;
  r.sent_mbit = static_cast<double>(end->tx.bytes - start->tx.bytes) * 8 / 1e6 / seconds;
  r.delivered_mbit = static_cast<double>(end->rx.bytes - start->rx.bytes) * 8 / 1e6 / seconds;
  const uint64_t sent = end->tx.packets - start->tx.packets;
  const uint64_t delivered = end->rx.packets - start->rx.packets;
  if (sent > 0) {
    r.delivery_loss = delivered >= sent ? 0.0 : static_cast<double>(sent - delivered) / sent;
  }
  return r;
}

absl::StatusOr<std::unique_ptr<LoadSender>> LoadSender::Open(in_addr bond_address, in_addr peer,
                                                             uint8_t path_id) {
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  const uint32_t mark = MB_PROBE_MARK | path_id;
  sockaddr_in local{};
  local.sin_family = AF_INET;
  local.sin_addr = bond_address;
  sockaddr_in remote{};
  remote.sin_family = AF_INET;
  remote.sin_addr = peer;
  remote.sin_port = htons(kDiscardPort);
  if (setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof(mark)) != 0 ||
      bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof(local)) != 0 ||
      connect(fd, reinterpret_cast<sockaddr*>(&remote), sizeof(remote)) != 0) {
    const int err = errno;
    close(fd);
    return absl::UnavailableError(
        absl::StrCat("test load socket for path ", path_id, ": ", std::strerror(err)));
  }
  return std::unique_ptr<LoadSender>(new LoadSender(fd));
}

LoadSender::~LoadSender() { close(fd_); }

void LoadSender::Send(uint32_t count) {
  static const std::string payload(kTestPayloadBytes, 'm');
  for (uint32_t i = 0; i < count; ++i) {
    if (send(fd_, payload.data(), payload.size(), 0) < 0) return;
  }
}

}  // namespace meshbpf
