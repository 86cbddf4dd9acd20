#include "agent/sys/datapath.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "agent/sys/log.h"
#include "agent/sys/netdev.h"
#include "agent/sys/reseq_slots.h"
#include "meshbpf.skel.h"

namespace meshbpf {
namespace {

// Our filters' identity on a clsact hook, so we replace and remove only ours.
// Priority 1: first on the hook, so tunnel packets are ours before another
// classifier sees them; everything else mb_decap hands on (MB_NOT_OURS).
constexpr uint32_t kTcHandle = 0x4d42;  // "MB"
constexpr uint32_t kTcPriority = 1;

absl::Status LibbpfError(const std::string& what, int err) {
  err = err < 0 ? -err : err;
  return absl::Status(absl::ErrnoToStatusCode(err), absl::StrCat(what, ": ", std::strerror(err)));
}

bpf_tc_hook IngressHook(int ifindex) {
  bpf_tc_hook hook{};
  hook.sz = sizeof(hook);
  hook.ifindex = ifindex;
  hook.attach_point = BPF_TC_INGRESS;
  return hook;
}

bpf_tc_opts OurFilter() {
  bpf_tc_opts opts{};
  opts.sz = sizeof(opts);
  opts.handle = kTcHandle;
  opts.priority = kTcPriority;
  return opts;
}

// What libbpf compares before it reuses a pinned map.
std::string MapShape(uint32_t type, uint32_t key_size, uint32_t value_size, uint32_t max_entries,
                     uint32_t flags) {
  return absl::StrFormat("type %u, key %u B, value %u B, %u entries, flags 0x%x", type, key_size,
                         value_size, max_entries, flags);
}

// A map pinned by an older meshbpf with another shape (a grown value, more
// entries) makes libbpf refuse the whole object, and the agent would not
// start after an upgrade. Such pins are removed, and logged: that map's
// contents start over, every compatible one keeps its own.
void UnpinIncompatibleMaps(const struct ::meshbpf_bpf* skel) {
  struct ::bpf_map* map;
  bpf_object__for_each_map(map, skel->obj) {
    const char* path = bpf_map__pin_path(map);
    if (path == nullptr) continue;
    const int pinned = bpf_obj_get(path);
    if (pinned < 0) continue;  // not pinned yet
    bpf_map_info info{};
    uint32_t len = sizeof(info);
    const int err = bpf_obj_get_info_by_fd(pinned, &info, &len);
    close(pinned);
    if (err != 0) continue;  // libbpf reports it while loading
    const std::string old_shape =
        MapShape(info.type, info.key_size, info.value_size, info.max_entries, info.map_flags);
    const std::string new_shape =
        MapShape(bpf_map__type(map), bpf_map__key_size(map), bpf_map__value_size(map),
                 bpf_map__max_entries(map), bpf_map__map_flags(map));
    if (old_shape == new_shape) continue;
    if (unlink(path) != 0) {
      Log(LogLevel::kError, absl::StrCat("pinned map ", path, " (", old_shape,
                                         ") does not fit this meshbpf (", new_shape,
                                         ") and cannot be removed: ", std::strerror(errno)));
      continue;
    }
    Log(LogLevel::kWarning, absl::StrCat("pinned map ", bpf_map__name(map), " was left by another meshbpf (",
                                         old_shape, "; now ", new_shape, "): replaced, its contents start over"));
  }
}

}  // namespace

Datapath::Datapath(struct ::meshbpf_bpf* skel)
    : skel_(skel),
      maps_(bpf_map__fd(skel->maps.mb_config), bpf_map__fd(skel->maps.mb_paths),
            bpf_map__fd(skel->maps.mb_sched), bpf_map__fd(skel->maps.mb_counters),
            bpf_map__fd(skel->maps.mb_peers), bpf_map__fd(skel->maps.mb_peers6),
            /*owned=*/false) {}

Datapath::~Datapath() {
  DetachAll();
  meshbpf_bpf__destroy(skel_);
}

absl::StatusOr<std::unique_ptr<Datapath>> Datapath::Load(const std::string& pin_dir,
                                                         uint32_t reseq_slots, bool loss_repair) {
  if (absl::Status s = EnsureBpffsDir(pin_dir); !s.ok()) return s;
  bpf_object_open_opts opts{};
  opts.sz = sizeof(opts);
  opts.pin_root_path = pin_dir.c_str();
  struct ::meshbpf_bpf* skel = meshbpf_bpf__open_opts(&opts);
  if (!skel) return LibbpfError("opening the BPF object", errno);
  if (absl::Status s = SizeResequencer(skel, reseq_slots, loss_repair); !s.ok()) {
    meshbpf_bpf__destroy(skel);
    return s;
  }
  UnpinIncompatibleMaps(skel);
  if (int err = meshbpf_bpf__load(skel); err != 0) {
    meshbpf_bpf__destroy(skel);
    if (err == -EINVAL) {
      return absl::FailedPreconditionError(absl::StrCat(
          "loading the BPF programs failed (EINVAL); run with LIBBPF_LOG=1 for the verifier log "
          "(pinned maps in ", pin_dir, " were checked against this version's)"));
    }
    return LibbpfError("loading the BPF programs", err);
  }
  return std::unique_ptr<Datapath>(new Datapath(skel));
}

absl::Status Datapath::Attach(int ifindex, int prog_fd, const char* what) {
  bpf_tc_hook hook = IngressHook(ifindex);
  int err = bpf_tc_hook_create(&hook);
  if (err != 0 && err != -EEXIST) {
    return LibbpfError(absl::StrCat("creating clsact on ifindex ", ifindex), err);
  }
  bpf_tc_opts opts = OurFilter();
  opts.prog_fd = prog_fd;
  opts.flags = BPF_TC_F_REPLACE;
  if (int aerr = bpf_tc_attach(&hook, &opts); aerr != 0) {
    if (err == 0) bpf_tc_hook_destroy(&hook);
    return LibbpfError(absl::StrCat("attaching ", what, " to ifindex ", ifindex), aerr);
  }
  attachments_.push_back({ifindex, /*created_hook=*/err == 0});
  return absl::OkStatus();
}

absl::Status Datapath::AttachEncap(int ifindex) {
  return Attach(ifindex, bpf_program__fd(skel_->progs.mb_encap), "mb_encap");
}

absl::Status Datapath::AttachDecap(int ifindex) {
  return Attach(ifindex, bpf_program__fd(skel_->progs.mb_decap), "mb_decap");
}

int Datapath::repair_requests_fd() const { return bpf_map__fd(skel_->maps.mb_repair_requests); }
int Datapath::repair_copies_fd() const { return bpf_map__fd(skel_->maps.mb_repair_copies); }

absl::Status Datapath::ReleaseDueHeld() const {
  // A minimal Ethernet frame to carry the released frames (bpf/lib/reseq.h).
  static constexpr unsigned char kCarrier[64] = {};
  bpf_test_run_opts opts{};
  opts.sz = sizeof(opts);
  opts.data_in = kCarrier;
  opts.data_size_in = sizeof(kCarrier);
  opts.repeat = 1;
  int err = bpf_prog_test_run_opts(bpf_program__fd(skel_->progs.mb_reseq_tick), &opts);
  return err == 0 ? absl::OkStatus() : LibbpfError("running mb_reseq_tick", err);
}

absl::Status Datapath::AttachCgroupMark(const std::string& cgroup_path, uint32_t mark) {
  const int cgroup = open(cgroup_path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (cgroup < 0) {
    return absl::NotFoundError(absl::StrCat("cgroup ", cgroup_path, ": ", std::strerror(errno)));
  }
  skel_->bss->mb_cgroup_sock_mark = mark;
  struct ::bpf_link* link = bpf_program__attach_cgroup(skel_->progs.mb_cgroup_mark, cgroup);
  const int err = libbpf_get_error(link);
  close(cgroup);  // the link holds the cgroup
  if (err != 0) return LibbpfError(absl::StrCat("attaching mb_cgroup_mark to ", cgroup_path), err);
  cgroup_links_.push_back(link);
  return absl::OkStatus();
}

void Datapath::DetachAll() {
  for (struct ::bpf_link* link : cgroup_links_) bpf_link__destroy(link);
  cgroup_links_.clear();
  for (const Attachment& a : attachments_) {
    bpf_tc_hook hook = IngressHook(a.ifindex);
    bpf_tc_opts opts = OurFilter();
    bpf_tc_detach(&hook, &opts);  // fails harmlessly if the device is gone
    // The clsact we created goes too, unless another program has put a
    // filter on it since: removing it would remove theirs.
    if (!a.created_hook) continue;
    absl::StatusOr<bool> others = HasTcFilters(a.ifindex);
    if (others.ok() && !*others) {
      hook.attach_point = static_cast<bpf_tc_attach_point>(BPF_TC_INGRESS | BPF_TC_EGRESS);
      bpf_tc_hook_destroy(&hook);
    }
  }
  attachments_.clear();
}

}  // namespace meshbpf
