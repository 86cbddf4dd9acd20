#include "agent/core/control_protocol.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace meshbpf {

using nlohmann::json;

std::string FieldError::Message() const {
  return field_.empty() ? problem_ : absl::StrCat("\"", field_, "\" ", problem_);
}

FieldError FieldError::Within(const std::string& outer) const {
  if (field_.empty()) return FieldError(outer, problem_);
  return FieldError(field_[0] == '[' ? outer + field_ : absl::StrCat(outer, ".", field_), problem_);
}

void ReadValue(const json& value, std::string& out) {
  if (!value.is_string()) throw FieldError("", "must be a string");
  out = value.get<std::string>();
}

void ReadValue(const json& value, bool& out) {
  if (!value.is_boolean()) throw FieldError("", "must be true or false");
  out = value.get<bool>();
}

void ReadValue(const json& value, double& out) {
  if (!value.is_number()) throw FieldError("", "must be a number");
  out = value.get<double>();
}

// --- Requests -------------------------------------------------------------------

namespace {

// The command names, in ControlRequest's order.
constexpr const char* kCommandNames[] = {"ping",  "status", "failover",    "cap",
                                         "stats", "test",   "test_status", "peers"};
static_assert(std::size(kCommandNames) == std::variant_size_v<ControlRequest>);

// The fields of one command's request (besides "command").
void ReadFields(const json&, PingRequest&) {}
void ReadFields(const json&, StatusRequest&) {}
void ReadFields(const json&, StatsRequest&) {}
void ReadFields(const json&, TestStatusRequest&) {}
void ReadFields(const json&, PeersRequest&) {}
void ReadFields(const json& j, FailoverRequest& r) {
  std::optional<bool> automatic;
  OptionalField(j, "auto", automatic);
  r.automatic = automatic.value_or(false);
  if (r.automatic) return;
  Field(j, "from", r.from);
  Field(j, "to", r.to);
}
void ReadFields(const json& j, CapRequest& r) { OptionalField(j, "reset", r.reset); }
void ReadFields(const json& j, TestRequest& r) {
  Field(j, "interface", r.interface);
  Field(j, "duration", r.duration);
}

void WriteFields(json&, const PingRequest&) {}
void WriteFields(json&, const StatusRequest&) {}
void WriteFields(json&, const StatsRequest&) {}
void WriteFields(json&, const TestStatusRequest&) {}
void WriteFields(json&, const PeersRequest&) {}
void WriteFields(json& j, const FailoverRequest& r) {
  if (r.automatic) {
    j["auto"] = true;
  } else {
    j["from"] = r.from;
    j["to"] = r.to;
  }
}
void WriteFields(json& j, const CapRequest& r) {
  if (r.reset) j["reset"] = *r.reset;
}
void WriteFields(json& j, const TestRequest& r) {
  j["interface"] = r.interface;
  j["duration"] = r.duration;
}

// The request alternative at `index`, its fields read from `j`.
template <size_t index = 0>
ControlRequest ReadCommand(size_t wanted, const json& j) {
  if constexpr (index < std::variant_size_v<ControlRequest>) {
    if (index != wanted) return ReadCommand<index + 1>(wanted, j);
    std::variant_alternative_t<index, ControlRequest> request;
    ReadFields(j, request);
    return request;
  } else {
    return PingRequest{};  // not reached: `wanted` is a valid index
  }
}

}  // namespace

std::string CommandName(const ControlRequest& request) { return kCommandNames[request.index()]; }

json RequestToJson(const ControlRequest& request) {
  json j = {{"command", CommandName(request)}};
  std::visit([&j](const auto& r) { WriteFields(j, r); }, request);
  return j;
}

absl::StatusOr<ControlRequest> RequestFromJson(const json& j) {
  if (!j.is_object()) return absl::InvalidArgumentError("the request is not a JSON object");
  std::string command;
  try {
    Field(j, "command", command);
  } catch (const FieldError& e) {
    return absl::InvalidArgumentError(absl::StrCat("request: ", e.Message()));
  }
  for (size_t i = 0; i < std::size(kCommandNames); ++i) {
    if (command != kCommandNames[i]) continue;
    try {
      return ReadCommand(i, j);
    } catch (const FieldError& e) {
      return absl::InvalidArgumentError(absl::StrCat(command, ": ", e.Message()));
    }
  }
  return absl::InvalidArgumentError(absl::StrCat("unknown control command \"", command, "\""));
}

// --- Replies --------------------------------------------------------------------

void to_json(json& j, const ErrorReply& v) { j = {{"error", v.error}}; }
void from_json(const json& j, ErrorReply& v) { Field(j, "error", v.error); }

void to_json(json& j, const PingReply&) { j = {{"ok", true}}; }
void from_json(const json& j, PingReply&) {
  bool ok = false;
  Field(j, "ok", ok);
}

void to_json(json& j, const PathRtt& v) {
  j = {{"rtt_ms", v.rtt_ms},
       {"min_rtt_ms", v.min_rtt_ms},
       {"jitter_ms", v.jitter_ms},
       {"queue_delay_ms", v.queue_delay_ms}};
}
void from_json(const json& j, PathRtt& v) {
  Field(j, "rtt_ms", v.rtt_ms);
  Field(j, "min_rtt_ms", v.min_rtt_ms);
  Field(j, "jitter_ms", v.jitter_ms);
  Field(j, "queue_delay_ms", v.queue_delay_ms);
}

void to_json(json& j, const RelayInfo& v) {
  j = {{"node", v.node},
       {"node_id", v.node_id},
       {"uplink", v.uplink},
       {"address", v.address},
       {"port", v.port}};
}
void from_json(const json& j, RelayInfo& v) {
  Field(j, "node", v.node);
  Field(j, "node_id", v.node_id);
  Field(j, "uplink", v.uplink);
  Field(j, "address", v.address);
  Field(j, "port", v.port);
}

void to_json(json& j, const PathStatusEntry& v) {
  j = {{"id", v.id},
       {"name", v.name},
       {"interface", v.interface},
       {"health", v.health},
       {"link_up", v.link_up},
       {"data_path_state", v.data_path_state},
       {"configured_mbit", v.configured_mbit},
       {"capacity_mbit", v.capacity_mbit},
       {"weight_mbit", v.weight_mbit},
       {"loss", v.loss},
       {"probe_loss", v.probe_loss},
       {"down_count", v.down_count},
       {"held_out", v.held_out},
       {"moved_in", v.moved_in},
       {"endpoint", v.endpoint},
       {"remote", Nullable(v.remote)}};
  if (v.relayed()) j["relay"] = Nullable(v.relay);
  if (v.learned()) j["learned_endpoint"] = j["remote"];
  if (v.rtt) j.update(json(*v.rtt));
}
void from_json(const json& j, PathStatusEntry& v) {
  Field(j, "id", v.id);
  Field(j, "name", v.name);
  Field(j, "interface", v.interface);
  Field(j, "health", v.health);
  Field(j, "link_up", v.link_up);
  Field(j, "data_path_state", v.data_path_state);
  Field(j, "configured_mbit", v.configured_mbit);
  Field(j, "capacity_mbit", v.capacity_mbit);
  Field(j, "weight_mbit", v.weight_mbit);
  Field(j, "loss", v.loss);
  Field(j, "probe_loss", v.probe_loss);
  Field(j, "down_count", v.down_count);
  Field(j, "held_out", v.held_out);
  Field(j, "moved_in", v.moved_in);
  Field(j, "endpoint", v.endpoint);
  Field(j, "remote", v.remote);
  v.relay.reset();
  if (v.relayed()) Field(j, "relay", v.relay);
  v.rtt.reset();
  if (j.contains("rtt_ms")) from_json(j, v.rtt.emplace());
}

void to_json(json& j, const TransitionEntry& v) {
  j = {{"time", v.time}, {"path", v.path}, {"from", v.from}, {"to", v.to}, {"reason", v.reason}};
}
void from_json(const json& j, TransitionEntry& v) {
  Field(j, "time", v.time);
  Field(j, "path", v.path);
  Field(j, "from", v.from);
  Field(j, "to", v.to);
  Field(j, "reason", v.reason);
}

void to_json(json& j, const CapEntry& v) {
  j = {{"path", v.path},
       {"path_id", v.path_id},
       {"limit_bytes", v.limit_bytes},
       {"used_bytes", v.used_bytes},
       {"remaining_bytes", v.remaining_bytes},
       {"used_percent", v.used_percent},
       {"period", v.period},
       {"period_start", Nullable(v.period_start)},
       {"resets_at", Nullable(v.resets_at)},
       {"when_exhausted", v.when_exhausted},
       {"exhausted", v.exhausted},
       {"warn_at_percent", v.warn_at_percent},
       {"warnings_issued", v.warnings_issued}};
}
void from_json(const json& j, CapEntry& v) {
  Field(j, "path", v.path);
  Field(j, "path_id", v.path_id);
  Field(j, "limit_bytes", v.limit_bytes);
  Field(j, "used_bytes", v.used_bytes);
  Field(j, "remaining_bytes", v.remaining_bytes);
  Field(j, "used_percent", v.used_percent);
  Field(j, "period", v.period);
  Field(j, "period_start", v.period_start);
  Field(j, "resets_at", v.resets_at);
  Field(j, "when_exhausted", v.when_exhausted);
  Field(j, "exhausted", v.exhausted);
  Field(j, "warn_at_percent", v.warn_at_percent);
  Field(j, "warnings_issued", v.warnings_issued);
}

void to_json(json& j, const StatusReply& v) {
  j = {{"mode", v.mode},
       {"probing", v.probing},
       {"invalid_probes", v.invalid_probes},
       {"nodes", Nullable(v.nodes)},
       {"paths", v.paths},
       {"caps", v.caps},
       {"transitions", v.transitions}};
}
void from_json(const json& j, StatusReply& v) {
  Field(j, "mode", v.mode);
  Field(j, "probing", v.probing);
  Field(j, "invalid_probes", v.invalid_probes);
  Field(j, "nodes", v.nodes);
  Field(j, "paths", v.paths);
  Field(j, "caps", v.caps);
  Field(j, "transitions", v.transitions);
}

void to_json(json& j, const CapReply& v) { j = {{"caps", v.caps}}; }
void from_json(const json& j, CapReply& v) { Field(j, "caps", v.caps); }

void to_json(json& j, const CapMetrics& v) {
  j = {{"used_bytes", v.used_bytes}, {"limit_bytes", v.limit_bytes}};
}
void from_json(const json& j, CapMetrics& v) {
  Field(j, "used_bytes", v.used_bytes);
  Field(j, "limit_bytes", v.limit_bytes);
}

void to_json(json& j, const PathMetrics& v) {
  j = {{"id", v.path_id},
       {"name", v.name},
       {"status", std::string(PathStatusName(v.status))},
       {"weight", v.weight},
       {"tx_bytes_total", v.tx_bytes_total},
       {"rx_bytes_total", v.rx_bytes_total},
       {"tx_packets_total", v.tx_packets_total},
       {"rx_packets_total", v.rx_packets_total},
       {"drops_total", v.drops_total},
       {"tx_bytes_per_s", v.tx_bytes_per_s},
       {"rx_bytes_per_s", v.rx_bytes_per_s},
       {"traffic_share", v.traffic_share},
       {"rtt_ms", Nullable(v.rtt_ms)},
       {"jitter_ms", Nullable(v.jitter_ms)},
       {"loss", v.loss},
       {"cap", Nullable(v.cap)}};
}
void from_json(const json& j, PathMetrics& v) {
  Field(j, "id", v.path_id);
  Field(j, "name", v.name);
  std::string status;
  Field(j, "status", status);
  const PathStatus* known = std::find_if(std::begin(kAllPathStatuses), std::end(kAllPathStatuses),
                                         [&](PathStatus s) { return PathStatusName(s) == status; });
  if (known == std::end(kAllPathStatuses)) {
    throw FieldError("status", absl::StrCat("is an unknown path status \"", status, "\""));
  }
  v.status = *known;
  Field(j, "weight", v.weight);
  Field(j, "tx_bytes_total", v.tx_bytes_total);
  Field(j, "rx_bytes_total", v.rx_bytes_total);
  Field(j, "tx_packets_total", v.tx_packets_total);
  Field(j, "rx_packets_total", v.rx_packets_total);
  Field(j, "drops_total", v.drops_total);
  Field(j, "tx_bytes_per_s", v.tx_bytes_per_s);
  Field(j, "rx_bytes_per_s", v.rx_bytes_per_s);
  Field(j, "traffic_share", v.traffic_share);
  Field(j, "rtt_ms", v.rtt_ms);
  Field(j, "jitter_ms", v.jitter_ms);
  Field(j, "loss", v.loss);
  Field(j, "cap", v.cap);
}

void to_json(json& j, const MetricsSnapshot& v) {
  j = {{"bond", v.bond},
       {"unattributed_drops_total", v.unattributed_drops_total},
       {"paths", v.paths}};
}
void from_json(const json& j, MetricsSnapshot& v) {
  Field(j, "bond", v.bond);
  Field(j, "unattributed_drops_total", v.unattributed_drops_total);
  Field(j, "paths", v.paths);
}

void to_json(json& j, const StatsReply& v) {
  j = v.snapshot;
  j["history_file"] = v.history_file;
  j["sample_interval"] = v.sample_interval;
}
void from_json(const json& j, StatsReply& v) {
  from_json(j, v.snapshot);
  Field(j, "history_file", v.history_file);
  Field(j, "sample_interval", v.sample_interval);
}

void to_json(json& j, const PathTestResult& v) {
  j = {{"path", v.path},
       {"delivered_mbit", Nullable(v.delivered_mbit)},
       {"sent_mbit", Nullable(v.sent_mbit)},
       {"delivery_loss", Nullable(v.delivery_loss)},
       {"rtt_ms", Nullable(v.rtt_ms)},
       {"jitter_ms", Nullable(v.jitter_ms)},
       {"probe_loss", v.probe_loss}};
}
void from_json(const json& j, PathTestResult& v) {
  Field(j, "path", v.path);
  Field(j, "delivered_mbit", v.delivered_mbit);
  Field(j, "sent_mbit", v.sent_mbit);
  Field(j, "delivery_loss", v.delivery_loss);
  Field(j, "rtt_ms", v.rtt_ms);
  Field(j, "jitter_ms", v.jitter_ms);
  Field(j, "probe_loss", v.probe_loss);
}

void to_json(json& j, const UplinkTestReply& v) {
  j = {{"running", v.running}, {"elapsed", v.elapsed}, {"total", v.total}};
  if (v.results) j["results"] = *v.results;
}
void from_json(const json& j, UplinkTestReply& v) {
  Field(j, "running", v.running);
  Field(j, "elapsed", v.elapsed);
  Field(j, "total", v.total);
  OptionalField(j, "results", v.results);
}

// --- The agent's side -------------------------------------------------------------

json ReplyToJson(const ControlReply& reply) {
  return std::visit([](const auto& r) { return ToJson(r); }, reply);
}

json DispatchControl(const json& request, const ControlHandler& handler) {
  absl::StatusOr<ControlRequest> parsed = RequestFromJson(request);
  if (!parsed.ok()) return ToJson(ErrorReply{std::string(parsed.status().message())});
  try {
    return ReplyToJson(handler(*parsed));
  } catch (const std::exception& e) {
    return ToJson(ErrorReply{absl::StrCat(CommandName(*parsed), ": the agent failed: ", e.what())});
  } catch (...) {
    return ToJson(ErrorReply{absl::StrCat(CommandName(*parsed), ": the agent failed")});
  }
}

}  // namespace meshbpf
