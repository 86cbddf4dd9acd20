#include "agent/daemon/monitor.h"

namespace meshbpf {

absl::Status Monitor::Sample(const CounterReading& reading, const PathTable& table,
                             const std::vector<PathView>& views) {
  CounterRates rates;
  if (previous_) {
    absl::StatusOr<CounterRates> computed = ComputeRates(*previous_, reading);
    if (!computed.ok()) return computed.status();
    rates = *computed;
  }
  previous_ = reading;
  std::vector<PathMetrics> paths(views.size());
  for (size_t i = 0; i < views.size(); ++i) {
    PathMetrics& m = paths[i];
    m.path_id = static_cast<uint32_t>(i);
    m.name = views[i].name;
    m.status = views[i].status;
    m.rtt_ms = views[i].rtt_ms;
    m.jitter_ms = views[i].jitter_ms;
    m.loss = views[i].loss;
    m.cap = views[i].cap;
    m.bulk_excluded = views[i].bulk_excluded;
    m.guard_decisions = views[i].guard_decisions;
  }
  if (absl::Status s = FillTrafficMetrics(table, reading.counters, rates, &paths); !s.ok()) {
    return s;
  }
  snapshot_.paths = std::move(paths);
  snapshot_.unattributed_drops_total = SlotDrops(reading.counters[MB_NO_PATH]);
  if (!history_) return absl::OkStatus();
  if (absl::Status s = history_->RecordSample(snapshot_); !s.ok()) return s;
  if (++samples_since_compaction_ >= kSamplesPerCompaction) {
    samples_since_compaction_ = 0;
    return history_->Compact();
  }
  return absl::OkStatus();
}

absl::Status Monitor::RecordTransition(const PathTransition& transition) {
  if (!history_) return absl::OkStatus();
  return history_->RecordTransition(transition);
}

}  // namespace meshbpf
