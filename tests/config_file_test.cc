// Loading a config file (agent/sys/config_file.h).
#include "agent/sys/config_file.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "tests/config_test_util.h"
#include "tests/scratch_dir.h"

namespace meshbpf {
namespace {

using namespace testing_config;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

// --- Files -------------------------------------------------------------------------

class ConfigFileTest : public ConfigTest {
 protected:
  // A new file in the test's own directory.
  std::string Write(const std::string& text) {
    const std::string path = dir_.File(absl::StrCat("config-", written_++, ".json"));
    std::ofstream(path) << text;
    return path;
  }
  ScratchDir dir_;
  int written_ = 0;
};

TEST_F(ConfigFileTest, MissingFile) {
  absl::StatusOr<NodeSettings> s = LoadConfigFile("/nonexistent/meshbpf.json", fake_);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.status().message()),
              HasSubstr(R"(config file "/nonexistent/meshbpf.json": No such file or directory)"));
}

TEST_F(ConfigFileTest, Directory) {
  absl::StatusOr<NodeSettings> s = LoadConfigFile(dir_.path(), fake_);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.status().message()),
              HasSubstr(absl::StrCat("config file \"", dir_.path(), "\": ")));
}

TEST_F(ConfigFileTest, LoadsAndResolves) {
  absl::StatusOr<NodeSettings> s = LoadConfigFile(Write(kClientConfig), fake_);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->paths.size(), 3u);
}

TEST_F(ConfigFileTest, ErrorsNameTheFile) {
  const std::string path = Write(WithOneUplink(R"("failover": {"threshold": 0})"));
  absl::StatusOr<NodeSettings> s = LoadConfigFile(path, fake_);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.status().message()),
              AllOf(HasSubstr(absl::StrCat("config file \"", path, "\": failover.threshold")),
                    Not(HasSubstr("invalid config"))));
  s = LoadConfigFile(Write("{"), fake_);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.status().message()), HasSubstr("\": invalid config: "));
}

// The group must exist on the host that loads the config (root's group, 0,
// is "root" on every Linux host).
TEST_F(ConfigFileTest, ControlGroupMustExistHere) {
  absl::StatusOr<NodeSettings> s =
      LoadConfigFile(Write(WithOneUplink(R"("monitoring": {"control_group": "root"})")), fake_);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->monitoring.control_group, "root");
  s = LoadConfigFile(Write(WithOneUplink(R"("monitoring": {"control_group": "no-such-grp-x"})")),
                     fake_);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(std::string(s.status().message()),
              AllOf(HasSubstr("monitoring.control_group"), HasSubstr("no group \"no-such-grp-x\"")));
}

}  // namespace
}  // namespace meshbpf
