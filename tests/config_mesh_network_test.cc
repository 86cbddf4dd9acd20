// The documented config shape: every section inside {"mesh_network": ...},
// with link_aggregation.max_queue_size and rebalance_interval (issue 16).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "agent/core/config.h"
#include "agent/core/default_config.h"
#include "tests/config_test_util.h"

namespace meshbpf {
namespace {

using namespace testing_config;
using ::testing::HasSubstr;
using ::testing::AllOf;
using ::testing::StartsWith;

// The documented example, as written there (its node_discovery elided to {}).
constexpr char kDocumentedExample[] = R"({"mesh_network": {
  "node_discovery": {},
  "link_aggregation": {"mode": "load_balance", "max_queue_size": 1000, "rebalance_interval": 30},
  "failover": {"threshold": 3, "recovery_threshold": 2, "monitoring_interval": 10},
  "interfaces": {"primary": "eth0", "backups": ["wlan0", "ppp0"]}}})";

// The same example with what a bond needs besides: the peer and each
// uplink's rate.
std::string CompletedExample() {
  return R"({"mesh_network": {
  "node_discovery": {},
  "link_aggregation": {"mode": "load_balance", "max_queue_size": 1000, "rebalance_interval": 30,
                       "peer_address": "198.51.100.7"},
  "failover": {"threshold": 3, "recovery_threshold": 2, "monitoring_interval": 10},
  "interfaces": {"primary": "eth0", "backups": ["wlan0", "ppp0"],
                 "uplinks": [{"interface": "eth0", "rate_mbit": 50},
                             {"interface": "wlan0", "rate_mbit": 20},
                             {"interface": "ppp0", "rate_mbit": 10}]}}})";
}

class MeshNetworkConfigTest : public ConfigTest {
 protected:
  MeshNetworkConfigTest() { fake_.Add("ppp0", 8, 1492, "100.64.3.9"); }
};

TEST_F(MeshNetworkConfigTest, DocumentedExampleParsesAndNamesWhatTheBondLacks) {
  ASSERT_TRUE(ParseConfigJson(kDocumentedExample).ok());
  const std::string error = ErrorOf(kDocumentedExample);
  EXPECT_THAT(error, StartsWith("mesh_network.interfaces.uplinks: required"));
  EXPECT_THAT(error, HasSubstr(R"("interface": "eth0", "rate_mbit")"));
}

TEST_F(MeshNetworkConfigTest, CompletedExampleMeansWhatItSays) {
  const NodeSettings s = MustResolve(CompletedExample());
  EXPECT_EQ(s.mode, BondMode::kLoadBalance);
  EXPECT_EQ(s.max_queue_size, 1000u);
  EXPECT_DOUBLE_EQ(s.failover.rebalance_interval_s, 30);
  EXPECT_EQ(s.failover.threshold, 3u);
  EXPECT_EQ(s.failover.recovery_threshold, 2u);
  EXPECT_DOUBLE_EQ(s.failover.monitoring_interval_s, 10);
  EXPECT_EQ(s.primary, "eth0");
  ASSERT_EQ(s.paths.size(), 3u);
  EXPECT_EQ(s.paths[0].role, PathRole::kBonded);
  EXPECT_EQ(s.paths[1].role, PathRole::kBackup);
  EXPECT_EQ(s.paths[1].backup_order, 0);
  EXPECT_EQ(s.paths[2].name, "ppp0");
  EXPECT_EQ(s.paths[2].backup_order, 1);
}

TEST_F(MeshNetworkConfigTest, MissingPeerSaysWhichFieldToAdd) {
  std::string text = CompletedExample();
  const std::string peer = R"(,
                       "peer_address": "198.51.100.7")";
  text.erase(text.find(peer), peer.size());
  EXPECT_THAT(ErrorOf(text), AllOf(StartsWith("mesh_network.interfaces.uplinks[0].remote_address"),
                                   HasSubstr("add link_aggregation.peer_address")));
}

// Same file, with its sections at the top level: the same settings.
TEST_F(MeshNetworkConfigTest, BothShapesResolveAlike) {
  const std::string inside = CompletedExample();
  std::string sections = inside.substr(inside.find('{', 1));
  sections.resize(sections.rfind('}'));
  const NodeSettings a = MustResolve(inside);
  const NodeSettings b = MustResolve(sections);
  EXPECT_EQ(a.max_queue_size, b.max_queue_size);
  EXPECT_EQ(a.failover.rebalance_interval_s, b.failover.rebalance_interval_s);
  EXPECT_EQ(a.paths.size(), b.paths.size());
  EXPECT_EQ(a.primary, b.primary);
}

TEST_F(MeshNetworkConfigTest, ErrorsNameFieldsAsTheFileDoes) {
  EXPECT_THAT(ErrorOf(R"({"mesh_network": {"link_aggregation": {"max_queue_size": 8}}})"),
              StartsWith("mesh_network.link_aggregation.max_queue_size: must be"));
  EXPECT_THAT(ErrorOf(R"({"mesh_network": {"link_aggregation": {"max_queue_size": 9000}}})"),
              HasSubstr("8192"));
  // protobuf's own errors carry the path too.
  EXPECT_THAT(ErrorOf(R"({"mesh_network": {"link_aggregation": {"queue": 8}}})"),
              HasSubstr("mesh_network.link_aggregation"));
  EXPECT_THAT(ErrorOf(R"({"mesh_network": {"failover": {"threshold": "3"}}})"),
              HasSubstr("mesh_network.failover.threshold: expected a number"));
}

TEST_F(MeshNetworkConfigTest, SectionsGoEitherInsideOrOutside) {
  EXPECT_THAT(ErrorOf(R"({"mesh_network": {}, "failover": {"threshold": 3}})"),
              StartsWith("failover: beside mesh_network"));
  EXPECT_THAT(ErrorOf(R"({"mesh_network": {"mesh_network": {}}})"),
              StartsWith("mesh_network.mesh_network: "));
}

TEST_F(MeshNetworkConfigTest, RebalanceIntervalInOnePlace) {
  EXPECT_DOUBLE_EQ(
      MustResolve(WithOneUplink(R"("failover": {"rebalance_interval": 4})")).failover.rebalance_interval_s,
      4);
  EXPECT_DOUBLE_EQ(MustResolve(WithOneUplink(R"("link_aggregation": {"rebalance_interval": 5})"))
                       .failover.rebalance_interval_s,
                   5);
  EXPECT_THAT(ErrorOf(WithOneUplink(R"("link_aggregation": {"rebalance_interval": 5},
                                       "failover": {"rebalance_interval": 4})")),
              StartsWith("failover.rebalance_interval: set in link_aggregation.rebalance_interval"));
  EXPECT_THAT(ErrorOf(WithOneUplink(R"("link_aggregation": {"rebalance_interval": 0})")),
              StartsWith("link_aggregation.rebalance_interval: must be"));
}

TEST(DefaultConfigShapes, MeshNetworkTextResolvesLikeTheSections) {
  const std::vector<DefaultUplink> uplinks = {{"wan1", "10.201.1.1"}, {"wan2", ""}};
  const std::string wrapped = DefaultConfigText(uplinks, ConfigShape::kMeshNetwork);
  absl::StatusOr<config::Config> inside = ParseConfigJson(wrapped);
  ASSERT_TRUE(inside.ok()) << inside.status() << "\n" << wrapped;
  ASSERT_TRUE(inside->has_mesh_network()) << wrapped;
  absl::StatusOr<config::Config> sections = ParseConfigJson(DefaultConfigText(uplinks));
  ASSERT_TRUE(sections.ok());
  EXPECT_EQ(inside->mesh_network().SerializeAsString(), sections->SerializeAsString());
}

}  // namespace
}  // namespace meshbpf
