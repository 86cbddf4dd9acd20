#include "agent/core/control_access.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace meshbpf {

absl::Status MayRun(const ControlRequest& request, const PeerCredentials& peer,
                    const std::optional<ControlGroup>& control_group) {
  if (!ChangesState(request) || peer.uid == 0) return absl::OkStatus();
  if (control_group && (peer.gid == control_group->gid ||
                        std::ranges::find(peer.groups, control_group->gid) != peer.groups.end())) {
    return absl::OkStatus();
  }
  const std::string who = absl::StrCat(CommandName(request), ": refused for uid ", peer.uid,
                                       " (pid ", peer.pid, "): it changes the agent's state, ");
  if (!control_group) {
    return absl::PermissionDeniedError(absl::StrCat(
        who, "which needs root (monitoring.control_group can name a group allowed too)"));
  }
  return absl::PermissionDeniedError(absl::StrCat(who, "which needs root or group \"",
                                                  control_group->name,
                                                  "\" (monitoring.control_group)"));
}

}  // namespace meshbpf
