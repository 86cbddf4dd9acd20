// Metric history in an embedded SQLite database: 1 s samples per path,
// downsampled to 1 min and 1 h averages and pruned by age so the file stays
// bounded, path state transitions, and data cap usage (so it survives
// restarts). Queries summarise a window: average throughput, RTT
// percentiles, loss, availability, failovers and whether the path is getting
// worse. The summarising itself is pure code, tested on its own.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/core/data_cap.h"
#include "agent/core/metrics.h"

struct sqlite3;

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

class HistoryStore {
 public:
  using Clock = std::function<absl::Time()>;
  enum class Mode {
    kReadWrite,  // the agent: creates the file and its tables if missing
    kReadOnly,   // the CLI: the file must exist
  };

  // Opens (":memory:" for a private in-memory store) and checks the schema;
  // a file that is not a database, a newer schema or an unwritable place is
  // an error naming the file.
  static absl::StatusOr<std::unique_ptr<HistoryStore>> Open(const std::string& file, Mode mode,
                                                            Clock clock = &absl::Now);
  // Open(file, kReadWrite), first creating the file's directory (0750) if
  // it is missing: what the agent does with monitoring.history_file.
  static absl::StatusOr<std::unique_ptr<HistoryStore>> OpenForAgent(const std::string& file);
  ~HistoryStore();
  HistoryStore(const HistoryStore&) = delete;
  HistoryStore& operator=(const HistoryStore&) = delete;

  // One 1 s sample per path, at the clock's current second.
  absl::Status RecordSample(const MetricsSnapshot& snapshot);
  absl::Status RecordTransition(const PathTransition& transition);
  // Folds finished minutes and hours into the coarser tiers, then drops rows
  // past each tier's retention. Call about once a minute.
  absl::Status Compact();

  // Rows of the last `window` per path, oldest first, from the finest tier
  // that keeps the whole window, averaged into `bucket`s when `bucket` is
  // coarser than that tier (for plotting).
  absl::StatusOr<std::map<std::string, std::vector<HistoryRow>>> Series(
      absl::Duration window, absl::Duration bucket = absl::ZeroDuration()) const;
  absl::StatusOr<std::vector<PathTransition>> Transitions(absl::Duration window) const;
  // One summary per path seen in the window, by path name.
  absl::StatusOr<std::vector<PathSummary>> Summaries(absl::Duration window,
                                                     const TrendThresholds& thresholds = {}) const;

  absl::Status SaveCapUsage(const std::string& path, const CapUsage& usage);
  absl::StatusOr<std::optional<CapUsage>> LoadCapUsage(const std::string& path) const;

 private:
  HistoryStore(sqlite3* db, std::string file, Clock clock)
      : db_(db), file_(std::move(file)), clock_(std::move(clock)) {}
  absl::Status Error(std::string_view doing) const;
  absl::Status Exec(const char* sql, std::string_view doing);
  absl::Status InTransaction(std::string_view doing, const std::function<absl::Status()>& body);
  // Folds the finished buckets of tier - 1 into `tier`.
  absl::Status Downsample(size_t tier, absl::Time now);

  sqlite3* db_;
  std::string file_;
  Clock clock_;
};

}  // namespace meshbpf
