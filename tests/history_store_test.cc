#include "agent/sys/history_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "tests/scratch_dir.h"
#include "tests/test_common.h"

namespace meshbpf {
namespace {

using testing::HasSubstr;

// 2024-03-15T12:00:00Z: whole minutes and hours, so bucket edges are known.

// A database file in a directory of its own, removed (with SQLite's side
// files) when the test ends.
class TempFile {
 public:
  explicit TempFile(const std::string& tag) : path_(dir_.File(tag + ".db")) {}
  const std::string& path() const { return path_; }

 private:
  ScratchDir dir_;
  std::string path_;
};

class HistoryStoreTest : public testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<HistoryStore>> store =
        HistoryStore::Open(":memory:", HistoryStore::Mode::kReadWrite, [this] { return now_; });
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
  }

  static PathMetrics Path(const std::string& name, PathStatus status, std::optional<double> rtt,
                          double loss = 0, double tx = 0) {
    PathMetrics p;
    p.name = name;
    p.status = status;
    p.rtt_ms = rtt;
    p.jitter_ms = rtt ? std::optional<double>(1) : std::nullopt;
    p.loss = loss;
    p.tx_bytes_per_s = tx;
    p.weight = 0.5;
    return p;
  }

  void Record(std::vector<PathMetrics> paths) {
    MetricsSnapshot snapshot;
    snapshot.bond = "mb0";
    snapshot.paths = std::move(paths);
    ASSERT_TRUE(store_->RecordSample(snapshot).ok());
  }

  // One sample a second for `seconds`, compacting at every minute boundary
  // as the agent would; `make` gives the paths at second i.
  template <typename Make>
  void RecordSeconds(int seconds, Make make) {
    for (int i = 0; i < seconds; ++i) {
      Record(make(i));
      now_ += absl::Seconds(1);
      if (absl::ToUnixSeconds(now_) % 60 == 0) {
        ASSERT_TRUE(store_->Compact().ok());
      }
    }
  }

  absl::Time now_ = kStart;
  std::unique_ptr<HistoryStore> store_;
};

TEST_F(HistoryStoreTest, SummarisesTheLastHourFromSecondSamples) {
  // wan1: RTT 10..19 ms; wan2 down (no RTT) for the first 2 of 10 minutes.
  RecordSeconds(600, [](int i) {
    const bool wan2_up = i >= 120;
    return std::vector<PathMetrics>{
        Path("wan1", PathStatus::kUp, 10 + i % 10, 0.0, 1000),
        Path("wan2", wan2_up ? PathStatus::kUp : PathStatus::kDown,
             wan2_up ? std::optional<double>(50) : std::nullopt, wan2_up ? 0.02 : 1.0, 0)};
  });
  ASSERT_TRUE(store_
                  ->RecordTransition({kStart + absl::Seconds(120), "wan2", PathStatus::kDown,
                                      PathStatus::kUp, "probes answered"})
                  .ok());
  ASSERT_TRUE(store_
                  ->RecordTransition({kStart + absl::Seconds(300), "wan2", PathStatus::kUp,
                                      PathStatus::kDown, "3 probes lost"})
                  .ok());

  absl::StatusOr<std::vector<PathSummary>> summaries = store_->Summaries(absl::Hours(1));
  ASSERT_TRUE(summaries.ok()) << summaries.status();
  ASSERT_EQ(summaries->size(), 2u);
  const PathSummary& wan1 = (*summaries)[0];
  EXPECT_EQ(wan1.path, "wan1");
  EXPECT_EQ(wan1.samples, 600);
  EXPECT_DOUBLE_EQ(wan1.avg_tx_bytes_per_s, 1000);
  EXPECT_EQ(wan1.rtt_p50_ms, 14);
  EXPECT_EQ(wan1.rtt_p95_ms, 19);
  EXPECT_DOUBLE_EQ(wan1.availability, 1);
  EXPECT_EQ(wan1.failovers, 0);
  const PathSummary& wan2 = (*summaries)[1];
  EXPECT_DOUBLE_EQ(wan2.availability, 0.8);
  EXPECT_NEAR(wan2.loss, 0.2 * 1.0 + 0.8 * 0.02, 1e-9);
  EXPECT_EQ(wan2.rtt_p50_ms, 50);
  EXPECT_EQ(wan2.failovers, 1);

  absl::StatusOr<std::map<std::string, std::vector<HistoryRow>>> series =
      store_->Series(absl::Minutes(5));
  ASSERT_TRUE(series.ok()) << series.status();
  ASSERT_EQ(series->at("wan2").size(), 300u);
  EXPECT_EQ(series->at("wan2").back().status, PathStatus::kUp) << "1 s rows keep their state";
}

TEST_F(HistoryStoreTest, DownsamplesFinishedMinutesKeepingWorstRtt) {
  // Three minutes: RTT 10 ms, except one second of 400 ms and ten seconds
  // without a reply in the second minute.
  RecordSeconds(180, [](int i) {
    std::optional<double> rtt = 10;
    if (i == 70) rtt = 400;
    if (i >= 100 && i < 110) rtt = std::nullopt;
    return std::vector<PathMetrics>{
        Path("wan1", PathStatus::kUp, rtt, i < 60 ? 0.0 : 0.06, static_cast<double>(i / 60) * 100)};
  });
  // A window over an hour reads the minute tier.
  absl::StatusOr<std::map<std::string, std::vector<HistoryRow>>> series =
      store_->Series(absl::Hours(2));
  ASSERT_TRUE(series.ok()) << series.status();
  const std::vector<HistoryRow>& rows = series->at("wan1");
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[1].time, kStart + absl::Minutes(1));
  EXPECT_EQ(rows[1].samples, 60);
  EXPECT_EQ(rows[1].rtt_samples, 50);
  EXPECT_DOUBLE_EQ(*rows[1].rtt_ms, (49 * 10 + 400) / 50.0);
  EXPECT_EQ(rows[1].rtt_max_ms, 400);
  EXPECT_NEAR(rows[1].loss, 0.06, 1e-9);
  EXPECT_DOUBLE_EQ(rows[2].tx_bytes_per_s, 200);
  EXPECT_EQ(rows[1].status, std::nullopt) << "an average has no single state";
}

TEST_F(HistoryStoreTest, CoarseBucketsForPlotting) {
  RecordSeconds(600, [](int i) {
    return std::vector<PathMetrics>{Path("wan1", PathStatus::kUp, i < 300 ? 10 : 30)};
  });
  absl::StatusOr<std::map<std::string, std::vector<HistoryRow>>> series =
      store_->Series(absl::Hours(1), absl::Minutes(5));
  ASSERT_TRUE(series.ok()) << series.status();
  const std::vector<HistoryRow>& rows = series->at("wan1");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].samples, 300);
  EXPECT_EQ(rows[0].rtt_ms, 10);
  EXPECT_EQ(rows[1].rtt_ms, 30);
  EXPECT_EQ(store_->Series(absl::Hours(1), absl::Seconds(-1)).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(HistoryStoreTest, OldRowsMoveToCoarserTiersAndTheStoreStaysBounded) {
  // Two hours of samples: the second tier keeps at most an hour of them.
  RecordSeconds(2 * 3600,
                [](int) { return std::vector<PathMetrics>{Path("wan1", PathStatus::kUp, 20)}; });
  absl::StatusOr<std::map<std::string, std::vector<HistoryRow>>> seconds =
      store_->Series(absl::Hours(1));
  ASSERT_TRUE(seconds.ok()) << seconds.status();
  EXPECT_LE(seconds->at("wan1").size(), 3601u);

  // Eight days later, without new samples: the minutes are gone, the hours stay.
  now_ += absl::Hours(24 * 8);
  ASSERT_TRUE(store_->Compact().ok());
  EXPECT_TRUE(store_->Series(absl::Hours(24 * 7))->empty());
  absl::StatusOr<std::map<std::string, std::vector<HistoryRow>>> hours =
      store_->Series(absl::Hours(24 * 30));
  ASSERT_TRUE(hours.ok()) << hours.status();
  ASSERT_EQ(hours->at("wan1").size(), 2u);
  EXPECT_EQ(hours->at("wan1")[0].samples, 3600);
  EXPECT_EQ(hours->at("wan1")[0].rtt_ms, 20);

  // And after a year, nothing.
  now_ += absl::Hours(24 * 366);
  ASSERT_TRUE(store_->Compact().ok());
  EXPECT_TRUE(store_->Series(absl::Hours(24 * 365))->empty());
}

TEST_F(HistoryStoreTest, TransitionsInAWindow) {
  ASSERT_TRUE(store_
                  ->RecordTransition(
                      {now_ - absl::Hours(2), "wan1", PathStatus::kUp, PathStatus::kDown, "old"})
                  .ok());
  ASSERT_TRUE(store_
                  ->RecordTransition({now_ - absl::Minutes(5), "wan1", PathStatus::kUp,
                                      PathStatus::kDegraded, "loss 4% for 20 min"})
                  .ok());
  absl::StatusOr<std::vector<PathTransition>> t = store_->Transitions(absl::Hours(1));
  ASSERT_TRUE(t.ok()) << t.status();
  ASSERT_EQ(t->size(), 1u);
  EXPECT_EQ((*t)[0].to, PathStatus::kDegraded);
  EXPECT_EQ((*t)[0].reason, "loss 4% for 20 min");
  EXPECT_EQ((*t)[0].time, now_ - absl::Minutes(5));
}

TEST(HistoryStore, CapUsageSurvivesReopening) {
  TempFile file("cap");
  CapUsage usage;
  usage.period_start = kStart;
  usage.used_bytes = 123456789012;
  usage.warnings_issued = 1;
  {
    auto store = HistoryStore::Open(file.path(), HistoryStore::Mode::kReadWrite);
    ASSERT_TRUE(store.ok()) << store.status();
    EXPECT_EQ((*store)->LoadCapUsage("wan1").value(), std::nullopt);
    ASSERT_TRUE((*store)->SaveCapUsage("wan1", usage).ok());
  }
  auto store = HistoryStore::Open(file.path(), HistoryStore::Mode::kReadOnly);
  ASSERT_TRUE(store.ok()) << store.status();
  absl::StatusOr<std::optional<CapUsage>> loaded = (*store)->LoadCapUsage("wan1");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_TRUE(loaded->has_value());
  EXPECT_EQ((*loaded)->period_start, kStart);
  EXPECT_EQ((*loaded)->used_bytes, 123456789012u);
  EXPECT_EQ((*loaded)->warnings_issued, 1u);
  EXPECT_FALSE((*store)->SaveCapUsage("wan1", usage).ok()) << "read-only";

  auto writer = HistoryStore::Open(file.path(), HistoryStore::Mode::kReadWrite);
  ASSERT_TRUE(writer.ok()) << "an existing store opens again: " << writer.status();
  EXPECT_EQ((*writer)->LoadCapUsage("wan1").value()->used_bytes, 123456789012u);
}

TEST(HistoryStore, AFileThatIsNotADatabaseIsAClearError) {
  TempFile file("garbage");
  std::ofstream(file.path()) << std::string(4096, 'x');
  absl::StatusOr<std::unique_ptr<HistoryStore>> store =
      HistoryStore::Open(file.path(), HistoryStore::Mode::kReadWrite);
  ASSERT_FALSE(store.ok());
  EXPECT_THAT(Message(store.status()), HasSubstr(file.path()));
  EXPECT_THAT(Message(store.status()), HasSubstr("not a database"));
}

TEST(HistoryStore, CorruptPagesGiveErrorsNotCrashes) {
  TempFile file("corrupt");
  {
    auto store =
        HistoryStore::Open(file.path(), HistoryStore::Mode::kReadWrite, [] { return kStart; });
    ASSERT_TRUE(store.ok()) << store.status();
    MetricsSnapshot snapshot{.bond = "mb0"};
    for (int i = 0; i < 200; ++i) {  // enough rows for several pages
      snapshot.paths.emplace_back();
      snapshot.paths.back().name = "wan" + std::to_string(i);
    }
    ASSERT_TRUE((*store)->RecordSample(snapshot).ok());
  }
  {
    // Keep the header page, scribble over every page after it.
    std::fstream f(file.path(), std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(0, std::ios::end);
    const std::streamoff size = f.tellp();
    ASSERT_GT(size, 4096);
    f.seekp(4096);
    f << std::string(static_cast<size_t>(size - 4096), '\xa5');
  }
  auto store =
      HistoryStore::Open(file.path(), HistoryStore::Mode::kReadWrite, [] { return kStart; });
  ASSERT_TRUE(store.ok()) << "the header page is intact: " << store.status();
  absl::StatusOr<std::vector<PathSummary>> summaries = (*store)->Summaries(absl::Hours(1));
  ASSERT_FALSE(summaries.ok());
  EXPECT_THAT(Message(summaries.status()), HasSubstr(file.path()));
  EXPECT_THAT(Message(summaries.status()), HasSubstr("malformed"));
}

TEST(HistoryStore, UnwritableOrMissingPlacesAreClearErrors) {
  absl::StatusOr<std::unique_ptr<HistoryStore>> store =
      HistoryStore::Open("/nonexistent-meshbpf-dir/history.db", HistoryStore::Mode::kReadWrite);
  ASSERT_FALSE(store.ok());
  EXPECT_THAT(Message(store.status()), HasSubstr("/nonexistent-meshbpf-dir/history.db"));
  EXPECT_THAT(Message(store.status()), HasSubstr("unable to open"));

  TempFile missing("missing");
  store = HistoryStore::Open(missing.path(), HistoryStore::Mode::kReadOnly);
  ASSERT_FALSE(store.ok());
  EXPECT_THAT(Message(store.status()), HasSubstr(missing.path()));
}

TEST(HistoryStore, ForeignOrNewerDatabasesAreRefused) {
  TempFile file("foreign");
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(file.path().c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "CREATE TABLE other (x)", nullptr, nullptr, nullptr), SQLITE_OK);
  absl::StatusOr<std::unique_ptr<HistoryStore>> store =
      HistoryStore::Open(file.path(), HistoryStore::Mode::kReadOnly);
  ASSERT_FALSE(store.ok());
  EXPECT_THAT(Message(store.status()), HasSubstr("holds no meshbpf history"));

  ASSERT_EQ(sqlite3_exec(db, "PRAGMA user_version = 7", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(db);
  store = HistoryStore::Open(file.path(), HistoryStore::Mode::kReadWrite);
  ASSERT_FALSE(store.ok());
  EXPECT_THAT(Message(store.status()), HasSubstr("schema version 7 is newer"));
}

}  // namespace
}  // namespace meshbpf
