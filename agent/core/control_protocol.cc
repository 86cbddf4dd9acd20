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

bool ChangesState(const ControlRequest& request) {
  // One entry per command: a new command does not compile until it is classed.
  return std::visit(Overloaded{[](const PingRequest&) { return false; },
                               [](const StatusRequest&) { return false; },
                               [](const FailoverRequest&) { return true; },
                               [](const CapRequest& r) { return r.reset.has_value(); },
                               [](const StatsRequest&) { return false; },
                               [](const TestRequest&) { return true; },
                               [](const TestStatusRequest&) { return false; },
                               [](const PeersRequest&) { return false; }},
                    request);
}

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

MESHBPF_JSON_FIELDS(ErrorReply, error)

std::optional<ErrorReply> RefusalIn(const json& reply) {
  if (!reply.is_object() || !reply.contains("error")) return std::nullopt;
  absl::StatusOr<ErrorReply> refusal = FromJson<ErrorReply>(reply, "error");
  return refusal.ok() ? *refusal : ErrorReply{"the agent refused"};
}

void to_json(json& j, const PingReply&) { j = {{"ok", true}}; }
void from_json(const json& j, PingReply&) {
  bool ok = false;
  Field(j, "ok", ok);
}

MESHBPF_JSON_FIELDS(PathRtt, rtt_ms, min_rtt_ms, jitter_ms, queue_delay_ms)
MESHBPF_JSON_FIELDS(RelayInfo, node, node_id, uplink, address, port)

MESHBPF_JSON_FIELD_FUNCTIONS(PathStatusEntry, id, name, interface, health, link_up, data_path_state,
                             mtu, uplink_mtu, configured_mbit, capacity_mbit, weight_mbit, loss, probe_loss,
                             down_count, held_out, moved_in, bulk_excluded, guard_reason,
                             endpoint, remote)
void to_json(json& j, const PathStatusEntry& v) {
  j = json::object();
  WriteFields(j, v);
  if (v.relayed()) j["relay"] = Nullable(v.relay);
  if (v.relayed()) j["relay_unavailable"] = Nullable(v.relay_unavailable);
  if (v.learned()) j["learned_endpoint"] = j["remote"];
  if (v.rtt) j.update(json(*v.rtt));
}
void from_json(const json& j, PathStatusEntry& v) {
  ReadFields(j, v);
  v.relay.reset();
  v.relay_unavailable.reset();
  if (v.relayed()) Field(j, "relay", v.relay);
  if (v.relayed()) Field(j, "relay_unavailable", v.relay_unavailable);
  v.rtt.reset();
  if (j.contains("rtt_ms")) from_json(j, v.rtt.emplace());
}

MESHBPF_JSON_FIELDS(TransitionEntry, time, path, from, to, reason)
MESHBPF_JSON_FIELDS(GuardDecisionEntry, time, path, excluded, reason, detail)
MESHBPF_JSON_FIELDS(CapEntry, path, path_id, limit_bytes, used_bytes, remaining_bytes, used_percent,
                    period, period_start, resets_at, when_exhausted, exhausted, warn_at_percent,
                    warnings_issued)
MESHBPF_JSON_FIELDS(SessionReport, established, encrypted, send_epoch, session_age_s, handshake_pending,
                    handshakes, handshake_errors, last_error)
MESHBPF_JSON_FIELDS(LossRepairReport, requests_sent, repairs_sent, copies_missing, repairs_refused,
                    resting, rests, peer_repairs, wait_us, keeps_copies)
MESHBPF_JSON_FIELDS(RoutingEntry, what, in_kernel)
MESHBPF_JSON_FIELDS(RoutingReport, table, priority, entries, reinstalls, read_error)
MESHBPF_JSON_FIELDS(StatusReply, mode, probing, invalid_probes, nodes, paths, caps, transitions,
                    guard_decisions, authentication, loss_repair, routing)
MESHBPF_JSON_FIELDS(CapReply, caps)
MESHBPF_JSON_FIELDS(CapMetrics, used_bytes, limit_bytes)
MESHBPF_JSON_FIELDS(GuardDecisionCount, reason, count)

// "id" is the path id; the status goes by its name.
MESHBPF_JSON_FIELD_FUNCTIONS(PathMetrics, name, weight, tx_bytes_total, rx_bytes_total,
                             tx_packets_total, rx_packets_total, drops_total, tx_bytes_per_s,
                             rx_bytes_per_s, traffic_share, rtt_ms, jitter_ms, loss, cap,
                             bulk_excluded, guard_decisions)
void to_json(json& j, const PathMetrics& v) {
  j = {{"id", v.path_id}, {"status", std::string(PathStatusName(v.status))}};
  WriteFields(j, v);
}
void from_json(const json& j, PathMetrics& v) {
  Field(j, "id", v.path_id);
  ReadFields(j, v);
  std::string status;
  Field(j, "status", status);
  const PathStatus* known = std::find_if(std::begin(kAllPathStatuses), std::end(kAllPathStatuses),
                                         [&](PathStatus s) { return PathStatusName(s) == status; });
  if (known == std::end(kAllPathStatuses)) {
    throw FieldError("status", absl::StrCat("is an unknown path status \"", status, "\""));
  }
  v.status = *known;
}

MESHBPF_JSON_FIELDS(ResequencerStats, deadline_us, occupancy, window, held, released_in_order,
                    released_deadline, released_full, released_lost, gaps_skipped, late,
                    duplicates, passed, resyncs, repairs_requested, repaired)

// "resequencing" is null when unread; an older agent leaves it out.
MESHBPF_JSON_FIELD_FUNCTIONS(MetricsSnapshot, bond, unattributed_drops_total, paths)
void to_json(json& j, const MetricsSnapshot& v) {
  j = json::object();
  WriteFields(j, v);
  j["resequencing"] = Nullable(v.resequencing);
}
void from_json(const json& j, MetricsSnapshot& v) {
  ReadFields(j, v);
  v.resequencing.reset();
  if (j.contains("resequencing")) Field(j, "resequencing", v.resequencing);
}

// The snapshot's fields, and where its history goes.
MESHBPF_JSON_FIELD_FUNCTIONS(StatsReply, history_file, sample_interval)
void to_json(json& j, const StatsReply& v) {
  j = v.snapshot;
  WriteFields(j, v);
}
void from_json(const json& j, StatsReply& v) {
  from_json(j, v.snapshot);
  ReadFields(j, v);
}

MESHBPF_JSON_FIELDS(PathTestResult, path, delivered_mbit, sent_mbit, delivery_loss, rtt_ms,
                    jitter_ms, probe_loss)

// "results" only once the test finished.
MESHBPF_JSON_FIELD_FUNCTIONS(UplinkTestReply, running, elapsed, total)
void to_json(json& j, const UplinkTestReply& v) {
  j = json::object();
  WriteFields(j, v);
  if (v.results) j["results"] = *v.results;
}
void from_json(const json& j, UplinkTestReply& v) {
  ReadFields(j, v);
  OptionalField(j, "results", v.results);
}

MESHBPF_JSON_FIELDS(PeerUplinkEntry, name, type, capacity_kbps, rtt_us, loss_ppm, shared,
                    relay_port, cap_remaining_bytes)
MESHBPF_JSON_FIELDS(PeerRelayEntry, port, max_kbps, share_remaining_bytes)
MESHBPF_JSON_FIELDS(PeerBondEntry, peer, tunnel_port)

// "used_as_paths" says whether "our_paths" is empty.
MESHBPF_JSON_FIELDS(PeerAddressEntry, family, address, interface, age_s)
MESHBPF_JSON_FIELD_FUNCTIONS(PeerNodeEntry, id, name, address, version, epoch, seq, age_s,
                             joined_unix_ms, uplinks, relay, bond, our_paths, addresses,
                             relay_unsupported)
void to_json(json& j, const PeerNodeEntry& v) {
  j = {{"used_as_paths", !v.our_paths.empty()}};
  WriteFields(j, v);
}
void from_json(const json& j, PeerNodeEntry& v) { ReadFields(j, v); }

MESHBPF_JSON_FIELDS(CandidateRelayedPath, node_id, node_name, address, relay_port, max_relay_kbps,
                    uplink, fills_path)
MESHBPF_JSON_FIELDS(RelayCounts, fwd_packets, fwd_bytes, ret_packets, ret_bytes, drops)

// The counts, when readable, sit beside the relay's own fields.
MESHBPF_JSON_FIELD_FUNCTIONS(ServedRelay, origin_id, origin_name, origin, uplink, slot, relay_port,
                             return_port, peer)
void to_json(json& j, const ServedRelay& v) {
  j = v.counts ? json(*v.counts) : json::object();
  WriteFields(j, v);
}
void from_json(const json& j, ServedRelay& v) {
  ReadFields(j, v);
  v.counts.reset();
  if (j.contains("fwd_packets")) from_json(j, v.counts.emplace());
}

MESHBPF_JSON_FIELDS(RelayingEntry, sharing, relay_port, max_relay_kbps, share_remaining_bytes,
                    relays)
MESHBPF_JSON_FIELDS(LocalNodeEntry, id, name, version, epoch, interfaces, port,
                    broadcast_interval_s, node_timeout_s, announcements_sent, send_errors)
MESHBPF_JSON_FIELDS(PeersReply, node, nodes, candidate_relayed_paths, relaying, drops, drops_total)

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
