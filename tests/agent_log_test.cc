#include "agent/sys/agent_log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "tests/scratch_dir.h"

namespace meshbpf {
namespace {

using testing::HasSubstr;

const absl::Time kTime = absl::FromUnixMillis(1710504000123);

TEST(AgentLog, JsonLineRoundTripsAndMatchesTheStderrForm) {
  const LogRecord record{kTime, LogLevel::kWarning, "path wan2: up -> down (3 probes \"lost\")"};
  const std::string line = FormatLogJson(record);
  EXPECT_EQ(line.find('\n'), std::string::npos);
  EXPECT_THAT(line, HasSubstr("\"time\":\"2024-03-15T12:00:00.123Z\""));
  absl::StatusOr<LogRecord> back = ParseLogJson(line);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->time, kTime);
  EXPECT_EQ(back->level, LogLevel::kWarning);
  EXPECT_EQ(back->message, record.message);
  EXPECT_EQ(FormatLogText(*back),
            "2024-03-15T12:00:00.123Z warning: path wan2: up -> down (3 probes \"lost\")");
}

// Found by fuzz_log_record: a time finer than the log's milliseconds (and
// before 1970) read back must write back the same.
TEST(AgentLog, ReadsATimeFinerThanMillisecondsAsTheLogWritesIt) {
  const std::string line =
      R"({"level":"debug","message":".","time":"1969-01-01T00:00:00.002222222220Z"})";
  absl::StatusOr<LogRecord> record = ParseLogJson(line);
  ASSERT_TRUE(record.ok()) << record.status();
  absl::StatusOr<LogRecord> again = ParseLogJson(FormatLogJson(*record));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->time, record->time);
  EXPECT_THAT(FormatLogJson(*record), HasSubstr("\"time\":\"1969-01-01T00:00:00.002Z\""));
}

TEST(AgentLog, RejectsLinesThatAreNotRecords) {
  EXPECT_THAT(std::string(ParseLogJson("not json").status().message()), HasSubstr("not a JSON"));
  EXPECT_THAT(std::string(ParseLogJson(R"({"time":"x","level":"info"})").status().message()),
              HasSubstr("\"message\""));
  EXPECT_THAT(std::string(ParseLogJson(R"({"time":"2024-03-15T12:00:00.123Z","level":"loud",)"
                                       R"("message":"m"})")
                              .status()
                              .message()),
              HasSubstr("loud"));
  EXPECT_FALSE(ParseLogJson(R"({"time":"yesterday","level":"info","message":"m"})").ok());
}

TEST(AgentLog, InvalidUtf8IsReplacedNotLost) {
  const std::string line = FormatLogJson({kTime, LogLevel::kInfo, "bad \xff byte"});
  absl::StatusOr<LogRecord> back = ParseLogJson(line);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_THAT(back->message, HasSubstr("bad "));
}

TEST(LogFile, RotatesPastItsLimit) {
  const ScratchDir dir;
  const std::string path = dir.File("agent.log");
  {
    absl::StatusOr<std::unique_ptr<LogFile>> file = LogFile::Open(path, 300);
    ASSERT_TRUE(file.ok()) << file.status();
    for (int i = 0; i < 10; ++i) {
      (*file)->Append({kTime, LogLevel::kInfo, "message number " + std::to_string(i)});
    }
  }
  auto lines = [](const std::string& p) {
    std::vector<std::string> out;
    std::ifstream in(p);
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
  };
  const std::vector<std::string> current = lines(path), old = lines(path + ".1");
  ASSERT_FALSE(current.empty());
  ASSERT_FALSE(old.empty());
  // Bounded: both files stay under the limit, and the newest line is last.
  EXPECT_LE(current.size() * current[0].size(), 300u);
  EXPECT_THAT(current.back(), HasSubstr("message number 9"));
  for (const std::string& line : current) EXPECT_TRUE(ParseLogJson(line).ok()) << line;
}

TEST(LogFile, UnwritablePlaceIsAnErrorNamingIt) {
  absl::StatusOr<std::unique_ptr<LogFile>> file = LogFile::Open("/nonexistent-dir/x.log");
  ASSERT_FALSE(file.ok());
  EXPECT_THAT(std::string(file.status().message()), HasSubstr("/nonexistent-dir/x.log"));
}

}  // namespace
}  // namespace meshbpf
