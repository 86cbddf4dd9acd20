#include "agent/daemon/caps.h"

#include "absl/strings/str_cat.h"
#include "agent/daemon/mesh_node.h"
#include "agent/sys/log.h"

namespace meshbpf {
namespace {

void LogCapNotices(const std::vector<CapNotice>& notices) {
  for (const CapNotice& n : notices) {
    Log(n.level == CapNotice::Level::kInfo      ? LogLevel::kInfo
        : n.level == CapNotice::Level::kWarning ? LogLevel::kWarning
                                                : LogLevel::kError,
        n.text);
  }
}

}  // namespace

absl::StatusOr<std::unique_ptr<Caps>> Caps::Start(const NodeSettings& settings,
                                                  const std::string& pin_dir,
                                                  const std::string& instance,
                                                  HistoryStore* history) {
  std::vector<CappedUplink> capped;
  for (size_t i = 0; i < settings.paths.size(); ++i) {
    const PathSettings& p = settings.paths[i];
    if (p.data_cap) capped.push_back({static_cast<uint32_t>(i), p.name, *p.data_cap});
  }
  if (settings.discovery.share_cap && SharesUplinks(settings)) {
    capped.push_back({MB_RELAY_BUDGET, kShareCapName, *settings.discovery.share_cap});
  }
  absl::StatusOr<std::unique_ptr<PinnedBudgetMap>> map = PinnedBudgetMap::Open(pin_dir);
  if (!map.ok()) return map.status();
  std::unique_ptr<HistoryStore> own_store;
  if (!capped.empty() && history == nullptr) {
    const std::string file = settings.monitoring.history_file.empty()
                                 ? DefaultHistoryFile(instance)
                                 : settings.monitoring.history_file;
    absl::StatusOr<std::unique_ptr<HistoryStore>> opened = HistoryStore::OpenForAgent(file);
    if (opened.ok()) {
      own_store = std::move(*opened);
      history = own_store.get();
    } else {
      // A full or read-only disk must not stop the bond: the pinned map counts.
      Log(LogLevel::kError, absl::StrCat(opened.status().message(),
                                         ": data cap usage is kept in the pinned map only"));
    }
  }
  std::unique_ptr<Caps> caps(new Caps(std::move(*map), std::move(own_store)));
  std::vector<CapNotice> notices;
  absl::StatusOr<CapManager> manager =
      CapManager::Start(std::move(capped), history, caps->map_.get(), absl::Now(), &notices);
  if (!manager.ok()) return manager.status();
  caps->manager_ = std::move(*manager);
  LogCapNotices(notices);
  return caps;
}

void Caps::Poll(absl::Time now) { LogCapNotices(manager_->Poll(now)); }

absl::StatusOr<CapReply> Caps::Command(const CapRequest& request) {
  if (request.reset) {
    std::vector<CapNotice> notices;
    absl::Status s = manager_->Reset(*request.reset, absl::Now(), &notices);
    LogCapNotices(notices);
    if (!s.ok()) return s;
  }
  return CapStatusReply(manager_->Statuses());
}

std::vector<CapEntry> Caps::Entries() const { return CapStatusReply(manager_->Statuses()).caps; }

std::optional<uint64_t> Caps::Remaining(uint32_t path_id) const {
  for (const CapStatus& c : manager_->Statuses()) {
    if (c.path_id == path_id) return CapRemainingBytes(c.plan, c.usage);
  }
  return std::nullopt;
}

void Caps::AddTo(std::vector<PathView>& views) const {
  for (const CapStatus& c : manager_->Statuses()) {
    if (c.path_id < views.size()) {
      views[c.path_id].cap = CapMetrics{c.usage.used_bytes, c.plan.limit_bytes};
    }
  }
}

void Caps::Save() {
  if (absl::Status s = manager_->Save(); !s.ok()) Log(LogLevel::kError, std::string(s.message()));
}

}  // namespace meshbpf
