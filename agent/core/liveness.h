// The heartbeat the agent writes into the data path every tick
// (bpf/meshbpf.h, "Agent liveness"), with the bounds the data path judges it
// and the paths by.
#pragma once

#include <cstdint>

#include "bpf/meshbpf.h"

namespace meshbpf {

// No tick for this long and the data path takes the agent for gone. Well
// above a tick delayed on a loaded machine; a few ticks when they are slow.
inline constexpr uint32_t kMinStaleAfterMs = 3000;
inline constexpr int kStaleAfterTicks = 3;
// A path that received nothing from the peer for this long is skipped while
// the agent is gone. The peer probes every path each monitoring_interval
// (assumed alike on both ends), so this is several missed probes.
inline constexpr uint32_t kMinSilentAfterMs = 1500;
inline constexpr int kSilentAfterProbes = 5;

// The heartbeat at `now_ns` (CLOCK_MONOTONIC, bpf_ktime_get_ns's clock) for
// an agent ticking every `monitoring_interval_s`.
mb_heartbeat HeartbeatAt(uint64_t now_ns, double monitoring_interval_s);

}  // namespace meshbpf
