#include "agent/sys/credentials.h"

#include <grp.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"

namespace meshbpf {

absl::StatusOr<PeerCredentials> ReadPeerCredentials(int fd) {
  ucred cred{};
  socklen_t len = sizeof(cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
    return absl::InternalError(absl::StrCat("SO_PEERCRED: ", std::strerror(errno)));
  }
  PeerCredentials peer{cred.pid, cred.uid, cred.gid, {}};
  // ERANGE tells how many groups there are; they may change in between, hence the loop.
  std::vector<gid_t> groups(32);
  for (int attempt = 0; attempt < 4; ++attempt) {
    socklen_t groups_len = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups.data(), &groups_len) == 0) {
      groups.resize(groups_len / sizeof(gid_t));
      peer.groups.assign(groups.begin(), groups.end());
      return peer;
    }
    if (errno != ERANGE) break;
    groups.resize(groups_len / sizeof(gid_t) + 8);
  }
  return absl::InternalError(absl::StrCat("SO_PEERGROUPS: ", std::strerror(errno)));
}

absl::StatusOr<ControlGroup> LookupControlGroup(const std::string& name) {
  group entry{};
  group* found = nullptr;
  std::vector<char> buffer(4096);
  int err;
  while ((err = getgrnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found)) == ERANGE &&
         buffer.size() < (1u << 20)) {
    buffer.resize(buffer.size() * 4);
  }
  if (err != 0) {
    return absl::InternalError(absl::StrCat("monitoring.control_group: looking up group \"", name,
                                            "\": ", std::strerror(err)));
  }
  if (found == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("monitoring.control_group: there is no group \"", name, "\" on this host"));
  }
  return ControlGroup{name, static_cast<uint32_t>(entry.gr_gid)};
}

}  // namespace meshbpf
