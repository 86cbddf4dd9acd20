// The type of a local uplink (wifi, cellular, ethernet), read from sysfs:
// what the node announces about the uplinks it shares.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "agent/core/discovery.h"

namespace meshbpf {

// The type of interface `ifname` from sysfs under `sysfs_net` (normally
// /sys/class/net): wireless/ or phy80211 -> wifi; DEVTYPE=wwan or a USB
// modem driver (qmi_wwan, cdc_mbim, rndis_host, cdc_ether, ipheth) ->
// cellular; ARPHRD type 1 -> ethernet; anything else -> other.
// NotFound when the interface has no directory there.
absl::StatusOr<UplinkType> DetectUplinkType(const std::string& sysfs_net,
                                            const std::string& ifname);

}  // namespace meshbpf
