#include "agent/core/rates.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/test_common.h"

namespace meshbpf {
namespace {

CounterReading Reading(uint64_t time_ns) {
  CounterReading r;
  r.time_ns = time_ns;
  return r;
}

TEST(ComputeRates, BytesPacketsAndDropsPerSecond) {
  CounterReading before = Reading(10 * kSecond);
  before.counters[0].tx_bytes = 1000;
  before.counters[0].tx_packets = 10;
  before.counters[1].rx_bytes = 500;
  CounterReading after = Reading(12 * kSecond);
  after.counters[0].tx_bytes = 5000;
  after.counters[0].tx_packets = 30;
  after.counters[1].rx_bytes = 2500;
  after.counters[MB_NO_PATH].drops[MB_DROP_UNKNOWN_SOURCE] = 6;

  absl::StatusOr<CounterRates> rates = ComputeRates(before, after);
  ASSERT_TRUE(rates.ok()) << rates.status();
  EXPECT_FALSE(rates->counters_reset);
  EXPECT_DOUBLE_EQ(rates->slots[0].tx_bytes_per_s, 2000);
  EXPECT_DOUBLE_EQ(rates->slots[0].tx_packets_per_s, 10);
  EXPECT_DOUBLE_EQ(rates->slots[0].rx_bytes_per_s, 0);
  EXPECT_DOUBLE_EQ(rates->slots[1].rx_bytes_per_s, 1000);
  EXPECT_DOUBLE_EQ(rates->slots[MB_NO_PATH].drops_per_s, 3);
}

TEST(ComputeRates, SumsOfPerCpuCopiesGiveTheBondRate) {
  // What MapSet::ReadCounters does with the per-CPU values of one slot.
  auto sum_cpus = [](std::initializer_list<uint64_t> tx_bytes_per_cpu) {
    mb_path_counters sum{};
    for (uint64_t bytes : tx_bytes_per_cpu) {
      mb_path_counters cpu{};
      cpu.tx_bytes = bytes;
      cpu.tx_packets = 1;
      mb_counters_add(&sum, &cpu);
    }
    return sum;
  };
  CounterReading before = Reading(0);
  before.counters[2] = sum_cpus({100, 200});
  CounterReading after = Reading(kSecond / 2);
  after.counters[2] = sum_cpus({600, 700});  // each CPU sent 500 more bytes
  absl::StatusOr<CounterRates> rates = ComputeRates(before, after);
  ASSERT_TRUE(rates.ok()) << rates.status();
  EXPECT_DOUBLE_EQ(rates->slots[2].tx_bytes_per_s, 2000);
  EXPECT_DOUBLE_EQ(rates->slots[2].tx_packets_per_s, 0);
}

TEST(ComputeRates, CounterResetCountsFromZeroInEverySlot) {
  CounterReading before = Reading(0);
  before.counters[0].tx_bytes = 1000000;
  before.counters[1].tx_bytes = 100;
  CounterReading after = Reading(kSecond);
  after.counters[0].tx_bytes = 4000;  // map recreated: restarted from zero
  after.counters[1].tx_bytes = 300;   // larger than before, but also since the reset

  absl::StatusOr<CounterRates> rates = ComputeRates(before, after);
  ASSERT_TRUE(rates.ok()) << rates.status();
  EXPECT_TRUE(rates->counters_reset);
  EXPECT_DOUBLE_EQ(rates->slots[0].tx_bytes_per_s, 4000);
  EXPECT_DOUBLE_EQ(rates->slots[1].tx_bytes_per_s, 300);
}

TEST(ComputeRates, ADropCounterGoingBackwardsIsAResetToo) {
  CounterReading before = Reading(0);
  before.counters[0].drops[MB_DROP_TOO_BIG] = 50;
  before.counters[0].tx_bytes = 10;
  CounterReading after = Reading(kSecond);
  after.counters[0].tx_bytes = 20;
  absl::StatusOr<CounterRates> rates = ComputeRates(before, after);
  ASSERT_TRUE(rates.ok()) << rates.status();
  EXPECT_TRUE(rates->counters_reset);
  EXPECT_DOUBLE_EQ(rates->slots[0].tx_bytes_per_s, 20);
  EXPECT_DOUBLE_EQ(rates->slots[0].drops_per_s, 0);
}

TEST(ComputeRates, RejectsZeroAndNegativeIntervals) {
  CounterReading before = Reading(5 * kSecond);
  before.counters[0].tx_bytes = 10;
  CounterReading same_time = Reading(5 * kSecond);
  same_time.counters[0].tx_bytes = 20;
  absl::StatusOr<CounterRates> rates = ComputeRates(before, same_time);
  EXPECT_EQ(rates.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(rates.status().message()), testing::HasSubstr("out of order"));

  CounterReading earlier = Reading(4 * kSecond);
  rates = ComputeRates(before, earlier);
  EXPECT_EQ(rates.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(rates.status().message()), testing::HasSubstr("1000000000 ns before"));
}

TEST(TrafficShares, SplitsTxPlusRxAmongPathsOnly) {
  CounterRates rates;
  rates.slots[0].tx_bytes_per_s = 300;
  rates.slots[0].rx_bytes_per_s = 300;
  rates.slots[3].tx_bytes_per_s = 200;
  rates.slots[3].rx_bytes_per_s = 200;
  rates.slots[MB_NO_PATH].rx_bytes_per_s = 1e9;  // never counted as a path's traffic
  std::array<double, MB_MAX_PATHS> shares = TrafficShares(rates);
  EXPECT_DOUBLE_EQ(shares[0], 0.6);
  EXPECT_DOUBLE_EQ(shares[3], 0.4);
  EXPECT_DOUBLE_EQ(shares[1], 0);
}

TEST(TrafficShares, IdleBondHasNoShares) {
  std::array<double, MB_MAX_PATHS> shares = TrafficShares(CounterRates{});
  for (double s : shares) EXPECT_EQ(s, 0);
}

TEST(ScheduleWeights, ActivePathsInProportionToTheirRates) {
  PathTable paths{};
  paths[0].state = MB_PATH_ACTIVE;
  paths[0].rate_kbps = 40000;
  paths[1].state = MB_PATH_ACTIVE;
  paths[1].rate_kbps = 20000;
  paths[2].state = MB_PATH_BACKUP;
  paths[2].rate_kbps = 10000;
  paths[3].state = MB_PATH_DISABLED;
  paths[3].rate_kbps = 10000;
  std::array<double, MB_MAX_PATHS> w = ScheduleWeights(paths);
  EXPECT_DOUBLE_EQ(w[0], 2.0 / 3);
  EXPECT_DOUBLE_EQ(w[1], 1.0 / 3);
  EXPECT_EQ(w[2], 0);
  EXPECT_EQ(w[3], 0);
  EXPECT_EQ(ScheduleWeights(PathTable{})[0], 0)
      << "no active path, no weight (no division by zero)";
}

TEST(ScheduleWeights, APathOutOfBulkGetsNone) {
  PathTable paths{};
  paths[0].state = paths[1].state = MB_PATH_ACTIVE;
  paths[0].rate_kbps = 40000;
  paths[1].rate_kbps = 20000;
  paths[1].flags = MB_PATH_F_NO_BULK;
  std::array<double, MB_MAX_PATHS> w = ScheduleWeights(paths);
  EXPECT_DOUBLE_EQ(w[0], 1);
  EXPECT_EQ(w[1], 0);
}

TEST(FillTrafficMetrics, FillsTotalsRatesSharesAndWeightsByPathId) {
  PathTable paths{};
  paths[0] = {.state = MB_PATH_ACTIVE};
  paths[0].rate_kbps = 30000;
  paths[1] = {.state = MB_PATH_ACTIVE};
  paths[1].rate_kbps = 10000;
  CounterTable counters{};
  counters[1].tx_bytes = 123;
  counters[1].drops[MB_DROP_NO_PATH] = 2;
  counters[1].drops[MB_DROP_TOO_BIG] = 3;
  CounterRates rates;
  rates.slots[0].tx_bytes_per_s = 100;
  rates.slots[1].tx_bytes_per_s = 300;
  std::vector<PathMetrics> metrics(1);
  metrics[0].path_id = 1;
  metrics[0].name = "wlan0";
  ASSERT_TRUE(FillTrafficMetrics(paths, counters, rates, &metrics).ok());
  EXPECT_EQ(metrics[0].tx_bytes_total, 123u);
  EXPECT_EQ(metrics[0].drops_total, 5u);
  EXPECT_DOUBLE_EQ(metrics[0].tx_bytes_per_s, 300);
  EXPECT_DOUBLE_EQ(metrics[0].traffic_share, 0.75);
  EXPECT_DOUBLE_EQ(metrics[0].weight, 0.25);

  metrics[0].path_id = MB_MAX_PATHS;
  absl::Status s = FillTrafficMetrics(paths, counters, rates, &metrics);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), testing::HasSubstr("wlan0"));
}

TEST(ToPathStatus, HealthVerdictAndStandbyMakeTheShownStatus) {
  EXPECT_EQ(ToPathStatus(PathState::kDown, true), PathStatus::kDown);
  EXPECT_EQ(ToPathStatus(PathState::kUp, true), PathStatus::kBackup);
  EXPECT_EQ(ToPathStatus(PathState::kDegraded, false), PathStatus::kDegraded);
  EXPECT_EQ(ToPathStatus(PathState::kUp, false), PathStatus::kUp);
  EXPECT_EQ(PathStatusName(PathStatus::kBackup), "backup");
}

}  // namespace
}  // namespace meshbpf
