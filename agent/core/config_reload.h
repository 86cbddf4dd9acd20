// What a reloaded config (SIGHUP) changes against the running one, and
// whether the running agent can apply it. Pure: the agent applies the
// result (agent/daemon), tests check it without root.
//
// A path's id is its position in interfaces.uplinks, the same on both ends
// of the tunnel, so paths are compared position by position: the same name
// there is the same path (unchanged, or changed in some fields); another
// name is the old path removed and a new one added under that id.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "agent/core/config.h"

namespace meshbpf {

enum class PathChangeKind { kUnchanged, kChanged, kAdded, kRemoved };

struct PathChange {
  size_t id = 0;
  PathChangeKind kind = PathChangeKind::kUnchanged;
  std::string name;                 // removed: the old path's name
  std::vector<std::string> fields;  // changed: which fields, e.g. "rate_mbit"
};

struct ConfigReload {
  // One entry per path id of the old config, then one per id only the new
  // one has; an id whose path was replaced has a kRemoved and a kAdded entry.
  std::vector<PathChange> paths;
  // Changes outside the paths that the running agent applies, e.g.
  // "link_aggregation.mode: load_balance -> active_backup".
  std::vector<std::string> settings;
  // Fields whose change needs a restart: while any is listed, nothing is
  // applied.
  std::vector<std::string> needs_restart;

  bool paths_changed() const;
  bool changes_anything() const { return paths_changed() || !settings.empty(); }
  // One line per change, for the log: "path wan3 (id 2) added",
  // "path wan1 (id 0) changed: rate_mbit, gateway".
  std::vector<std::string> Describe() const;
};

// `running` -> `next`.
ConfigReload DiffConfig(const NodeSettings& running, const NodeSettings& next);

}  // namespace meshbpf
