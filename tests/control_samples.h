// Control replies as the agent writes them, shared by the protocol's and the
// CLI views' tests.
#pragma once

namespace meshbpf {

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
               "bond": null, "used_as_paths": true, "our_paths": ["mesh1"]}],
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
