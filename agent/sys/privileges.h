// Least privilege (issue 15 item 9): once the data path is loaded, the bond
// created and every socket bound, the agent keeps only the capabilities that
// running needs. Loading programs (CAP_SYS_ADMIN, CAP_PERFMON) is over by
// then, and a SIGHUP reload never loads programs again.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace meshbpf {

// What the running agent still does, and why each capability stays:
//  CAP_NET_ADMIN        attach TC programs to re-created uplinks, remove
//                       them on stop, the bond's MTU, SO_MARK on probes;
//  CAP_NET_RAW          SO_BINDTODEVICE on discovery sockets of new uplinks;
//  CAP_NET_BIND_SERVICE those sockets' port, should it be below 1024;
//  CAP_BPF              map reads and writes, the resequencer's tick
//                       (every bpf() call once unprivileged BPF is off).
std::vector<int> RuntimeCapabilities();

// The same as a bit mask, as /proc/PID/status prints CapEff.
uint64_t RuntimeCapabilityMask();

// What KeepRuntimeCapabilities did, for the log.
struct PrivilegeDrop {
  std::vector<std::string> kept;  // e.g. "cap_net_admin"
  // false: no CAP_SETPCAP (e.g. systemd's CapabilityBoundingSet left it
  // out), so the bounding set stays as the caller set it.
  bool bounding_set_reduced = false;
};

// Reduces this process's permitted, effective and inheritable sets to
// RuntimeCapabilities() (those of them it has), clears the ambient set and
// removes every other capability from the bounding set. Process-wide: call
// it before starting any thread. Fails, naming the step, if the kernel
// refuses; the process then has at least what it had before.
absl::StatusOr<PrivilegeDrop> KeepRuntimeCapabilities();

}  // namespace meshbpf
