#include "agent/core/log_throttle.h"

#include "absl/strings/str_cat.h"

namespace meshbpf {

std::optional<uint64_t> LogThrottle::Admit(const std::string& key, Clock::time_point now) {
  auto [it, first] = logs_.try_emplace(key);
  KeyLog& log = it->second;
  if (!first && now - log.last_line < interval_) {
    ++log.held_back;
    return std::nullopt;
  }
  const uint64_t held_back = log.held_back;
  log.last_line = now;
  log.held_back = 0;
  return held_back;
}

std::string LogThrottle::HeldBackNote(uint64_t held_back, const std::string& what) {
  if (held_back == 0) return "";
  return absl::StrCat(" (", held_back, " more ", what, " not logged since the last line)");
}

}  // namespace meshbpf
