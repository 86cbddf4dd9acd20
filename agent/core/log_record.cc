#include "agent/core/log_record.h"

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "agent/core/json_text.h"

namespace meshbpf {
namespace {

constexpr char kTimeFormat[] = "%Y-%m-%dT%H:%M:%E3SZ";

}  // namespace

std::string_view LogLevelName(LogLevel level) {
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

std::string AgentLogPath(const std::string& run_dir, const std::string& instance) {
  return absl::StrCat(run_dir, "/", instance, ".log");
}

std::string FormatLogJson(const LogRecord& record) {
  const nlohmann::json line = {
      {"time", absl::FormatTime(kTimeFormat, record.time, absl::UTCTimeZone())},
      {"level", std::string(LogLevelName(record.level))},
      {"message", record.message}};
  return JsonLine(line);
}

absl::StatusOr<LogRecord> ParseLogJson(std::string_view line) {
  const nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return absl::InvalidArgumentError("log line is not a JSON object");
  for (const char* field : {"time", "level", "message"}) {
    if (!j.contains(field) || !j[field].is_string()) {
      return absl::InvalidArgumentError(absl::StrCat("log line has no string \"", field, "\""));
    }
  }
  LogRecord record;
  std::string error;
  if (!absl::ParseTime(kTimeFormat, j["time"].get<std::string>(), &record.time, &error)) {
    return absl::InvalidArgumentError(absl::StrCat("log line time: ", error));
  }
  // The log writes milliseconds: a finer time read back (a hand-edited
  // line) keeps only those, so what is read writes back the same.
  record.time = absl::FromUnixMillis(absl::ToUnixMillis(record.time));
  const std::string level = j["level"].get<std::string>();
  bool known = false;
  for (LogLevel l : {LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarning, LogLevel::kError}) {
    if (LogLevelName(l) == level) {
      record.level = l;
      known = true;
    }
  }
  if (!known) return absl::InvalidArgumentError(absl::StrCat("log line level \"", level, "\""));
  record.message = j["message"].get<std::string>();
  return record;
}

std::string FormatLogText(const LogRecord& record) {
  return absl::StrCat(absl::FormatTime(kTimeFormat, record.time, absl::UTCTimeZone()), " ",
                      std::string(LogLevelName(record.level)), ": ", record.message);
}

}  // namespace meshbpf
