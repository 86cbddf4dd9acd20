// Network devices: looking them up, and creating/configuring the bond device.
#pragma once

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "agent/core/config.h"

namespace meshbpf {

// InterfaceLookup backed by the kernel (ioctl on the current netns).
class SystemInterfaceLookup : public InterfaceLookup {
 public:
  std::optional<InterfaceInfo> Find(std::string_view name) const override;
};

// The prefix length of `name`'s IPv4 address (the one InterfaceInfo::ipv4
// reports); nullopt without one.
std::optional<int> InterfacePrefixLength(const std::string& name);

// Name of the bond pair's far end, where the encapsulation program runs.
std::string BondTxName(const std::string& bond_interface);

// The alias that marks a bond device as meshbpf's.
inline constexpr char kBondAlias[] = "meshbpf bond";

// Creates the bond veth pair if missing (returns whether it was created) or
// adopts the one an earlier run left, with the routes on it; refuses a
// device of that name another program marked. Brings both ends up, sets the
// MTU, marks the bond (kBondAlias), turns ARP off on it (the far end owns no
// address) and applies the offload setting. The agent never deletes it: a
// restart keeps it and its routes (`ip link del <bond>` removes it).
absl::StatusOr<bool> EnsureBondDevice(const NodeSettings& settings, uint32_t mtu,
                                      bool disable_offloads);

// The sysfs CPU-mask text (32-bit hex groups, most significant first) with
// CPUs 0 .. cpus-1 set: 2 -> "3", 40 -> "ff,ffffffff".
std::string CpuMaskText(int cpus);

// What SteerBondFlows found and did.
struct BondSteering {
  std::string rps_cpus;  // the mask in force on the bond's receive queues
  bool kept = false;     // someone (an earlier run, the admin) had set one
};

// Receive packet steering over CPUs 0 .. cpus-1 on the bond `bond` (under
// `sysfs_net`, normally /sys/class/net): a flow's packets are then processed
// on one CPU from the moment they enter the bond. The resequencer releases
// them in order, but from whichever CPU the uplink delivered to: without
// steering, two of them sent microseconds apart from two CPUs can swap on
// the way to the end host. A mask already set on a queue is kept.
// Unavailable when the kernel has no RPS (no rps_cpus files).
absl::StatusOr<BondSteering> SteerBondFlows(const std::string& sysfs_net, const std::string& bond,
                                            int cpus);

// Whether any TC filter (ours or another program's) is on ifindex's clsact
// hooks, ingress or egress.
absl::StatusOr<bool> HasTcFilters(int ifindex);

}  // namespace meshbpf
