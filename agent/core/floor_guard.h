// The floor guard: pure policy, no I/O. Every rebalance interval it judges
// per bonded path whether the path adds more to the bond than it costs, and
// takes it out of bonded bulk traffic when it does not, so the bond does
// not fall below its best link in cases resequencing and scheduling do not
// cover. The rule and its reasons: docs/design/floor-guard.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace meshbpf {

// What the guard knows of one path this interval.
struct GuardPathInput {
  bool eligible = false;   // would carry bonded bulk without the guard (ACTIVE, not by hand)
  // What it adds to the bond: its estimated capacity, without the loss
  // discount of its scheduling weight (loss counts in the goodput model; a
  // discount would also let a best path's congestion drops hand the anchor
  // to a worse path).
  double capacity_bps = 0;
  double owd_us = 0;        // one-way delay: half the minimum probe RTT (anchor ties)
  double jitter_us = 0;
  double rtt_us = 0;        // smoothed probe RTT
  double loss = 0;          // one-way loss, 0..1
};

struct GuardParams {
  // The longest the far end's resequencer waits for a packet:
  // link_aggregation.reorder_deadline_ms, the ceiling of the deadline the
  // agent chooses. 0: resequencing off (the jitter rule does not apply).
  double hideable_skew_us = 0;
  // Intervals in a row a path must look harmful before it is taken out.
  uint32_t confirm_intervals = 3;
  // Out of bulk for at least the back-off, then back once the evidence is
  // clear (by `margin`). Taken out again within `probation_ns` of coming
  // back doubles the back-off, up to `max_backoff_ns`; a path that stayed
  // in through probation starts again from `base_backoff_ns`.
  uint64_t base_backoff_ns = 10'000'000'000ull;
  uint64_t max_backoff_ns = 320'000'000'000ull;
  uint64_t probation_ns = 60'000'000'000ull;
  double margin = 0.1;
};

// A path's packets spread this many times its jitter around the delay the
// scheduler plans with. The delay itself is no reason: the scheduler counts
// what the resequencer does not hide (delay_cost_ns in bpf/lib/sched.h), so
// a far path only gets packets that arrive in time (measured: 0 + 60 ms
// paths under a 30 ms ceiling download 1.30x the best link with the path
// in, 0.97x with it out). The spread it cannot plan for: beyond the
// deadline, the packets come late and out of order.
inline constexpr double kGuardJitterFactor = 2;
// The segment size the goodput model assumes for the end host's TCP.
inline constexpr double kGuardMssBytes = 1400;

enum class GuardReason {
  kJitter,      // taken out: its packets spread beyond what the far end waits for
  kLoss,        // taken out: its loss costs one TCP flow more than its capacity adds
  kReadmitted,  // back in: back-off over and the evidence clear
  kBestPath,    // back in at once: it is the best path left
};
// "jitter", "loss", "readmitted", "best_path": the label of the decisions counter.
const char* GuardReasonName(GuardReason reason);
inline constexpr GuardReason kAllGuardReasons[] = {GuardReason::kJitter, GuardReason::kLoss,
                                                   GuardReason::kReadmitted,
                                                   GuardReason::kBestPath};

struct GuardDecision {
  size_t path = 0;
  bool excluded = false;  // true: taken out of bulk; false: back in
  GuardReason reason = GuardReason::kJitter;
  std::string detail;     // the figures behind it, for the log and status
};

// Goodput one TCP flow can expect over paths with these capacities, RTT
// and (capacity-weighted) loss: the sum of the capacities, or less where
// random loss limits the flow (Mathis et al.: MSS/RTT x sqrt(3/2)/sqrt(p)).
double ExpectedFlowGoodputBps(double capacity_bps, double rtt_us, double loss);

class FloorGuard {
 public:
  FloorGuard(size_t paths, GuardParams params) : params_(params), paths_(paths) {}

  // One rebalance interval: `inputs` has one entry per path. Returns the
  // decisions taken (most intervals: none).
  std::vector<GuardDecision> Update(const std::vector<GuardPathInput>& inputs, uint64_t now_ns);

  bool excluded(size_t i) const { return paths_[i].excluded; }
  // Why path i is out of bulk ("" when it is not).
  const std::string& why(size_t i) const { return paths_[i].why; }
  // How long path i stays out at least, the next time it is taken out.
  uint64_t backoff_ns(size_t i) const { return paths_[i].backoff_ns; }
  // The path the others are judged against; nullopt before any was eligible.
  std::optional<size_t> anchor() const { return anchor_; }

 private:
  struct PathGuard {
    bool excluded = false;
    std::string why;
    uint32_t harmful_streak = 0;
    uint64_t out_until_ns = 0;
    uint64_t backoff_ns = 0;  // 0: base
    std::optional<uint64_t> readmitted_ns;
  };
  size_t ChooseAnchor(const std::vector<GuardPathInput>& in);

  GuardParams params_;
  std::vector<PathGuard> paths_;
  std::optional<size_t> anchor_;
};

}  // namespace meshbpf
