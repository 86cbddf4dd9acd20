#include "agent/sys/map_io.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/core/net_format.h"

namespace meshbpf {

// The BPF side compiles the same header; a layout change must be deliberate.
static_assert(sizeof(mb_wire_hdr) == 12, "wire header is part of the protocol");
static_assert(MB_ENCAP_OVERHEAD == 40, "outer IPv4 + UDP + mb_wire_hdr");
static_assert(sizeof(mb_config) == 48);
static_assert(sizeof(mb_path) == 100 && sizeof(mb_ip6) == 16);
static_assert(sizeof(mb_learned_source) == 56);
static_assert(sizeof(mb_path_counters) == 8 * (4 + MB_DROP_REASONS));
static_assert(sizeof(mb_budget) == 24);
static_assert(sizeof(mb_heartbeat) == 16);
static_assert(sizeof(mb_prefix_v4) == 8 && sizeof(mb_prefix_v6) == 20, "LPM keys");
static_assert(sizeof(mb_auth_tx) == 64 && sizeof(mb_auth_rx) == 72 + 8 * MB_AUTH_BITMAP_WORDS,
              "authentication map shapes");
static_assert(sizeof(mb_flow_key) == 40 && sizeof(mb_flow) == 20 && sizeof(mb_nat_origin) == 20,
              "flow-mode map shapes");
static_assert(sizeof(mb_relay) == 68 && sizeof(mb_relay_key) == 20 &&
                  sizeof(mb_relay_counters) == 8 * (4 + MB_RELAY_DROP_REASONS) &&
                  sizeof(mb_relay_bucket) == 24,
              "relay map shapes");
static_assert(sizeof(mb_reseq) == 48 + 4 * MB_MAX_PATHS && sizeof(mb_reseq_slot) == 24 + MB_RESEQ_FRAME_MAX &&
                  sizeof(mb_reseq_counters) == 8 * 12,
              "resequencing map shapes");
static_assert(sizeof(mb_repair_copy) == 8 + MB_RESEQ_FRAME_MAX && sizeof(mb_repair_request) == 16,
              "loss repair map shapes");
static_assert((MB_RESEQ_WINDOW & (MB_RESEQ_WINDOW - 1)) == 0, "slots are indexed by seq % window");
static_assert(MB_RELAY_PORT_SPAN == MB_RELAY_RETURN_OFFSET + MB_MAX_RELAYS &&
                  MB_RELAY_MAX_UPLINKS <= MB_RELAY_RETURN_OFFSET,
              "forward and return relay ports must not overlap");

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

// Entry `key` of an array map of T (most hold one entry: key 0).
template <typename T>
absl::StatusOr<T> ReadEntry(int fd, const char* map, uint32_t key = 0) {
  T value{};
  if (absl::Status s = Lookup(fd, map, &key, &value); !s.ok()) return s;
  return value;
}

// Opens the maps `names` pinned in `pin_dir` into `fds` (all or none); the
// error says when no agent has pinned them there.
absl::Status OpenPins(const std::string& pin_dir, const std::vector<const char*>& names,
                      std::vector<int>* fds) {
  fds->clear();
  for (const char* name : names) {
    const std::string path = absl::StrCat(pin_dir, "/", name);
    const int fd = bpf_obj_get(path.c_str());
    if (fd < 0) {
      const int err = errno;
      for (int open_fd : *fds) close(open_fd);
      fds->clear();
      if (err == ENOENT) {
        return absl::NotFoundError(absl::StrCat(
            "no meshbpf data path at ", pin_dir, " (", name,
            " is not pinned): is the agent running with this --pin-root/--instance?"));
      }
      return Errno(absl::StrCat("opening ", path), err);
    }
    fds->push_back(fd);
  }
  return absl::OkStatus();
}

// Sums a per-CPU map's entry with `add(sum, one_cpu)`.
template <typename T, typename Add>
absl::Status SumPerCpu(int fd, const char* map, uint32_t key, T* sum, Add add) {
  const int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) return Errno("counting possible CPUs", -cpus);
  std::vector<T> per_cpu(static_cast<size_t>(cpus));
  if (absl::Status s = Lookup(fd, map, &key, per_cpu.data()); !s.ok()) return s;
  for (const T& c : per_cpu) add(sum, &c);
  return absl::OkStatus();
}

// Every key of hash-like map `fd` (hash, LPM trie), in the kernel's order.
template <typename Key>
absl::StatusOr<std::vector<Key>> ListKeys(int fd, const char* map) {
  std::vector<Key> keys;
  Key key{}, next{};
  for (const void* prev = nullptr; bpf_map_get_next_key(fd, prev, &next) == 0; prev = &key) {
    key = next;
    keys.push_back(next);
  }
  if (errno != ENOENT) return Errno(absl::StrCat("listing ", map), errno);
  return keys;
}

// Makes hash-like map `fd` hold exactly `keys`, each with `value`: the
// stale keys go first, so the map never holds more than both sets need.
template <typename Key, typename Value>
absl::Status SyncKeys(int fd, const char* map, const std::vector<Key>& keys, const Value& value) {
  absl::StatusOr<std::vector<Key>> current = ListKeys<Key>(fd, map);
  if (!current.ok()) return current.status();
  for (const Key& old : *current) {
    const bool wanted = std::any_of(keys.begin(), keys.end(), [&](const Key& k) {
      return std::memcmp(&k, &old, sizeof(Key)) == 0;
    });
    if (!wanted && bpf_map_delete_elem(fd, &old) != 0 && errno != ENOENT) {
      return Errno(absl::StrCat("removing an entry from ", map), errno);
    }
  }
  for (const Key& k : keys) {
    if (bpf_map_update_elem(fd, &k, &value, BPF_ANY) != 0) {
      return Errno(absl::StrCat("adding an entry to ", map, " (is the map full?)"), errno);
    }
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
    peers6_ = std::exchange(other.peers6_, -1);
    owned_ = std::exchange(other.owned_, false);
  }
  return *this;
}

MapSet::~MapSet() { Close(); }

void MapSet::Close() {
  if (!owned_) return;
  for (int* fd : {&config_, &paths_, &sched_, &counters_, &peers_, &peers6_}) {
    if (*fd >= 0) close(*fd);
    *fd = -1;
  }
  owned_ = false;
}

absl::StatusOr<MapSet> MapSet::OpenPinned(const std::string& pin_dir) {
  std::vector<int> fds;
  if (absl::Status s = OpenPins(
          pin_dir, {"mb_config", "mb_paths", "mb_sched", "mb_counters", "mb_peers", "mb_peers6"},
          &fds);
      !s.ok()) {
    return s;
  }
  return MapSet(fds[0], fds[1], fds[2], fds[3], fds[4], fds[5], /*owned=*/true);
}

absl::Status MapSet::WriteConfig(const mb_config& config) const {
  return Update(config_, "mb_config", 0, &config);
}

absl::StatusOr<mb_config> MapSet::ReadConfig() const {
  return ReadEntry<mb_config>(config_, "mb_config");
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

absl::Status MapSet::SyncPeers(const std::set<IpAddress>& peers) const {
  std::vector<in_addr_t> v4;
  std::vector<mb_ip6> v6;
  for (const IpAddress& peer : peers) {
    if (peer.is_v6()) {
      mb_ip6& key = v6.emplace_back();
      std::memcpy(key.addr, peer.bytes.data(), sizeof(key.addr));
    } else {
      v4.push_back(peer.v4().s_addr);
    }
  }
  absl::Status s = SyncKeys(peers_, "mb_peers", v4, mb_peer{});
  if (s.ok()) s = SyncKeys(peers6_, "mb_peers6", v6, mb_peer{});
  return s;
}

absl::StatusOr<std::set<IpAddress>> MapSet::ReadPeers() const {
  absl::StatusOr<std::vector<in_addr_t>> v4 = ListKeys<in_addr_t>(peers_, "mb_peers");
  if (!v4.ok()) return v4.status();
  absl::StatusOr<std::vector<mb_ip6>> v6 = ListKeys<mb_ip6>(peers6_, "mb_peers6");
  if (!v6.ok()) return v6.status();
  std::set<IpAddress> peers;
  for (in_addr_t a : *v4) peers.insert(IpAddress::V4(in_addr{a}));
  for (const mb_ip6& a : *v6) {
    IpAddress peer{.family = AF_INET6};
    std::memcpy(peer.bytes.data(), a.addr, sizeof(a.addr));
    peers.insert(peer);
  }
  return peers;
}

absl::StatusOr<CounterTable> MapSet::ReadCounters() const {
  CounterTable sums{};
  for (uint32_t slot = 0; slot < MB_COUNTER_SLOTS; ++slot) {
    if (absl::Status s = SumPerCpu(counters_, "mb_counters", slot, &sums[slot], mb_counters_add);
        !s.ok()) {
      return s;
    }
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
  return ReadEntry<mb_budget>(fd_, "mb_budget", path_id);
}

absl::Status PinnedBudgetMap::Write(uint32_t path_id, const mb_budget& budget) const {
  return Update(fd_, "mb_budget", path_id, &budget);
}

namespace {

struct RelayKeyLess {
  bool operator()(const mb_relay_key& a, const mb_relay_key& b) const {
    return std::memcmp(&a, &b, sizeof(a)) < 0;  // keys are built zeroed, padding too
  }
};

// An index map's content: key -> slot.
using RelayIndex = std::map<mb_relay_key, uint32_t, RelayKeyLess>;

std::string KeyText(const mb_relay_key& key) {
  return IpPortText(FromMbAddr(key.addr, key.ipv6), key.port);
}

// Adds {addr of relay r's family, port} -> slot to `index`, refusing a key
// another slot has.
absl::Status AddIndexEntry(RelayIndex* index, const char* map, const mb_relay& r,
                           const mb_addr& addr, uint16_t port, uint32_t slot) {
  mb_relay_key key{};
  key.addr = addr;
  key.port = port;
  key.ipv6 = (r.flags & MB_RELAY_F_IPV6) ? 1 : 0;
  auto [it, added] = index->emplace(key, slot);
  if (!added) {
    return absl::InvalidArgumentError(absl::StrCat("relay slots ", it->second, " and ", slot,
                                                   " have the same ", map, " key ",
                                                   KeyText(key)));
  }
  return absl::OkStatus();
}

// Removes the entries of `fd` that `want` does not map to the same slot.
absl::Status RemoveStaleEntries(int fd, const char* map, const RelayIndex& want) {
  absl::StatusOr<std::vector<mb_relay_key>> keys = ListKeys<mb_relay_key>(fd, map);
  if (!keys.ok()) return keys.status();
  std::vector<mb_relay_key> stale;
  for (const mb_relay_key& key : *keys) {
    uint32_t slot = 0;
    if (bpf_map_lookup_elem(fd, &key, &slot) != 0) continue;  // deleted meanwhile
    auto it = want.find(key);
    if (it == want.end() || it->second != slot) stale.push_back(key);
  }
  for (const mb_relay_key& k : stale) {
    if (bpf_map_delete_elem(fd, &k) != 0 && errno != ENOENT) {
      return Errno(absl::StrCat("removing ", KeyText(k), " from ", map), errno);
    }
  }
  return absl::OkStatus();
}

absl::Status WriteIndex(int fd, const char* map, const RelayIndex& want) {
  for (const auto& [key, slot] : want) {
    if (bpf_map_update_elem(fd, &key, &slot, BPF_ANY) != 0) {
      return Errno(absl::StrCat("adding ", KeyText(key), " to ", map), errno);
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<RelayMaps>> RelayMaps::OpenPinned(const std::string& pin_dir) {
  std::vector<int> fds;
  if (absl::Status s = OpenPins(pin_dir,
                                {"mb_relays", "mb_relay_fwd", "mb_relay_ret",
                                 "mb_relay_counters", "mb_learned"},
                                &fds);
      !s.ok()) {
    return s;
  }
  return std::unique_ptr<RelayMaps>(new RelayMaps(fds[0], fds[1], fds[2], fds[3], fds[4]));
}

RelayMaps::~RelayMaps() {
  for (int fd : {relays_, fwd_, ret_, counters_, learned_}) close(fd);
}

absl::Status RelayMaps::Sync(const std::map<uint32_t, mb_relay>& relays) const {
  RelayIndex fwd, ret;
  for (const auto& [slot, r] : relays) {
    if (slot >= MB_MAX_RELAYS) {
      return absl::InvalidArgumentError(
          absl::StrCat("relay slot ", slot, " is past the table (", MB_MAX_RELAYS, " slots)"));
    }
    if (!r.in_use) {
      return absl::InvalidArgumentError(absl::StrCat("relay slot ", slot, " is not marked in use"));
    }
    if (r.uplink_path >= MB_MAX_PATHS) {
      return absl::InvalidArgumentError(absl::StrCat("relay slot ", slot, ": uplink path ",
                                                     r.uplink_path, " is past the path table"));
    }
    if (absl::Status s = AddIndexEntry(&fwd, "mb_relay_fwd", r, r.origin_ip, r.relay_port, slot);
        !s.ok()) {
      return s;
    }
    if (absl::Status s = AddIndexEntry(&ret, "mb_relay_ret", r, r.peer_ip, r.return_port, slot);
        !s.ok()) {
      return s;
    }
  }
  if (absl::Status s = RemoveStaleEntries(fwd_, "mb_relay_fwd", fwd); !s.ok()) return s;
  if (absl::Status s = RemoveStaleEntries(ret_, "mb_relay_ret", ret); !s.ok()) return s;
  for (uint32_t slot = 0; slot < MB_MAX_RELAYS; ++slot) {
    auto it = relays.find(slot);
    const mb_relay entry = it == relays.end() ? mb_relay{} : it->second;
    if (absl::Status s = Update(relays_, "mb_relays", slot, &entry); !s.ok()) return s;
  }
  if (absl::Status s = WriteIndex(fwd_, "mb_relay_fwd", fwd); !s.ok()) return s;
  return WriteIndex(ret_, "mb_relay_ret", ret);
}

absl::StatusOr<std::map<uint32_t, mb_relay>> RelayMaps::Read() const {
  std::map<uint32_t, mb_relay> out;
  for (uint32_t slot = 0; slot < MB_MAX_RELAYS; ++slot) {
    mb_relay r{};
    if (absl::Status s = Lookup(relays_, "mb_relays", &slot, &r); !s.ok()) return s;
    if (r.in_use) out[slot] = r;
  }
  return out;
}

absl::StatusOr<RelayCounterTable> RelayMaps::ReadCounters() const {
  RelayCounterTable sums{};
  for (uint32_t slot = 0; slot < MB_MAX_RELAYS; ++slot) {
    if (absl::Status s =
            SumPerCpu(counters_, "mb_relay_counters", slot, &sums[slot], mb_relay_counters_add);
        !s.ok()) {
      return s;
    }
  }
  return sums;
}

absl::StatusOr<mb_learned_source> RelayMaps::ReadLearned(uint32_t path_id) const {
  if (path_id >= MB_MAX_PATHS) {
    return absl::InvalidArgumentError(
        absl::StrCat("path id ", path_id, " is past the path table (", MB_MAX_PATHS, " paths)"));
  }
  return ReadEntry<mb_learned_source>(learned_, "mb_learned", path_id);
}

absl::StatusOr<std::unique_ptr<ResequencerMaps>> ResequencerMaps::OpenPinned(
    const std::string& pin_dir) {
  std::vector<int> config;
  if (absl::Status s = OpenPins(pin_dir, {"mb_config"}, &config); !s.ok()) return s;
  std::vector<int> reseq;
  if (absl::Status s = OpenPins(pin_dir, {"mb_reseq", "mb_reseq_counters", "mb_reseq_slots"}, &reseq);
      !s.ok()) {
    close(config[0]);
    // mb_config is there, so a data path is: one built before resequencing.
    if (absl::IsNotFound(s)) {
      return absl::NotFoundError(absl::StrCat(
          "the data path pinned at ", pin_dir,
          " has no resequencer maps (mb_reseq): it predates resequencing; restart the agent"));
    }
    return s;
  }
  // The slots were sized when the data path loaded (ReseqSlots) and stay so.
  bpf_map_info slots{};
  uint32_t info_len = sizeof(slots);
  const int err = bpf_obj_get_info_by_fd(reseq[2], &slots, &info_len);
  const int info_errno = errno;
  close(reseq[2]);
  if (err != 0) {
    for (int fd : {config[0], reseq[0], reseq[1]}) close(fd);
    return absl::InternalError(absl::StrCat("reading mb_reseq_slots' size: ", std::strerror(info_errno)));
  }
  return std::unique_ptr<ResequencerMaps>(
      new ResequencerMaps(config[0], reseq[0], reseq[1], slots.max_entries));
}

ResequencerMaps::~ResequencerMaps() {
  for (int fd : {config_, state_, counters_}) close(fd);
}

absl::StatusOr<ResequencerStats> ResequencerMaps::Read() const {
  absl::StatusOr<mb_config> config = ReadEntry<mb_config>(config_, "mb_config");
  if (!config.ok()) return config.status();
  absl::StatusOr<mb_reseq> state = ReadEntry<mb_reseq>(state_, "mb_reseq");
  if (!state.ok()) return state.status();
  mb_reseq_counters sum{};
  if (absl::Status s = SumPerCpu(counters_, "mb_reseq_counters", 0, &sum, mb_reseq_counters_add);
      !s.ok()) {
    return s;
  }
  ResequencerStats out;
  out.deadline_us = config->reseq_deadline_us;
  out.occupancy = state->held;
  out.window = config->reseq_window && config->reseq_window < slots_ ? config->reseq_window : slots_;
  out.held = sum.held;
  out.released_in_order = sum.released_in_order;
  out.released_deadline = sum.released_deadline;
  out.released_full = sum.released_full;
  out.released_lost = sum.released_lost;
  out.gaps_skipped = sum.gaps_skipped;
  out.late = sum.late;
  out.duplicates = sum.duplicates;
  out.passed = sum.passed;
  out.resyncs = sum.resyncs;
  out.repairs_requested = sum.repairs_requested;
  out.repaired = sum.repaired;
  return out;
}

absl::StatusOr<std::unique_ptr<LivenessMaps>> LivenessMaps::OpenPinned(const std::string& pin_dir) {
  std::vector<int> config;
  if (absl::Status s = OpenPins(pin_dir, {"mb_config"}, &config); !s.ok()) return s;
  close(config[0]);
  std::vector<int> fds;
  absl::Status s = OpenPins(pin_dir, {"mb_heartbeat", "mb_unattended_skips"}, &fds);
  // mb_config is there, so a data path is: one built before the heartbeat.
  if (absl::IsNotFound(s)) {
    return absl::NotFoundError(absl::StrCat("the data path pinned at ", pin_dir,
                                            " has no heartbeat map (mb_heartbeat): it predates "
                                            "agent liveness; restart the agent"));
  }
  if (!s.ok()) return s;
  return std::unique_ptr<LivenessMaps>(new LivenessMaps(fds[0], fds[1]));
}

LivenessMaps::~LivenessMaps() {
  for (int fd : {heartbeat_, skips_}) close(fd);
}

absl::Status LivenessMaps::WriteHeartbeat(const mb_heartbeat& heartbeat) const {
  return Update(heartbeat_, "mb_heartbeat", 0, &heartbeat);
}

absl::StatusOr<mb_heartbeat> LivenessMaps::ReadHeartbeat() const {
  return ReadEntry<mb_heartbeat>(heartbeat_, "mb_heartbeat");
}

absl::StatusOr<UnattendedSkips> LivenessMaps::ReadSkips() const {
  UnattendedSkips sums{};
  for (uint32_t path = 0; path < MB_MAX_PATHS; ++path) {
    if (absl::Status s = SumPerCpu(skips_, "mb_unattended_skips", path, &sums[path],
                                   [](uint64_t* sum, const uint64_t* c) { *sum += *c; });
        !s.ok()) {
      return s;
    }
  }
  return sums;
}

absl::StatusOr<std::unique_ptr<AuthMaps>> AuthMaps::OpenPinned(const std::string& pin_dir) {
  std::vector<int> fds;
  if (absl::Status s = OpenPins(pin_dir, {"mb_auth_tx", "mb_auth_rx", "mb_allowed_v4", "mb_allowed_v6"}, &fds);
      !s.ok()) {
    return s;
  }
  return std::unique_ptr<AuthMaps>(new AuthMaps(fds[0], fds[1], fds[2], fds[3]));
}

AuthMaps::~AuthMaps() {
  for (int fd : {tx_, rx_, allowed_v4_, allowed_v6_}) close(fd);
}

absl::Status AuthMaps::SyncAllowedSources(const std::vector<InnerPrefix>& prefixes) const {
  std::vector<mb_prefix_v4> v4;
  std::vector<mb_prefix_v6> v6;
  for (const InnerPrefix& p : prefixes) {
    if (p.family == AF_INET) {
      mb_prefix_v4 k{static_cast<uint32_t>(p.prefix_len), 0};
      std::memcpy(&k.addr, p.address.data(), sizeof(k.addr));
      v4.push_back(k);
    } else {
      mb_prefix_v6 k{static_cast<uint32_t>(p.prefix_len), {}};
      std::memcpy(k.addr, p.address.data(), sizeof(k.addr));
      v6.push_back(k);
    }
  }
  const uint8_t allowed = 1;
  absl::Status s = SyncKeys(allowed_v4_, "mb_allowed_v4", v4, allowed);
  s.Update(SyncKeys(allowed_v6_, "mb_allowed_v6", v6, allowed));
  return s;
}

absl::Status AuthMaps::WriteSend(const DirectionKey& key, uint32_t epoch) const {
  mb_auth_tx tx{};
  std::memcpy(tx.key, key.tag.data(), key.tag.size());
  std::memcpy(tx.cipher_key, key.cipher.data(), key.cipher.size());
  tx.epoch = epoch;
  return Update(tx_, "mb_auth_tx", 0, &tx);
}

absl::StatusOr<mb_auth_tx> AuthMaps::ReadSend() const {
  return ReadEntry<mb_auth_tx>(tx_, "mb_auth_tx");
}

absl::Status AuthMaps::WriteReceive(uint32_t slot, const DirectionKey& key,
                                    uint32_t epoch) const {
  mb_auth_rx rx{};
  std::memcpy(rx.key, key.tag.data(), key.tag.size());
  std::memcpy(rx.cipher_key, key.cipher.data(), key.cipher.size());
  rx.epoch = epoch;
  // Under the entry's lock: the data path never sees half a window.
  if (bpf_map_update_elem(rx_, &slot, &rx, BPF_F_LOCK) != 0) {
    return Errno(absl::StrCat("updating mb_auth_rx[", slot, "]"), errno);
  }
  return absl::OkStatus();
}

absl::Status AuthMaps::Clear() const {
  const DirectionKey none;
  absl::Status s = WriteSend(none, 0);
  for (uint32_t slot = 0; slot < MB_AUTH_RX_SESSIONS; ++slot) s.Update(WriteReceive(slot, none, 0));
  return s;
}

absl::StatusOr<mb_auth_rx> AuthMaps::ReadReceive(uint32_t slot) const {
  mb_auth_rx rx{};
  if (bpf_map_lookup_elem_flags(rx_, &slot, &rx, BPF_F_LOCK) != 0) {
    return Errno(absl::StrCat("reading mb_auth_rx[", slot, "]"), errno);
  }
  return rx;
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
