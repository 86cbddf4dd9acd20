// Loss repair at run time (link_aggregation.loss_repair; design:
// docs/design/loss-repair.md). As receiver: the data path reports the
// bonded packets this node lost, and this asks the peer's agent for them
// on the path least likely to lose the request. As sender: the peer asks,
// and this sends the kept copies into the bond again, marked for the path
// a repair goes on now.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

#include "absl/status/status.h"
#include "agent/core/log_throttle.h"
#include "agent/core/loss_repair_report.h"
#include "agent/core/probe.h"
#include "agent/core/rate_budget.h"
#include "agent/sys/repair_channel.h"

namespace meshbpf {

struct LossRepairIo {
  // Where a request or a repair goes now (PathSupervisor::RepairPath).
  std::function<std::optional<uint8_t>()> repair_path;
  // Sends a request to the peer's agent (the probe socket), on its path_id.
  std::function<absl::Status(const ProbeMessage&)> send_request;
};

class LossRepair {
 public:
  LossRepair(std::unique_ptr<RepairChannel> channel, LossRepairIo io)
      : channel_(std::move(channel)), io_(std::move(io)) {}
  int fd() const { return channel_->fd(); }
  // The data path reported lost packets: asks the peer for them.
  void OnReportsReadable();
  // The peer asked for the packets in `request`: sends their copies.
  void OnRepairRequest(const ProbeMessage& request, uint64_t now_ns);
  // Since the agent started.
  LossRepairReport Report() const { return report_; }

  // The most copies sent again a second: requests can come from anyone
  // who reaches the probe socket (with the mesh key, when one is set), and
  // each one may ask for 64 full-size packets on a metered uplink. 2,000 a
  // second is 2% loss on a 1.2 Gbit/s bond.
  static constexpr double kRepairsPerSecond = 2000;

 private:
  void Warn(const std::string& key, const std::string& line);

  std::unique_ptr<RepairChannel> channel_;
  LossRepairIo io_;
  RateBudget budget_{kRepairsPerSecond};
  LossRepairReport report_;
  LogThrottle throttle_{std::chrono::seconds(10)};
};

}  // namespace meshbpf
