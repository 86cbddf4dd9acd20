// Metric history in an embedded SQLite database: 1 s samples per path,
// downsampled to 1 min and 1 h averages and pruned by age so the file stays
// bounded, path state transitions, and data cap usage (so it survives
// restarts). Queries summarise a window with agent/core/history_summary.h.
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
#include "agent/core/history_summary.h"
#include "agent/core/metrics.h"

struct sqlite3;

namespace meshbpf {

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
