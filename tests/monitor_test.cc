#include "agent/daemon/monitor.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "agent/core/control_protocol.h"
#include "tests/test_common.h"

namespace meshbpf {
namespace {

using testing::HasSubstr;

PathTable TwoActivePaths() {
  PathTable table{};
  table[0].state = MB_PATH_ACTIVE;
  table[0].rate_kbps = 30000;
  table[1].state = MB_PATH_ACTIVE;
  table[1].rate_kbps = 10000;
  return table;
}

std::vector<PathView> Views() {
  PathView wan1{"wan1", PathStatus::kUp, 12.5, 1.5, 0.0, std::nullopt};
  PathView wan2{"wan2", PathStatus::kDegraded, std::nullopt, std::nullopt, 0.04,
                CapMetrics{100, 1000}};
  return {wan1, wan2};
}

TEST(Monitor, RatesSharesAndHealthFromTwoReadings) {
  absl::StatusOr<std::unique_ptr<HistoryStore>> store =
      HistoryStore::Open(":memory:", HistoryStore::Mode::kReadWrite);
  ASSERT_TRUE(store.ok()) << store.status();
  Monitor monitor("mb0", std::move(*store));
  CounterReading first{10 * kSecond, {}};
  first.counters[0].tx_bytes = 1000;
  ASSERT_TRUE(monitor.Sample(first, TwoActivePaths(), Views()).ok());
  EXPECT_EQ(monitor.snapshot().paths[0].tx_bytes_per_s, 0);  // no earlier reading

  CounterReading second{12 * kSecond, {}};
  second.counters[0].tx_bytes = 7000;  // 3000 B/s
  second.counters[1].rx_bytes = 2000;  // 1000 B/s
  second.counters[MB_NO_PATH].drops[0] = 4;
  ASSERT_TRUE(monitor.Sample(second, TwoActivePaths(), Views()).ok());
  const MetricsSnapshot& s = monitor.snapshot();
  EXPECT_EQ(s.bond, "mb0");
  ASSERT_EQ(s.paths.size(), 2u);
  EXPECT_EQ(s.paths[0].name, "wan1");
  EXPECT_DOUBLE_EQ(s.paths[0].tx_bytes_per_s, 3000);
  EXPECT_EQ(s.paths[0].tx_bytes_total, 7000u);
  EXPECT_DOUBLE_EQ(s.paths[0].traffic_share, 0.75);
  EXPECT_DOUBLE_EQ(s.paths[0].weight, 0.75);
  EXPECT_EQ(s.paths[0].rtt_ms, 12.5);
  EXPECT_DOUBLE_EQ(s.paths[1].rx_bytes_per_s, 1000);
  EXPECT_EQ(s.paths[1].status, PathStatus::kDegraded);
  EXPECT_FALSE(s.paths[1].rtt_ms.has_value());
  EXPECT_EQ(s.unattributed_drops_total, 4u);

  // Both samples went into the history.
  absl::StatusOr<std::map<std::string, std::vector<HistoryRow>>> series =
      monitor.history()->Series(absl::Minutes(5));
  ASSERT_TRUE(series.ok()) << series.status();
  EXPECT_EQ(series->count("wan1"), 1u);
  EXPECT_EQ(series->count("wan2"), 1u);
}

TEST(Monitor, WorksWithoutHistoryAndRejectsTimeGoingBack) {
  Monitor monitor("mb0", nullptr);
  ASSERT_TRUE(monitor.Sample({5 * kSecond, {}}, TwoActivePaths(), Views()).ok());
  absl::Status s = monitor.Sample({4 * kSecond, {}}, TwoActivePaths(), Views());
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(monitor.RecordTransition({}).ok());
}

TEST(SnapshotJson, RoundTrips) {
  Monitor monitor("mb0", nullptr);
  CounterReading reading{kSecond, {}};
  reading.counters[1].tx_packets = 9;
  ASSERT_TRUE(monitor.Sample(reading, TwoActivePaths(), Views()).ok());
  const nlohmann::json json = ToJson(monitor.snapshot());
  absl::StatusOr<MetricsSnapshot> back = FromJson<MetricsSnapshot>(json, "stats");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(ToJson(*back), json);
  EXPECT_EQ(back->paths[1].tx_packets_total, 9u);
  EXPECT_EQ(back->paths[1].cap->limit_bytes, 1000u);
  EXPECT_FALSE(back->paths[1].jitter_ms.has_value());
}

TEST(SnapshotJson, NamesTheMissingOrWrongField) {
  Monitor monitor("mb0", nullptr);
  ASSERT_TRUE(monitor.Sample({kSecond, {}}, TwoActivePaths(), Views()).ok());
  nlohmann::json json = ToJson(monitor.snapshot());
  json["paths"][1].erase("loss");
  absl::StatusOr<MetricsSnapshot> back = FromJson<MetricsSnapshot>(json, "stats");
  ASSERT_FALSE(back.ok());
  EXPECT_THAT(std::string(back.status().message()),
              HasSubstr("stats: \"paths[1].loss\" is missing"));
  json = ToJson(monitor.snapshot());
  json["paths"][0]["status"] = "sideways";
  back = FromJson<MetricsSnapshot>(json, "stats");
  ASSERT_FALSE(back.ok());
  EXPECT_THAT(std::string(back.status().message()), HasSubstr("sideways"));
}

}  // namespace
}  // namespace meshbpf
