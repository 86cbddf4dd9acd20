// CapManager against a fake mb_budget map and an in-memory history store:
// the data path's charges become usage, warnings and exhaustion are reported
// once, usage survives a restart (and a crash), periods and resets grant a
// fresh budget.
#include "agent/daemon/cap_manager.h"
#include "tests/fake_budget_map.h"
#include "cli/agent_views.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <array>

namespace meshbpf {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

const absl::TimeZone kUtc = absl::UTCTimeZone();
const absl::Time kJan10 = absl::FromCivil(absl::CivilSecond(2025, 1, 10, 12, 0, 0), kUtc);

CapPlan Plan(uint64_t limit, const std::string& period = "monthly",
             const std::string& when_exhausted = "stop") {
  CapSettings s;
  s.limit_bytes = limit;
  s.period = period;
  s.timezone = "UTC";
  s.when_exhausted = when_exhausted;
  return *MakeCapPlan(s);
}

std::string Texts(const std::vector<CapNotice>& notices) {
  std::string all;
  for (const CapNotice& n : notices) all += n.text + "\n";
  return all;
}

class CapManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<HistoryStore>> s =
        HistoryStore::Open(":memory:", HistoryStore::Mode::kReadWrite);
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = std::move(*s);
  }
  CapManager Start(const CapPlan& plan, absl::Time now, uint32_t path_id = 1) {
    std::vector<CapNotice> notices;
    absl::StatusOr<CapManager> m =
        CapManager::Start({{path_id, "wan2", plan}}, store_.get(), &map_, now, &notices);
    EXPECT_TRUE(m.ok()) << m.status();
    start_notices_ = Texts(notices);
    return *std::move(m);
  }
  std::unique_ptr<HistoryStore> store_;
  FakeBudgetMap map_;
  std::string start_notices_;
};

TEST_F(CapManagerTest, StartGrantsTheWholeBudgetAndUncapsOtherPaths) {
  map_.entries[0] = {.remaining_bytes = 5, .limit_bytes = 7, .policy = MB_CAP_STOP};
  CapManager m = Start(Plan(1000, "monthly", "last_resort_backup"), kJan10);
  EXPECT_EQ(map_.entries[1].limit_bytes, 1000u);
  EXPECT_EQ(map_.entries[1].remaining_bytes, 1000);
  EXPECT_EQ(map_.entries[1].policy, static_cast<uint32_t>(MB_CAP_LAST_RESORT));
  EXPECT_EQ(map_.entries[0].limit_bytes, 0u) << "a stale entry of an uncapped path is cleared";
  EXPECT_THAT(start_notices_, HasSubstr("0 B of 1.00 kB used"));
}

TEST_F(CapManagerTest, ShareBudgetSlotIsGrantedLikeAPathsAndClearedWhenUnused) {
  map_.entries[MB_RELAY_BUDGET] = {.remaining_bytes = 5, .limit_bytes = 7, .policy = MB_CAP_STOP};
  { CapManager m = Start(Plan(1000), kJan10); }
  EXPECT_EQ(map_.entries[MB_RELAY_BUDGET].limit_bytes, 0u)
      << "a stale share budget is cleared when no share cap is configured";
  CapManager m = Start(Plan(2000, "one_off"), kJan10, MB_RELAY_BUDGET);
  EXPECT_EQ(map_.entries[MB_RELAY_BUDGET].limit_bytes, 2000u);
  EXPECT_EQ(map_.entries[MB_RELAY_BUDGET].remaining_bytes, 2000);
  EXPECT_EQ(map_.entries[1].limit_bytes, 0u);
}

TEST_F(CapManagerTest, ChargesBecomeUsageAndEachWarningLevelIsReportedOnce) {
  CapManager m = Start(Plan(1000), kJan10);
  map_.Charge(1, 500);
  EXPECT_TRUE(m.Poll(kJan10 + absl::Seconds(1)).empty());
  EXPECT_EQ(m.Statuses()[0].usage.used_bytes, 500u);
  map_.Charge(1, 310);
  std::string notices = Texts(m.Poll(kJan10 + absl::Seconds(2)));
  EXPECT_THAT(notices, HasSubstr("81% of its data cap used"));
  EXPECT_TRUE(m.Poll(kJan10 + absl::Seconds(3)).empty()) << "not again";
  map_.Charge(1, 200);  // 1010: past 95% and past the limit (the last packet overshot)
  notices = Texts(m.Poll(kJan10 + absl::Seconds(4)));
  EXPECT_THAT(notices, HasSubstr("warning at 95%"));
  EXPECT_THAT(notices, HasSubstr("exhausted; no longer used until 2025-02-01"));
  EXPECT_TRUE(m.Statuses()[0].exhausted);
  EXPECT_EQ(m.Statuses()[0].usage.used_bytes, 1010u) << "the overshoot is counted, not hidden";
  EXPECT_TRUE(m.Poll(kJan10 + absl::Seconds(5)).empty());
  // Events were saved at once.
  absl::StatusOr<std::optional<CapUsage>> stored = store_->LoadCapUsage("wan2");
  ASSERT_TRUE(stored.ok() && stored->has_value());
  EXPECT_EQ((*stored)->used_bytes, 1010u);
  EXPECT_EQ((*stored)->warnings_issued, 2u);
}

TEST_F(CapManagerTest, UsageSurvivesARestartAndIsNotReportedAgain) {
  {
    CapManager m = Start(Plan(1000), kJan10);
    map_.Charge(1, 850);
    m.Poll(kJan10 + absl::Seconds(1));
    map_.Charge(1, 20);  // counted only at the final save
    m.Poll(kJan10 + absl::Seconds(2));
    ASSERT_TRUE(m.Save().ok());
  }
  map_ = FakeBudgetMap{};  // a reboot: the pinned maps are gone
  CapManager m = Start(Plan(1000), kJan10 + absl::Hours(1));
  EXPECT_EQ(m.Statuses()[0].usage.used_bytes, 870u);
  EXPECT_EQ(map_.entries[1].remaining_bytes, 130);
  EXPECT_TRUE(m.Poll(kJan10 + absl::Hours(1) + absl::Seconds(1)).empty())
      << "the 80% warning was issued before the restart";
}

TEST_F(CapManagerTest, AfterACrashTheMapsNewerCountWins) {
  {
    CapManager m = Start(Plan(1000), kJan10);
    map_.Charge(1, 100);
    m.Poll(kJan10 + absl::Seconds(1));
    ASSERT_TRUE(m.Save().ok());
    map_.Charge(1, 400);  // counted by the data path, never saved: the agent died
  }
  CapManager m = Start(Plan(1000), kJan10 + absl::Seconds(30));
  EXPECT_EQ(m.Statuses()[0].usage.used_bytes, 500u);
  EXPECT_EQ(map_.entries[1].remaining_bytes, 500);
}

TEST_F(CapManagerTest, ExhaustedUsageStaysExhaustedAcrossARestart) {
  {
    CapManager m = Start(Plan(1000), kJan10);
    map_.Charge(1, 1040);
    m.Poll(kJan10 + absl::Seconds(1));
  }
  map_ = FakeBudgetMap{};
  CapManager m = Start(Plan(1000), kJan10 + absl::Minutes(5));
  EXPECT_TRUE(m.Statuses()[0].exhausted);
  EXPECT_EQ(map_.entries[1].remaining_bytes, -40) << "still spent in the data path";
  EXPECT_THAT(start_notices_, HasSubstr("exhausted: no longer used"));
}

TEST_F(CapManagerTest, ANewPeriodGrantsAFreshBudget) {
  CapManager m = Start(Plan(1000, "daily"), kJan10);
  map_.Charge(1, 1000);
  m.Poll(kJan10 + absl::Seconds(1));
  ASSERT_TRUE(m.Statuses()[0].exhausted);
  const std::string notices = Texts(m.Poll(kJan10 + absl::Hours(12)));  // past midnight UTC
  EXPECT_THAT(notices, HasSubstr("new daily data cap period"));
  EXPECT_FALSE(m.Statuses()[0].exhausted);
  EXPECT_EQ(map_.entries[1].remaining_bytes, 1000);
  EXPECT_EQ(m.Statuses()[0].usage.used_bytes, 0u);
}

TEST_F(CapManagerTest, WithoutAHistoryStoreThePinnedMapsCountGoesOn) {
  map_.entries[1] = {.remaining_bytes = 700, .limit_bytes = 1000, .policy = MB_CAP_STOP};
  std::vector<CapNotice> notices;
  absl::StatusOr<CapManager> m =
      CapManager::Start({{1, "wan2", Plan(1000)}}, nullptr, &map_, kJan10, &notices);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->Statuses()[0].usage.used_bytes, 300u);
  EXPECT_EQ(map_.entries[1].remaining_bytes, 700);
  EXPECT_THAT(Texts(notices), HasSubstr("no history store could be opened"));
  map_.Charge(1, 100);
  EXPECT_THAT(Texts(m->Poll(kJan10 + absl::Seconds(11))), Not(HasSubstr("history store")))
      << "said once";
  EXPECT_EQ(m->Statuses()[0].usage.used_bytes, 400u);
}

TEST_F(CapManagerTest, WallClockJumpsResetUsageAtMostOnce) {
  CapManager m = Start(Plan(1000, "monthly"), kJan10);
  map_.Charge(1, 300);
  m.Poll(kJan10 + absl::Seconds(1));
  // Back to 1970 (no real-time clock) and back again: the month goes on.
  const absl::Time kEpoch = absl::FromUnixSeconds(10);
  EXPECT_THAT(Texts(m.Poll(kEpoch)), Not(HasSubstr("new monthly")));
  map_.Charge(1, 100);
  m.Poll(kEpoch + absl::Seconds(1));
  EXPECT_EQ(m.Statuses()[0].usage.used_bytes, 400u) << "still counting while the clock is wrong";
  EXPECT_EQ(map_.entries[1].remaining_bytes, 600);
  m.Poll(kJan10 + absl::Seconds(2));
  EXPECT_EQ(m.Statuses()[0].usage.used_bytes, 400u);

  // Forward by two months (a wrong NTP answer), then back: one new period.
  const absl::Time kMarch = kJan10 + absl::Hours(24 * 60);
  EXPECT_THAT(Texts(m.Poll(kMarch)), HasSubstr("new monthly data cap period"));
  map_.Charge(1, 50);
  EXPECT_THAT(Texts(m.Poll(kJan10 + absl::Seconds(3))), Not(HasSubstr("new monthly")));
  EXPECT_EQ(m.Statuses()[0].usage.used_bytes, 50u) << "the new period counts on";
}

TEST_F(CapManagerTest, OneOffCapsNeverStartOverByThemselves) {
  CapManager m = Start(Plan(1000, "one_off"), kJan10);
  map_.Charge(1, 1000);
  m.Poll(kJan10 + absl::Hours(24 * 400));
  EXPECT_TRUE(m.Statuses()[0].exhausted);
}

TEST_F(CapManagerTest, ResetStartsTheBudgetOver) {
  CapManager m = Start(Plan(1000), kJan10);
  map_.Charge(1, 1200);
  m.Poll(kJan10 + absl::Seconds(1));
  std::vector<CapNotice> notices;
  ASSERT_TRUE(m.Reset("wan2", kJan10 + absl::Seconds(2), &notices).ok());
  EXPECT_EQ(map_.entries[1].remaining_bytes, 1000);
  EXPECT_FALSE(m.Statuses()[0].exhausted);
  EXPECT_EQ((*store_->LoadCapUsage("wan2"))->used_bytes, 0u);
  absl::Status unknown = m.Reset("wan9", kJan10, &notices);
  EXPECT_EQ(unknown.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(unknown.message()), HasSubstr("\"wan9\" has no data cap"));
}

TEST_F(CapManagerTest, StatusJsonAndTable) {
  CapManager m = Start(Plan(2'000'000), kJan10);
  map_.Charge(1, 500'000);
  m.Poll(kJan10 + absl::Seconds(1));
  const nlohmann::json j = ToJson(CapStatusReply(m.Statuses()));
  const nlohmann::json& c = j.at("caps").at(0);
  EXPECT_EQ(c.at("used_bytes"), 500000u);
  EXPECT_EQ(c.at("remaining_bytes"), 1500000u);
  EXPECT_DOUBLE_EQ(c.at("used_percent").get<double>(), 25);
  EXPECT_EQ(c.at("resets_at"), "2025-02-01T00:00:00+00:00");
  EXPECT_EQ(c.at("when_exhausted"), "stop");
  // Today's document reads back as the typed reply and is written unchanged.
  absl::StatusOr<CapReply> reply = FromJson<CapReply>(j, "cap");
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_EQ(ToJson(*reply).dump(), j.dump());
  const std::string table = CapStatusTable(*reply);
  EXPECT_THAT(table, HasSubstr("wan2"));
  EXPECT_THAT(table, HasSubstr("500.00 kB"));
  EXPECT_THAT(table, HasSubstr("25.0%"));
}

}  // namespace
}  // namespace meshbpf
