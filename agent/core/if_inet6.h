// The IPv6 addresses of a device, from the kernel's /proc/net/if_inet6
// (one line per address: hex address, ifindex, prefix length, scope, flags,
// device name).
#pragma once

#include <netinet/in.h>

#include <string_view>
#include <vector>

namespace meshbpf {

enum class Ipv6Scope { kGlobal, kLink };

// The addresses of `scope` of `device` a path can send from: not tentative
// (duplicate address detection still running), not failed, not deprecated.
// Stable addresses come before temporary (privacy) ones, since a peer or a
// NAT keeps seeing the same source longer; otherwise in the file's order.
// Link scope is for relayed paths: neighbours hear us at that address.
std::vector<in6_addr> UsableIpv6(std::string_view if_inet6, std::string_view device,
                                 Ipv6Scope scope);

}  // namespace meshbpf
