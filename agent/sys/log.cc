#include "agent/sys/log.h"

#include <cstdio>
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

}  // namespace meshbpf
