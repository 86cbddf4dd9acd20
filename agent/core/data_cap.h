// Data caps: a byte budget per uplink and period, pure code, no I/O. The
// period math (when does the current period start and end, in the uplink
// owner's time zone), the usage kept across restarts (a record from an older
// period starts over), and the warnings to report once per period.
// The kernel counts usage (a budget map decremented per packet); the agent
// persists CapUsage in the history store (HistoryStore::SaveCapUsage).
#pragma once

#include <cstdint>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace meshbpf {

enum class CapPeriodKind {
  kDaily,    // resets at local midnight
  kMonthly,  // resets at local midnight of the reset day
  kOneOff,   // never resets by itself (`meshbpf cap reset` only)
};

// What happens to an uplink whose budget is spent.
enum class CapExhaustedPolicy {
  kStop,              // take the path out
  kLastResortBackup,  // use it only when no other path is usable
};

std::string_view CapPeriodKindName(CapPeriodKind kind);
std::string_view CapExhaustedPolicyName(CapExhaustedPolicy policy);
// "1.50 GB": caps are sold in decimal units.
std::string CapBytes(uint64_t bytes);

// Defaults of a data cap (interfaces.uplinks[].data_cap, node_discovery.share_cap),
// written once: the settings below start from them and the default config prints them.
namespace cap_defaults {
inline constexpr char kCapPeriod[] = "monthly";
inline constexpr int kCapResetDay = 1;  // monthly caps
inline constexpr char kCapTimezone[] = "localtime";
inline constexpr double kCapWarnAtPercent[] = {80, 95};
inline constexpr char kCapWhenExhausted[] = "stop";
}  // namespace cap_defaults

// A cap as written in the configuration, before validation.
struct CapSettings {
  uint64_t limit_bytes = 0;
  std::string period = cap_defaults::kCapPeriod;  // daily, monthly, one_off
  int reset_day = 0;  // monthly: 1..31 (0: the default); past a month's end, its last day
  std::string timezone = cap_defaults::kCapTimezone;  // TZ database name, e.g. "Europe/Berlin"
  std::vector<double> warn_at_percent{std::begin(cap_defaults::kCapWarnAtPercent),
                                      std::end(cap_defaults::kCapWarnAtPercent)};  // ascending, each in (0, 100]
  std::string when_exhausted = cap_defaults::kCapWhenExhausted;  // stop, last_resort_backup
};

// A validated cap.
struct CapPlan {
  uint64_t limit_bytes = 0;
  CapPeriodKind period = CapPeriodKind::kMonthly;
  int reset_day = cap_defaults::kCapResetDay;
  absl::TimeZone zone;
  std::vector<double> warn_at;  // fractions of limit_bytes, ascending
  CapExhaustedPolicy when_exhausted = CapExhaustedPolicy::kStop;
};

// Validates `settings`; errors name the data_cap field that is wrong.
absl::StatusOr<CapPlan> MakeCapPlan(const CapSettings& settings);

// [start, end). One-off caps have no period: [InfinitePast, InfiniteFuture).
struct CapPeriod {
  absl::Time start;
  absl::Time end;
};

// The period `t` falls in. Periods start at local midnight in plan.zone, so
// a day can last 23 or 25 hours across a DST change; where midnight itself
// is skipped, the day starts when the clocks jump.
CapPeriod CapPeriodAt(const CapPlan& plan, absl::Time t);

// Usage of one uplink's budget, as persisted across agent restarts.
struct CapUsage {
  absl::Time period_start;  // one-off: when counting (re)started
  uint64_t used_bytes = 0;
  size_t warnings_issued = 0;  // how many of plan.warn_at were reported this period
};

// Usage starting from zero at `now` (first use, or `meshbpf cap reset`).
CapUsage FreshCapUsage(const CapPlan& plan, absl::Time now);

// Whether the period of `usage` is over at `now`: `now` lies in a later
// period. Never for a wall clock that went back (a board without a real-time
// clock booting at 1970, NTP stepping back): that must not reset the usage.
// A clock that jumps forward ends the period once; the new period then
// starts where the clock jumped to, and going back from there ends nothing.
bool CapPeriodOver(const CapPlan& plan, const CapUsage& usage, absl::Time now);

// The usage to continue from at `now`: `stored` unless its period is over
// (CapPeriodOver; one-off caps: never), otherwise a fresh period.
CapUsage CurrentCapUsage(const CapPlan& plan, const std::optional<CapUsage>& stored,
                         absl::Time now);

double CapUsedFraction(const CapPlan& plan, const CapUsage& usage);
bool CapExhausted(const CapPlan& plan, const CapUsage& usage);
// What the kernel's budget map should hold: bytes left, 0 when spent.
uint64_t CapRemainingBytes(const CapPlan& plan, const CapUsage& usage);

// Warning levels (fractions) crossed since the last call, each reported once
// per period: marks them issued in `usage`.
std::vector<double> TakeCapWarnings(const CapPlan& plan, CapUsage* usage);

}  // namespace meshbpf
