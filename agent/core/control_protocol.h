// The control protocol between the CLI and the agent (agent/sys/control.h
// carries it: one JSON request, one JSON reply per connection). Every
// request and reply is defined once here, with its JSON form; the agent
// fills the replies, the CLI reads them. Reading never throws out:
// FromJson names the field that is missing or of the wrong type.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/core/control_fields.h"
#include "agent/core/loss_repair_report.h"
#include "agent/core/metrics.h"
#include "agent/core/routing_plan.h"
#include "agent/core/tunnel_sessions.h"

namespace meshbpf {

// --- Requests: {"command": NAME, ...fields} ----------------------------------

struct PingRequest {};
struct StatusRequest {};
// {"auto": true} clears a manual failover; otherwise FROM is held out of
// service and TO carries traffic (path or interface names).
struct FailoverRequest {
  bool automatic = false;
  std::string from, to;
};
// Shows every data cap; with `reset`, starts that path's budget over first.
struct CapRequest {
  std::optional<std::string> reset;
};
struct StatsRequest {};
// Starts the active test of a path or interface for `duration` seconds.
struct TestRequest {
  std::string interface;
  double duration = 0;
};
struct TestStatusRequest {};
struct PeersRequest {};

using ControlRequest = std::variant<PingRequest, StatusRequest, FailoverRequest, CapRequest,
                                    StatsRequest, TestRequest, TestStatusRequest, PeersRequest>;

// The request's "command" value.
std::string CommandName(const ControlRequest& request);
// Whether the request changes the agent's state (failover, cap --reset,
// test), which only root or monitoring.control_group may do
// (control_access.h); the others only read.
bool ChangesState(const ControlRequest& request);
nlohmann::json RequestToJson(const ControlRequest& request);
// The error names the command and the field, e.g. `failover: "from" must be a string`.
absl::StatusOr<ControlRequest> RequestFromJson(const nlohmann::json& json);

// --- Replies ------------------------------------------------------------------

// Any command may be refused: {"error": "..."}.
struct ErrorReply {
  std::string error;
};
// The refusal, when `reply` is one (whatever else it holds).
std::optional<ErrorReply> RefusalIn(const nlohmann::json& reply);
struct PingReply {};  // {"ok": true}

// "status" (and "failover" on success): the agent's view of every path.
struct PathRtt {  // present once probes have measured the path
  double rtt_ms = 0, min_rtt_ms = 0, jitter_ms = 0, queue_delay_ms = 0;
};
struct RelayInfo {  // the neighbour uplink that fills a relayed path
  std::string node, node_id, uplink, address;
  uint16_t port = 0;
};
struct PathStatusEntry {
  uint32_t id = 0;
  std::string name, interface;
  std::string health;  // HealthStateName
  bool link_up = false;
  std::string data_path_state;  // PathStateName
  // The largest packet the path carries (outer bytes): its uplink's MTU
  // until size probes found a smaller hop behind it (agent/core/path_mtu.h).
  uint32_t mtu = 0, uplink_mtu = 0;
  double configured_mbit = 0, capacity_mbit = 0, weight_mbit = 0;
  double loss = 0, probe_loss = 0;
  uint32_t down_count = 0;
  bool held_out = false, moved_in = false;
  // The floor guard took it out of bonded bulk traffic, and why (null: in).
  bool bulk_excluded = false;
  std::optional<std::string> guard_reason;
  std::string endpoint;               // "configured", "relay" or "learned"
  std::optional<std::string> remote;  // "address:port"; null while the far end is unknown
  // Only on relayed paths ("relay": null while no neighbour fills it). A
  // learned path also repeats `remote` as "learned_endpoint".
  std::optional<RelayInfo> relay;
  // Only on relayed paths: why no neighbour fills it though one offers to,
  // e.g. "a relayed path takes the bonding peer's family (IPv6): node2
  // (10.210.0.2): not heard over IPv6";
  // null when filled or nobody offers.
  std::optional<std::string> relay_unavailable;
  std::optional<PathRtt> rtt;

  bool relayed() const { return endpoint == "relay"; }
  bool learned() const { return endpoint == "learned"; }
};
struct TransitionEntry {
  std::string time, path, from, to, reason;
};
// One floor guard decision: `excluded` true took the path out of bulk,
// false let it back; `reason` is GuardReasonName, `detail` the figures.
struct GuardDecisionEntry {
  std::string time, path;
  bool excluded = false;
  std::string reason, detail;
};
// One uplink's data cap, as `meshbpf cap` shows it.
struct CapEntry {
  std::string path;
  uint32_t path_id = 0;
  uint64_t limit_bytes = 0, used_bytes = 0, remaining_bytes = 0;
  double used_percent = 0;
  std::string period;                       // CapPeriodKindName
  std::optional<std::string> period_start;  // RFC 3339
  std::optional<std::string> resets_at;     // null: one-off, only `meshbpf cap --reset`
  std::string when_exhausted;               // CapExhaustedPolicyName
  bool exhausted = false;
  std::vector<double> warn_at_percent;
  uint64_t warnings_issued = 0;
};
// link_aggregation.routing as the agent installed it: each route, rule and
// cgroup mark, and whether the kernel holds it now.
struct RoutingReport {
  uint32_t table = 0, priority = 0;
  std::vector<RoutingEntry> entries;
  // How often the agent put back what another program removed.
  uint64_t reinstalls = 0;
  std::optional<std::string> read_error;  // the kernel's rules could not be read
};
struct StatusReply {
  std::string mode;
  bool probing = false;
  uint64_t invalid_probes = 0;
  std::optional<uint64_t> nodes;  // mesh nodes known; null: discovery off
  std::vector<PathStatusEntry> paths;
  std::vector<CapEntry> caps;
  std::vector<TransitionEntry> transitions;
  std::vector<GuardDecisionEntry> guard_decisions;
  std::optional<SessionReport> authentication;  // null: authentication off
  std::optional<LossRepairReport> loss_repair;  // null: loss repair off
  std::optional<RoutingReport> routing;  // null: link_aggregation.routing unset
};
// "cap": {"caps": [...]}.
struct CapReply {
  std::vector<CapEntry> caps;
};
// "stats": the monitor's latest snapshot and where its history goes.
struct StatsReply {
  MetricsSnapshot snapshot;
  std::string history_file;  // empty: no history recorded
  double sample_interval = 0;
};
// One path's result of `meshbpf test`; empty measurements are null.
struct PathTestResult {
  std::string path;
  std::optional<double> delivered_mbit;  // what reached the peer per second
  std::optional<double> sent_mbit;
  std::optional<double> delivery_loss;  // packets sent but not delivered, 0..1
  std::optional<double> rtt_ms, jitter_ms;
  double probe_loss = 0;
};
// "test" and "test_status": the running (or last) test.
struct UplinkTestReply {
  bool running = false;
  double elapsed = 0, total = 0;                       // seconds
  std::optional<std::vector<PathTestResult>> results;  // once finished
};

// "peers": this node, the nodes heard, what they offer and what we relay.
struct PeerUplinkEntry {
  std::string name, type;
  uint64_t capacity_kbps = 0, rtt_us = 0;
  uint32_t loss_ppm = 0;
  bool shared = false;
  uint16_t relay_port = 0;
  std::optional<uint64_t> cap_remaining_bytes;
};
struct PeerRelayEntry {  // a node's relay capability
  uint16_t port = 0;
  uint64_t max_kbps = 0;
  std::optional<uint64_t> share_remaining_bytes;
};
struct PeerBondEntry {  // where relays forward a node's traffic
  std::string peer;     // "address:port"
  uint16_t tunnel_port = 0;
};
struct PeerAddressEntry {  // where a node was heard from over one family
  std::string family;       // "ipv4" or "ipv6"
  std::string address;      // a link-local one with its zone: "fe80::2%lan0"
  std::string interface;    // ours it arrived on
  double age_s = 0;         // since last heard over this family
};
struct PeerNodeEntry {
  std::string id, name;
  std::string address;  // IPv4 when heard over it, else IPv6 (`addresses` has both)
  std::string version;
  uint64_t epoch = 0, seq = 0;
  double age_s = 0;
  std::optional<uint64_t> joined_unix_ms;
  std::vector<PeerUplinkEntry> uplinks;
  std::optional<PeerRelayEntry> relay;
  std::optional<PeerBondEntry> bond;
  std::vector<std::string> our_paths;  // our relayed paths it fills ("used_as_paths")
  std::vector<PeerAddressEntry> addresses;  // one per family heard over, IPv4 first
  // Why it asks for relaying that cannot happen, e.g. "its bonding peer
  // 2001:db8::7 is IPv6 but it is heard only over IPv4: ..."; null: nothing
  // stands in the way (or no relaying).
  std::optional<std::string> relay_unsupported;
};
struct CandidateRelayedPath {
  std::string node_id, node_name, address;
  uint16_t relay_port = 0;
  uint64_t max_relay_kbps = 0;
  PeerUplinkEntry uplink;
  std::optional<std::string> fills_path;
};
struct RelayCounts {  // what a relay moved since it took its slot
  uint64_t fwd_packets = 0, fwd_bytes = 0, ret_packets = 0, ret_bytes = 0;
  std::map<std::string, uint64_t> drops;  // by reason
};
struct ServedRelay {
  std::string origin_id, origin_name, origin, uplink, peer;
  uint32_t slot = 0;
  uint16_t relay_port = 0, return_port = 0;
  std::optional<RelayCounts> counts;  // absent: the relay counters were not readable
};
struct RelayingEntry {
  bool sharing = false;
  std::optional<uint16_t> relay_port;
  uint64_t max_relay_kbps = 0;
  std::optional<uint64_t> share_remaining_bytes;
  std::vector<ServedRelay> relays;
};
struct LocalNodeEntry {
  std::string id, name, version;
  uint64_t epoch = 0;
  std::vector<std::string> interfaces;
  uint16_t port = 0;
  double broadcast_interval_s = 0, node_timeout_s = 0;
  uint64_t announcements_sent = 0, send_errors = 0;
};
struct PeersReply {
  LocalNodeEntry node;
  std::vector<PeerNodeEntry> nodes;
  std::vector<CandidateRelayedPath> candidate_relayed_paths;
  RelayingEntry relaying;
  std::map<std::string, uint64_t> drops;  // dropped announcements by reason
  uint64_t drops_total = 0;
};

// JSON forms (nlohmann's typed conversions; from_json throws FieldError).
#define MESHBPF_CONTROL_JSON(Type)                   \
  void to_json(nlohmann::json& json, const Type& v); \
  void from_json(const nlohmann::json& json, Type& v)
MESHBPF_CONTROL_JSON(ErrorReply);
MESHBPF_CONTROL_JSON(PingReply);
MESHBPF_CONTROL_JSON(PathRtt);
MESHBPF_CONTROL_JSON(RelayInfo);
MESHBPF_CONTROL_JSON(PathStatusEntry);
MESHBPF_CONTROL_JSON(TransitionEntry);
MESHBPF_CONTROL_JSON(CapEntry);
MESHBPF_CONTROL_JSON(StatusReply);
MESHBPF_CONTROL_JSON(CapReply);
MESHBPF_CONTROL_JSON(CapMetrics);
MESHBPF_CONTROL_JSON(ResequencerStats);
MESHBPF_CONTROL_JSON(PathMetrics);
MESHBPF_CONTROL_JSON(MetricsSnapshot);
MESHBPF_CONTROL_JSON(StatsReply);
MESHBPF_CONTROL_JSON(PathTestResult);
MESHBPF_CONTROL_JSON(UplinkTestReply);
MESHBPF_CONTROL_JSON(PeerUplinkEntry);
MESHBPF_CONTROL_JSON(PeerRelayEntry);
MESHBPF_CONTROL_JSON(PeerBondEntry);
MESHBPF_CONTROL_JSON(PeerAddressEntry);
MESHBPF_CONTROL_JSON(PeerNodeEntry);
MESHBPF_CONTROL_JSON(CandidateRelayedPath);
MESHBPF_CONTROL_JSON(RelayCounts);
MESHBPF_CONTROL_JSON(ServedRelay);
MESHBPF_CONTROL_JSON(RelayingEntry);
MESHBPF_CONTROL_JSON(LocalNodeEntry);
MESHBPF_CONTROL_JSON(PeersReply);
#undef MESHBPF_CONTROL_JSON

template <typename Reply>
nlohmann::json ToJson(const Reply& reply) {
  return reply;
}

// Reads a reply; `what` (e.g. "status") starts the error message.
template <typename Reply>
absl::StatusOr<Reply> FromJson(const nlohmann::json& json, const std::string& what) {
  Reply reply;
  if (absl::Status s = ReadJson(json, what, reply); !s.ok()) return s;
  return reply;
}

// --- The agent's side ---------------------------------------------------------

// Every reply the agent sends.
using ControlReply = std::variant<ErrorReply, PingReply, StatusReply, CapReply, StatsReply,
                                  UplinkTestReply, PeersReply>;
nlohmann::json ReplyToJson(const ControlReply& reply);

// A handler's reply, or its refusal (the status message) as an ErrorReply.
template <typename Reply>
ControlReply ReplyOrError(const absl::StatusOr<Reply>& reply) {
  if (!reply.ok()) return ErrorReply{std::string(reply.status().message())};
  return *reply;
}

// Handlers, one per request type: std::visit(Overloaded{...}, request); the
// compiler insists on one for every command.
template <typename... Handlers>
struct Overloaded : Handlers... {
  using Handlers::operator()...;
};
// Spelled out for clang 14 (the fuzzers' compiler), which lacks C++20's
// deduction for aggregates.
template <typename... Handlers>
Overloaded(Handlers...) -> Overloaded<Handlers...>;

// Answers one request: parses it, hands it to `handler` and returns the
// handler's reply as JSON. A malformed request, and any exception out of the
// handler, is answered with an ErrorReply: no request can stop the agent.
using ControlHandler = std::function<ControlReply(const ControlRequest& request)>;
nlohmann::json DispatchControl(const nlohmann::json& request, const ControlHandler& handler);

}  // namespace meshbpf
