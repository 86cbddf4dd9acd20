#include "agent/core/data_cap.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <initializer_list>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"

namespace meshbpf {
namespace {

using testing::HasSubstr;

absl::Time Utc(const char* rfc3339) {
  absl::Time t;
  std::string error;
  EXPECT_TRUE(absl::ParseTime(absl::RFC3339_full, rfc3339, &t, &error)) << rfc3339 << ": " << error;
  return t;
}

std::string Show(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

CapPlan Plan(const char* period, const char* zone, int reset_day = 0) {
  CapSettings s;
  s.limit_bytes = 1000;
  s.period = period;
  s.timezone = zone;
  s.reset_day = reset_day;
  absl::StatusOr<CapPlan> plan = MakeCapPlan(s);
  EXPECT_TRUE(plan.ok()) << plan.status();
  return plan.value_or(CapPlan{});
}

// What a test assumes of a zone: its UTC offset at an instant.
struct ZoneOffset {
  const char* zone;
  const char* instant;
  int offset_minutes;
};

// Why this system's time zone database cannot run a test that assumes
// `offsets` (the zone is missing, as in minimal containers, or its rules are
// older than the ones the test checks); nullopt when it can.
std::optional<std::string> MissingZoneRules(std::initializer_list<ZoneOffset> offsets) {
  for (const ZoneOffset& o : offsets) {
    absl::TimeZone zone;
    if (!absl::LoadTimeZone(o.zone, &zone)) {
      return absl::StrCat("time zone ", o.zone, " is not in this system's tzdata");
    }
    const absl::Time t = Utc(o.instant);
    if (zone.At(t).offset != o.offset_minutes * 60) {
      return absl::StrCat("this system's tzdata gives ", o.zone, " another UTC offset at ",
                          o.instant, " than the current rules (", o.offset_minutes, " min)");
    }
  }
  return std::nullopt;
}

// Skips the test, saying why, when the zone rules it assumes are not here.
#define SKIP_WITHOUT_ZONE_RULES(...)                                          \
  if (std::optional<std::string> why = MissingZoneRules({__VA_ARGS__})) { \
    GTEST_SKIP() << *why;                                                 \
  }

// "start .. end" in UTC, so a failure shows both ends.
std::string PeriodAt(const CapPlan& plan, const char* t) {
  CapPeriod p = CapPeriodAt(plan, Utc(t));
  return Show(p.start) + " .. " + Show(p.end);
}

TEST(CapPeriodAt, DailyStartsAtLocalMidnight) {
  SKIP_WITHOUT_ZONE_RULES({"America/New_York", "2024-05-10T01:30:00Z", -4 * 60});
  EXPECT_EQ(PeriodAt(Plan("daily", "UTC"), "2024-05-10T13:00:00Z"),
            "2024-05-10T00:00:00Z .. 2024-05-11T00:00:00Z");
  // 01:30 UTC is still the 9th in New York (EDT, UTC-4).
  EXPECT_EQ(PeriodAt(Plan("daily", "America/New_York"), "2024-05-10T01:30:00Z"),
            "2024-05-09T04:00:00Z .. 2024-05-10T04:00:00Z");
}

TEST(CapPeriodAt, DailyAcrossDstChangesLasts23Or25Hours) {
  SKIP_WITHOUT_ZONE_RULES({"Europe/Berlin", "2024-03-31T00:59:59Z", 60},
                          {"Europe/Berlin", "2024-03-31T01:00:00Z", 120},
                          {"Europe/Berlin", "2024-10-27T00:59:59Z", 120},
                          {"Europe/Berlin", "2024-10-27T01:00:00Z", 60});
  const CapPlan berlin = Plan("daily", "Europe/Berlin");
  CapPeriod spring = CapPeriodAt(berlin, Utc("2024-03-31T12:00:00Z"));
  EXPECT_EQ(Show(spring.start), "2024-03-30T23:00:00Z");
  EXPECT_EQ(spring.end - spring.start, absl::Hours(23));
  CapPeriod autumn = CapPeriodAt(berlin, Utc("2024-10-27T12:00:00Z"));
  EXPECT_EQ(Show(autumn.start), "2024-10-26T22:00:00Z");
  EXPECT_EQ(autumn.end - autumn.start, absl::Hours(25));
}

TEST(CapPeriodAt, DayWhoseMidnightIsSkippedStartsAtTheJump) {
  // Chile has moved this date several times; tzdata 2022b has the rule used here.
  SKIP_WITHOUT_ZONE_RULES({"America/Santiago", "2024-09-08T03:59:59Z", -4 * 60},
                          {"America/Santiago", "2024-09-08T04:00:00Z", -3 * 60},
                          {"America/Santiago", "2024-09-09T03:00:00Z", -3 * 60});
  // Chile starts DST at 00:00 local on 2024-09-08: clocks jump to 01:00 (-03).
  CapPeriod p = CapPeriodAt(Plan("daily", "America/Santiago"), Utc("2024-09-08T15:00:00Z"));
  EXPECT_EQ(Show(p.start), "2024-09-08T04:00:00Z");
  EXPECT_EQ(Show(p.end), "2024-09-09T03:00:00Z");
  EXPECT_EQ(CapPeriodAt(Plan("daily", "America/Santiago"), Utc("2024-09-08T03:59:59Z")).end,
            p.start)
      << "the day before ends where this one starts: no gap, no overlap";
}

TEST(CapPeriodAt, MonthlyAcrossTheYearEnd) {
  const CapPlan plan = Plan("monthly", "UTC", 1);
  EXPECT_EQ(PeriodAt(plan, "2024-12-31T23:59:59Z"), "2024-12-01T00:00:00Z .. 2025-01-01T00:00:00Z");
  EXPECT_EQ(PeriodAt(plan, "2025-01-01T00:00:00Z"), "2025-01-01T00:00:00Z .. 2025-02-01T00:00:00Z");
  EXPECT_EQ(PeriodAt(Plan("monthly", "UTC", 15), "2025-01-10T08:00:00Z"),
            "2024-12-15T00:00:00Z .. 2025-01-15T00:00:00Z");
}

TEST(CapPeriodAt, ResetDayPastAMonthsEndClampsToItsLastDay) {
  const CapPlan plan = Plan("monthly", "UTC", 31);
  EXPECT_EQ(PeriodAt(plan, "2024-02-15T00:00:00Z"), "2024-01-31T00:00:00Z .. 2024-02-29T00:00:00Z");
  EXPECT_EQ(PeriodAt(plan, "2024-02-29T10:00:00Z"), "2024-02-29T00:00:00Z .. 2024-03-31T00:00:00Z");
  EXPECT_EQ(PeriodAt(plan, "2024-04-30T10:00:00Z"), "2024-04-30T00:00:00Z .. 2024-05-31T00:00:00Z");
  EXPECT_EQ(PeriodAt(plan, "2023-03-01T00:00:00Z"), "2023-02-28T00:00:00Z .. 2023-03-31T00:00:00Z");
  EXPECT_EQ(PeriodAt(Plan("monthly", "UTC", 30), "2023-03-29T00:00:00Z"),
            "2023-02-28T00:00:00Z .. 2023-03-30T00:00:00Z");
}

TEST(CapPeriodAt, TheSameInstantFallsInDifferentMonthsByTimeZone) {
  SKIP_WITHOUT_ZONE_RULES({"Asia/Tokyo", "2024-01-31T23:30:00Z", 9 * 60});
  const char* instant = "2024-01-31T23:30:00Z";  // already 1 February in Tokyo
  EXPECT_EQ(PeriodAt(Plan("monthly", "UTC", 1), instant),
            "2024-01-01T00:00:00Z .. 2024-02-01T00:00:00Z");
  EXPECT_EQ(PeriodAt(Plan("monthly", "Asia/Tokyo", 1), instant),
            "2024-01-31T15:00:00Z .. 2024-02-29T15:00:00Z");
}

TEST(CapPeriodAt, MonthlyAcrossDstIsAnHourShort) {
  SKIP_WITHOUT_ZONE_RULES({"Europe/Berlin", "2024-02-29T23:00:00Z", 60},
                          {"Europe/Berlin", "2024-03-31T22:00:00Z", 120});
  EXPECT_EQ(PeriodAt(Plan("monthly", "Europe/Berlin", 1), "2024-03-15T00:00:00Z"),
            "2024-02-29T23:00:00Z .. 2024-03-31T22:00:00Z");
}

TEST(CapPeriodAt, OneOffNeverEnds) {
  CapPeriod p = CapPeriodAt(Plan("one_off", "UTC"), Utc("2024-03-15T00:00:00Z"));
  EXPECT_EQ(p.start, absl::InfinitePast());
  EXPECT_EQ(p.end, absl::InfiniteFuture());
}

TEST(CurrentCapUsage, KeepsUsageOfTheCurrentPeriodAndResetsAnOlderOne) {
  SKIP_WITHOUT_ZONE_RULES({"Europe/Berlin", "2024-02-29T23:00:00Z", 60},
                          {"Europe/Berlin", "2024-03-31T22:00:00Z", 120});
  const CapPlan plan = Plan("monthly", "Europe/Berlin", 1);
  CapUsage stored = FreshCapUsage(plan, Utc("2024-03-15T00:00:00Z"));
  EXPECT_EQ(Show(stored.period_start), "2024-02-29T23:00:00Z");
  stored.used_bytes = 700;
  stored.warnings_issued = 1;

  CapUsage same = CurrentCapUsage(plan, stored, Utc("2024-03-31T21:59:59Z"));
  EXPECT_EQ(same.used_bytes, 700u);
  EXPECT_EQ(same.warnings_issued, 1u);

  // Local midnight of 1 April (CEST): a new period.
  CapUsage next = CurrentCapUsage(plan, stored, Utc("2024-03-31T22:00:00Z"));
  EXPECT_EQ(next.used_bytes, 0u);
  EXPECT_EQ(next.warnings_issued, 0u);
  EXPECT_EQ(Show(next.period_start), "2024-03-31T22:00:00Z");

  EXPECT_EQ(CurrentCapUsage(plan, std::nullopt, Utc("2024-03-15T00:00:00Z")).used_bytes, 0u);
}

TEST(CurrentCapUsage, AClockThatWentBackKeepsTheUsage) {
  const CapPlan plan = Plan("monthly", "UTC");
  CapUsage stored = FreshCapUsage(plan, Utc("2025-01-10T12:00:00Z"));
  stored.used_bytes = 700;
  // A board without a real-time clock boots at 1970; NTP steps back a day.
  for (const char* now : {"1970-01-01T00:00:10Z", "2024-12-31T23:00:00Z"}) {
    EXPECT_FALSE(CapPeriodOver(plan, stored, Utc(now))) << now;
    EXPECT_EQ(CurrentCapUsage(plan, stored, Utc(now)).used_bytes, 700u) << now;
  }
  EXPECT_TRUE(CapPeriodOver(plan, stored, Utc("2025-02-01T00:00:00Z")));
}

TEST(CurrentCapUsage, OneOffUsageSurvivesAnyTime) {
  const CapPlan plan = Plan("one_off", "UTC");
  CapUsage stored = FreshCapUsage(plan, Utc("2020-01-01T00:00:00Z"));
  EXPECT_EQ(Show(stored.period_start), "2020-01-01T00:00:00Z");
  stored.used_bytes = 999;
  EXPECT_EQ(CurrentCapUsage(plan, stored, Utc("2030-06-01T00:00:00Z")).used_bytes, 999u);
}

TEST(TakeCapWarnings, EachLevelOncePerPeriod) {
  CapPlan plan = Plan("daily", "UTC");
  ASSERT_EQ(plan.warn_at, (std::vector<double>{0.8, 0.95}));
  CapUsage usage = FreshCapUsage(plan, Utc("2024-03-15T00:00:00Z"));
  usage.used_bytes = 799;
  EXPECT_TRUE(TakeCapWarnings(plan, &usage).empty());
  usage.used_bytes = 800;
  EXPECT_EQ(TakeCapWarnings(plan, &usage), std::vector<double>{0.8});
  EXPECT_TRUE(TakeCapWarnings(plan, &usage).empty()) << "already reported";
  usage.used_bytes = 2000;
  EXPECT_EQ(TakeCapWarnings(plan, &usage), std::vector<double>{0.95});

  CapUsage next_day = CurrentCapUsage(plan, usage, Utc("2024-03-16T00:00:00Z"));
  next_day.used_bytes = 1000;
  EXPECT_EQ(TakeCapWarnings(plan, &next_day), (std::vector<double>{0.8, 0.95}))
      << "a new period warns again, every level crossed at once";
}

TEST(CapUsage, FractionExhaustionAndRemainingBudget) {
  const CapPlan plan = Plan("daily", "UTC");
  CapUsage usage;
  usage.used_bytes = 250;
  EXPECT_DOUBLE_EQ(CapUsedFraction(plan, usage), 0.25);
  EXPECT_FALSE(CapExhausted(plan, usage));
  EXPECT_EQ(CapRemainingBytes(plan, usage), 750u);
  usage.used_bytes = 1500;  // the kernel may overshoot by the packets in flight
  EXPECT_TRUE(CapExhausted(plan, usage));
  EXPECT_EQ(CapRemainingBytes(plan, usage), 0u);
  EXPECT_DOUBLE_EQ(CapUsedFraction(plan, usage), 1.5);
}

TEST(MakeCapPlan, AcceptsDefaultsAndNames) {
  CapSettings s;
  s.limit_bytes = 5;
  s.period = "monthly";
  s.when_exhausted = "last_resort_backup";
  absl::StatusOr<CapPlan> plan = MakeCapPlan(s);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(plan->reset_day, 1);
  EXPECT_EQ(plan->when_exhausted, CapExhaustedPolicy::kLastResortBackup);
  EXPECT_EQ(CapExhaustedPolicyName(plan->when_exhausted), "last_resort_backup");
  EXPECT_EQ(CapPeriodKindName(CapPeriodKind::kOneOff), "one_off");
}

TEST(MakeCapPlan, RejectsBadSettingsNamingTheField) {
  struct Case {
    const char* what;
    void (*edit)(CapSettings&);
    const char* error;
  };
  const Case cases[] = {
      {"no limit", [](CapSettings& s) { s.limit_bytes = 0; }, "data_cap.limit_bytes"},
      {"weekly", [](CapSettings& s) { s.period = "weekly"; },
       "data_cap.period: \"weekly\" is not one of daily, monthly, one_off"},
      {"day 32", [](CapSettings& s) { s.reset_day = 32; }, "data_cap.reset_day: 32"},
      {"negative day", [](CapSettings& s) { s.reset_day = -1; }, "data_cap.reset_day: -1"},
      {"day on daily", [](CapSettings& s) { s.period = "daily", s.reset_day = 5; },
       "only monthly caps have a reset day"},
      {"zone", [](CapSettings& s) { s.timezone = "Mars/Olympus"; },
       "data_cap.timezone: \"Mars/Olympus\""},
      {"zero level", [](CapSettings& s) { s.warn_at_percent = {0}; }, "data_cap.warn_at_percent: 0"},
      {"level over 100", [](CapSettings& s) { s.warn_at_percent = {120}; },
       "data_cap.warn_at_percent: 120"},
      {"descending",
       [](CapSettings& s) {
         s.warn_at_percent = {95, 80};
       },
       "ascending"},
      {"policy", [](CapSettings& s) { s.when_exhausted = "slow_down"; },
       "data_cap.when_exhausted: \"slow_down\""},
  };
  for (const Case& c : cases) {
    CapSettings s;
    s.limit_bytes = 1000;
    s.timezone = "UTC";
    c.edit(s);
    absl::StatusOr<CapPlan> plan = MakeCapPlan(s);
    EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument) << c.what;
    EXPECT_THAT(std::string(plan.status().message()), HasSubstr(c.error)) << c.what;
  }
}

}  // namespace
}  // namespace meshbpf
