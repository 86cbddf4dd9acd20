#include "agent/sys/agent_log.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"

namespace meshbpf {
namespace {

constexpr char kTimeFormat[] = "%Y-%m-%dT%H:%M:%E3SZ";

std::unique_ptr<LogFile>& CurrentLogFile() {
  static auto* file = new std::unique_ptr<LogFile>();
  return *file;
}

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
  // Invalid UTF-8 in a message (an interface name, a peer's text) is replaced,
  // never a reason to lose the line.
  return line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
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

absl::StatusOr<std::unique_ptr<LogFile>> LogFile::Open(const std::string& path,
                                                       uint64_t max_bytes) {
  std::FILE* file = std::fopen(path.c_str(), "ae");
  if (file == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("cannot open log file ", path, ": ", std::strerror(errno)));
  }
  // Root and the control socket's group may read it, like the socket.
  fchmod(fileno(file), 0640);
  struct stat st {};
  const uint64_t size = fstat(fileno(file), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
  return std::unique_ptr<LogFile>(new LogFile(file, path, size, max_bytes));
}

LogFile::~LogFile() { std::fclose(file_); }

void LogFile::Append(const LogRecord& record) {
  const std::string line = FormatLogJson(record) + "\n";
  if (size_ > 0 && size_ + line.size() > max_bytes_) {
    std::fclose(file_);
    std::rename(path_.c_str(), (path_ + ".1").c_str());
    file_ = std::fopen(path_.c_str(), "ae");
    size_ = 0;
    if (file_ == nullptr) {
      // Nowhere to write: keep a valid FILE so later appends stay harmless.
      file_ = std::fopen("/dev/null", "we");
      return;
    }
    fchmod(fileno(file_), 0640);
  }
  if (std::fwrite(line.data(), 1, line.size(), file_) == line.size()) size_ += line.size();
  std::fflush(file_);
}

void SetLogFile(std::unique_ptr<LogFile> file) { CurrentLogFile() = std::move(file); }

void AppendToLogFile(const LogRecord& record) {
  if (CurrentLogFile()) CurrentLogFile()->Append(record);
}

}  // namespace meshbpf
