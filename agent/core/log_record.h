// One agent log line as a value: its level, time and message, and the two
// forms it is written in (the stderr text and the log file's JSON line).
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace meshbpf {

enum class LogLevel { kDebug, kInfo, kWarning, kError };

struct LogRecord {
  absl::Time time;
  LogLevel level = LogLevel::kInfo;
  std::string message;
};

std::string_view LogLevelName(LogLevel level);
// <run_dir>/<instance>.log
std::string AgentLogPath(const std::string& run_dir, const std::string& instance);

// {"time":"2024-03-15T12:00:00.123Z","level":"info","message":"..."}, no newline.
std::string FormatLogJson(const LogRecord& record);
// Rejects lines that are not such an object, naming what is wrong.
absl::StatusOr<LogRecord> ParseLogJson(std::string_view line);
// The stderr form: "2024-03-15T12:00:00.123Z info: ...", no newline.
std::string FormatLogText(const LogRecord& record);

}  // namespace meshbpf
