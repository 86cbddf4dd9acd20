#include "agent/sys/agent_log.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace meshbpf {
namespace {

std::unique_ptr<LogFile>& CurrentLogFile() {
  static auto* file = new std::unique_ptr<LogFile>();
  return *file;
}

}  // namespace

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
