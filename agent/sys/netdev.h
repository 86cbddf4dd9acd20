// Network devices: looking them up, and creating/configuring the bond device.
#pragma once

#include <optional>
#include <string>

#include "absl/status/status.h"
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

// Creates the bond veth pair if missing (returns whether it was created),
// brings both ends up, sets the MTU, turns ARP off on the bond (the far end
// owns no address) and applies the offload setting.
absl::StatusOr<bool> EnsureBondDevice(const NodeSettings& settings, uint32_t mtu,
                                      bool disable_offloads);

// Deletes the bond veth pair (both ends go with it).
absl::Status DeleteBondDevice(const std::string& bond_interface);

// Whether any TC filter (ours or another program's) is on ifindex's clsact
// hooks, ingress or egress.
absl::StatusOr<bool> HasTcFilters(int ifindex);

}  // namespace meshbpf
