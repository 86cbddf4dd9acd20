#include "agent/log.h"

#include <cstdio>
#include <ctime>

namespace meshbpf {
namespace {

bool verbose_logging = false;

const char* LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kError:
      return "error";
  }
  return "?";
}

}  // namespace

void SetVerbose(bool verbose) { verbose_logging = verbose; }

void Log(LogLevel level, std::string_view message) {
  if (level == LogLevel::kDebug && !verbose_logging) return;
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  tm utc{};
  gmtime_r(&now.tv_sec, &utc);
  char stamp[32];
  strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &utc);
  std::fprintf(stderr, "%s.%03ldZ %s: %.*s\n", stamp, now.tv_nsec / 1000000, LevelName(level),
               static_cast<int>(message.size()), message.data());
}

}  // namespace meshbpf
