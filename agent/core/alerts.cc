#include "agent/core/alerts.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace meshbpf {
namespace {

std::string Percent(double fraction) { return absl::StrFormat("%.1f%%", fraction * 100); }
std::string WholePercent(double fraction) { return absl::StrFormat("%.0f%%", fraction * 100); }

// PathAlertInputs::recent_minutes holds one row per minute.
constexpr absl::Duration kMinute = absl::Minutes(1);

// Index of the first row of the run of rows above `threshold` that ends with
// the newest row, when that row is from the last two buckets.
std::optional<size_t> LossRunStart(const std::vector<HistoryRow>& rows, double threshold,
                                   absl::Duration bucket, absl::Time now) {
  if (rows.empty() || rows.back().time + 2 * bucket < now) return std::nullopt;
  size_t first = rows.size();
  while (first > 0 && rows[first - 1].loss > threshold &&
         (first == rows.size() || rows[first].time - rows[first - 1].time <= bucket)) {
    --first;
  }
  if (first == rows.size()) return std::nullopt;
  return first;
}

}  // namespace

std::string AlertMessage(const Alert& alert, bool applied) {
  std::string_view action;
  switch (alert.action) {
    case AlertAction::kNone:
      break;
    case AlertAction::kReduceWeight:
      action = applied ? "weight reduced" : "reduce its weight";
      break;
    case AlertAction::kStopUsing:
      action = applied ? "stopped using it" : "stop using it";
      break;
    case AlertAction::kLastResortOnly:
      action = applied ? "kept as last-resort backup only" : "keep it as last-resort backup only";
      break;
  }
  std::string message = absl::StrCat(alert.path, ": ", alert.reason);
  if (!action.empty()) absl::StrAppend(&message, "; ", std::string(action));
  return message;
}

absl::Duration LossHeldAbove(const std::vector<HistoryRow>& rows, double threshold,
                             absl::Duration bucket, absl::Time now) {
  const std::optional<size_t> first = LossRunStart(rows, threshold, bucket, now);
  if (!first) return absl::ZeroDuration();
  return rows.back().time + bucket - rows[*first].time;
}

std::vector<Alert> EvaluateAlerts(const PathAlertInputs& inputs, absl::Time now,
                                  const AlertThresholds& thresholds) {
  const PathSummary& s = inputs.summary;
  const std::string window = FormatWindow(s.end - s.start);
  std::vector<Alert> alerts;
  auto add = [&](AlertKind kind, AlertAction action, std::string reason) {
    alerts.push_back({s.path, kind, action, std::move(reason)});
  };

  const std::vector<HistoryRow>& recent = inputs.recent_minutes;
  if (std::optional<size_t> first = LossRunStart(recent, thresholds.loss, kMinute, now)) {
    const absl::Duration held = recent.back().time + kMinute - recent[*first].time;
    if (held >= thresholds.loss_for) {
      double loss = 0, samples = 0;
      for (size_t i = *first; i < recent.size(); ++i) {
        loss += recent[i].loss * recent[i].samples;
        samples += recent[i].samples;
      }
      add(AlertKind::kSustainedLoss, AlertAction::kReduceWeight,
          absl::StrCat("loss ", Percent(samples > 0 ? loss / samples : 0), " above ",
                       WholePercent(thresholds.loss), " for ", FormatWindow(held)));
    }
  }

  const PathTrend& t = s.trend;
  if (t.rtt_p95_before_ms && t.rtt_p95_recent_ms && *t.rtt_p95_before_ms > 0 &&
      *t.rtt_p95_recent_ms >= *t.rtt_p95_before_ms * thresholds.rtt_p95_growth) {
    add(AlertKind::kRttGrowth, AlertAction::kNone,
        absl::StrFormat("RTT p95 up %.1fx over the last %s (%.1f -> %.1f ms)",
                        *t.rtt_p95_recent_ms / *t.rtt_p95_before_ms, window, *t.rtt_p95_before_ms,
                        *t.rtt_p95_recent_ms));
  }
  if (t.loss_worse) {
    add(AlertKind::kLossRising, AlertAction::kNone,
        absl::StrCat("loss rising over the last ", window, " (", Percent(*t.loss_before), " -> ",
                     Percent(*t.loss_recent), ")"));
  }

  if (s.samples > 0 && s.availability < thresholds.min_availability) {
    add(AlertKind::kLowAvailability, AlertAction::kNone,
        absl::StrCat("available ", Percent(s.availability), " of the last ", window, " (below ",
                     Percent(thresholds.min_availability), "), ", s.failovers,
                     s.failovers == 1 ? " failover" : " failovers"));
  }

  if (inputs.cap) {
    const CapState& cap = *inputs.cap;
    if (cap.used_fraction >= 1) {
      add(AlertKind::kCapExhausted,
          cap.when_exhausted == CapExhaustedPolicy::kStop ? AlertAction::kStopUsing
                                                          : AlertAction::kLastResortOnly,
          absl::StrCat("data cap used up (", WholePercent(cap.used_fraction), ")"));
    } else {
      std::optional<double> level;
      for (double w : cap.warn_at) {
        if (cap.used_fraction >= w) level = w;
      }
      if (level) {
        add(AlertKind::kCapWarning, AlertAction::kNone,
            absl::StrCat("data cap ", WholePercent(*level), " used (", Percent(cap.used_fraction),
                         ")"));
      }
    }
  }
  return alerts;
}

}  // namespace meshbpf
