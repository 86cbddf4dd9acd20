#include "agent/map_io.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <vector>

#include "absl/strings/str_cat.h"

namespace meshbpf {

// The BPF side compiles the same header; a layout change must be deliberate.
static_assert(sizeof(mb_wire_hdr) == 12, "wire header is part of the protocol");
static_assert(MB_ENCAP_OVERHEAD == 40, "outer IPv4 + UDP + mb_wire_hdr");
static_assert(sizeof(mb_config) == 20);
static_assert(sizeof(mb_path) == 48);
static_assert(sizeof(mb_path_counters) == 8 * (4 + MB_DROP_REASONS));
static_assert(sizeof(mb_budget) == 24);
static_assert(sizeof(mb_flow_key) == 16 && sizeof(mb_flow) == 8 && sizeof(mb_nat_origin) == 8,
              "flow-mode map shapes");

namespace {

absl::Status Errno(const std::string& what, int err) {
  return absl::Status(absl::ErrnoToStatusCode(err), absl::StrCat(what, ": ", std::strerror(err)));
}

absl::Status Update(int fd, const char* map, uint32_t key, const void* value) {
  if (bpf_map_update_elem(fd, &key, value, BPF_ANY) != 0) {
    return Errno(absl::StrCat("updating ", map, "[", key, "]"), errno);
  }
  return absl::OkStatus();
}

absl::Status Lookup(int fd, const char* map, const void* key, void* value) {
  if (bpf_map_lookup_elem(fd, key, value) != 0) {
    return Errno(absl::StrCat("reading ", map), errno);
  }
  return absl::OkStatus();
}

bool IsBpffs(const std::string& path) {
  struct statfs fs {};
  return statfs(path.c_str(), &fs) == 0 && fs.f_type == BPF_FS_MAGIC;
}

}  // namespace

MapSet::MapSet(MapSet&& other) noexcept { *this = std::move(other); }

MapSet& MapSet::operator=(MapSet&& other) noexcept {
  if (this != &other) {
    Close();
    config_ = std::exchange(other.config_, -1);
    paths_ = std::exchange(other.paths_, -1);
    sched_ = std::exchange(other.sched_, -1);
    counters_ = std::exchange(other.counters_, -1);
    peers_ = std::exchange(other.peers_, -1);
    owned_ = std::exchange(other.owned_, false);
  }
  return *this;
}

MapSet::~MapSet() { Close(); }

void MapSet::Close() {
  if (!owned_) return;
  for (int* fd : {&config_, &paths_, &sched_, &counters_, &peers_}) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
  }
  owned_ = false;
}

absl::StatusOr<MapSet> MapSet::OpenPinned(const std::string& pin_dir) {
  const char* names[] = {"mb_config", "mb_paths", "mb_sched", "mb_counters", "mb_peers"};
  int fds[5];
  for (int i = 0; i < 5; ++i) {
    std::string path = absl::StrCat(pin_dir, "/", names[i]);
    fds[i] = bpf_obj_get(path.c_str());
    if (fds[i] < 0) {
      int err = errno;
      for (int j = 0; j < i; ++j) close(fds[j]);
      if (err == ENOENT) {
        return absl::NotFoundError(absl::StrCat(
            "no meshbpf data path at ", pin_dir, " (", names[i],
            " is not pinned): is the agent running with this --pin-root/--instance?"));
      }
      return Errno(absl::StrCat("opening ", path), err);
    }
  }
  return MapSet(fds[0], fds[1], fds[2], fds[3], fds[4], /*owned=*/true);
}

absl::Status MapSet::WriteConfig(const mb_config& config) const {
  return Update(config_, "mb_config", 0, &config);
}

absl::StatusOr<mb_config> MapSet::ReadConfig() const {
  uint32_t key = 0;
  mb_config config{};
  if (absl::Status s = Lookup(config_, "mb_config", &key, &config); !s.ok()) return s;
  return config;
}

absl::Status MapSet::WritePaths(const PathTable& paths) const {
  for (uint32_t i = 0; i < MB_MAX_PATHS; ++i) {
    if (absl::Status s = Update(paths_, "mb_paths", i, &paths[i]); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<PathTable> MapSet::ReadPaths() const {
  PathTable table{};
  for (uint32_t i = 0; i < MB_MAX_PATHS; ++i) {
    if (absl::Status s = Lookup(paths_, "mb_paths", &i, &table[i]); !s.ok()) return s;
  }
  return table;
}

absl::Status MapSet::SyncPeers(const std::set<in_addr_t>& peers) const {
  absl::StatusOr<std::set<in_addr_t>> current = ReadPeers();
  if (!current.ok()) return current.status();
  for (in_addr_t addr : *current) {
    if (!peers.count(addr) && bpf_map_delete_elem(peers_, &addr) != 0 && errno != ENOENT) {
      return Errno("removing a peer from mb_peers", errno);
    }
  }
  mb_peer value{};
  for (in_addr_t addr : peers) {
    if (bpf_map_update_elem(peers_, &addr, &value, BPF_ANY) != 0) {
      return Errno("adding a peer to mb_peers (is the map full?)", errno);
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::set<in_addr_t>> MapSet::ReadPeers() const {
  std::set<in_addr_t> out;
  in_addr_t key = 0;
  in_addr_t next = 0;
  const void* prev = nullptr;
  while (bpf_map_get_next_key(peers_, prev, &next) == 0) {
    out.insert(next);
    key = next;
    prev = &key;
  }
  if (errno != ENOENT) return Errno("listing mb_peers", errno);
  return out;
}

absl::StatusOr<CounterTable> MapSet::ReadCounters() const {
  const int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) return Errno("counting possible CPUs", -cpus);
  CounterTable sums{};
  std::vector<mb_path_counters> per_cpu(static_cast<size_t>(cpus));
  for (uint32_t slot = 0; slot < MB_COUNTER_SLOTS; ++slot) {
    if (absl::Status s = Lookup(counters_, "mb_counters", &slot, per_cpu.data()); !s.ok()) {
      return s;
    }
    for (const mb_path_counters& c : per_cpu) mb_counters_add(&sums[slot], &c);
  }
  return sums;
}

absl::StatusOr<std::unique_ptr<PinnedBudgetMap>> PinnedBudgetMap::Open(
    const std::string& pin_dir) {
  const std::string path = absl::StrCat(pin_dir, "/mb_budget");
  const int fd = bpf_obj_get(path.c_str());
  if (fd < 0) return Errno(absl::StrCat("opening ", path), errno);
  return std::unique_ptr<PinnedBudgetMap>(new PinnedBudgetMap(fd));
}

PinnedBudgetMap::~PinnedBudgetMap() { close(fd_); }

absl::StatusOr<mb_budget> PinnedBudgetMap::Read(uint32_t path_id) const {
  mb_budget budget{};
  if (absl::Status s = Lookup(fd_, "mb_budget", &path_id, &budget); !s.ok()) return s;
  return budget;
}

absl::Status PinnedBudgetMap::Write(uint32_t path_id, const mb_budget& budget) const {
  return Update(fd_, "mb_budget", path_id, &budget);
}

std::string InstancePinDir(const std::string& pin_root, const std::string& instance) {
  return absl::StrCat(pin_root, "/", instance);
}

absl::Status EnsureBpffsDir(const std::string& dir) {
  namespace fs = std::filesystem;
  const std::string default_mount = "/sys/fs/bpf";
  if (dir.rfind(default_mount + "/", 0) == 0 && !IsBpffs(default_mount)) {
    if (mount("bpf", default_mount.c_str(), "bpf", 0, "mode=0700") != 0) {
      return Errno("mounting bpffs at /sys/fs/bpf", errno);
    }
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("creating ", dir, ": ", ec.message()));
  if (!IsBpffs(dir)) {
    return absl::FailedPreconditionError(
        absl::StrCat(dir, " is not on a bpffs mount; mount one (mount -t bpf bpf DIR) "
                          "or choose another --pin-root"));
  }
  return absl::OkStatus();
}

}  // namespace meshbpf
