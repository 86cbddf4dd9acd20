// Next-hop MAC addresses from the kernel's neighbour table, for the data
// path's redundant copies (bpf_clone_redirect sends pre-built frames).
#pragma once

#include <netinet/in.h>

#include <array>
#include <optional>

#include "absl/status/statusor.h"
#include "agent/core/policy.h"

namespace meshbpf {

using Mac = std::array<uint8_t, 6>;

// The MAC of `address` on `ifindex` if the kernel has resolved it.
absl::StatusOr<std::optional<Mac>> ResolvedNeighbor(int ifindex, const IpAddress& address);

// Asks the kernel to resolve `address` on `ifindex` (as if a packet were
// waiting for it: RTM_NEWNEIGH with NTF_USE), for a path nothing has sent
// on yet. The MAC shows in ResolvedNeighbor once the neighbour answers.
absl::Status RequestNeighborResolution(int ifindex, const IpAddress& address);

// Fills next_hop_mac/uplink_mac of every configured path from the neighbour
// table (next hop = gateway, or the remote itself when on-link). Returns
// whether any entry changed.
bool FillNextHopMacs(const NodeSettings& settings, PathTable& table);

}  // namespace meshbpf
