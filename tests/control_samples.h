// Control replies as the agent writes them, shared by the protocol's and the
// CLI views' tests.
#pragma once

namespace meshbpf {

// A "status" reply: a configured path with RTT samples, relayed paths empty
// and filled, a learned path not learned yet; a monthly and a one-off cap.
inline constexpr char kSampleStatus[] = R"json({
  "mode": "load_balance", "probing": true, "invalid_probes": 3, "nodes": 2,
  "paths": [
    {"id": 0, "name": "wan0", "interface": "veth-a0", "health": "up", "link_up": true,
     "data_path_state": "active", "mtu": 1500, "uplink_mtu": 1500, "configured_mbit": 50.0, "capacity_mbit": 48.25,
     "weight_mbit": 48.25, "loss": 0.0, "probe_loss": 0.01, "down_count": 1,
     "held_out": false, "moved_in": true, "bulk_excluded": false, "guard_reason": null,
     "endpoint": "configured",
     "remote": "10.0.1.2:7200", "rtt_ms": 1.5, "min_rtt_ms": 1.0, "jitter_ms": 0.125,
     "queue_delay_ms": 0.5},
    {"id": 1, "name": "mesh0", "interface": "lan0", "health": "down", "link_up": false,
     "data_path_state": "disabled", "mtu": 1400, "uplink_mtu": 1500, "configured_mbit": 20.0, "capacity_mbit": 20.0,
     "weight_mbit": 0.0, "loss": 0.0, "probe_loss": 0.0, "down_count": 0,
     "held_out": false, "moved_in": false, "bulk_excluded": false, "guard_reason": null,
     "endpoint": "relay", "remote": null,
     "relay": null,
     "relay_unavailable": "a relayed path takes the bonding peer's family (IPv4): gamma (fe80::3%lan0): not heard over IPv4"},
    {"id": 2, "name": "mesh1", "interface": "lan0", "health": "degraded", "link_up": true,
     "data_path_state": "active", "mtu": 1500, "uplink_mtu": 1500, "configured_mbit": 20.0, "capacity_mbit": 12.5,
     "weight_mbit": 12.5, "loss": 0.05, "probe_loss": 0.1, "down_count": 2,
     "held_out": true, "moved_in": false, "bulk_excluded": true,
     "guard_reason": "jitter 30.0 ms: its packets spread 60.0 ms",
     "endpoint": "relay", "remote": "10.210.0.2:7211",
     "relay": {"node": "beta", "node_id": "m1:b", "uplink": "wan0",
               "address": "10.210.0.2", "port": 7211},
     "relay_unavailable": null,
     "rtt_ms": 8.0, "min_rtt_ms": 6.5, "jitter_ms": 1.0, "queue_delay_ms": 1.5},
    {"id": 3, "name": "client", "interface": "veth-a1", "health": "down", "link_up": false,
     "data_path_state": "disabled", "mtu": 1400, "uplink_mtu": 1500, "configured_mbit": 10.0, "capacity_mbit": 10.0,
     "weight_mbit": 0.0, "loss": 0.0, "probe_loss": 0.0, "down_count": 0,
     "held_out": false, "moved_in": false, "bulk_excluded": false, "guard_reason": null,
     "endpoint": "learned", "remote": null,
     "learned_endpoint": null}
  ],
  "caps": [
   {"path": "wan2", "path_id": 1, "limit_bytes": 2000000, "used_bytes": 500000,
    "remaining_bytes": 1500000, "used_percent": 25.0, "period": "monthly",
    "period_start": "2025-01-01T00:00:00+00:00", "resets_at": "2025-02-01T00:00:00+00:00",
    "when_exhausted": "stop", "exhausted": false, "warn_at_percent": [80.0, 95.0],
    "warnings_issued": 0},
   {"path": "relay_share", "path_id": 16, "limit_bytes": 1000, "used_bytes": 1000,
    "remaining_bytes": 0, "used_percent": 100.0, "period": "none",
    "period_start": "2025-01-10T00:00:00+00:00", "resets_at": null,
    "when_exhausted": "last_resort_backup", "exhausted": true, "warn_at_percent": [],
    "warnings_issued": 2}],
  "transitions": [
    {"time": "2026-11-28T22:00:01Z", "path": "wan0", "from": "down", "to": "up",
     "reason": "3 probes answered"}
  ],
  "guard_decisions": [
    {"time": "2026-11-28T22:00:05Z", "path": "mesh1", "excluded": true, "reason": "jitter",
     "detail": "jitter 30.0 ms: its packets spread 60.0 ms"}
  ],
  "authentication": {"established": true, "encrypted": true, "send_epoch": 3735928559, "session_age_s": 42.5,
                     "handshake_pending": false, "handshakes": 3, "handshake_errors": 1,
                     "last_error": "handshake: initiation MAC wrong"},
  "loss_repair": {"requests_sent": 12, "repairs_sent": 30, "copies_missing": 2,
                  "repairs_refused": 1, "resting": true, "rests": 2,
                  "peer_repairs": true, "wait_us": 0, "keeps_copies": true},
  "routing": {"table": 7201, "priority": 7201, "reinstalls": 1, "read_error": null,
              "entries": [{"what": "route default dev mb0 table 7201", "in_kernel": true},
                          {"what": "rule from 10.204.0.0/24 lookup 7201 pref 7201", "in_kernel": false}]}
})json";

// A "peers" reply: one node heard whose uplink fills our path mesh1, a relay
// served with its counts, dropped announcements.
inline constexpr char kSamplePeers[] = R"({
    "node": {"id": "m1:a", "name": "alpha", "version": "0.1.0", "epoch": 1,
             "interfaces": ["lan0"], "port": 9999, "broadcast_interval_s": 0.5,
             "node_timeout_s": 2.0, "announcements_sent": 4, "send_errors": 0},
    "nodes": [{"id": "m1:b", "name": "beta", "address": "10.210.0.2", "version": "0.1.0",
               "epoch": 2, "seq": 9, "age_s": 0.25, "joined_unix_ms": 5,
               "uplinks": [{"name": "wan0", "type": "ethernet", "capacity_kbps": 40000,
                            "rtt_us": 2500, "loss_ppm": 10000, "shared": true,
                            "relay_port": 7211, "cap_remaining_bytes": 2000000000},
                           {"name": "wwan0", "type": "cellular", "capacity_kbps": 0,
                            "rtt_us": 0, "loss_ppm": 0, "shared": false,
                            "relay_port": 0, "cap_remaining_bytes": null}],
               "relay": {"port": 7211, "max_kbps": 0, "share_remaining_bytes": null},
               "bond": null, "used_as_paths": true, "our_paths": ["mesh1"],
               "addresses": [{"family": "ipv4", "address": "10.210.0.2", "interface": "lan0",
                              "age_s": 0.25},
                             {"family": "ipv6", "address": "fe80::2%lan0", "interface": "lan0",
                              "age_s": 0.5}],
               "relay_unsupported": null},
              {"id": "m1:d", "name": "delta", "address": "fe80::4%lan0", "version": "0.1.0",
               "epoch": 3, "seq": 2, "age_s": 1.5, "joined_unix_ms": 6, "uplinks": [],
               "relay": {"port": 7211, "max_kbps": 0, "share_remaining_bytes": null},
               "bond": null, "used_as_paths": false, "our_paths": [],
               "addresses": [{"family": "ipv6", "address": "fe80::4%lan0", "interface": "lan0",
                              "age_s": 1.5}],
               "relay_unsupported": "its bonding peer 10.200.0.2 is IPv4 but it is heard only over IPv6"}],
    "candidate_relayed_paths": [{"node_id": "m1:b", "node_name": "beta",
                                 "address": "10.210.0.2", "relay_port": 7211,
                                 "max_relay_kbps": 0,
                                 "uplink": {"name": "wan0", "type": "ethernet",
                                            "capacity_kbps": 40000, "rtt_us": 2500,
                                            "loss_ppm": 10000, "shared": true,
                                            "relay_port": 7211, "cap_remaining_bytes": null},
                                 "fills_path": "mesh1"}],
    "relaying": {"sharing": true, "relay_port": 7211, "max_relay_kbps": 20000,
                 "share_remaining_bytes": 1500000,
                 "relays": [{"origin_id": "m1:c", "origin_name": "gamma",
                             "origin": "10.210.0.3:7201", "uplink": "wan0", "slot": 2,
                             "relay_port": 7211, "return_port": 7245,
                             "peer": "198.51.100.7:7201", "fwd_packets": 1000,
                             "fwd_bytes": 1400000, "ret_packets": 500, "ret_bytes": 30000,
                             "drops": {"share_spent": 7, "rate": 0}}]},
    "drops": {"authentication_failed": 3, "too_short": 0, "oversized": 1},
    "drops_total": 4
  })";

}  // namespace meshbpf
