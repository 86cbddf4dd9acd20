// What loss repair's agent half did (agent/daemon/loss_repair.h), as
// `meshbpf status`, the status page and Prometheus show it; the data
// path's half (reported, repaired in time) is in ResequencerStats.
#pragma once

#include <cstdint>

namespace meshbpf {

struct LossRepairReport {
  uint64_t requests_sent = 0;    // requests for lost packets sent to the peer
  uint64_t repairs_sent = 0;     // copies sent again at the peer's request
  uint64_t copies_missing = 0;   // asked for, but the copy was gone (reused)
  uint64_t repairs_refused = 0;  // over the repairs-per-second budget, or no path
  // Whether repair rests now because the bond's losses look like
  // congestion (RepairGate, agent/core/policy.h), and how often it began to.
  bool resting = false;
  uint64_t rests = 0;
  // Whether the peer answers repair requests (its probe replies say so).
  bool peer_repairs = false;
  // How long a lost packet waits for its repair now (0: given up at once).
  uint32_t wait_us = 0;
  // Whether sent packets are kept for repair now (while the peer asks).
  bool keeps_copies = false;

  bool operator==(const LossRepairReport&) const = default;
};

}  // namespace meshbpf
