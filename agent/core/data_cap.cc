#include "agent/core/data_cap.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/civil_time.h"

namespace meshbpf {
namespace {

constexpr std::pair<std::string_view, CapPeriodKind> kPeriodNames[] = {
    {"daily", CapPeriodKind::kDaily},
    {"monthly", CapPeriodKind::kMonthly},
    {"one_off", CapPeriodKind::kOneOff},
};
constexpr std::pair<std::string_view, CapExhaustedPolicy> kPolicyNames[] = {
    {"stop", CapExhaustedPolicy::kStop},
    {"last_resort_backup", CapExhaustedPolicy::kLastResortBackup},
};

template <typename Enum, size_t N>
absl::StatusOr<Enum> ParseName(const std::pair<std::string_view, Enum> (&names)[N],
                               std::string_view field, const std::string& value) {
  std::vector<std::string> known;
  for (const auto& [name, e] : names) {
    if (name == value) return e;
    known.push_back(std::string(name));
  }
  return absl::InvalidArgumentError(absl::StrCat("data_cap.", std::string(field), ": \"", value,
                                                 "\" is not one of ", absl::StrJoin(known, ", ")));
}

template <typename Enum, size_t N>
std::string_view NameOf(const std::pair<std::string_view, Enum> (&names)[N], Enum e) {
  for (const auto& [name, value] : names) {
    if (value == e) return name;
  }
  return "unknown";
}

// The reset day in `month`, clamped to the month's last day (31 -> 30 in
// April, 28 or 29 in February).
absl::CivilDay ResetDayIn(absl::CivilMonth month, int reset_day) {
  const absl::CivilDay first(month);
  const int days_in_month = static_cast<int>(absl::CivilDay(month + 1) - first);
  return first + (std::min(reset_day, days_in_month) - 1);
}

absl::Time StartOfDay(absl::CivilDay day, const absl::TimeZone& zone) {
  const absl::TimeZone::TimeInfo info = zone.At(absl::CivilSecond(day));
  // A DST change at midnight (e.g. America/Santiago) skips 00:00: the day
  // starts at the jump. A repeated midnight starts at its first occurrence.
  return info.kind == absl::TimeZone::TimeInfo::SKIPPED ? info.trans : info.pre;
}

}  // namespace

std::string_view CapPeriodKindName(CapPeriodKind kind) { return NameOf(kPeriodNames, kind); }

std::string_view CapExhaustedPolicyName(CapExhaustedPolicy policy) {
  return NameOf(kPolicyNames, policy);
}

absl::StatusOr<CapPlan> MakeCapPlan(const CapSettings& settings) {
  CapPlan plan;
  if (settings.limit_bytes == 0) {
    return absl::InvalidArgumentError("data_cap.limit_bytes: must be more than 0");
  }
  plan.limit_bytes = settings.limit_bytes;

  absl::StatusOr<CapPeriodKind> period = ParseName(kPeriodNames, "period", settings.period);
  if (!period.ok()) return period.status();
  plan.period = *period;

  if (plan.period == CapPeriodKind::kMonthly) {
    if (settings.reset_day < 0 || settings.reset_day > 31) {
      return absl::InvalidArgumentError(absl::StrCat("data_cap.reset_day: ", settings.reset_day,
                                                     " is not a day of the month (1..31)"));
    }
    plan.reset_day = settings.reset_day == 0 ? cap_defaults::kCapResetDay : settings.reset_day;
  } else if (settings.reset_day != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("data_cap.reset_day: only monthly caps have a "
                     "reset day, this one is ",
                     settings.period));
  }

  if (!absl::LoadTimeZone(settings.timezone, &plan.zone)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "data_cap.timezone: \"", settings.timezone,
        "\" is not in the time zone database (e.g. \"Europe/Berlin\", \"UTC\", \"localtime\")"));
  }

  double previous = 0;
  for (double percent : settings.warn_at_percent) {
    if (!(percent > 0 && percent <= 100)) {  // also rejects NaN
      return absl::InvalidArgumentError(
          absl::StrCat("data_cap.warn_at_percent: ", percent, " is not a percentage in (0, 100]"));
    }
    if (percent <= previous) {
      return absl::InvalidArgumentError(absl::StrCat(
          "data_cap.warn_at_percent: levels must be ascending, ", percent, " follows ", previous));
    }
    previous = percent;
    plan.warn_at.push_back(percent / 100);
  }

  absl::StatusOr<CapExhaustedPolicy> policy =
      ParseName(kPolicyNames, "when_exhausted", settings.when_exhausted);
  if (!policy.ok()) return policy.status();
  plan.when_exhausted = *policy;
  return plan;
}

CapPeriod CapPeriodAt(const CapPlan& plan, absl::Time t) {
  const absl::CivilDay today = absl::ToCivilDay(t, plan.zone);
  switch (plan.period) {
    case CapPeriodKind::kDaily:
      return {StartOfDay(today, plan.zone), StartOfDay(today + 1, plan.zone)};
    case CapPeriodKind::kMonthly: {
      absl::CivilDay start = ResetDayIn(absl::CivilMonth(today), plan.reset_day);
      if (today < start) start = ResetDayIn(absl::CivilMonth(today) - 1, plan.reset_day);
      const absl::CivilDay end = ResetDayIn(absl::CivilMonth(start) + 1, plan.reset_day);
      return {StartOfDay(start, plan.zone), StartOfDay(end, plan.zone)};
    }
    case CapPeriodKind::kOneOff:
      break;
  }
  return {absl::InfinitePast(), absl::InfiniteFuture()};
}

CapUsage FreshCapUsage(const CapPlan& plan, absl::Time now) {
  CapUsage usage;
  usage.period_start = plan.period == CapPeriodKind::kOneOff ? now : CapPeriodAt(plan, now).start;
  return usage;
}

bool CapPeriodOver(const CapPlan& plan, const CapUsage& usage, absl::Time now) {
  return plan.period != CapPeriodKind::kOneOff &&
         CapPeriodAt(plan, now).start > usage.period_start;
}

CapUsage CurrentCapUsage(const CapPlan& plan, const std::optional<CapUsage>& stored,
                         absl::Time now) {
  if (stored && !CapPeriodOver(plan, *stored, now)) return *stored;
  return FreshCapUsage(plan, now);
}

double CapUsedFraction(const CapPlan& plan, const CapUsage& usage) {
  return static_cast<double>(usage.used_bytes) / static_cast<double>(plan.limit_bytes);
}

bool CapExhausted(const CapPlan& plan, const CapUsage& usage) {
  return usage.used_bytes >= plan.limit_bytes;
}

uint64_t CapRemainingBytes(const CapPlan& plan, const CapUsage& usage) {
  return CapExhausted(plan, usage) ? 0 : plan.limit_bytes - usage.used_bytes;
}

std::vector<double> TakeCapWarnings(const CapPlan& plan, CapUsage* usage) {
  std::vector<double> crossed;
  const double fraction = CapUsedFraction(plan, *usage);
  while (usage->warnings_issued < plan.warn_at.size() &&
         fraction >= plan.warn_at[usage->warnings_issued]) {
    crossed.push_back(plan.warn_at[usage->warnings_issued++]);
  }
  return crossed;
}

std::string CapBytes(uint64_t bytes) {
  constexpr const char* kUnits[] = {"B", "kB", "MB", "GB", "TB"};
  double v = static_cast<double>(bytes);
  size_t unit = 0;
  while (v >= 1000 && unit + 1 < std::size(kUnits)) {
    v /= 1000;
    ++unit;
  }
  return unit == 0 ? absl::StrCat(bytes, " B") : absl::StrFormat("%.2f %s", v, kUnits[unit]);
}

}  // namespace meshbpf
