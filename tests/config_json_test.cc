// The config's JSON text (agent/core/config_json.cc): what protobuf would let
// slip, syntax errors with line and field, comments.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "agent/core/config.h"
#include "tests/config_test_util.h"

namespace meshbpf {
namespace {

using namespace testing_config;
using ::testing::AllOf;
using ::testing::HasSubstr;

// --- JSON-level rejections ---------------------------------------------------

TEST_F(ConfigTest, UnknownTopLevelField) {
  EXPECT_THAT(ErrorOf(WithOneUplink(R"("bogus": 1)")),
              AllOf(HasSubstr("invalid config: "), HasSubstr("bogus")));
}

TEST_F(ConfigTest, UnknownNestedField) {
  EXPECT_THAT(ErrorOf(WithOneUplink(R"("failover": {"treshold": 3})")),
              AllOf(HasSubstr("failover"), HasSubstr("treshold")));
  EXPECT_THAT(ErrorOf(WithInterfaces(R"({"uplinks": [{"name": "eth0", "rate_mbit": 1},
                                                     {"name": "wlan0", "rate_mbps": 1}]})")),
              AllOf(HasSubstr("interfaces.uplinks[1]"), HasSubstr("rate_mbps")));
}

TEST_F(ConfigTest, WrongTypes) {
  EXPECT_THAT(ErrorOf(WithOneUplink(R"("failover": {"threshold": "three"})")),
              HasSubstr("failover.threshold"));
  EXPECT_THAT(ErrorOf(WithOneUplink(R"("link_aggregation": {"mode": 5})")),
              HasSubstr("link_aggregation.mode"));
  EXPECT_THAT(ErrorOf(WithOneUplink(R"("failover": 5)")), HasSubstr("failover"));
  EXPECT_THAT(ErrorOf(WithOneUplink(R"("failover": {"threshold": -1})")),
              HasSubstr("failover.threshold"));
  EXPECT_THAT(ErrorOf(WithOneUplink(R"("failover": {"threshold": 1.5})")),
              HasSubstr("failover.threshold"));
  EXPECT_THAT(ErrorOf(WithOneUplink(R"("failover": {"threshold": 5000000000})")),
              HasSubstr("failover.threshold"));
}

// Kinds protobuf's parser would accept and convert.
TEST_F(ConfigTest, WrongTypesProtobufWouldAccept) {
  EXPECT_THAT(ErrorOf(R"({"interfaces": {"uplinks": {"name": "eth0", "rate_mbit": 1}}})"),
              AllOf(HasSubstr("interfaces.uplinks"), HasSubstr("expected a list")));
  EXPECT_THAT(ErrorOf(WithInterfaces(R"({"backups": "eth0", "uplinks": []})")),
              AllOf(HasSubstr("interfaces.backups"), HasSubstr("expected a list")));
  EXPECT_THAT(ErrorOf(WithOneUplink(R"("node_discovery": {"enabled": "yes"})")),
              AllOf(HasSubstr("node_discovery.enabled"), HasSubstr("true or false")));
  EXPECT_THAT(ErrorOf(WithOneUplink(R"("link_aggregation": {"loss_repair": "yes"})")),
              AllOf(HasSubstr("link_aggregation.loss_repair"), HasSubstr("true or false")));
  EXPECT_THAT(ErrorOf(WithOneUplink(R"("failover": {"threshold": "3"})")),
              AllOf(HasSubstr("failover.threshold"), HasSubstr("expected a number")));
  EXPECT_THAT(ErrorOf(WithOneUplink(R"("failover": {"monitoringInterval": "NaN"})")),
              HasSubstr("failover.monitoring_interval"));
  // A dropped null element would renumber the uplinks (= path ids).
  EXPECT_THAT(ErrorOf(WithInterfaces(R"({"uplinks": [null, {"name": "eth0", "rate_mbit": 1}]})")),
              HasSubstr("interfaces.uplinks[0]"));
  EXPECT_THAT(ErrorOf(WithInterfaces(R"({"uplinks": [{"name": "eth0", "rate_mbit": 1}, []]})")),
              HasSubstr("interfaces.uplinks[1]"));
}

TEST_F(ConfigTest, DuplicateKeys) {
  EXPECT_THAT(ErrorOf(WithOneUplink(R"("failover": {"threshold": 3}, "failover": {})")),
              AllOf(HasSubstr("failover"), HasSubstr("more than once")));
  EXPECT_THAT(
      ErrorOf(WithInterfaces(R"({"uplinks": [{"name": "eth0", "rate_mbit": 1, "rate_mbit": 2}]})")),
      AllOf(HasSubstr("interfaces.uplinks[0].rate_mbit"), HasSubstr("more than once")));
}

TEST_F(ConfigTest, SyntaxErrors) {
  EXPECT_THAT(ErrorOf(R"({"failover": {"threshold": 3 "x": 4}})"),
              AllOf(HasSubstr("invalid config: "), HasSubstr("line 1, column"),
                    HasSubstr("failover.threshold")));
  EXPECT_THAT(ErrorOf("{\"failover\": {\"threshold\": 3}"), HasSubstr("end of string"));
  EXPECT_THAT(ErrorOf("garbage"), HasSubstr("invalid config: "));
  EXPECT_THAT(ErrorOf("[1, 2]"), HasSubstr("invalid config: expected a JSON object"));
}

TEST_F(ConfigTest, ByteOrderMarkIsAccepted) {
  EXPECT_EQ(MustResolve(absl::StrCat("\xEF\xBB\xBF", kMinimalConfig)).paths.size(), 1u);
}

TEST_F(ConfigTest, SyntaxErrorReportsLineAndField) {
  const std::string message = ErrorOf(
      "{\n  \"failover\": {\n    \"threshold\": 3,\n    \"monitoring_interval\": 1e400\n  }\n}");
  EXPECT_THAT(message,
              AllOf(HasSubstr("line 4, column 28"), HasSubstr("failover.monitoring_interval"),
                    HasSubstr("exceeds the range of double")));
}

TEST_F(ConfigTest, EmptyInput) {
  EXPECT_THAT(ErrorOf(""), HasSubstr("empty input"));
  EXPECT_THAT(ErrorOf(" \n\t"), HasSubstr("empty input"));
}

// --- monitoring and comments (meshbpf stats, config --output) ----------------

TEST(StripLineComments, BlanksCommentsOutsideStringsOnly) {
  EXPECT_EQ(StripLineComments("{\"a\": 1} // note\n{}"), "{\"a\": 1}        \n{}");
  // Inside a string (also after an escaped quote), // is text.
  EXPECT_EQ(StripLineComments(R"({"u": "http://x", "q": "\"//\""})"),
            R"({"u": "http://x", "q": "\"//\""})");
  EXPECT_EQ(StripLineComments("// only\n"), "       \n");
  EXPECT_EQ(StripLineComments("1 / 2"), "1 / 2");
}

TEST_F(ConfigTest, CommentsAreAcceptedAndErrorsKeepTheirPlace) {
  const NodeSettings s = MustResolve(
      "// a node\n{\"interfaces\": {\"uplinks\": [  // the uplinks\n"
      "  {\"name\": \"eth0\", \"remote_address\": \"198.51.100.7\", \"rate_mbit\": 40}]}}\n");
  EXPECT_EQ(s.paths.size(), 1u);
  // A syntax error after a comment still points at its own line.
  EXPECT_THAT(ErrorOf("// comment\n{\"interfaces\": x}"), HasSubstr("line 2"));
}

}  // namespace
}  // namespace meshbpf
