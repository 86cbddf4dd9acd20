// Loads the data path through the bpftool-generated skeleton, pins its maps
// and attaches/detaches its TC programs. Detaches exactly what it attached.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "agent/sys/map_io.h"

struct meshbpf_bpf;  // the skeleton (build/bpf/meshbpf.skel.h)
struct bpf_link;

namespace meshbpf {

class Datapath {
 public:
  // Opens and loads the programs; maps are pinned in (or reused from)
  // `pin_dir`, so counters and sequence numbers survive an agent restart.
  // The resequencer gets `reseq_slots` slots, and loss repair its copies
  // if on (SizeResequencer); pinned slots of another number are replaced.
  static absl::StatusOr<std::unique_ptr<Datapath>> Load(const std::string& pin_dir,
                                                        uint32_t reseq_slots, bool loss_repair);
  ~Datapath();
  Datapath(const Datapath&) = delete;
  Datapath& operator=(const Datapath&) = delete;

  // TC ingress of the bond's far end: encapsulate and send.
  absl::Status AttachEncap(int ifindex);
  // TC ingress of an uplink: decapsulate meshbpf packets.
  absl::Status AttachDecap(int ifindex);
  // Marks every socket created in the cgroup at `cgroup_path` (a cgroup v2
  // directory) with `mark`, one mark for all cgroups. Detached by DetachAll
  // and when the agent exits, however it exits (a link, not pinned).
  absl::Status AttachCgroupMark(const std::string& cgroup_path, uint32_t mark);
  // Removes every filter this object attached (and clsact hooks it created)
  // and its cgroup programs.
  void DetachAll();
  // Runs mb_reseq_tick once: the resequencer releases the held packets that
  // are due (no timer in the kernel can send them).
  absl::Status ReleaseDueHeld() const;

  const MapSet& maps() const { return maps_; }
  // Loss repair's maps (not pinned: they live as long as this object).
  int repair_requests_fd() const;
  int repair_copies_fd() const;

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
  std::vector<struct ::bpf_link*> cgroup_links_;
};

}  // namespace meshbpf
