#include "agent/sys/privileges.h"

#include <linux/capability.h>
#include <sys/capability.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <type_traits>

#include "absl/strings/str_cat.h"

namespace meshbpf {
namespace {

using CapState = std::unique_ptr<std::remove_pointer_t<cap_t>, decltype(&cap_free)>;

absl::Status Errno(const char* step) {
  return absl::InternalError(absl::StrCat("dropping capabilities: ", step, ": ", std::strerror(errno)));
}

std::string CapName(int cap) {
  char* name = cap_to_name(static_cast<cap_value_t>(cap));
  std::string s = name ? name : absl::StrCat("cap_", cap);
  cap_free(name);
  return s;
}

}  // namespace

std::vector<int> RuntimeCapabilities() {
  return {CAP_NET_ADMIN, CAP_NET_RAW, CAP_NET_BIND_SERVICE, CAP_BPF};
}

uint64_t RuntimeCapabilityMask() {
  uint64_t mask = 0;
  for (int cap : RuntimeCapabilities()) mask |= uint64_t{1} << cap;
  return mask;
}

absl::StatusOr<PrivilegeDrop> KeepRuntimeCapabilities() {
  CapState current(cap_get_proc(), cap_free);
  if (!current) return Errno("cap_get_proc");
  PrivilegeDrop drop;
  // The bounding set first: removing from it takes CAP_SETPCAP, which the
  // next step gives up.
  cap_flag_value_t setpcap = CAP_CLEAR;
  cap_get_flag(current.get(), CAP_SETPCAP, CAP_EFFECTIVE, &setpcap);
  if (setpcap == CAP_SET) {
    const std::vector<int> keep = RuntimeCapabilities();
    for (int cap = 0; cap < static_cast<int>(cap_max_bits()); ++cap) {
      if (std::find(keep.begin(), keep.end(), cap) != keep.end()) continue;
      if (cap_get_bound(static_cast<cap_value_t>(cap)) == 1 &&
          cap_drop_bound(static_cast<cap_value_t>(cap)) != 0) {
        return Errno(absl::StrCat("removing ", CapName(cap), " from the bounding set").c_str());
      }
    }
    drop.bounding_set_reduced = true;
  }
  CapState next(cap_init(), cap_free);
  if (!next) return Errno("cap_init");
  for (int cap : RuntimeCapabilities()) {
    cap_flag_value_t have = CAP_CLEAR;
    cap_get_flag(current.get(), static_cast<cap_value_t>(cap), CAP_PERMITTED, &have);
    if (have != CAP_SET) continue;
    const cap_value_t value[] = {static_cast<cap_value_t>(cap)};
    if (cap_set_flag(next.get(), CAP_PERMITTED, 1, value, CAP_SET) != 0 ||
        cap_set_flag(next.get(), CAP_EFFECTIVE, 1, value, CAP_SET) != 0) {
      return Errno("cap_set_flag");
    }
    drop.kept.push_back(CapName(cap));
  }
  if (cap_reset_ambient() != 0 && errno != EINVAL) return Errno("clearing the ambient set");
  if (cap_set_proc(next.get()) != 0) return Errno("cap_set_proc");
  return drop;
}

}  // namespace meshbpf
