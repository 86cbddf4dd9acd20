// The config's defaults, each written once: NodeSettings (config.h) and
// HealthParams (health.h) start from them, the default config (`meshbpf
// config --output`, default_config.cc) prints them, and proto/config.proto
// refers here.
#pragma once

#include <cstdint>

namespace meshbpf::config_defaults {

// node_discovery
inline constexpr uint16_t kDiscoveryPort = 9999;
inline constexpr double kBroadcastIntervalS = 5;
inline constexpr double kNodeTimeoutS = 30;
inline constexpr uint16_t kRelayPort = 7211;

// link_aggregation
inline constexpr char kBondInterface[] = "mb0";
inline constexpr uint16_t kTunnelPort = 7201;  // also each uplink's remote_port
inline constexpr uint32_t kLatencyPacketBytes = 256;
// Resequencing on: the most a packet waits for a gap; the agent chooses less
// from the measured skew (ReseqDeadlineUs).
inline constexpr double kReorderDeadlineMs = 100;
// The floor guard is opt-in: it reads probe loss, and cross traffic on an
// uplink (or a bond of 8 flows filling it) loses probes too; in the
// benchmark lab it then took a good path out (8 flows: 0.63x of the sum
// against 0.93x without it).
inline constexpr bool kFloorGuard = false;
// Loss repair is opt-in: the sender keeps a copy of every bonded frame and
// the receiver holds a gap a little longer, waiting for its repair.
inline constexpr bool kLossRepair = true;  // where it applies (see config.cc)
// The resequencing buffer's bound in packets; 0: all of the data path's
// slots, which the agent sizes from the bond's rate (ReseqSlots).
inline constexpr uint32_t kMaxQueueSize = 0;

// link_aggregation.routing: the agent's table and its rules' preference
// (before the main table's 32766).
inline constexpr uint32_t kRoutingTable = 7201;
inline constexpr uint32_t kRoutingPriority = 7201;
inline constexpr uint32_t kCgroupMark = 0x4d42;  // "MB"

// failover
inline constexpr double kMonitoringIntervalS = 0.2;
inline constexpr uint32_t kThreshold = 3;          // probes lost in a row: down
inline constexpr uint32_t kRecoveryThreshold = 5;  // probes answered in a row: back up
inline constexpr double kRebalanceIntervalS = 1;
inline constexpr uint16_t kProbePort = 7202;
inline constexpr double kDegradeLossPercent = 10;
// Hysteresis: recovery needs clearly less loss than degrading did. Without
// recover_loss_percent in the config it is half of degrade_loss_percent,
// whatever that was set to.
inline constexpr double kRecoverLossShare = 0.5;
inline constexpr double kRecoverLossPercent = kDegradeLossPercent * kRecoverLossShare;

// monitoring
inline constexpr double kSampleIntervalS = 1;

// Data caps' defaults: cap_defaults in agent/core/data_cap.h.

}  // namespace meshbpf::config_defaults
