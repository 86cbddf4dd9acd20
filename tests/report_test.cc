#include "cli/report.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/control_samples.h"

namespace meshbpf {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

InstanceSnapshot WithHealth() {
  InstanceSnapshot s;
  s.pin_dir = "/sys/fs/bpf/meshbpf/client";
  absl::StatusOr<StatusReply> health =
      FromJson<StatusReply>(nlohmann::json::parse(kSampleStatus), "status");
  EXPECT_TRUE(health.ok()) << health.status();
  s.health = health.value_or(StatusReply{});
  return s;
}

TEST(StatusTable, ShowsTheAgentsViewOfEveryPath) {
  const std::string table = StatusTable(WithHealth());
  EXPECT_THAT(table, HasSubstr("\nwan0 (moved) up        up        1.50     1.00     0.12"));
  EXPECT_THAT(table, HasSubstr("\nmesh0      down      down         -        -        -"));
  EXPECT_THAT(table, HasSubstr("mesh1 (held) degraded"));
  // Empty, and why: its neighbour was heard only over IPv6.
  EXPECT_THAT(table, HasSubstr("  path mesh0: relayed, no neighbour's uplink fills it now (a "
                               "relayed path takes the bonding peer's family (IPv4): gamma "
                               "(fe80::3%lan0): not heard over IPv4)\n"));
  EXPECT_THAT(table, HasSubstr("  path mesh1: via beta/wan0 (10.210.0.2:7211)\n"));
  EXPECT_THAT(table,
              HasSubstr("  path client: far end not learned yet (no probe from the client)\n"));
  EXPECT_THAT(table, HasSubstr("  data cap wan2: 488.3 KiB of 1.9 MiB (25%)\n"));
  EXPECT_THAT(table, HasSubstr("  routing (table 7201, pref 7201), put back 1 times:\n"
                               "    route default dev mb0 table 7201\n"
                               "    rule from 10.204.0.0/24 lookup 7201 pref 7201  (missing from the kernel)\n"));
  EXPECT_THAT(table, HasSubstr("  data cap relay_share: 1000 B of 1000 B (100%), spent: "
                               "last_resort_backup\n"));
  EXPECT_THAT(table, HasSubstr("  mesh: 2 other nodes known (meshbpf peers)\n"));
  EXPECT_THAT(table, HasSubstr("  authentication and encryption: session deadbeef, 42 s old, 3 handshakes, 1 "
                               "handshake messages refused (last: handshake: initiation MAC wrong)\n"));
  EXPECT_THAT(table, HasSubstr("  loss repair: resting (losses like congestion's), lost packets "
                               "wait 0 ms, 12 requests for them sent, 30 copies sent again for "
                               "the peer (2 gone, 1 refused); rested 2 times; copies kept (the peer "
                               "asks)\n"));
  EXPECT_THAT(table, HasSubstr("recent transitions:\n  2026-11-28T22:00:01Z wan0: down -> up "
                               "(3 probes answered)\n"));
  EXPECT_THAT(table, HasSubstr("  path mesh1: out of bonded bulk traffic (floor guard): jitter "
                               "30.0 ms: its packets spread 60.0 ms\n"));
  EXPECT_THAT(table, Not(HasSubstr("path wan0: out of bonded bulk")));
  EXPECT_THAT(table, HasSubstr("floor guard decisions:\n  2026-11-28T22:00:05Z mesh1: out of bulk "
                               "(jitter: jitter 30.0 ms: its packets spread 60.0 ms)\n"));
  EXPECT_THAT(table, Not(HasSubstr("not probing")));
}

TEST(StatusJson, CarriesTheAgentsReplyUnchangedOrNull) {
  EXPECT_EQ(StatusJson(WithHealth())["health"].dump(), nlohmann::json::parse(kSampleStatus).dump());
  EXPECT_TRUE(StatusJson(InstanceSnapshot{})["health"].is_null());
  EXPECT_THAT(StatusTable(InstanceSnapshot{}), Not(HasSubstr("HEALTH")));
  EXPECT_TRUE(StatusJson(InstanceSnapshot{})["health_error"].is_null());
}

// An agent whose reply this CLI cannot read: said, not silently left out.
TEST(StatusJson, SaysWhyTheAgentsViewIsMissing) {
  InstanceSnapshot s;
  s.agent_alive = true;
  s.health_error = "status: paths[0]: mtu is missing";
  EXPECT_EQ(StatusJson(s)["health_error"], s.health_error);
  EXPECT_THAT(StatusTable(s),
              HasSubstr("the agent's view (health) is not shown: status: paths[0]: mtu is missing"));
}

TEST(AgentStatus, ShowsTheAgentsViewAndWhyTheMapsAreMissing) {
  const StatusReply health = *WithHealth().health;
  const std::string why = "opening /sys/fs/bpf/meshbpf/client/mb_config: Permission denied";
  const std::string table = AgentStatusTable(health, why);
  EXPECT_THAT(table, HasSubstr("the data path's maps are not shown (" + why + ")"));
  EXPECT_THAT(table, HasSubstr("\nwan0 (moved) up        up        1.50"));
  const nlohmann::json json = AgentStatusJson(health, why);
  EXPECT_EQ(json["maps_error"], why);
  EXPECT_TRUE(json["agent_running"].get<bool>());
  EXPECT_EQ(json["health"].dump(), nlohmann::json::parse(kSampleStatus).dump());
}

ResequencerStats Resequencing() {
  ResequencerStats r;
  r.deadline_us = 100'000;
  r.occupancy = 12;
  r.window = 256;
  r.held = 1491;
  r.released_in_order = 1480;
  r.released_deadline = 11;
  return r;
}

TEST(StatusTable, ShowsTheResequencerBeforeTheAgentsView) {
  InstanceSnapshot s = WithHealth();
  s.resequencing = Resequencing();
  const std::string table = StatusTable(s);
  const std::string block = "\nresequencing: deadline 100 ms, occupancy 12/256\n"
                            "  held 1491: released in order 1480, past a lost packet 0, by deadline 11, when full 0\n";
  EXPECT_THAT(table, HasSubstr(block));
  EXPECT_LT(table.find(block), table.find("HEALTH"));
}

TEST(StatusTable, SaysWhyTheResequencerIsNotShown) {
  InstanceSnapshot s;
  s.resequencing = absl::NotFoundError("it predates resequencing");
  EXPECT_THAT(StatusTable(s), HasSubstr("\nresequencing: not shown: it predates resequencing\n"));
}

TEST(StatusJson, CarriesTheResequencerOrWhyNot) {
  InstanceSnapshot s;
  s.resequencing = Resequencing();
  nlohmann::json json = StatusJson(s);
  EXPECT_EQ(json["resequencing"], ToJson(Resequencing()));
  EXPECT_EQ(json["resequencing"]["held"], 1491);
  EXPECT_EQ(json["resequencing"]["deadline_us"], 100000);
  EXPECT_TRUE(json["resequencing_error"].is_null());
  s.resequencing = absl::NotFoundError("it predates resequencing");
  json = StatusJson(s);
  EXPECT_TRUE(json["resequencing"].is_null());
  EXPECT_EQ(json["resequencing_error"], "it predates resequencing");
}

}  // namespace
}  // namespace meshbpf
