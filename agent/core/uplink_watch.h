// Uplinks as the kernel shows them now, against what each path was set up
// with. A path follows its interface by name: a device deleted and created
// again (PPP, a modem, a veth) gets a new ifindex, and DHCP or a reconnect
// may give it a new address; the path must move with it rather than stay
// down until a restart.
#pragma once

#include <netinet/in.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "agent/core/config.h"

namespace meshbpf {

// Why `path`'s uplink cannot carry it now ("wan2 is gone", "wan2 has no
// carrier", ...); `device` is the device named path.interface (nullopt:
// none). nullopt: it can.
std::optional<std::string> UplinkProblem(const PathSettings& path,
                                         const std::optional<InterfaceInfo>& device);

// What a path must take over from its device.
struct UplinkChange {
  size_t path;
  int ifindex;
  uint32_t mtu;
  IpAddress source;
  // The device was created again: the data path's programs must be attached
  // to `ifindex` (the old device took them along).
  bool reattach;
  // For the log: "wan2 re-created (ifindex 5 -> 9)", "wan2 address
  // 10.0.0.2 -> 10.0.0.3", joined by ", ".
  std::string what;
};

// The changes that bring each path in line with the device its interface
// names now. A device that is gone, or has no address, changes nothing here
// (UplinkProblem keeps the path down); a configured source_address is kept.
std::vector<UplinkChange> UplinkChanges(const std::vector<PathSettings>& paths,
                                        const InterfaceLookup& devices);

// Applies `change` to its path.
void ApplyUplinkChange(const UplinkChange& change, std::vector<PathSettings>& paths);

}  // namespace meshbpf
