#include "agent/core/floor_guard.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_format.h"

namespace meshbpf {
namespace {

// A new best path must beat the current anchor by this much to replace it,
// so two paths of about the same capacity do not take turns.
constexpr double kAnchorSwitch = 1.1;

// The paths one TCP flow over the bond would use, as a goodput estimate.
struct PathSet {
  double capacity_bps = 0, lossy_bps = 0, rtt_us = 0;
  void Add(const GuardPathInput& p) {
    capacity_bps += p.capacity_bps;
    lossy_bps += p.capacity_bps * p.loss;
    rtt_us = std::max(rtt_us, p.rtt_us);
  }
  double GoodputBps() const {
    return capacity_bps <= 0 ? 0
                             : ExpectedFlowGoodputBps(capacity_bps, rtt_us, lossy_bps / capacity_bps);
  }
};

double Mbit(double bps) { return bps / 1e6; }
double Ms(double us) { return us / 1e3; }

}  // namespace

const char* GuardReasonName(GuardReason reason) {
  switch (reason) {
    case GuardReason::kJitter:
      return "jitter";
    case GuardReason::kLoss:
      return "loss";
    case GuardReason::kReadmitted:
      return "readmitted";
    case GuardReason::kBestPath:
      return "best_path";
  }
  return "unknown";
}

double ExpectedFlowGoodputBps(double capacity_bps, double rtt_us, double loss) {
  if (loss <= 0 || rtt_us <= 0) return capacity_bps;
  const double mathis_bps = kGuardMssBytes * 8 / (rtt_us / 1e6) * std::sqrt(1.5 / loss);
  return std::min(capacity_bps, mathis_bps);
}

size_t FloorGuard::ChooseAnchor(const std::vector<GuardPathInput>& in) {
  std::optional<size_t> best;
  for (size_t i = 0; i < in.size(); ++i) {
    if (!in[i].eligible) continue;
    // Ties: the nearer path, then the lower id.
    if (!best || in[i].capacity_bps > in[*best].capacity_bps ||
        (in[i].capacity_bps == in[*best].capacity_bps && in[i].owd_us < in[*best].owd_us)) {
      best = i;
    }
  }
  if (anchor_ && *anchor_ < in.size() && in[*anchor_].eligible &&
      in[*best].capacity_bps < kAnchorSwitch * in[*anchor_].capacity_bps) {
    return *anchor_;
  }
  return *best;
}

std::vector<GuardDecision> FloorGuard::Update(const std::vector<GuardPathInput>& inputs,
                                              uint64_t now_ns) {
  std::vector<GuardDecision> decisions;
  const size_t n = std::min(inputs.size(), paths_.size());
  std::vector<GuardPathInput> in(inputs.begin(), inputs.begin() + static_cast<ptrdiff_t>(n));
  if (std::none_of(in.begin(), in.end(), [](const GuardPathInput& p) { return p.eligible; })) {
    return decisions;
  }
  const size_t anchor = ChooseAnchor(in);
  anchor_ = anchor;
  auto readmit = [&](size_t i, GuardReason reason, std::string detail) {
    PathGuard& g = paths_[i];
    g.excluded = false;
    g.why.clear();
    g.harmful_streak = 0;
    g.readmitted_ns = now_ns;
    decisions.push_back({i, false, reason, std::move(detail)});
  };
  if (paths_[anchor].excluded) {
    readmit(anchor, GuardReason::kBestPath,
            absl::StrFormat("now the best path (%.1f Mbit/s), which the bond is never below",
                            Mbit(in[anchor].capacity_bps)));
  }
  PathSet kept;
  for (size_t i = 0; i < n; ++i) {
    if (in[i].eligible && !paths_[i].excluded) kept.Add(in[i]);
  }

  for (size_t i = 0; i < n; ++i) {
    PathGuard& g = paths_[i];
    if (!in[i].eligible || i == anchor) {
      g.harmful_streak = 0;
      continue;
    }
    // How far its packets spread around their planned arrival, against how
    // long the far end waits for them (resequencing off: nothing to miss).
    const double spread_us = kGuardJitterFactor * in[i].jitter_us;
    const double wait_us = params_.hideable_skew_us;
    // The bond's expected goodput for one flow with and without this path.
    PathSet with = kept, without;
    if (g.excluded) with.Add(in[i]);
    for (size_t j = 0; j < n; ++j) {
      if (j != i && in[j].eligible && !paths_[j].excluded) without.Add(in[j]);
    }
    const double with_bps = with.GoodputBps();
    const double without_bps = without.GoodputBps();

    if (g.excluded) {
      const bool jitter_clear = wait_us <= 0 || spread_us < wait_us * (1 - params_.margin);
      const bool loss_clear = with_bps >= without_bps;
      if (now_ns >= g.out_until_ns && jitter_clear && loss_clear) {
        readmit(i, GuardReason::kReadmitted,
                absl::StrFormat("back-off of %.0f s over; jitter %.1f ms, one flow %.1f Mbit/s "
                                "with it against %.1f without",
                                static_cast<double>(g.backoff_ns) / 1e9, Ms(in[i].jitter_us),
                                Mbit(with_bps), Mbit(without_bps)));
      }
      continue;
    }

    std::optional<GuardReason> harm;
    std::string detail;
    if (wait_us > 0 && spread_us > wait_us) {
      harm = GuardReason::kJitter;
      detail = absl::StrFormat(
          "jitter %.1f ms: its packets spread %.1f ms around their planned arrival, beyond the "
          "%.1f ms the far end's resequencing waits for them",
          Ms(in[i].jitter_us), Ms(spread_us), Ms(wait_us));
    } else if (without_bps > with_bps * (1 + params_.margin)) {
      harm = GuardReason::kLoss;
      detail = absl::StrFormat(
          "loss %.1f%% on %.1f Mbit/s: one TCP flow can expect %.1f Mbit/s with it, %.1f "
          "without",
          in[i].loss * 100, Mbit(in[i].capacity_bps), Mbit(with_bps), Mbit(without_bps));
    }
    if (!harm) {
      g.harmful_streak = 0;
      continue;
    }
    if (++g.harmful_streak < params_.confirm_intervals) continue;
    const bool relapse = g.readmitted_ns && now_ns - *g.readmitted_ns < params_.probation_ns;
    g.backoff_ns = relapse && g.backoff_ns > 0
                       ? std::min(2 * g.backoff_ns, params_.max_backoff_ns)
                       : params_.base_backoff_ns;
    g.excluded = true;
    g.harmful_streak = 0;
    g.out_until_ns = now_ns + g.backoff_ns;
    g.why = detail;
    decisions.push_back({i, true, *harm,
                         absl::StrFormat("%s; out of bulk for at least %.0f s", detail,
                                         static_cast<double>(g.backoff_ns) / 1e9)});
    // The rest are judged against the bond without it.
    kept = PathSet{};
    for (size_t j = 0; j < n; ++j) {
      if (in[j].eligible && !paths_[j].excluded) kept.Add(in[j]);
    }
  }
  return decisions;
}

}  // namespace meshbpf
