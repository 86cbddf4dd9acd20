#include "agent/policy.h"

#include <algorithm>
#include <cmath>

namespace meshbpf {
namespace {

// Offload stays useful on fast links; below this the 64 KB super-packets
// take long enough to serialise that per-packet scheduling needs MTU units.
constexpr double kOffloadMinRateMbit = 1000.0;

}  // namespace

uint32_t BondMtu(const NodeSettings& settings) {
  uint32_t smallest = 0;
  for (const PathSettings& p : settings.paths) {
    if (smallest == 0 || p.mtu < smallest) smallest = p.mtu;
  }
  if (smallest <= MB_ENCAP_OVERHEAD) return 0;
  return smallest - static_cast<uint32_t>(MB_ENCAP_OVERHEAD);
}

bool ShouldDisableOffloads(const NodeSettings& settings) {
  switch (settings.offload) {
    case OffloadSetting::kOn:
      return false;
    case OffloadSetting::kOff:
      return true;
    case OffloadSetting::kAuto:
      break;
  }
  return std::any_of(settings.paths.begin(), settings.paths.end(),
                     [](const PathSettings& p) { return p.rate_mbit < kOffloadMinRateMbit; });
}

PathTable BuildPathTable(const NodeSettings& settings) {
  PathTable table{};
  const size_t n = std::min<size_t>(settings.paths.size(), MB_MAX_PATHS);
  for (size_t i = 0; i < n; ++i) {
    const PathSettings& p = settings.paths[i];
    mb_path& out = table[i];
    out.ifindex = static_cast<uint32_t>(p.ifindex);
    out.src_ip = p.source.s_addr;
    out.dst_ip = p.remote.s_addr;
    out.gateway = p.gateway ? p.gateway->s_addr : 0;
    out.src_port = settings.port;
    out.dst_port = p.remote_port;
    out.mtu = p.mtu;
    out.rate_kbps = static_cast<uint32_t>(std::lround(std::max(p.rate_mbit * 1000.0, 1.0)));
    out.owd_us = static_cast<uint32_t>(std::lround(p.delay_ms * 1000.0));
    out.state = p.role == PathRole::kBonded ? MB_PATH_ACTIVE : MB_PATH_BACKUP;
  }
  // The data path falls back to the lowest-numbered BACKUP path, but backups
  // are ordered by interfaces.backups, not by path id: keep only the first
  // backup in BACKUP state so the fallback is the one the user listed first.
  // (Later backups take over when the agent sees the first one fail.)
  int first_backup = -1;
  for (size_t i = 0; i < n; ++i) {
    const PathSettings& p = settings.paths[i];
    if (p.role != PathRole::kBackup) continue;
    if (first_backup < 0 || p.backup_order < settings.paths[first_backup].backup_order) {
      first_backup = static_cast<int>(i);
    }
  }
  for (size_t i = 0; i < n; ++i) {
    if (table[i].state == MB_PATH_BACKUP && static_cast<int>(i) != first_backup) {
      table[i].state = MB_PATH_DISABLED;
    }
  }
  return table;
}

}  // namespace meshbpf
