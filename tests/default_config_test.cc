#include "agent/core/default_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>

#include "agent/core/config.h"

namespace meshbpf {
namespace {

TEST(DefaultConfig, ParsesWithItsComments) {
  const std::string text = DefaultConfigText({{"wan1", "10.201.1.1"}, {"wan2", ""}});
  absl::StatusOr<config::Config> config = ParseConfigJson(text);
  ASSERT_TRUE(config.ok()) << config.status() << "\n" << text;
  ASSERT_EQ(config->interfaces().uplinks_size(), 2);
  EXPECT_EQ(config->interfaces().uplinks(0).gateway(), "10.201.1.1");
  EXPECT_FALSE(config->interfaces().uplinks(1).has_gateway());
  EXPECT_EQ(config->interfaces().primary(), "wan1");
  EXPECT_TRUE(ParseConfigJson(DefaultConfigText({})).ok());
}

// A new config field must be documented in the default config too.
TEST(DefaultConfig, MentionsEveryFieldOfTheSchema) {
  const std::string text = DefaultConfigText({{"eth0", ""}});
  std::function<void(const google::protobuf::Descriptor&, const std::string&)> check =
      [&](const google::protobuf::Descriptor& message, const std::string& prefix) {
        for (int i = 0; i < message.field_count(); ++i) {
          const google::protobuf::FieldDescriptor& f = *message.field(i);
          EXPECT_NE(text.find("\"" + f.name() + "\""), std::string::npos)
              << prefix << f.name() << " is not in the default config";
          if (f.message_type() != nullptr) check(*f.message_type(), prefix + f.name() + ".");
        }
      };
  check(*config::Config::descriptor(), "");
}

}  // namespace
}  // namespace meshbpf
