// Monitoring in the running agent (monitoring.*): samples the counters into
// the Monitor every sample_interval, records transitions into the history,
// and answers "stats" (and the HTTP endpoint, web_endpoint.h). The resequencer is
// read when asked, not sampled: its occupancy is a gauge of this moment.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/core/config.h"
#include "agent/core/control_protocol.h"
#include "agent/core/policy.h"
#include "agent/core/failure_streak.h"
#include "agent/daemon/monitor.h"
#include "agent/sys/history_store.h"
#include "agent/sys/map_io.h"

namespace meshbpf {

class Monitoring {
 public:
  // Opens the history file (monitoring.history) and the resequencer's maps pinned in
  // `pin_dir` (without them, the rest is still served).
  static absl::StatusOr<std::unique_ptr<Monitoring>> Start(const NodeSettings& settings,
                                                           const std::string& instance,
                                                           const std::string& pin_dir);

  // Whether a sample is due at `now_ns`.
  bool Due(uint64_t now_ns) const { return now_ns >= next_sample_ns_; }
  // Takes the due sample (none when the counters could not be read) and
  // schedules the next.
  void Sample(uint64_t now_ns, const absl::StatusOr<CounterTable>& counters, const PathTable& table,
              const std::vector<PathView>& views);
  void RecordTransition(const PathTransition& transition);
  // The "stats" reply.
  StatsReply Stats() const;
  // The latest sample with the resequencer as it is now.
  MetricsSnapshot Current() const;
  // The history store; null: monitoring.history is off.
  HistoryStore* history() const { return monitor_.history(); }

 private:
  Monitoring(double sample_interval_s, std::string history_file, Monitor monitor,
             std::unique_ptr<ResequencerMaps> resequencer)
      : sample_interval_s_(sample_interval_s),
        history_file_(std::move(history_file)),
        monitor_(std::move(monitor)),
        resequencer_(std::move(resequencer)) {}
  // Logs when `streak` starts failing and when it works again (a full disk
  // fails every sample; one line says so).
  static void LogStreak(FailureStreak& streak, const absl::Status& status);

  const double sample_interval_s_;
  const std::string history_file_;  // empty: no history recorded
  Monitor monitor_;
  std::unique_ptr<ResequencerMaps> resequencer_;   // null: its maps could not be opened
  uint64_t next_sample_ns_ = 0;
  FailureStreak sampling_{"metrics: taking a sample (live metrics, history)"};
  FailureStreak recording_transitions_{"history: recording a path transition"};
};

}  // namespace meshbpf
