#include "agent/core/policy.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>

namespace meshbpf {
namespace {

// Offload stays useful on fast links; below this the 64 KB super-packets
// take long enough to serialise that per-packet scheduling needs MTU units.
constexpr double kOffloadMinRateBps = 1e9;

constexpr double kFullPacketBits = 1500 * 8;

double BondedRateBps(const NodeSettings& settings) {
  double bonded_bps = 0;
  for (const PathSettings& p : settings.paths) {
    if (p.role == PathRole::kBonded) bonded_bps += p.rate_bps;
  }
  return bonded_bps;
}

}  // namespace

uint32_t BondOverhead(const NodeSettings& settings) {
  if (settings.mode == BondMode::kFlow) return 0;
  return static_cast<uint32_t>(settings.authentication ? MB_AUTH_OVERHEAD : MB_ENCAP_OVERHEAD);
}

uint32_t PathOverhead(const NodeSettings& settings, const PathSettings& p) {
  // Flow mode adds no header: an IPv6 flow leaves as it came.
  if (settings.mode == BondMode::kFlow) return 0;
  return BondOverhead(settings) + (p.source.is_v6() ? MB_OUTER_IPV6_EXTRA : 0);
}

uint32_t BondMtu(const NodeSettings& settings) {
  std::optional<uint32_t> smallest;
  for (const PathSettings& p : settings.paths) {
    const uint32_t overhead = PathOverhead(settings, p);
    const uint32_t payload = p.mtu > overhead ? p.mtu - overhead : 0;
    if (!smallest || payload < *smallest) smallest = payload;
  }
  return smallest.value_or(0);
}

uint32_t ReseqSlots(const NodeSettings& settings) {
  const double seconds = (settings.reorder_deadline_ms + kReseqQueueSlackMs) / 1000;
  const double packets = std::max<double>(BondedRateBps(settings) * seconds / kFullPacketBits,
                                          settings.max_queue_size);
  uint32_t slots = MB_RESEQ_WINDOW;
  while (slots < MB_RESEQ_SLOTS_MAX && slots < packets) slots *= 2;
  return slots;
}

double ReseqSlotsMs(const NodeSettings& settings, uint32_t slots) {
  const double bps = BondedRateBps(settings);
  return bps > 0 ? slots * kFullPacketBits / bps * 1000 : 0;
}

uint32_t TunnelPayloadMtu(const PathTable& table, uint32_t overhead) {
  uint32_t smallest = 0;
  for (const mb_path& p : table) {
    const uint32_t path_overhead = overhead + mb_path_outer_extra(&p);
    if (p.ifindex == 0 || p.mtu <= path_overhead) continue;
    if (smallest == 0 || p.mtu - path_overhead < smallest) smallest = p.mtu - path_overhead;
  }
  return smallest;
}

bool ShouldDisableOffloads(const NodeSettings& settings) {
  switch (settings.offload) {
    case OffloadSetting::kOn:
      return false;
    case OffloadSetting::kOff:
      return true;
    case OffloadSetting::kAuto:
      break;
  }
  // Flow mode chooses per flow, not per packet: super-packets do no harm.
  if (settings.mode == BondMode::kFlow) return false;
  // The data path refuses GSO packets it would have to tag (auth_gso).
  if (settings.authentication) return true;
  // And sends a redundant one on its first path's family only (other_family).
  if (settings.mode == BondMode::kRedundant && MixesFamilies(settings)) return true;
  return std::any_of(settings.paths.begin(), settings.paths.end(),
                     [](const PathSettings& p) { return p.rate_bps < kOffloadMinRateBps; });
}

std::vector<int> StandbyOrder(const NodeSettings& settings) {
  std::vector<int> backups;
  std::vector<int> others;
  for (int i = 0; i < static_cast<int>(settings.paths.size()); ++i) {
    const PathSettings& p = settings.paths[i];
    if (p.role == PathRole::kBackup) {
      backups.push_back(i);
    } else if (settings.mode == BondMode::kActiveBackup && p.name != settings.primary) {
      others.push_back(i);
    }
  }
  std::stable_sort(backups.begin(), backups.end(), [&](int a, int b) {
    return settings.paths[a].backup_order < settings.paths[b].backup_order;
  });
  backups.insert(backups.end(), others.begin(), others.end());
  return backups;
}

void SetReseqHolds(const NodeSettings& settings, PathTable& table) {
  uint32_t farthest_us = 0;
  for (const mb_path& p : table) {
    if (CarriesBulk(p)) farthest_us = std::max(farthest_us, p.owd_us);
  }
  const auto deadline_us = static_cast<uint32_t>(std::lround(settings.reorder_deadline_ms * 1000));
  for (mb_path& p : table) {
    const uint32_t hold_us = CarriesBulk(p) ? farthest_us - p.owd_us : 0;
    p.reseq_hold_us = hold_us < kMinReseqHoldUs ? 0 : std::min(hold_us, deadline_us);
  }
}

uint32_t LongestReseqHoldUs(const PathTable& table) {
  uint32_t longest_us = 0;
  for (const mb_path& p : table) longest_us = std::max(longest_us, p.reseq_hold_us);
  return longest_us;
}

bool ReseqMargin::Update(uint64_t late_total, uint64_t now_ns) {
  const std::optional<uint64_t> before = late_total_;
  late_total_ = late_total;
  const double was = margin_us_;
  // A counter that went down was reset (maps pinned anew): no news.
  if (before && late_total > *before) {
    margin_us_ *= 2;
    calm_since_ns_ = now_ns;
  } else if (!before || late_total < *before) {
    calm_since_ns_ = now_ns;
  } else if (now_ns - calm_since_ns_ >= kReseqMarginCalmNs) {
    margin_us_ = std::max<double>(kMinReseqMarginUs, margin_us_ * 0.8);
    calm_since_ns_ = now_ns;
  }
  // Past a second it no longer matters: reorder_deadline_ms is at most that.
  margin_us_ = std::min(margin_us_, 1e6);
  return margin_us_ != was;
}

uint32_t ReseqDeadlineUs(const NodeSettings& settings, const PathTable& table,
                         double largest_jitter_us, double margin_us) {
  if (settings.reorder_deadline_ms <= 0) return 0;
  const uint32_t longest_hold_us = LongestReseqHoldUs(table);
  margin_us = std::max(margin_us, kReseqJitterMargin * largest_jitter_us);
  const double ms = std::ceil((longest_hold_us + margin_us) / 1000);
  return static_cast<uint32_t>(std::lround(std::min(ms, settings.reorder_deadline_ms) * 1000));
}

uint32_t RepairWaitUs(const NodeSettings& settings, const PathTable& table,
                      const std::vector<PathCondition>& conditions, uint32_t reseq_deadline_us) {
  // Only bonded bulk is repaired: a reload may switch to another mode.
  if (!settings.loss_repair || settings.reorder_deadline_ms <= 0 ||
      (settings.mode != BondMode::kLoadBalance && settings.mode != BondMode::kLatency)) {
    return 0;
  }
  std::optional<double> round_trip_us;
  for (size_t i = 0; i < table.size() && i < conditions.size(); ++i) {
    const PathCondition& c = conditions[i];
    if (table[i].state != MB_PATH_ACTIVE || !c.rtt_us) continue;
    round_trip_us = std::max(round_trip_us.value_or(0), *c.rtt_us + kRepairRttvarFactor * c.rttvar_us);
  }
  if (!round_trip_us) return reseq_deadline_us;
  const double wait_us = *round_trip_us + kRepairAgentMarginUs;
  return std::min(static_cast<uint32_t>(std::lround(wait_us)), reseq_deadline_us);
}

bool RepairGate::Update(const Totals& now, uint64_t now_ns) {
  const std::optional<Totals> before = last_;
  // A counter that went down was reset (maps pinned anew): no news.
  if (!before || now.requested < before->requested || now.repaired < before->repaired ||
      now.skipped < before->skipped || now.received < before->received) {
    last_ = now;
    return false;
  }
  const uint64_t received = now.received - before->received;
  if (received < kRepairGateMinPackets) return false;  // too little to judge: keep counting
  last_ = now;
  if (judged_since_open_) ++*judged_since_open_;
  const uint64_t requested = now.requested - before->requested;
  last_loss_ = static_cast<double>(std::max(requested, now.skipped - before->skipped)) /
               static_cast<double>(received);
  last_repaired_.reset();
  if (requested >= kRepairGateMinRequests) {
    last_repaired_ = static_cast<double>(now.repaired - before->repaired) / static_cast<double>(requested);
  }
  const bool congested = last_loss_ > kRepairableLossFraction ||
                         (last_repaired_ && *last_repaired_ < kMinRepairedFraction);
  if (open_ && congested) {
    // Closing again right after resuming: the congestion went on.
    const bool again = judged_since_open_ && *judged_since_open_ <= 2;
    rest_ns_ = again ? std::min(2 * rest_ns_, kMaxRepairRestNs) : kRepairRestNs;
    open_ = false;
    closed_ns_ = now_ns;
    ++rests_;
    return true;
  }
  if (!open_ && !congested && now_ns - closed_ns_ >= rest_ns_) {
    open_ = true;
    judged_since_open_ = 0;
    return true;
  }
  return false;
}

std::optional<uint8_t> RepairPathId(const PathTable& table,
                                    const std::vector<PathCondition>& conditions) {
  const PathCondition unmeasured;
  auto condition = [&](size_t i) -> const PathCondition& {
    return i < conditions.size() ? conditions[i] : unmeasured;
  };
  std::optional<double> least_loss;
  for (size_t i = 0; i < table.size(); ++i) {
    if (table[i].state == MB_PATH_ACTIVE) {
      least_loss = std::min(least_loss.value_or(condition(i).loss), condition(i).loss);
    }
  }
  if (!least_loss) return std::nullopt;
  std::optional<uint8_t> best;
  for (size_t i = 0; i < table.size(); ++i) {
    const PathCondition& c = condition(i);
    if (table[i].state != MB_PATH_ACTIVE || c.loss > *least_loss + kRepairLossTie) continue;
    const std::optional<double> best_rtt_us = best ? condition(*best).rtt_us : std::nullopt;
    if (!best || (c.rtt_us && (!best_rtt_us || *c.rtt_us < *best_rtt_us))) {
      best = static_cast<uint8_t>(i);
    }
  }
  return best;
}

PathTable BuildPathTable(const NodeSettings& settings,
                         const std::vector<PathCondition>& conditions) {
  const size_t n = std::min<size_t>(settings.paths.size(), MB_MAX_PATHS);
  // Absent conditions count as healthy; a path whose far end is not known
  // yet leads nowhere, whatever its link says, so no fallback picks it.
  std::vector<PathCondition> judged(n);
  for (size_t i = 0; i < n; ++i) {
    if (i < conditions.size()) judged[i] = conditions[i];
    if (!settings.paths[i].endpoint_known) judged[i].usable = judged[i].link_up = false;
  }
  if (!conditions.empty() &&
      std::none_of(judged.begin(), judged.end(), [](const PathCondition& c) { return c.usable; })) {
    for (PathCondition& c : judged) c.usable = c.link_up;
  }
  auto condition = [&](size_t i) -> const PathCondition& { return judged[i]; };
  // Redundant mode sends every packet on every active path: a lossy path
  // still adds copies, so it is not held back.
  auto degraded = [&](size_t i) {
    return settings.mode != BondMode::kRedundant && !condition(i).manual && condition(i).degraded;
  };
  PathTable table{};
  std::vector<size_t> bonded;
  for (size_t i = 0; i < n; ++i) {
    const PathSettings& p = settings.paths[i];
    const PathCondition& c = condition(i);
    // A relayed path without a neighbour has nowhere to send from or to.
    if (p.endpoint == PathEndpoint::kRelay && !p.endpoint_known) continue;
    mb_path& out = table[i];
    out.ifindex = static_cast<uint32_t>(p.ifindex);
    if (p.source.is_v6()) {
      out.flags |= MB_PATH_F_IPV6;
      std::memcpy(out.src_ip6, p.source.bytes.data(), sizeof(out.src_ip6));
      std::memcpy(out.dst_ip6, p.remote.bytes.data(), sizeof(out.dst_ip6));
      // A learned path adopts a far end of either family; a configured
      // gateway of the other one is no next hop for it: the routing table is.
      if (p.gateway && p.gateway->is_v6()) {
        std::memcpy(out.gateway6, p.gateway->bytes.data(), sizeof(out.gateway6));
      }
    } else {
      out.src_ip = p.source.v4().s_addr;
      out.dst_ip = p.remote.v4().s_addr;
      out.gateway = p.gateway ? p.gateway->v4().s_addr : 0;
    }
    out.src_port = settings.port;
    out.dst_port = p.remote_port;
    out.mtu = c.mtu ? std::min(p.mtu, *c.mtu) : p.mtu;
    // The data path counts in kbit/s; everything before it in bit/s.
    const double kbps = c.capacity_bps.value_or(p.rate_bps) / 1000.0;
    out.rate_kbps = static_cast<uint32_t>(std::lround(std::max(kbps, 1.0)));
    out.owd_us = static_cast<uint32_t>(std::lround(c.owd_us ? *c.owd_us : p.delay_ms * 1000.0));
    out.state = MB_PATH_DISABLED;
    if (p.endpoint == PathEndpoint::kLearned) {
      // The data path records where the client's probes come from (see
      // MB_PATH_F_LEARN); until one is adopted nothing may go to 0.0.0.0.
      out.flags |= MB_PATH_F_LEARN;
      if (!p.endpoint_known) {
        out.dst_ip = 0;
        out.dst_port = 0;
      }
    }
    const bool carries_traffic = settings.mode == BondMode::kActiveBackup
                                     ? p.name == settings.primary
                                     : p.role == PathRole::kBonded;
    if ((carries_traffic || c.manual) && c.usable) bonded.push_back(i);
  }
  const std::vector<int> standby = StandbyOrder(settings);
  auto usable_standby = [&](bool want_healthy) -> std::optional<size_t> {
    for (int i : standby) {
      const auto k = static_cast<size_t>(i);
      if (k < n && condition(k).usable && !condition(k).manual &&
          (!want_healthy || !degraded(k))) {
        return k;
      }
    }
    return std::nullopt;
  };
  // A path the floor guard keeps out of bulk is no healthy alternative for
  // it: taking a degraded path out for its sake would leave bulk traffic to
  // nothing (or to the path the guard found harmful).
  const bool guard_applies =
      settings.floor_guard &&
      (settings.mode == BondMode::kLoadBalance || settings.mode == BondMode::kLatency);
  auto carries_bulk = [&](size_t i) {
    return !(guard_applies && condition(i).bulk_excluded && !condition(i).manual);
  };
  const bool healthy_bonded = std::any_of(bonded.begin(), bonded.end(),
                                          [&](size_t i) { return !degraded(i) && carries_bulk(i); });
  const std::optional<size_t> healthy_standby = usable_standby(true);
  for (size_t i : bonded) {
    if (!degraded(i) || (!healthy_bonded && !healthy_standby)) table[i].state = MB_PATH_ACTIVE;
  }
  // The data path falls back to the lowest-numbered BACKUP path, but the
  // user's order is interfaces.backups, not the path id: only the next
  // usable standby path is in BACKUP state.
  if (std::optional<size_t> next = healthy_standby ? healthy_standby : usable_standby(false)) {
    table[*next].state = MB_PATH_BACKUP;
  }
  if (guard_applies) {
    auto guarded = [&](size_t i) { return table[i].state == MB_PATH_ACTIVE && !carries_bulk(i); };
    bool bulk_left = false;
    for (size_t i = 0; i < n; ++i) bulk_left |= table[i].state == MB_PATH_ACTIVE && !guarded(i);
    for (size_t i = 0; i < n && bulk_left; ++i) {
      if (guarded(i)) table[i].flags |= MB_PATH_F_NO_BULK;
    }
  }
  if (settings.reorder_deadline_ms > 0) SetReseqHolds(settings, table);
  return table;
}

}  // namespace meshbpf
