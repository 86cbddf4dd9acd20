// What `meshbpf status` and `meshbpf maps` show: a snapshot of one
// instance's pinned maps, rendered as a table for people or JSON for scripts.
#pragma once

#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "agent/core/control_protocol.h"
#include "agent/core/datapath_names.h"
#include "agent/sys/map_io.h"

namespace meshbpf {

struct InstanceSnapshot {
  std::string pin_dir;
  mb_config config{};
  PathTable paths{};
  CounterTable counters{};
  std::set<IpAddress> peers;
  std::array<mb_budget, MB_BUDGET_SLOTS> budgets{};  // data caps per path, then the share budget
  std::map<uint32_t, mb_relay> relays;                // relays served, by slot
  RelayCounterTable relay_counters{};
  std::array<mb_learned_source, MB_MAX_PATHS> learned{};  // learned paths' last probe sources
  // The resequencer, or why it could not be read (e.g. an older data path).
  absl::StatusOr<ResequencerStats> resequencing = absl::UnavailableError("not read");
  // Per path, packets the data path kept off it while the agent was gone, or
  // why they could not be read (e.g. an older data path).
  absl::StatusOr<UnattendedSkips> unattended_skips = absl::UnavailableError("not read");
  bool agent_alive = false;
  // The running agent's view of path health (its control socket's status
  // reply); empty when no agent answered.
  std::optional<StatusReply> health;
  // Why `health` is empty although the agent runs: it did not answer, or
  // its reply could not be read (an agent older or newer than this CLI).
  std::string health_error;
};

absl::StatusOr<InstanceSnapshot> TakeSnapshot(const MapSet& maps, const std::string& pin_dir);

nlohmann::json StatusJson(const InstanceSnapshot& snapshot);
std::string StatusTable(const InstanceSnapshot& snapshot);
// `meshbpf status` when the pinned maps cannot be opened (only root may)
// but the agent answers: its view alone; `maps_error` says why the data
// path's part (states, counters) is missing.
nlohmann::json AgentStatusJson(const StatusReply& health, const std::string& maps_error);
std::string AgentStatusTable(const StatusReply& health, const std::string& maps_error);
// Every map's raw content, including all drop reasons per counter slot.
nlohmann::json MapsJson(const InstanceSnapshot& snapshot);
std::string MapsText(const InstanceSnapshot& snapshot);

}  // namespace meshbpf
