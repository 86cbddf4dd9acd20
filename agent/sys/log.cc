#include "agent/sys/log.h"

#include <cstdio>
#include <optional>
#include <string>

#include "agent/sys/agent_log.h"

namespace meshbpf {
namespace {

bool verbose_logging = false;

}  // namespace

void SetVerbose(bool verbose) { verbose_logging = verbose; }

void Log(LogLevel level, std::string_view message) {
  if (level == LogLevel::kDebug && !verbose_logging) return;
  const LogRecord record{absl::Now(), level, std::string(message)};
  std::fprintf(stderr, "%s\n", FormatLogText(record).c_str());
  AppendToLogFile(record);
}

void WarnThrottled(LogThrottle& throttle, const std::string& key, std::string_view line) {
  std::optional<uint64_t> held = throttle.Admit(key, LogThrottle::Clock::now());
  if (!held) return;
  Log(LogLevel::kWarning, std::string(line) + LogThrottle::HeldBackNote(*held, "such messages"));
}

}  // namespace meshbpf
