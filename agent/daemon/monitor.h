// Per-second monitoring: counters -> rates -> a MetricsSnapshot of every
// path (with the health the agent knows), kept for `meshbpf stats` and the
// Prometheus endpoint and recorded into the history store, which is
// compacted about once a minute. No kernel access: the agent hands in the
// counter readings and the path table, so tests drive it directly.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "agent/sys/history_store.h"
#include "agent/core/metrics.h"
#include "agent/core/rates.h"

namespace meshbpf {

// What the agent knows of a path beyond its counters; views[i] is path id i.
struct PathView {
  std::string name;
  PathStatus status = PathStatus::kDown;
  std::optional<double> rtt_ms, jitter_ms;
  double loss = 0;
  std::optional<CapMetrics> cap;
  bool bulk_excluded = false;
  std::vector<GuardDecisionCount> guard_decisions;
};

// Samples between two Compact() calls of the history store: a minute at 1 s.
inline constexpr int kSamplesPerCompaction = 60;

class Monitor {
 public:
  // `history` may be null: snapshots only, nothing recorded.
  Monitor(std::string bond, std::unique_ptr<HistoryStore> history)
      : history_(std::move(history)) {
    snapshot_.bond = std::move(bond);
  }

  // Takes one sample. The first has no earlier reading, so its rates are 0.
  // A history error is returned after the snapshot is updated: the live view
  // keeps working when the database does not.
  absl::Status Sample(const CounterReading& reading, const PathTable& table,
                      const std::vector<PathView>& views);
  absl::Status RecordTransition(const PathTransition& transition);

  const MetricsSnapshot& snapshot() const { return snapshot_; }
  HistoryStore* history() const { return history_.get(); }

 private:
  std::unique_ptr<HistoryStore> history_;
  std::optional<CounterReading> previous_;
  MetricsSnapshot snapshot_;
  int samples_since_compaction_ = 0;
};

}  // namespace meshbpf
