// The IPv6 addresses of a device, from the kernel's /proc/net/if_inet6
// (one line per address: hex address, ifindex, prefix length, scope, flags,
// device name).
#pragma once

#include <netinet/in.h>

#include <string_view>
#include <vector>

namespace meshbpf {

// The global-scope addresses of `device` a path can send from: not tentative
// (duplicate address detection still running), not failed, not deprecated.
// Stable addresses come before temporary (privacy) ones, since a peer or a
// NAT keeps seeing the same source longer; otherwise in the file's order.
std::vector<in6_addr> UsableGlobalIpv6(std::string_view if_inet6, std::string_view device);

}  // namespace meshbpf
