#include "agent/core/history_summary.h"

#include <algorithm>
#include <cctype>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace meshbpf {
namespace {

std::optional<double> WeightedMean(const std::vector<HistoryRow>& rows, double HistoryRow::*value) {
  double sum = 0, weight = 0;
  for (const HistoryRow& r : rows) {
    sum += r.*value * r.samples;
    weight += r.samples;
  }
  if (weight <= 0) return std::nullopt;
  return sum / weight;
}

std::optional<double> RttPercentile(const std::vector<HistoryRow>& rows, double q) {
  std::vector<std::pair<double, double>> values;
  for (const HistoryRow& r : rows) {
    if (r.rtt_ms) values.emplace_back(*r.rtt_ms, r.rtt_samples);
  }
  return WeightedPercentile(std::move(values), q);
}

}  // namespace

absl::StatusOr<absl::Duration> ParseWindow(std::string_view text) {
  auto error = [&](std::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        "window \"", std::string(text), "\": ", std::string(why), " (e.g. 90s, 90m, 24h, 7d)"));
  };
  if (text.size() < 2) return error("expected a whole number and a unit s, m, h or d");
  absl::Duration unit;
  switch (text.back()) {
    case 's':
      unit = absl::Seconds(1);
      break;
    case 'm':
      unit = absl::Minutes(1);
      break;
    case 'h':
      unit = absl::Hours(1);
      break;
    case 'd':
      unit = absl::Hours(24);
      break;
    default:
      return error("the unit must be s, m, h or d");
  }
  const std::string number(text.substr(0, text.size() - 1));
  int64_t count = 0;
  if (!std::all_of(number.begin(), number.end(), [](unsigned char c) { return std::isdigit(c); }) ||
      !absl::SimpleAtoi(number, &count)) {
    return error("expected a whole number before the unit");
  }
  const absl::Duration longest = kHistoryTiers[std::size(kHistoryTiers) - 1].retention;
  if (count == 0) return error("must be longer than 0");
  if (count > longest / unit) return error("longer than the history kept (365d)");
  return count * unit;
}

std::string FormatWindow(absl::Duration window) {
  const std::pair<absl::Duration, char> units[] = {
      {absl::Hours(24), 'd'}, {absl::Hours(1), 'h'}, {absl::Minutes(1), 'm'}};
  for (const auto& [unit, letter] : units) {
    absl::Duration rest;
    const int64_t count = absl::IDivDuration(window, unit, &rest);
    if (count > 0 && rest == absl::ZeroDuration())
      return absl::StrCat(count, std::string(1, letter));
  }
  return absl::StrCat(absl::ToInt64Seconds(window), "s");
}

std::optional<double> WeightedPercentile(std::vector<std::pair<double, double>> value_weights,
                                         double q) {
  if (!(q > 0 && q <= 1)) return std::nullopt;
  std::erase_if(value_weights, [](const auto& vw) { return !(vw.second > 0); });
  if (value_weights.empty()) return std::nullopt;
  std::sort(value_weights.begin(), value_weights.end());
  double total = 0;
  for (const auto& vw : value_weights) total += vw.second;
  // Relative slack so q * total landing a rounding error above an exact
  // cumulative weight (0.95 * 100) still picks that rank.
  const double target = q * total * (1 - 1e-12);
  double cumulative = 0;
  for (const auto& [value, weight] : value_weights) {
    cumulative += weight;
    if (cumulative >= target) return value;
  }
  return value_weights.back().first;
}

PathTrend JudgeTrend(const std::vector<HistoryRow>& rows, absl::Time start, absl::Time end,
                     const TrendThresholds& thresholds) {
  const absl::Time split = start + (end - start) * 3 / 4;
  std::vector<HistoryRow> before, recent;
  for (const HistoryRow& r : rows) {
    if (r.time < start || r.time > end) continue;
    (r.time < split ? before : recent).push_back(r);
  }
  PathTrend trend;
  trend.rtt_p95_before_ms = RttPercentile(before, 0.95);
  trend.rtt_p95_recent_ms = RttPercentile(recent, 0.95);
  trend.loss_before = WeightedMean(before, &HistoryRow::loss);
  trend.loss_recent = WeightedMean(recent, &HistoryRow::loss);
  if (trend.rtt_p95_before_ms && trend.rtt_p95_recent_ms) {
    const double b = *trend.rtt_p95_before_ms, r = *trend.rtt_p95_recent_ms;
    trend.rtt_worse = r >= b * thresholds.rtt_growth && r - b >= thresholds.rtt_min_increase_ms;
  }
  if (trend.loss_before && trend.loss_recent) {
    trend.loss_worse = *trend.loss_recent - *trend.loss_before >= thresholds.loss_increase;
  }
  return trend;
}

PathSummary SummarizePath(const std::string& path, const std::vector<HistoryRow>& rows,
                          const std::vector<PathTransition>& transitions, absl::Time start,
                          absl::Time end, const TrendThresholds& thresholds) {
  std::vector<HistoryRow> in_window;
  for (const HistoryRow& r : rows) {
    if (r.time >= start && r.time <= end) in_window.push_back(r);
  }
  PathSummary s;
  s.path = path;
  s.start = start;
  s.end = end;
  for (const HistoryRow& r : in_window) s.samples += r.samples;
  s.avg_tx_bytes_per_s = WeightedMean(in_window, &HistoryRow::tx_bytes_per_s).value_or(0);
  s.avg_rx_bytes_per_s = WeightedMean(in_window, &HistoryRow::rx_bytes_per_s).value_or(0);
  s.rtt_p50_ms = RttPercentile(in_window, 0.50);
  s.rtt_p95_ms = RttPercentile(in_window, 0.95);
  s.rtt_p99_ms = RttPercentile(in_window, 0.99);
  s.loss = WeightedMean(in_window, &HistoryRow::loss).value_or(0);
  s.availability = WeightedMean(in_window, &HistoryRow::availability).value_or(0);
  for (const PathTransition& t : transitions) {
    if (t.path == path && t.time >= start && t.time <= end && t.to == PathStatus::kDown &&
        t.from != PathStatus::kDown) {
      ++s.failovers;
    }
  }
  s.trend = JudgeTrend(in_window, start, end, thresholds);
  return s;
}

}  // namespace meshbpf
