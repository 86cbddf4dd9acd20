// Loss repair's system half (docs/design/loss-repair.md): the ring buffer
// in which the data path reports the sequence numbers this node lost, and
// the packet socket through which this node's kept copies go out again.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "absl/status/statusor.h"
#include "bpf/meshbpf.h"

struct ring_buffer;

namespace meshbpf {

class RepairChannel {
 public:
  // `requests_fd` and `copies_fd`: the data path's mb_repair_requests and
  // mb_repair_copies; `bond_ifindex`: the bond device, whose far end runs
  // mb_encap. Needs CAP_NET_RAW (the packet socket): before privileges drop.
  static absl::StatusOr<std::unique_ptr<RepairChannel>> Open(int requests_fd, int copies_fd,
                                                             int bond_ifindex);
  ~RepairChannel();
  RepairChannel(const RepairChannel&) = delete;
  RepairChannel& operator=(const RepairChannel&) = delete;

  // Readable when the data path has reported lost numbers.
  int fd() const;
  // Every report pending goes to `on_request`.
  void DrainRequests(const std::function<void(const mb_repair_request&)>& on_request);

  enum class Sent { kSent, kNoCopy };
  // Sends the kept copy of bond_seq `seq` into the bond, marked for
  // mb_encap to send it on `path_id` with that number. kNoCopy when the
  // copy's slot holds another number now (or none, or it changed while
  // read); an error when the socket refused it.
  absl::StatusOr<Sent> SendCopy(uint32_t seq, uint8_t path_id);

 private:
  RepairChannel(int copies_fd, uint32_t copies_entries, int socket_fd, int bond_ifindex)
      : copies_fd_(copies_fd), copies_entries_(copies_entries), socket_fd_(socket_fd),
        bond_ifindex_(bond_ifindex) {}
  ring_buffer* requests_ = nullptr;
  int copies_fd_;
  uint32_t copies_entries_;
  int socket_fd_;
  int bond_ifindex_;
  // The callback DrainRequests was given, while it runs.
  const std::function<void(const mb_repair_request&)>* on_request_ = nullptr;
};

}  // namespace meshbpf
