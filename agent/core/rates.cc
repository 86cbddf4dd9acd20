#include "agent/core/rates.h"

#include "absl/strings/str_cat.h"

namespace meshbpf {

uint64_t SlotDrops(const mb_path_counters& c) {
  uint64_t sum = 0;
  for (uint64_t d : c.drops) sum += d;
  return sum;
}

namespace {

bool WentBackwards(const mb_path_counters& before, const mb_path_counters& after) {
  if (after.tx_packets < before.tx_packets || after.tx_bytes < before.tx_bytes ||
      after.rx_packets < before.rx_packets || after.rx_bytes < before.rx_bytes) {
    return true;
  }
  for (int r = 0; r < MB_DROP_REASONS; ++r) {
    if (after.drops[r] < before.drops[r]) return true;
  }
  return false;
}

}  // namespace

absl::StatusOr<CounterRates> ComputeRates(const CounterReading& before,
                                          const CounterReading& after) {
  if (after.time_ns <= before.time_ns) {
    return absl::InvalidArgumentError(
        absl::StrCat("counter readings out of order: the later one is ",
                     static_cast<int64_t>(before.time_ns - after.time_ns),
                     " ns before the earlier one (a rate needs a positive interval)"));
  }
  CounterRates rates;
  // The map is recreated as a whole, so one counter going backwards means
  // every slot restarted from zero, even slots whose new values happen to be
  // larger than their old ones.
  for (int i = 0; i < MB_COUNTER_SLOTS && !rates.counters_reset; ++i) {
    rates.counters_reset = WentBackwards(before.counters[i], after.counters[i]);
  }
  const double seconds = static_cast<double>(after.time_ns - before.time_ns) / 1e9;
  auto rate = [&](uint64_t old_value, uint64_t new_value) {
    const uint64_t increase = rates.counters_reset ? new_value : new_value - old_value;
    return static_cast<double>(increase) / seconds;
  };
  for (int i = 0; i < MB_COUNTER_SLOTS; ++i) {
    const mb_path_counters& b = before.counters[i];
    const mb_path_counters& a = after.counters[i];
    PathRates& r = rates.slots[i];
    r.tx_bytes_per_s = rate(b.tx_bytes, a.tx_bytes);
    r.rx_bytes_per_s = rate(b.rx_bytes, a.rx_bytes);
    r.tx_packets_per_s = rate(b.tx_packets, a.tx_packets);
    r.rx_packets_per_s = rate(b.rx_packets, a.rx_packets);
    r.drops_per_s = rate(SlotDrops(b), SlotDrops(a));
  }
  return rates;
}

std::array<double, MB_MAX_PATHS> TrafficShares(const CounterRates& rates) {
  std::array<double, MB_MAX_PATHS> shares{};
  double total = 0;
  for (int i = 0; i < MB_MAX_PATHS; ++i) {
    total += rates.slots[i].tx_bytes_per_s + rates.slots[i].rx_bytes_per_s;
  }
  if (total <= 0) return shares;
  for (int i = 0; i < MB_MAX_PATHS; ++i) {
    shares[i] = (rates.slots[i].tx_bytes_per_s + rates.slots[i].rx_bytes_per_s) / total;
  }
  return shares;
}

std::array<double, MB_MAX_PATHS> ScheduleWeights(const PathTable& paths) {
  std::array<double, MB_MAX_PATHS> weights{};
  double total_kbps = 0;
  for (const mb_path& p : paths) {
    if (CarriesBulk(p)) total_kbps += p.rate_kbps;
  }
  if (total_kbps <= 0) return weights;
  for (int i = 0; i < MB_MAX_PATHS; ++i) {
    if (CarriesBulk(paths[i])) weights[i] = paths[i].rate_kbps / total_kbps;
  }
  return weights;
}

absl::Status FillTrafficMetrics(const PathTable& paths, const CounterTable& counters,
                                const CounterRates& rates, std::vector<PathMetrics>* metrics) {
  const std::array<double, MB_MAX_PATHS> shares = TrafficShares(rates);
  const std::array<double, MB_MAX_PATHS> weights = ScheduleWeights(paths);
  for (PathMetrics& m : *metrics) {
    if (m.path_id >= MB_MAX_PATHS) {
      return absl::InvalidArgumentError(absl::StrCat("path ", m.name, ": path id ", m.path_id,
                                                     " is past the path table (", MB_MAX_PATHS,
                                                     " paths)"));
    }
    const mb_path_counters& c = counters[m.path_id];
    const PathRates& r = rates.slots[m.path_id];
    m.tx_bytes_total = c.tx_bytes;
    m.rx_bytes_total = c.rx_bytes;
    m.tx_packets_total = c.tx_packets;
    m.rx_packets_total = c.rx_packets;
    m.drops_total = SlotDrops(c);
    m.tx_bytes_per_s = r.tx_bytes_per_s;
    m.rx_bytes_per_s = r.rx_bytes_per_s;
    m.traffic_share = shares[m.path_id];
    m.weight = weights[m.path_id];
  }
  return absl::OkStatus();
}

}  // namespace meshbpf
