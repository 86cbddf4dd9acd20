// The JSON form of the "peers" reply (control_protocol.h).
#include "agent/core/control_protocol.h"

namespace meshbpf {

using nlohmann::json;

void to_json(json& j, const PeerUplinkEntry& v) {
  j = {{"name", v.name},
       {"type", v.type},
       {"capacity_kbps", v.capacity_kbps},
       {"rtt_us", v.rtt_us},
       {"loss_ppm", v.loss_ppm},
       {"shared", v.shared},
       {"relay_port", v.relay_port},
       {"cap_remaining_bytes", Nullable(v.cap_remaining_bytes)}};
}
void from_json(const json& j, PeerUplinkEntry& v) {
  Field(j, "name", v.name);
  Field(j, "type", v.type);
  Field(j, "capacity_kbps", v.capacity_kbps);
  Field(j, "rtt_us", v.rtt_us);
  Field(j, "loss_ppm", v.loss_ppm);
  Field(j, "shared", v.shared);
  Field(j, "relay_port", v.relay_port);
  Field(j, "cap_remaining_bytes", v.cap_remaining_bytes);
}

void to_json(json& j, const PeerRelayEntry& v) {
  j = {{"port", v.port},
       {"max_kbps", v.max_kbps},
       {"share_remaining_bytes", Nullable(v.share_remaining_bytes)}};
}
void from_json(const json& j, PeerRelayEntry& v) {
  Field(j, "port", v.port);
  Field(j, "max_kbps", v.max_kbps);
  Field(j, "share_remaining_bytes", v.share_remaining_bytes);
}

void to_json(json& j, const PeerBondEntry& v) {
  j = {{"peer", v.peer}, {"tunnel_port", v.tunnel_port}};
}
void from_json(const json& j, PeerBondEntry& v) {
  Field(j, "peer", v.peer);
  Field(j, "tunnel_port", v.tunnel_port);
}

void to_json(json& j, const PeerNodeEntry& v) {
  j = {{"id", v.id},
       {"name", v.name},
       {"address", v.address},
       {"version", v.version},
       {"epoch", v.epoch},
       {"seq", v.seq},
       {"age_s", v.age_s},
       {"joined_unix_ms", Nullable(v.joined_unix_ms)},
       {"uplinks", v.uplinks},
       {"relay", Nullable(v.relay)},
       {"bond", Nullable(v.bond)},
       {"used_as_paths", !v.our_paths.empty()},
       {"our_paths", v.our_paths}};
}
void from_json(const json& j, PeerNodeEntry& v) {
  Field(j, "id", v.id);
  Field(j, "name", v.name);
  Field(j, "address", v.address);
  Field(j, "version", v.version);
  Field(j, "epoch", v.epoch);
  Field(j, "seq", v.seq);
  Field(j, "age_s", v.age_s);
  Field(j, "joined_unix_ms", v.joined_unix_ms);
  Field(j, "uplinks", v.uplinks);
  Field(j, "relay", v.relay);
  Field(j, "bond", v.bond);
  Field(j, "our_paths", v.our_paths);
}

void to_json(json& j, const CandidateRelayedPath& v) {
  j = {{"node_id", v.node_id},
       {"node_name", v.node_name},
       {"address", v.address},
       {"relay_port", v.relay_port},
       {"max_relay_kbps", v.max_relay_kbps},
       {"uplink", v.uplink},
       {"fills_path", Nullable(v.fills_path)}};
}
void from_json(const json& j, CandidateRelayedPath& v) {
  Field(j, "node_id", v.node_id);
  Field(j, "node_name", v.node_name);
  Field(j, "address", v.address);
  Field(j, "relay_port", v.relay_port);
  Field(j, "max_relay_kbps", v.max_relay_kbps);
  Field(j, "uplink", v.uplink);
  Field(j, "fills_path", v.fills_path);
}

void to_json(json& j, const RelayCounts& v) {
  j = {{"fwd_packets", v.fwd_packets},
       {"fwd_bytes", v.fwd_bytes},
       {"ret_packets", v.ret_packets},
       {"ret_bytes", v.ret_bytes},
       {"drops", v.drops}};
}
void from_json(const json& j, RelayCounts& v) {
  Field(j, "fwd_packets", v.fwd_packets);
  Field(j, "fwd_bytes", v.fwd_bytes);
  Field(j, "ret_packets", v.ret_packets);
  Field(j, "ret_bytes", v.ret_bytes);
  Field(j, "drops", v.drops);
}

void to_json(json& j, const ServedRelay& v) {
  j = {{"origin_id", v.origin_id},
       {"origin_name", v.origin_name},
       {"origin", v.origin},
       {"uplink", v.uplink},
       {"slot", v.slot},
       {"relay_port", v.relay_port},
       {"return_port", v.return_port},
       {"peer", v.peer}};
  if (v.counts) j.update(json(*v.counts));
}
void from_json(const json& j, ServedRelay& v) {
  Field(j, "origin_id", v.origin_id);
  Field(j, "origin_name", v.origin_name);
  Field(j, "origin", v.origin);
  Field(j, "uplink", v.uplink);
  Field(j, "slot", v.slot);
  Field(j, "relay_port", v.relay_port);
  Field(j, "return_port", v.return_port);
  Field(j, "peer", v.peer);
  v.counts.reset();
  if (j.contains("fwd_packets")) from_json(j, v.counts.emplace());
}

void to_json(json& j, const RelayingEntry& v) {
  j = {{"sharing", v.sharing},
       {"relay_port", Nullable(v.relay_port)},
       {"max_relay_kbps", v.max_relay_kbps},
       {"share_remaining_bytes", Nullable(v.share_remaining_bytes)},
       {"relays", v.relays}};
}
void from_json(const json& j, RelayingEntry& v) {
  Field(j, "sharing", v.sharing);
  Field(j, "relay_port", v.relay_port);
  Field(j, "max_relay_kbps", v.max_relay_kbps);
  Field(j, "share_remaining_bytes", v.share_remaining_bytes);
  Field(j, "relays", v.relays);
}

void to_json(json& j, const LocalNodeEntry& v) {
  j = {{"id", v.id},
       {"name", v.name},
       {"version", v.version},
       {"epoch", v.epoch},
       {"interfaces", v.interfaces},
       {"port", v.port},
       {"broadcast_interval_s", v.broadcast_interval_s},
       {"node_timeout_s", v.node_timeout_s},
       {"announcements_sent", v.announcements_sent},
       {"send_errors", v.send_errors}};
}
void from_json(const json& j, LocalNodeEntry& v) {
  Field(j, "id", v.id);
  Field(j, "name", v.name);
  Field(j, "version", v.version);
  Field(j, "epoch", v.epoch);
  Field(j, "interfaces", v.interfaces);
  Field(j, "port", v.port);
  Field(j, "broadcast_interval_s", v.broadcast_interval_s);
  Field(j, "node_timeout_s", v.node_timeout_s);
  Field(j, "announcements_sent", v.announcements_sent);
  Field(j, "send_errors", v.send_errors);
}

void to_json(json& j, const PeersReply& v) {
  j = {{"node", v.node},
       {"nodes", v.nodes},
       {"candidate_relayed_paths", v.candidate_relayed_paths},
       {"relaying", v.relaying},
       {"drops", v.drops},
       {"drops_total", v.drops_total}};
}
void from_json(const json& j, PeersReply& v) {
  Field(j, "node", v.node);
  Field(j, "nodes", v.nodes);
  Field(j, "candidate_relayed_paths", v.candidate_relayed_paths);
  Field(j, "relaying", v.relaying);
  Field(j, "drops", v.drops);
  Field(j, "drops_total", v.drops_total);
}

}  // namespace meshbpf
