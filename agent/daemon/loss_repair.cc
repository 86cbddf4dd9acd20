#include "agent/daemon/loss_repair.h"

#include <bit>

#include "absl/strings/str_cat.h"
#include "agent/sys/log.h"

namespace meshbpf {

void LossRepair::Warn(const std::string& key, const std::string& line) {
  WarnThrottled(throttle_, key, absl::StrCat("loss repair: ", line));
}

void LossRepair::OnReportsReadable() {
  channel_->DrainRequests([this](const mb_repair_request& lost) {
    const std::optional<uint8_t> path = io_.repair_path();
    if (!path) return Warn("no path", "no path is active to ask the peer for lost packets on");
    ProbeMessage request;
    request.type = ProbeMessage::Type::kRepairRequest;
    request.path_id = *path;
    request.repair_first_seq = lost.first_seq;
    request.repair_missing = lost.missing;
    if (absl::Status s = io_.send_request(request); !s.ok()) {
      return Warn("request", std::string(s.message()));
    }
    ++report_.requests_sent;
  });
}

void LossRepair::OnRepairRequest(const ProbeMessage& request, uint64_t now_ns) {
  const std::optional<uint8_t> path = io_.repair_path();
  for (uint64_t missing = request.repair_missing; missing != 0; missing &= missing - 1) {
    const uint32_t seq = request.repair_first_seq + static_cast<uint32_t>(std::countr_zero(missing));
    if (!path || !budget_.Take(now_ns)) {
      ++report_.repairs_refused;
      Warn("refused", path ? absl::StrCat("more than ", kRepairsPerSecond,
                                          " repairs a second asked for: not sent")
                           : "no path is active to send repairs on");
      continue;
    }
    absl::StatusOr<RepairChannel::Sent> sent = channel_->SendCopy(seq, *path);
    if (!sent.ok()) {
      Warn("send", std::string(sent.status().message()));
    } else if (*sent == RepairChannel::Sent::kNoCopy) {
      ++report_.copies_missing;
    } else {
      ++report_.repairs_sent;
    }
  }
}

}  // namespace meshbpf
