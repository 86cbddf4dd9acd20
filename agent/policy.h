// Weight policy: pure code, no I/O. Turns validated settings (and, later,
// measurements) into the path table the data path schedules over.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "agent/config.h"
#include "bpf/meshbpf.h"

namespace meshbpf {

using PathTable = std::array<mb_path, MB_MAX_PATHS>;

// The MTU the bond device must have so every encapsulated packet still fits
// the smallest uplink.
uint32_t BondMtu(const NodeSettings& settings);

// Whether segmentation offload should be off on the bond device: per-packet
// path choice needs MTU-sized packets on slow links (a 64 KB GSO packet takes
// 26 ms to serialise at 20 Mbit/s, which reorders TCP badly).
bool ShouldDisableOffloads(const NodeSettings& settings);

// Paths that wait to take over, in the order they should: interfaces.backups
// first, then (active_backup mode) the other uplinks in config order.
std::vector<int> StandbyOrder(const NodeSettings& settings);

// Path table for the configured paths: bonded paths (active_backup: the
// primary only) ACTIVE, the first usable standby path BACKUP, everything
// else DISABLED; unused slots zeroed. `usable[i]` false (link down, probes
// failing) takes path i out; absent entries count as usable.
PathTable BuildPathTable(const NodeSettings& settings, const std::vector<bool>& usable = {});

}  // namespace meshbpf
