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
inline constexpr double kReorderDeadlineMs = 0;  // resequencing off until it is measured in the lab

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

// data caps (interfaces.uplinks[].data_cap, node_discovery.share_cap)
inline constexpr char kCapPeriod[] = "monthly";
inline constexpr int kCapResetDay = 1;  // monthly caps
inline constexpr char kCapTimezone[] = "localtime";
inline constexpr double kCapWarnAtPercent[] = {80, 95};
inline constexpr char kCapWhenExhausted[] = "stop";

}  // namespace meshbpf::config_defaults
