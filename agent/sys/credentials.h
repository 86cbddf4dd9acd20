// Users and groups: who is at the other end of a Unix socket, and the group
// monitoring.control_group names (agent/core/control_access.h decides what
// they may do).
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "agent/core/control_access.h"

namespace meshbpf {

// The peer of a connected Unix socket: SO_PEERCRED, and SO_PEERGROUPS for
// its supplementary groups.
absl::StatusOr<PeerCredentials> ReadPeerCredentials(int fd);

// The group named `name` on this host; the error says it does not exist.
absl::StatusOr<ControlGroup> LookupControlGroup(const std::string& name);

}  // namespace meshbpf
