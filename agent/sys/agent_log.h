// The agent's structured log: every line that goes to stderr
// ("<UTC time> <level>: <message>", which journald keeps) is also appended
// as one JSON object to <run-dir>/<instance>.log, so `meshbpf logs` can show
// and follow it without journald. The file is bounded: past kMaxLogFileBytes
// it is renamed to <file>.1 (replacing the older one) and started afresh.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/core/log_record.h"

namespace meshbpf {

inline constexpr uint64_t kMaxLogFileBytes = 1 << 20;

// Appends records to a JSON-lines file, rotating it at `max_bytes`.
class LogFile {
 public:
  static absl::StatusOr<std::unique_ptr<LogFile>> Open(const std::string& path,
                                                       uint64_t max_bytes = kMaxLogFileBytes);
  ~LogFile();
  LogFile(const LogFile&) = delete;
  LogFile& operator=(const LogFile&) = delete;
  // Best effort: a full disk must not stop the agent, stderr still has it.
  void Append(const LogRecord& record);

 private:
  LogFile(std::FILE* file, std::string path, uint64_t size, uint64_t max_bytes)
      : file_(file), path_(std::move(path)), size_(size), max_bytes_(max_bytes) {}
  std::FILE* file_;
  std::string path_;
  uint64_t size_;
  uint64_t max_bytes_;
};

// Makes Log() also append to `file` (null: stderr only again).
void SetLogFile(std::unique_ptr<LogFile> file);
// Appends to the file set by SetLogFile, if any (Log() calls this).
void AppendToLogFile(const LogRecord& record);

}  // namespace meshbpf
