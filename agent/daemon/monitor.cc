#include "agent/daemon/monitor.h"

#include "absl/strings/str_cat.h"

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

namespace {

nlohmann::json Optional(const std::optional<double>& value) {
  return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
}

absl::StatusOr<PathStatus> ParseStatus(const std::string& name) {
  for (PathStatus s : kAllPathStatuses) {
    if (PathStatusName(s) == name) return s;
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown path status \"", name, "\""));
}

}  // namespace

nlohmann::json SnapshotToJson(const MetricsSnapshot& snapshot) {
  nlohmann::json paths = nlohmann::json::array();
  for (const PathMetrics& p : snapshot.paths) {
    nlohmann::json path = {{"id", p.path_id},
                           {"name", p.name},
                           {"status", std::string(PathStatusName(p.status))},
                           {"weight", p.weight},
                           {"tx_bytes_total", p.tx_bytes_total},
                           {"rx_bytes_total", p.rx_bytes_total},
                           {"tx_packets_total", p.tx_packets_total},
                           {"rx_packets_total", p.rx_packets_total},
                           {"drops_total", p.drops_total},
                           {"tx_bytes_per_s", p.tx_bytes_per_s},
                           {"rx_bytes_per_s", p.rx_bytes_per_s},
                           {"traffic_share", p.traffic_share},
                           {"rtt_ms", Optional(p.rtt_ms)},
                           {"jitter_ms", Optional(p.jitter_ms)},
                           {"loss", p.loss},
                           {"cap", nullptr}};
    if (p.cap) path["cap"] = {{"used_bytes", p.cap->used_bytes}, {"limit_bytes", p.cap->limit_bytes}};
    paths.push_back(std::move(path));
  }
  return {{"bond", snapshot.bond},
          {"unattributed_drops_total", snapshot.unattributed_drops_total},
          {"paths", std::move(paths)}};
}

absl::StatusOr<MetricsSnapshot> SnapshotFromJson(const nlohmann::json& json) {
  MetricsSnapshot snapshot;
  std::string where = "stats";
  try {
    where = "stats.bond";
    snapshot.bond = json.at("bond").get<std::string>();
    where = "stats.unattributed_drops_total";
    snapshot.unattributed_drops_total = json.at("unattributed_drops_total").get<uint64_t>();
    where = "stats.paths";
    for (const nlohmann::json& p : json.at("paths")) {
      PathMetrics m;
      where = absl::StrCat("stats.paths[", snapshot.paths.size(), "]");
      m.path_id = p.at("id").get<uint32_t>();
      m.name = p.at("name").get<std::string>();
      absl::StatusOr<PathStatus> status = ParseStatus(p.at("status").get<std::string>());
      if (!status.ok()) return absl::InvalidArgumentError(absl::StrCat(where, ": ", status.status().message()));
      m.status = *status;
      m.weight = p.at("weight").get<double>();
      m.tx_bytes_total = p.at("tx_bytes_total").get<uint64_t>();
      m.rx_bytes_total = p.at("rx_bytes_total").get<uint64_t>();
      m.tx_packets_total = p.at("tx_packets_total").get<uint64_t>();
      m.rx_packets_total = p.at("rx_packets_total").get<uint64_t>();
      m.drops_total = p.at("drops_total").get<uint64_t>();
      m.tx_bytes_per_s = p.at("tx_bytes_per_s").get<double>();
      m.rx_bytes_per_s = p.at("rx_bytes_per_s").get<double>();
      m.traffic_share = p.at("traffic_share").get<double>();
      if (!p.at("rtt_ms").is_null()) m.rtt_ms = p.at("rtt_ms").get<double>();
      if (!p.at("jitter_ms").is_null()) m.jitter_ms = p.at("jitter_ms").get<double>();
      m.loss = p.at("loss").get<double>();
      if (!p.at("cap").is_null()) {
        m.cap = CapMetrics{p.at("cap").at("used_bytes").get<uint64_t>(),
                           p.at("cap").at("limit_bytes").get<uint64_t>()};
      }
      snapshot.paths.push_back(std::move(m));
    }
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": ", e.what()));
  }
  return snapshot;
}

}  // namespace meshbpf
