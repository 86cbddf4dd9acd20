#include "agent/daemon/cap_manager.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace meshbpf {
namespace {

std::string Percent(double fraction) { return absl::StrFormat("%.4g%%", fraction * 100); }

std::string TimeText(absl::Time t, const absl::TimeZone& zone) {
  if (t == absl::InfiniteFuture()) return "never";
  if (t == absl::InfinitePast()) return "always";
  return absl::FormatTime("%Y-%m-%d %H:%M:%S %Z", t, zone);
}

CapPeriod PeriodOf(const CapPlan& plan, const CapUsage& usage) {
  if (plan.period == CapPeriodKind::kOneOff) return {usage.period_start, absl::InfiniteFuture()};
  return CapPeriodAt(plan, usage.period_start);
}

std::string PolicyEffect(CapExhaustedPolicy policy) {
  return policy == CapExhaustedPolicy::kStop ? "no longer used"
                                             : "used only when no other path can carry traffic";
}

}  // namespace

absl::StatusOr<CapManager> CapManager::Start(std::vector<CappedUplink> uplinks,
                                             HistoryStore* store, const BudgetMap* map,
                                             absl::Time now, std::vector<CapNotice>* notices) {
  std::vector<Tracked> tracked;
  for (CappedUplink& u : uplinks) {
    std::optional<CapUsage> stored;
    bool store_read = store != nullptr;
    if (store) {
      absl::StatusOr<std::optional<CapUsage>> loaded = store->LoadCapUsage(u.name);
      if (loaded.ok()) {
        stored = *loaded;
      } else {
        store_read = false;
        notices->push_back({CapNotice::Level::kError,
                            absl::StrCat(loaded.status().message(),
                                         ": counting on from the pinned map")});
      }
    }
    const CapUsage usage = CurrentCapUsage(u.plan, stored, now);
    Tracked t{std::move(u), usage};
    // Without a stored record to go by, the pinned map's count is the best
    // one left (it may include a period that ended while the agent was down).
    const bool same_period =
        stored ? stored->period_start == t.usage.period_start : !store_read;
    absl::StatusOr<mb_budget> left = map->Read(t.uplink.path_id);
    if (!left.ok()) return left.status();
    if (same_period && left->limit_bytes == t.uplink.plan.limit_bytes) {
      const int64_t charged = static_cast<int64_t>(left->limit_bytes) - left->remaining_bytes;
      if (charged > 0 && static_cast<uint64_t>(charged) > t.usage.used_bytes) {
        t.usage.used_bytes = static_cast<uint64_t>(charged);
      }
    }
    t.exhausted = CapExhausted(t.uplink.plan, t.usage);
    const CapPeriod period = PeriodOf(t.uplink.plan, t.usage);
    notices->push_back(
        {t.exhausted ? CapNotice::Level::kWarning : CapNotice::Level::kInfo,
         absl::StrFormat("path %s: data cap %s of %s used (%s) in the %s period since %s%s",
                         t.uplink.name, CapBytes(t.usage.used_bytes),
                         CapBytes(t.uplink.plan.limit_bytes),
                         Percent(CapUsedFraction(t.uplink.plan, t.usage)),
                         CapPeriodKindName(t.uplink.plan.period),
                         TimeText(period.start, t.uplink.plan.zone),
                         t.exhausted ? absl::StrCat("; exhausted: ",
                                                    PolicyEffect(t.uplink.plan.when_exhausted))
                                     : "")});
    tracked.push_back(std::move(t));
  }
  CapManager manager(std::move(tracked), store, map, now);
  // Every budget slot: the paths' and the share budget of relaying.
  for (uint32_t id = 0; id < MB_BUDGET_SLOTS; ++id) {
    if (absl::Status s = map->Write(id, mb_budget{}); !s.ok()) return s;  // uncapped
  }
  for (const Tracked& t : manager.uplinks_) {
    if (absl::Status s = manager.Grant(t); !s.ok()) return s;
  }
  // The usage may have come from the map or started a new period.
  manager.SaveAndNotice(notices);
  return manager;
}

absl::Status CapManager::Grant(const Tracked& t) const {
  mb_budget budget{};
  budget.limit_bytes = t.uplink.plan.limit_bytes;
  budget.remaining_bytes =
      static_cast<int64_t>(t.uplink.plan.limit_bytes) - static_cast<int64_t>(t.usage.used_bytes);
  budget.policy = t.uplink.plan.when_exhausted == CapExhaustedPolicy::kLastResortBackup
                      ? MB_CAP_LAST_RESORT
                      : MB_CAP_STOP;
  return map_->Write(t.uplink.path_id, budget);
}

void CapManager::Report(Tracked& t, std::vector<CapNotice>* notices) {
  const CapPlan& plan = t.uplink.plan;
  for (double level : TakeCapWarnings(plan, &t.usage)) {
    notices->push_back(
        {CapNotice::Level::kWarning,
         absl::StrFormat("path %s: %s of its data cap used (%s of %s, warning at %s)",
                         t.uplink.name, Percent(CapUsedFraction(plan, t.usage)),
                         CapBytes(t.usage.used_bytes), CapBytes(plan.limit_bytes),
                         Percent(level))});
    unsaved_ = true;
  }
  const bool exhausted = CapExhausted(plan, t.usage);
  if (exhausted && !t.exhausted) {
    notices->push_back({CapNotice::Level::kWarning,
                        absl::StrFormat("path %s: data cap of %s exhausted; %s until %s",
                                        t.uplink.name, CapBytes(plan.limit_bytes),
                                        PolicyEffect(plan.when_exhausted),
                                        TimeText(PeriodOf(plan, t.usage).end, plan.zone))});
    unsaved_ = true;
  }
  t.exhausted = exhausted;
}

std::vector<CapNotice> CapManager::Poll(absl::Time now) {
  std::vector<CapNotice> notices;
  bool event = false;
  for (Tracked& t : uplinks_) {
    const CapPlan& plan = t.uplink.plan;
    if (CapPeriodOver(plan, t.usage, now)) {
      t.usage = FreshCapUsage(plan, now);
      t.exhausted = false;
      event = true;
      notices.push_back({CapNotice::Level::kInfo,
                         absl::StrFormat("path %s: new %s data cap period, %s available",
                                         t.uplink.name, CapPeriodKindName(plan.period),
                                         CapBytes(plan.limit_bytes))});
      if (absl::Status s = Grant(t); !s.ok()) {
        notices.push_back({CapNotice::Level::kError, std::string(s.message())});
      }
      continue;
    }
    absl::StatusOr<mb_budget> left = map_->Read(t.uplink.path_id);
    if (!left.ok()) {
      notices.push_back({CapNotice::Level::kError, std::string(left.status().message())});
      continue;
    }
    // The data path only ever subtracts, so this only grows while the
    // budget is ours; anything else means the entry was rewritten behind us.
    const int64_t charged = static_cast<int64_t>(left->limit_bytes) - left->remaining_bytes;
    if (left->limit_bytes != plan.limit_bytes || charged < 0 ||
        static_cast<uint64_t>(charged) < t.usage.used_bytes) {
      continue;
    }
    if (static_cast<uint64_t>(charged) > t.usage.used_bytes) {
      t.usage.used_bytes = static_cast<uint64_t>(charged);
      unsaved_ = true;
    }
    const size_t before = notices.size();
    Report(t, &notices);
    event |= notices.size() > before;
  }
  if (event || (unsaved_ && now - last_save_ >= kSaveInterval)) {
    SaveAndNotice(&notices);
    last_save_ = now;
  }
  return notices;
}

void CapManager::SaveAndNotice(std::vector<CapNotice>* notices) {
  if (std::optional<FailureStreak::Line> line = saving_.Report(Save())) {
    notices->push_back(
        {line->error ? CapNotice::Level::kError : CapNotice::Level::kInfo, line->text});
  }
}

absl::Status CapManager::Reset(const std::string& name, absl::Time now,
                               std::vector<CapNotice>* notices) {
  auto it = std::find_if(uplinks_.begin(), uplinks_.end(),
                         [&](const Tracked& t) { return t.uplink.name == name; });
  if (it == uplinks_.end()) {
    return absl::NotFoundError(absl::StrCat("path \"", name, "\" has no data cap"));
  }
  it->usage = FreshCapUsage(it->uplink.plan, now);
  it->exhausted = false;
  if (absl::Status s = Grant(*it); !s.ok()) return s;
  notices->push_back({CapNotice::Level::kInfo,
                      absl::StrFormat("path %s: data cap reset by hand, %s available", name,
                                      CapBytes(it->uplink.plan.limit_bytes))});
  unsaved_ = true;
  return Save();
}

absl::Status CapManager::Save() {
  if (!store_) {
    unsaved_ = true;
    return absl::FailedPreconditionError("no history store could be opened");
  }
  for (const Tracked& t : uplinks_) {
    if (absl::Status s = store_->SaveCapUsage(t.uplink.name, t.usage); !s.ok()) {
      unsaved_ = true;  // Poll tries again
      return s;
    }
  }
  unsaved_ = false;
  return absl::OkStatus();
}

std::vector<CapStatus> CapManager::Statuses() const {
  std::vector<CapStatus> out;
  for (const Tracked& t : uplinks_) {
    out.push_back({t.uplink.name, t.uplink.path_id, t.uplink.plan, t.usage,
                   PeriodOf(t.uplink.plan, t.usage), CapExhausted(t.uplink.plan, t.usage)});
  }
  return out;
}

CapReply CapStatusReply(const std::vector<CapStatus>& caps) {
  auto rfc3339 = [](absl::Time t) -> std::optional<std::string> {
    if (t == absl::InfiniteFuture() || t == absl::InfinitePast()) return std::nullopt;
    return absl::FormatTime(absl::RFC3339_sec, t, absl::UTCTimeZone());
  };
  CapReply reply;
  for (const CapStatus& c : caps) {
    CapEntry& e = reply.caps.emplace_back();
    e.path = c.name;
    e.path_id = c.path_id;
    e.limit_bytes = c.plan.limit_bytes;
    e.used_bytes = c.usage.used_bytes;
    e.remaining_bytes = CapRemainingBytes(c.plan, c.usage);
    e.used_percent = CapUsedFraction(c.plan, c.usage) * 100;
    e.period = CapPeriodKindName(c.plan.period);
    e.period_start = rfc3339(c.period.start);
    e.resets_at = rfc3339(c.period.end);
    e.when_exhausted = CapExhaustedPolicyName(c.plan.when_exhausted);
    e.exhausted = c.exhausted;
    for (double level : c.plan.warn_at) e.warn_at_percent.push_back(level * 100);
    e.warnings_issued = c.usage.warnings_issued;
  }
  return reply;
}

}  // namespace meshbpf
