// A token bucket: at most `per_second` events a second, a second's worth at
// once. For work a remote party can ask for (handshakes checked, repairs
// sent), so a flood costs a bounded amount of CPU and uplink.
#pragma once

#include <algorithm>
#include <cstdint>

namespace meshbpf {

class RateBudget {
 public:
  explicit RateBudget(double per_second) : per_second_(per_second), tokens_(per_second) {}
  // Takes one event's worth at `now_ns`; false when the budget is spent.
  bool Take(uint64_t now_ns) {
    if (now_ns > topped_up_ns_) {
      tokens_ = std::min(per_second_, tokens_ + (now_ns - topped_up_ns_) / 1e9 * per_second_);
      topped_up_ns_ = now_ns;
    }
    if (tokens_ < 1) return false;
    tokens_ -= 1;
    return true;
  }

 private:
  double per_second_;
  double tokens_;
  uint64_t topped_up_ns_ = 0;
};

}  // namespace meshbpf
