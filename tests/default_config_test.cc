#include "agent/core/default_config.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>

#include "agent/core/config.h"
#include "agent/core/health.h"
#include "tests/config_test_util.h"

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
          // Config.mesh_network holds the same sections again.
          if (f.message_type() != nullptr && f.message_type() != &message) {
            check(*f.message_type(), prefix + f.name() + ".");
          }
        }
      };
  check(*config::Config::descriptor(), "");
}

// The text prints the defaults the settings start from (config_defaults.h),
// so writing a config out and reading it back changes nothing.
TEST(DefaultConfig, WritesTheDefaultsTheSettingsStartFrom) {
  absl::StatusOr<config::Config> config = ParseConfigJson(DefaultConfigText({{"eth0", ""}}));
  ASSERT_TRUE(config.ok()) << config.status();
  absl::StatusOr<NodeSettings> s = ResolveConfig(*config, testing_config::AnyInterface(), "host");
  ASSERT_TRUE(s.ok()) << s.status();
  const NodeSettings defaults;
  EXPECT_EQ(s->discovery.port, defaults.discovery.port);
  EXPECT_EQ(s->discovery.broadcast_interval_s, defaults.discovery.broadcast_interval_s);
  EXPECT_EQ(s->discovery.node_timeout_s, defaults.discovery.node_timeout_s);
  EXPECT_EQ(s->bond_interface, defaults.bond_interface);
  EXPECT_EQ(s->port, defaults.port);
  EXPECT_EQ(s->paths.at(0).remote_port, defaults.port);
  EXPECT_EQ(s->latency_packet_bytes, defaults.latency_packet_bytes);
  EXPECT_EQ(s->reorder_deadline_ms, defaults.reorder_deadline_ms);
  EXPECT_EQ(s->floor_guard, defaults.floor_guard);
  EXPECT_TRUE(s->loss_repair) << "on where it applies: the default has a peer and resequencing";
  EXPECT_EQ(s->max_queue_size, defaults.max_queue_size);
  const FailoverSettings& f = s->failover;
  EXPECT_EQ(f.monitoring_interval_s, defaults.failover.monitoring_interval_s);
  EXPECT_EQ(f.threshold, defaults.failover.threshold);
  EXPECT_EQ(f.recovery_threshold, defaults.failover.recovery_threshold);
  EXPECT_EQ(f.rebalance_interval_s, defaults.failover.rebalance_interval_s);
  EXPECT_EQ(f.probe_port, defaults.failover.probe_port);
  EXPECT_EQ(f.degrade_loss_percent, defaults.failover.degrade_loss_percent);
  EXPECT_EQ(f.recover_loss_percent, defaults.failover.recover_loss_percent);
  EXPECT_EQ(s->monitoring.sample_interval_s, defaults.monitoring.sample_interval_s);
  // The health module's own defaults are the same numbers.
  const HealthParams health;
  EXPECT_EQ(health.threshold, f.threshold);
  EXPECT_EQ(health.recovery_threshold, f.recovery_threshold);
  EXPECT_DOUBLE_EQ(health.degrade_loss, f.degrade_loss_percent / 100);
  EXPECT_DOUBLE_EQ(health.recover_loss, f.recover_loss_percent / 100);
}

}  // namespace
}  // namespace meshbpf
