// libFuzzer target for the agent log's record format (`meshbpf logs` reads
// the file written with FormatLogJson): ParseLogJson on any line never
// throws, and a record it accepts, written again, reads back the same; any
// message (invalid UTF-8 too) written with FormatLogJson reads back.
#include <cstdlib>
#include <cstring>

#include "agent/core/log_record.h"
#include "fuzz/fuzz_inputs.h"

namespace meshbpf::fuzz {
namespace {

bool SameRecord(const LogRecord& a, const LogRecord& b) {
  return a.time == b.time && a.level == b.level && a.message == b.message;
}

void CheckLine(std::string_view line) {
  absl::StatusOr<LogRecord> record = ParseLogJson(line);
  if (!record.ok()) return;
  FormatLogText(*record);
  absl::StatusOr<LogRecord> again = ParseLogJson(FormatLogJson(*record));
  if (!again.ok() || !SameRecord(*again, *record)) abort();
}

// The time from 4 input bytes: milliseconds around the fake wall clock, as
// the agent stamps records with the current time.
void CheckMessage(const uint8_t* data, size_t size) {
  if (size < 4) return;
  uint32_t offset_ms;
  std::memcpy(&offset_ms, data, 4);
  LogRecord record;
  record.time = absl::FromUnixMillis(static_cast<int64_t>(kFuzzWallClockMs + offset_ms));
  record.level = static_cast<LogLevel>(offset_ms % 4);
  record.message.assign(reinterpret_cast<const char*>(data + 4), size - 4);
  FormatLogText(record);
  absl::StatusOr<LogRecord> again = ParseLogJson(FormatLogJson(record));
  if (!again.ok() || again->time != record.time || again->level != record.level) abort();
}

}  // namespace
}  // namespace meshbpf::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace meshbpf::fuzz;
  if (size == 0) return 0;
  if (data[0] % 2 == kLogLine) {
    CheckLine(std::string_view(reinterpret_cast<const char*>(data + 1), size - 1));
  } else {
    CheckMessage(data + 1, size - 1);
  }
  return 0;
}
