#include "agent/daemon/monitoring.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "agent/sys/log.h"

namespace meshbpf {

absl::StatusOr<std::unique_ptr<Monitoring>> Monitoring::Start(const NodeSettings& settings,
                                                              const std::string& instance,
                                                              const std::string& pin_dir) {
  const MonitoringSettings& m = settings.monitoring;
  std::string history_file;
  std::unique_ptr<HistoryStore> history;
  if (m.history) {
    history_file = m.history_file.empty() ? DefaultHistoryFile(instance) : m.history_file;
    absl::StatusOr<std::unique_ptr<HistoryStore>> store = HistoryStore::OpenForAgent(history_file);
    if (store.ok()) {
      history = std::move(*store);
      Log(LogLevel::kInfo, absl::StrFormat("recording metrics every %.3g s into %s",
                                           m.sample_interval_s, history_file));
    } else {
      // A full or read-only disk must not stop the bond: no history then.
      Log(LogLevel::kError, absl::StrCat(store.status().message(), ": recording no history"));
      history_file.clear();
    }
  }
  absl::StatusOr<std::unique_ptr<ResequencerMaps>> resequencer =
      ResequencerMaps::OpenPinned(pin_dir);
  if (!resequencer.ok()) {
    Log(LogLevel::kWarning,
        absl::StrCat("resequencer not shown: ", resequencer.status().message()));
  }
  return std::unique_ptr<Monitoring>(new Monitoring(
      m.sample_interval_s, std::move(history_file),
      Monitor(settings.bond_interface, std::move(history)),
      resequencer.ok() ? std::move(*resequencer) : nullptr));
}

void Monitoring::Sample(uint64_t now_ns, const absl::StatusOr<CounterTable>& counters,
                        const PathTable& table, const std::vector<PathView>& views) {
  next_sample_ns_ = now_ns + static_cast<uint64_t>(sample_interval_s_ * 1e9);
  if (!counters.ok()) return;
  LogStreak(sampling_, monitor_.Sample({now_ns, *counters}, table, views));
}

void Monitoring::RecordTransition(const PathTransition& transition) {
  LogStreak(recording_transitions_, monitor_.RecordTransition(transition));
}

void Monitoring::LogStreak(FailureStreak& streak, const absl::Status& status) {
  if (std::optional<FailureStreak::Line> line = streak.Report(status)) {
    Log(line->error ? LogLevel::kError : LogLevel::kInfo, line->text);
  }
}

MetricsSnapshot Monitoring::Current() const {
  MetricsSnapshot snapshot = monitor_.snapshot();
  if (!resequencer_) return snapshot;
  absl::StatusOr<ResequencerStats> stats = resequencer_->Read();
  if (stats.ok()) {
    snapshot.resequencing = *stats;
  } else {
    Log(LogLevel::kError, absl::StrCat("resequencer: ", stats.status().message()));
  }
  return snapshot;
}

StatsReply Monitoring::Stats() const { return {Current(), history_file_, sample_interval_s_}; }

}  // namespace meshbpf
