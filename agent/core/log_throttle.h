// Rate-limited logging: at most one line per key per interval, so a flood of
// the same event (forged announcements, a slow handler every tick, clients
// dropped one after another) cannot flood the log; the line that gets
// through says how many were held back since the last one.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

namespace meshbpf {

class LogThrottle {
 public:
  using Clock = std::chrono::steady_clock;
  explicit LogThrottle(std::chrono::nanoseconds interval) : interval_(interval) {}

  // Whether a line for `key` may be logged at `now`: if so, how many lines
  // for it were held back since the last one (0 for the first).
  std::optional<uint64_t> Admit(const std::string& key, Clock::time_point now);

  // " (N more ... since the last line)" for N held back, or "" for none;
  // `what` names them, e.g. "\"bad_tag\" drops".
  static std::string HeldBackNote(uint64_t held_back, const std::string& what);

 private:
  struct KeyLog {
    Clock::time_point last_line;
    uint64_t held_back = 0;
  };
  std::chrono::nanoseconds interval_;
  std::map<std::string, KeyLog> logs_;
};

}  // namespace meshbpf
