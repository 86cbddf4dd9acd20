#include "agent/core/path_mtu.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace meshbpf {
namespace {

// RFC 1191's plateaus between 1280 and 1500, with the sizes PPPoE (1492),
// and common tunnels and cellular backhauls leave.
constexpr uint32_t kPlateaus[] = {1492, 1480, 1472, 1460, 1440, 1420, 1400,
                                  1380, 1360, 1340, 1320, 1300, 1280};

}  // namespace

void PathMtuSearch::OnPathUp(uint64_t now_ns) {
  if (phase_ != Phase::kDown) return;
  phase_ = Phase::kIdle;
  next_check_ns_ = now_ns + kFirstCheckNs;
}

void PathMtuSearch::OnPathDown() {
  phase_ = Phase::kDown;
  outstanding_.clear();
  to_send_.clear();
  largest_answered_ = 0;
}

std::vector<uint32_t> PathMtuSearch::LadderSizes() const {
  std::vector<uint32_t> sizes = {link_mtu_};
  for (uint32_t s : kPlateaus) {
    if (s < link_mtu_) sizes.push_back(s);
  }
  return sizes;
}

std::vector<PathMtuSearch::Probe> PathMtuSearch::Due(uint64_t now_ns) {
  if (phase_ == Phase::kIdle && now_ns >= next_check_ns_ && link_mtu_ >= kSmallest) {
    phase_ = Phase::kCheck;
    deadline_ns_ = now_ns + timeout_ns_;
    outstanding_ = {{next_seq_++, link_mtu_}};
    to_send_ = outstanding_;
  }
  return std::exchange(to_send_, {});
}

void PathMtuSearch::OnAnswered(uint32_t seq) {
  auto it = std::find_if(outstanding_.begin(), outstanding_.end(),
                         [&](const Probe& p) { return p.seq == seq; });
  if (it == outstanding_.end()) return;  // late, duplicated or unknown
  largest_answered_ = std::max(largest_answered_, it->size);
  outstanding_.erase(it);
}

void PathMtuSearch::OnNotSent(uint32_t seq, uint64_t now_ns) {
  std::erase_if(outstanding_, [&](const Probe& p) { return p.seq == seq; });
  if (phase_ == Phase::kCheck && outstanding_.empty()) {
    phase_ = Phase::kIdle;
    next_check_ns_ = now_ns + kCheckIntervalNs;
  }
}

std::optional<uint32_t> PathMtuSearch::Expire(uint64_t now_ns) {
  if (phase_ != Phase::kCheck && phase_ != Phase::kLadder) return std::nullopt;
  const bool full_answered = largest_answered_ == link_mtu_;
  if (!full_answered && now_ns < deadline_ns_) return std::nullopt;
  const uint32_t before = mtu_;
  if (full_answered) {
    mtu_ = link_mtu_;
    reason_ = absl::StrCat("a probe of ", link_mtu_, " bytes answered");
  } else if (phase_ == Phase::kCheck) {
    // The full size was lost (or the probe merely was): ask every size at once.
    phase_ = Phase::kLadder;
    deadline_ns_ = now_ns + timeout_ns_;
    outstanding_.clear();
    for (uint32_t size : LadderSizes()) outstanding_.push_back({next_seq_++, size});
    to_send_ = outstanding_;
    largest_answered_ = 0;
    return std::nullopt;
  } else if (largest_answered_ > 0) {
    mtu_ = largest_answered_;
    reason_ = absl::StrCat("probes of ", link_mtu_, " bytes lost, of ", largest_answered_,
                           " answered");
  }
  // Nothing of the ladder answered: the path is failing, which the ordinary
  // probes judge; the size stays as it was.
  phase_ = Phase::kIdle;
  next_check_ns_ = now_ns + kCheckIntervalNs;
  outstanding_.clear();
  largest_answered_ = 0;
  if (mtu_ == before) return std::nullopt;
  return mtu_;
}

}  // namespace meshbpf
