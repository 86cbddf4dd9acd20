#include "agent/core/liveness.h"

#include <algorithm>
#include <cmath>

namespace meshbpf {

mb_heartbeat HeartbeatAt(uint64_t now_ns, double monitoring_interval_s) {
  const double interval_ms = monitoring_interval_s * 1000;
  auto at_least = [](uint32_t floor_ms, double ms) {
    return static_cast<uint32_t>(std::max<double>(floor_ms, std::ceil(ms)));
  };
  mb_heartbeat h{};
  h.beat_ns = now_ns;
  h.stale_after_ms = at_least(kMinStaleAfterMs, kStaleAfterTicks * interval_ms);
  h.silent_after_ms = at_least(kMinSilentAfterMs, kSilentAfterProbes * interval_ms);
  return h;
}

}  // namespace meshbpf
