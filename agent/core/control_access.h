// Who may run which control command. Anyone who can reach the control
// socket may read (status, stats, cap, peers...); changing the agent's
// state (ChangesState: failover, cap --reset, test) takes root or
// membership of monitoring.control_group. The agent learns the caller from
// the socket (SO_PEERCRED), so the decision here is pure.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "agent/core/control_protocol.h"

namespace meshbpf {

// The process at the other end of a control connection, as the kernel
// reports it.
struct PeerCredentials {
  int32_t pid = 0;
  uint32_t uid = 0, gid = 0;
  std::vector<uint32_t> groups;  // supplementary groups
};

// monitoring.control_group, resolved on this host.
struct ControlGroup {
  std::string name;
  uint32_t gid = 0;
};

// OK, or PermissionDenied naming the command, the caller and what it would
// take, e.g. `failover: refused for uid 65534 (pid 42): it changes the
// agent's state, which needs root or group "netops" (monitoring.control_group)`.
absl::Status MayRun(const ControlRequest& request, const PeerCredentials& peer,
                    const std::optional<ControlGroup>& control_group);

}  // namespace meshbpf
