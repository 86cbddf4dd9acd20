// Typed access to the data path's maps: written by the agent, read by the CLI.
// The maps are pinned under <pin root>/<instance>/ so both find them.
#pragma once

#include <netinet/in.h>

#include <array>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "agent/core/config.h"
#include "agent/core/handshake.h"
#include "agent/core/map_shapes.h"
#include "agent/core/resequencer.h"
#include "bpf/meshbpf.h"

namespace meshbpf {

inline constexpr char kDefaultPinRoot[] = "/sys/fs/bpf/meshbpf";

// File descriptors of one instance's maps. Owns them when opened from pins.
class MapSet {
 public:
  MapSet() = default;
  MapSet(int config, int paths, int sched, int counters, int peers, int peers6, bool owned)
      : config_(config), paths_(paths), sched_(sched), counters_(counters), peers_(peers),
        peers6_(peers6), owned_(owned) {}
  MapSet(MapSet&& other) noexcept;
  MapSet& operator=(MapSet&& other) noexcept;
  MapSet(const MapSet&) = delete;
  MapSet& operator=(const MapSet&) = delete;
  ~MapSet();

  // Opens the maps pinned in `pin_dir`; the error says when no agent has
  // pinned them there yet.
  static absl::StatusOr<MapSet> OpenPinned(const std::string& pin_dir);

  absl::Status WriteConfig(const mb_config& config) const;
  absl::StatusOr<mb_config> ReadConfig() const;
  absl::Status WritePaths(const PathTable& paths) const;
  absl::StatusOr<PathTable> ReadPaths() const;
  // Makes the allowed-peer sets (mb_peers, mb_peers6) exactly `peers`.
  absl::Status SyncPeers(const std::set<IpAddress>& peers) const;
  absl::StatusOr<std::set<IpAddress>> ReadPeers() const;
  // Counters summed over all CPUs.
  absl::StatusOr<CounterTable> ReadCounters() const;

 private:
  void Close();
  int config_ = -1, paths_ = -1, sched_ = -1, counters_ = -1, peers_ = -1, peers6_ = -1;
  bool owned_ = false;
};

// The pinned mb_budget map (data caps).
class PinnedBudgetMap : public BudgetMap {
 public:
  static absl::StatusOr<std::unique_ptr<PinnedBudgetMap>> Open(const std::string& pin_dir);
  ~PinnedBudgetMap() override;
  PinnedBudgetMap(const PinnedBudgetMap&) = delete;
  PinnedBudgetMap& operator=(const PinnedBudgetMap&) = delete;
  absl::StatusOr<mb_budget> Read(uint32_t path_id) const override;
  absl::Status Write(uint32_t path_id, const mb_budget& budget) const override;

 private:
  explicit PinnedBudgetMap(int fd) : fd_(fd) {}
  int fd_;
};

// The relaying maps (bpf/meshbpf.h, "Relaying": mb_relays and its indexes
// mb_relay_fwd/mb_relay_ret, mb_relay_counters) and mb_learned, opened from
// their pins: written by the agent, read by the CLI.
class RelayMaps {
 public:
  static absl::StatusOr<std::unique_ptr<RelayMaps>> OpenPinned(const std::string& pin_dir);
  ~RelayMaps();
  RelayMaps(const RelayMaps&) = delete;
  RelayMaps& operator=(const RelayMaps&) = delete;

  // Makes the served relays exactly `relays` (slot -> entry, in_use set):
  // index entries of dropped relays go first, so no packet finds a slot
  // that is being rewritten for another relay; then every slot is written
  // (unlisted ones cleared), then the new index entries.
  absl::Status Sync(const std::map<uint32_t, mb_relay>& relays) const;
  // The slots in use.
  absl::StatusOr<std::map<uint32_t, mb_relay>> Read() const;
  // Summed over all CPUs.
  absl::StatusOr<RelayCounterTable> ReadCounters() const;
  absl::StatusOr<mb_learned_source> ReadLearned(uint32_t path_id) const;

 private:
  RelayMaps(int relays, int fwd, int ret, int counters, int learned)
      : relays_(relays), fwd_(fwd), ret_(ret), counters_(counters), learned_(learned) {}
  int relays_, fwd_, ret_, counters_, learned_;
};

// The resequencer's maps (bpf/meshbpf.h, "Resequencing": mb_reseq and
// mb_reseq_counters) and mb_config for the deadline in force, opened from
// their pins; read-only.
class ResequencerMaps {
 public:
  // NotFound, saying so, when the data path pinned at `pin_dir` predates
  // resequencing (its object had no such maps).
  static absl::StatusOr<std::unique_ptr<ResequencerMaps>> OpenPinned(const std::string& pin_dir);
  ~ResequencerMaps();
  ResequencerMaps(const ResequencerMaps&) = delete;
  ResequencerMaps& operator=(const ResequencerMaps&) = delete;

  // The deadline, the occupancy now and the counters summed over all CPUs.
  absl::StatusOr<ResequencerStats> Read() const;

 private:
  ResequencerMaps(int config, int state, int counters, uint32_t slots)
      : config_(config), state_(state), counters_(counters), slots_(slots) {}
  int config_, state_, counters_;
  uint32_t slots_;  // mb_reseq_slots' entries
};

// Tunnel authentication's session keys (bpf/meshbpf.h, "Authentication")
// and the peer's allowed inner sources, opened from their pins: written by
// the agent, read by status.
class AuthMaps {
 public:
  static absl::StatusOr<std::unique_ptr<AuthMaps>> OpenPinned(const std::string& pin_dir);
  ~AuthMaps();
  AuthMaps(const AuthMaps&) = delete;
  AuthMaps& operator=(const AuthMaps&) = delete;

  // A new send session: its key and epoch, counting from 0.
  absl::Status WriteSend(const DirectionKey& key, uint32_t epoch) const;
  absl::StatusOr<mb_auth_tx> ReadSend() const;
  // A new receive session in `slot` (< MB_AUTH_RX_SESSIONS), with an empty window.
  absl::Status WriteReceive(uint32_t slot, const DirectionKey& key, uint32_t epoch) const;
  absl::StatusOr<mb_auth_rx> ReadReceive(uint32_t slot) const;
  // No session in either direction: everything is dropped until a handshake.
  absl::Status Clear() const;
  // Makes the peer's allowed inner sources (mb_allowed_v4/v6) exactly `prefixes`.
  absl::Status SyncAllowedSources(const std::vector<InnerPrefix>& prefixes) const;

 private:
  AuthMaps(int tx, int rx, int allowed_v4, int allowed_v6)
      : tx_(tx), rx_(rx), allowed_v4_(allowed_v4), allowed_v6_(allowed_v6) {}
  int tx_, rx_, allowed_v4_, allowed_v6_;
};

// Agent liveness (bpf/meshbpf.h, "Agent liveness"): the heartbeat the
// agent writes every tick, and the packets the data path kept off silent
// paths while it was stale; opened from their pins.
class LivenessMaps {
 public:
  // NotFound, saying so, when the data path pinned at `pin_dir` predates
  // the heartbeat (its object had no such maps).
  static absl::StatusOr<std::unique_ptr<LivenessMaps>> OpenPinned(const std::string& pin_dir);
  ~LivenessMaps();
  LivenessMaps(const LivenessMaps&) = delete;
  LivenessMaps& operator=(const LivenessMaps&) = delete;

  absl::Status WriteHeartbeat(const mb_heartbeat& heartbeat) const;
  absl::StatusOr<mb_heartbeat> ReadHeartbeat() const;
  // Per path, summed over all CPUs.
  absl::StatusOr<UnattendedSkips> ReadSkips() const;

 private:
  LivenessMaps(int heartbeat, int skips) : heartbeat_(heartbeat), skips_(skips) {}
  int heartbeat_, skips_;
};

// <pin_root>/<instance>
std::string InstancePinDir(const std::string& pin_root, const std::string& instance);

// Makes sure `dir` lies on a mounted bpffs, mounting one at /sys/fs/bpf when
// `dir` is below it and nothing is mounted there, and creates `dir`.
absl::Status EnsureBpffsDir(const std::string& dir);

}  // namespace meshbpf
