// Metric history as values: the sample tiers the store keeps, rows and path
// transitions, and the pure summarising of a window (throughput, RTT
// percentiles, loss, availability, failovers, trend); windows written as
// "24h". The SQLite store that holds them is agent/sys/history_store.h.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/core/metrics.h"

namespace meshbpf {

// Sample tiers, finest first: each keeps rows of `resolution` for `retention`.
struct HistoryTier {
  absl::Duration resolution;
  absl::Duration retention;
};
inline const HistoryTier kHistoryTiers[] = {
    {absl::Seconds(1), absl::Hours(1)},
    {absl::Minutes(1), absl::Hours(24 * 7)},
    {absl::Hours(1), absl::Hours(24 * 365)},
};
// Transitions older than the coarsest tier go, and at most this many are kept.
inline constexpr int kMaxStoredTransitions = 100000;

// "90s", "90m", "24h", "7d": a positive whole number and a unit, at most a
// year (the longest history kept).
absl::StatusOr<absl::Duration> ParseWindow(std::string_view text);
// The other way round, in the largest unit that divides `window` ("24h",
// "90m"); whole seconds otherwise.
std::string FormatWindow(absl::Duration window);

// One path over one bucket: a 1 s sample, or the average of the samples of
// a minute or an hour (or of a coarser bucket asked for by a query).
struct HistoryRow {
  absl::Time time;     // start of the bucket
  double samples = 0;  // 1 s samples averaged here: the row's weight
  double tx_bytes_per_s = 0, rx_bytes_per_s = 0;
  std::optional<double> rtt_ms;      // mean over samples that had an RTT
  double rtt_samples = 0;            // how many did
  std::optional<double> rtt_max_ms;  // worst sample, kept through downsampling
  std::optional<double> jitter_ms;
  double loss = 0;          // fraction, 0..1
  double availability = 0;  // fraction of the samples in which the path was usable
  double weight = 0;
  std::optional<PathStatus> status;  // only in a row that is a single 1 s sample
};

struct PathTransition {
  absl::Time time;
  std::string path;
  PathStatus from = PathStatus::kDown;
  PathStatus to = PathStatus::kDown;
  std::string reason;
};

// Nearest-rank percentile (0 < q <= 1) of weighted values: the smallest value
// whose cumulative weight reaches q of the total. None without positive weight.
std::optional<double> WeightedPercentile(std::vector<std::pair<double, double>> value_weights,
                                         double q);

// When a path counts as getting worse: its last quarter of the window
// against the three quarters before.
struct TrendThresholds {
  double rtt_growth = 1.5;         // recent p95 RTT at least this many times the earlier one
  double rtt_min_increase_ms = 5;  // and at least this much higher (ignores noise on fast links)
  double loss_increase = 0.01;     // recent loss this much (a fraction) above the earlier loss
};

struct PathTrend {
  std::optional<double> rtt_p95_before_ms, rtt_p95_recent_ms;
  std::optional<double> loss_before, loss_recent;
  bool rtt_worse = false;
  bool loss_worse = false;
};

struct PathSummary {
  std::string path;
  absl::Time start, end;
  double samples = 0;
  double avg_tx_bytes_per_s = 0, avg_rx_bytes_per_s = 0;
  std::optional<double> rtt_p50_ms, rtt_p95_ms, rtt_p99_ms;
  double loss = 0;
  double availability = 0;
  int failovers = 0;  // transitions into down
  PathTrend trend;
};

// Trend of `rows` over [start, end] (rows are bucket starts).
PathTrend JudgeTrend(const std::vector<HistoryRow>& rows, absl::Time start, absl::Time end,
                     const TrendThresholds& thresholds);

// Summary of one path's rows and transitions over [start, end].
PathSummary SummarizePath(const std::string& path, const std::vector<HistoryRow>& rows,
                          const std::vector<PathTransition>& transitions, absl::Time start,
                          absl::Time end, const TrendThresholds& thresholds);

}  // namespace meshbpf
