// Loads the data path through the bpftool-generated skeleton, pins its maps
// and attaches/detaches its TC programs. Detaches exactly what it attached.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "agent/sys/map_io.h"

struct meshbpf_bpf;  // the skeleton (build/bpf/meshbpf.skel.h)

namespace meshbpf {

class Datapath {
 public:
  // Opens and loads the programs; maps are pinned in (or reused from)
  // `pin_dir`, so counters and sequence numbers survive an agent restart.
  static absl::StatusOr<std::unique_ptr<Datapath>> Load(const std::string& pin_dir);
  ~Datapath();
  Datapath(const Datapath&) = delete;
  Datapath& operator=(const Datapath&) = delete;

  // TC ingress of the bond's far end: encapsulate and send.
  absl::Status AttachEncap(int ifindex);
  // TC ingress of an uplink: decapsulate meshbpf packets.
  absl::Status AttachDecap(int ifindex);
  // Removes every filter this object attached (and clsact hooks it created).
  void DetachAll();
  // Runs mb_reseq_tick once: the resequencer releases the held packets that
  // are due (no timer in the kernel can send them).
  absl::Status ReleaseDueHeld() const;

  const MapSet& maps() const { return maps_; }

 private:
  explicit Datapath(struct ::meshbpf_bpf* skel);
  absl::Status Attach(int ifindex, int prog_fd, const char* what);

  struct Attachment {
    int ifindex;
    bool created_hook;
  };
  struct ::meshbpf_bpf* skel_;
  MapSet maps_;
  std::vector<Attachment> attachments_;
};

}  // namespace meshbpf
