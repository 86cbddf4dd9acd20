// The paths at run time: each path's health (link events, probes, delivery
// over each rebalance interval), the transitions it went through, manual
// failover, far ends that change (relayed and learned paths), and the path
// table the data path schedules over, rewritten whenever it changes. All
// I/O goes through PathIo, and the monotonic clock is passed in, so every
// rule runs in unit tests without root.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "agent/core/config.h"
#include "agent/core/config_reload.h"
#include "agent/core/control_protocol.h"
#include "agent/core/floor_guard.h"
#include "agent/core/health.h"
#include "agent/core/log_throttle.h"
#include "agent/core/path_mtu.h"
#include "agent/core/policy.h"
#include "agent/core/probe.h"
#include "agent/core/prober.h"
#include "agent/core/relay_plan.h"
#include "agent/core/resequencer.h"
#include "agent/daemon/mesh_node.h"
#include "agent/daemon/monitor.h"
#include "agent/core/history_summary.h"
#include "agent/sys/map_io.h"
#include "bpf/meshbpf.h"

namespace meshbpf {

// What the supervisor asks of the system.
struct PathIo {
  std::function<absl::Status(const PathTable&)> write_paths;
  // The addresses the data path accepts tunnel packets from (PeerAddresses).
  std::function<absl::Status(const std::set<IpAddress>&)> sync_peers;
  std::function<std::optional<InterfaceInfo>(const std::string& name)> find_interface;
  // The name of interface `ifindex`; nullopt: gone.
  std::function<std::optional<std::string>(int ifindex)> interface_name;
  // Attaches the data path's receive program to uplink `ifindex` (a device
  // created again under a path's interface name).
  std::function<absl::Status(int ifindex)> attach_uplink;
  // Next-hop MACs from the neighbour table (FillNextHopMacs).
  std::function<void(PathTable&)> fill_next_hop_macs;
  // Sends a probe request to the peer; an error surfaces as a lost probe.
  std::function<absl::Status(const ProbeMessage&)> send_probe;
  // What mb_learned holds for `path` (learned paths).
  std::function<absl::StatusOr<mb_learned_source>(uint32_t path)> read_learned;
  // Each transition, for the history store; may be unset.
  std::function<void(const PathTransition&)> on_transition;
  // Changes mb_config in place (reseq_deadline_us, bond_mtu); may be unset.
  std::function<absl::Status(const std::function<void(mb_config&)>& change)> update_config;
  // The resequencer's counters (ReseqMargin, RepairGate); may be unset.
  std::function<absl::StatusOr<ResequencerStats>()> read_resequencer;
};

// What the status reply shows of the rest of the agent; each may be unset.
struct StatusSources {
  std::function<size_t()> node_count;                               // unset: discovery off
  std::function<const RelayAssignment*(size_t path)> relayed_path;  // null: none
  // Why a relayed path is not filled though a neighbour offers (nullopt: no such reason).
  std::function<std::optional<std::string>(size_t path)> relay_unavailable;
  std::function<std::vector<CapEntry>()> caps;
};

// The paths a name refers to: a path name, or an interface carrying paths.
std::vector<size_t> PathsNamed(const NodeSettings& settings, const std::string& name);
// `unknown path or interface "NAME" (paths: a, b)`.
std::string UnknownPathError(const NodeSettings& settings, const std::string& name);

// What a path without its far end waits for.
const char* EndpointPending(const PathSettings& path);

// failover.* (and whether probes run) as the health rules' parameters.
HealthParams HealthParamsFor(const NodeSettings& settings);

// Whether the floor guard runs: link_aggregation.floor_guard, in a mode
// with bonded bulk traffic (load_balance, latency), with probes measuring.
bool FloorGuardRuns(const NodeSettings& settings);

class PathSupervisor {
 public:
  // How many transitions and floor guard decisions `meshbpf status` shows.
  static constexpr size_t kTransitionsKept = 100;

  // Starts every path's health from its link state at `now_ns` (a path
  // without its far end is down until it has one). `settings` must outlive
  // the supervisor; it changes the far ends of relayed and learned paths.
  PathSupervisor(NodeSettings& settings, PathIo io, StatusSources status, uint64_t now_ns);

  // Starts probing the peer (link_aggregation.peer_bond_address).
  void StartProbing();
  bool probing() const { return prober_.has_value(); }

  // Links changed (a netlink event, or events lost to an overflow): reads
  // every path's device by name, follows it (UplinkChanges: re-created
  // devices get the programs again, new addresses become the outer source)
  // and takes paths whose device cannot carry them down. Rewrites the table
  // at once: carrier loss must stop traffic within milliseconds.
  void OnLinksChanged(uint64_t now_ns);
  // Every failover.monitoring_interval: the devices as in OnLinksChanged
  // (no event is needed to notice a change), lost probes, the next probes
  // (with `counters` when read), every rebalance_interval the estimates and
  // weights; then the table (which also picks up neighbour MACs).
  void OnTick(uint64_t now_ns, const CounterTable* counters);
  // A probe reply that arrived at `received_ns`; whether a path changed
  // state (call WriteTable after the drain then).
  bool OnProbeReply(const ProbeMessage& reply, uint64_t received_ns);
  void OnInvalidProbe(const std::string& why);
  // An authenticated probe request arrived on path `i`: a learned path
  // adopts the far end it came from.
  void OnProbeRequest(size_t i, uint64_t now_ns);
  // How often FollowLearnedEndpoints runs (with authentication, learned paths).
  static constexpr double kLearnedPollS = 0.05;
  // With authentication: every learned path adopts the far end its last
  // packet from elsewhere came from. mb_decap records only packets that
  // verified, data as well as probes, so the download follows a NAT's new
  // mapping on the first packet from it, not on the next probe.
  void FollowLearnedEndpoints(uint64_t now_ns);
  // What fills relayed path `i` now (discovery); nullopt: withdrawn.
  void OnRelayedPath(size_t i, const std::optional<RelayAssignment>& assignment, uint64_t now_ns);

  // The config was reloaded: `settings` (see the constructor) holds the new
  // one, `reload` says how it differs. Paths unchanged keep their health,
  // probes and manual failover; changed and added ones start afresh, as at
  // start; removed ones leave the table. Peers and the table are rewritten.
  void ApplyReload(const ConfigReload& reload, uint64_t now_ns);

  // Health and manual failover -> path table, written when it changed; with
  // resequencing on, its deadline first (ReseqDeadlineUs).
  absl::Status WriteTable();
  // The table as last written; at first the one the maps start with.
  const PathTable& table() const { return table_; }
  // The resequencing deadline for table(), as last written (0: off).
  uint32_t reseq_deadline_us() const { return reseq_deadline_us_; }
  // Loss repair: the path a repair or a request for one goes on now
  // (RepairPathId); nullopt when no path is ACTIVE.
  std::optional<uint8_t> RepairPath() const { return RepairPathId(table_, Conditions(true)); }
  // mb_config.repair_wait_us for table(), as last written (0: loss repair off).
  uint32_t repair_wait_us() const { return repair_wait_us_; }
  const RepairGate& repair_gate() const { return repair_gate_; }
  // Whether the peer's probe replies say it answers repair requests; until
  // they do, lost packets do not wait for repairs.
  bool peer_repairs() const { return peer_repairs_.value_or(false); }
  // The peer asked for `packets` repairs. Once it has asked for
  // kCopiesAfterLosses within kCopiesWindowNs (a path loses packets, not
  // one gap now and then), sent packets are kept, until it has asked for
  // none for kKeepCopiesNs: copying every frame costs the bond a third of
  // its unshaped throughput, for nothing where paths lose nothing.
  void OnRepairRequested(uint64_t now_ns, uint32_t packets);
  // mb_config.keep_copies, as last written.
  bool keep_copies() const { return keep_copies_; }
  static constexpr uint32_t kCopiesAfterLosses = 4;
  static constexpr uint64_t kCopiesWindowNs = 1'000'000'000;
  static constexpr uint64_t kKeepCopiesNs = 60'000'000'000;

  // "failover": holds FROM out of service and moves traffic onto TO, or
  // (auto) clears that; the status after it, or why it was refused.
  absl::StatusOr<StatusReply> Failover(const FailoverRequest& request);
  // The "status" reply.
  StatusReply Status() const;

  const PathHealth& health(size_t i) const { return health_[i]; }
  // The newest delivery mark of path `i`, if a probe was answered since the
  // path (re)started.
  const std::optional<DeliveryMark>& latest_delivery(size_t i) const { return delivery_[i].latest(); }
  // What monitoring shows of each path (no caps).
  std::vector<PathView> PathViews() const;
  // What discovery announces of path `i` (no cap).
  PathReport Report(size_t i) const;

 private:
  struct TransitionRecord {
    std::string time;
    std::string path;
    PathState from, to;
    std::string reason;
  };
  // Whether path i's uplink exists, is up with carrier and still has the
  // path's source address (UplinkProblem).
  bool UplinkUsable(size_t i) const;
  // Each path's condition from health and manual failover; the floor
  // guard's exclusions only with `guarded`.
  std::vector<PathCondition> Conditions(bool guarded) const;
  // OnLinksChanged without writing the table.
  void FollowUplinks(uint64_t now_ns);
  // The table for `conditions` (Conditions(true)), next-hop MACs filled in.
  PathTable DesiredTable(const std::vector<PathCondition>& conditions) const;
  // Records what the peer's latest probe reply says of its loss repair.
  void NotePeerRepairs(bool repairs);
  // Writes mb_config.keep_copies, and says why.
  void KeepCopies(bool keep, const std::string& why);
  // Sets the mb_config field `field` to `value` unless `written` (what this
  // supervisor last wrote there) already holds it; `announce` logs the change
  // first. `written` follows only a write that succeeded.
  template <typename Value, typename Field>
  absl::Status WriteConfigField(Field mb_config::*field, Value value, Value& written,
                                const std::function<void()>& announce);
  // RepairWaitUs for `table`, rounded up to whole milliseconds (in
  // microseconds), at most the resequencing deadline in force; 0 while
  // repair rests (RepairGate).
  uint32_t RepairWaitMs(const PathTable& table, const std::vector<PathCondition>& conditions) const;
  // Every rebalance interval with loss repair configured: whether the
  // bond loses more than repair is for (RepairGate); logs when that changes.
  void JudgeRepairLoss(const ResequencerStats& reseq, const CounterTable& counters, uint64_t now_ns);
  // Every rebalance interval: the floor guard's verdict, logged and kept.
  void RunFloorGuard(uint64_t now_ns);
  // The largest jitter an ACTIVE path of `table` has shown, in µs.
  double LargestJitterUs(const PathTable& table) const;
  // Logs a state change of path i and remembers it; whether there was one.
  bool Record(size_t i, const std::optional<Transition>& t);
  // Path `i` (learned) adopts what mb_learned holds, if fresh and new;
  // `from` says what recorded it, for the log.
  void AdoptLearnedEndpoint(size_t i, const char* from, uint64_t now_ns);
  void SendProbes(uint64_t now_ns, const CounterTable& counters);
  // Path MTU discovery (agent/core/path_mtu.h): size probes due, those
  // timed out, and what each path was found to carry.
  void SendSizeProbes(uint64_t now_ns);
  void Rebalance(uint64_t now_ns);
  // Path i's far end changed (settings_.paths[i] already says how): fresh
  // health that waits for probes, peers and path table rewritten.
  void EndpointChanged(size_t i, const std::string& why, uint64_t now_ns);
  // Path i's health from its link alone, as at start (or after a reload).
  void StartHealth(size_t i, uint64_t now_ns);
  void LogError(const absl::Status& status) const;

  NodeSettings& settings_;
  PathIo io_;
  StatusSources status_;
  HealthParams health_params_;
  std::optional<PathProber> prober_;  // nullopt: nobody to probe
  std::vector<PathHealth> health_;
  std::vector<PathMtuSearch> mtu_search_;  // per path, made on the first tick
  uint32_t tunnel_payload_mtu_ = 0;        // mb_config.bond_mtu as last written
  std::vector<DeliveryMeter> delivery_;
  std::deque<TransitionRecord> transitions_;
  LogThrottle gone_interface_log_{std::chrono::seconds(10)};
  std::optional<FloorGuard> guard_;  // nullopt: not running (FloorGuardRuns)
  std::deque<GuardDecisionEntry> guard_decisions_;
  // Per path, decisions so far by reason (kAllGuardReasons order).
  std::vector<std::array<uint64_t, std::size(kAllGuardReasons)>> guard_counts_;
  uint64_t next_rebalance_ns_ = 0;
  uint64_t invalid_probes_ = 0;
  // meshbpf failover FROM TO: paths held out of service and moved into it.
  std::set<size_t> held_out_, moved_in_;
  PathTable table_{};
  uint32_t reseq_deadline_us_ = 0;
  uint32_t repair_wait_us_ = 0;  // mb_config.repair_wait_us as last written
  ReseqMargin reseq_margin_;
  RepairGate repair_gate_;
  std::optional<bool> peer_repairs_;  // from its last probe reply; unknown before
  bool keep_copies_ = false;          // mb_config.keep_copies as last written
  uint64_t repair_requested_ns_ = 0;  // the peer's latest request
  uint64_t requests_window_ns_ = 0;   // when the current window of requests began
  uint32_t requested_in_window_ = 0;  // packets asked for in it
};

}  // namespace meshbpf
