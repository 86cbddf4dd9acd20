#include "agent/core/policy.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstring>

#include "tests/test_common.h"

namespace meshbpf {
namespace {

// Conditions where only reachability varies.
std::vector<PathCondition> Usable(std::initializer_list<bool> usable) {
  std::vector<PathCondition> out;
  for (bool u : usable) out.push_back({.usable = u, .link_up = u});
  return out;
}

PathSettings Path(const std::string& name, int ifindex, double rate_mbit, PathRole role = PathRole::kBonded,
                  int backup_order = -1) {
  PathSettings p;
  p.name = name;
  p.interface = name;
  p.ifindex = ifindex;
  p.mtu = 1500;
  p.source = IpOf("10.0.0.2");
  p.remote = IpOf("10.9.9.9");
  p.gateway = IpOf("10.0.0.1");
  p.remote_port = 7300;
  p.rate_bps = rate_mbit * 1e6;
  p.role = role;
  p.backup_order = backup_order;
  return p;
}

NodeSettings TwoBonded() {
  NodeSettings s;
  s.port = 7201;
  s.paths = {Path("wan1", 3, 40), Path("wan2", 4, 20)};
  return s;
}

TEST(BondMtu, SmallestUplinkMinusOverhead) {
  NodeSettings s = TwoBonded();
  EXPECT_EQ(BondMtu(s), 1500u - MB_ENCAP_OVERHEAD);
  s.paths[1].mtu = 1400;
  EXPECT_EQ(BondMtu(s), 1400u - MB_ENCAP_OVERHEAD);
}

TEST(ReseqSlots, FullSizePacketsForTheDeadlineAtTheBondedRateAsAPowerOfTwo) {
  NodeSettings s = TwoBonded();  // 60 Mbit/s, deadline ceiling 100 ms (+50): 750 packets
  EXPECT_EQ(ReseqSlots(s), uint32_t{MB_RESEQ_WINDOW}) << "never below the default";
  s.paths.push_back(Path("fiber", 5, 200));  // 260 Mbit/s: 3,250 packets
  EXPECT_EQ(ReseqSlots(s), 4096u);
  EXPECT_NEAR(ReseqSlotsMs(s, 4096), 4096 * 12000 / 260e6 * 1000, 1e-9);
  s.paths.back().role = PathRole::kBackup;  // backups are not bonded
  EXPECT_EQ(ReseqSlots(s), uint32_t{MB_RESEQ_WINDOW});
  s.max_queue_size = 3000;  // asked for more than the rate needs
  EXPECT_EQ(ReseqSlots(s), 4096u);
  s.max_queue_size = 0;
  s.paths.back() = Path("fiber", 5, 2000);
  EXPECT_EQ(ReseqSlots(s), uint32_t{MB_RESEQ_SLOTS_MAX}) << "capped: ~55 ms at 2 Gbit/s";
}

TEST(BondMtu, ZeroWhenNoRoomForHeaders) {
  NodeSettings s = TwoBonded();
  s.paths[0].mtu = MB_ENCAP_OVERHEAD;
  EXPECT_EQ(BondMtu(s), 0u);
}

TEST(BondMtu, FlowModeHasNoEncapsulationToMakeRoomFor) {
  NodeSettings s = TwoBonded();
  s.mode = BondMode::kFlow;
  s.paths[1].mtu = 1400;
  EXPECT_EQ(BondMtu(s), 1400u);
  EXPECT_FALSE(ShouldDisableOffloads(s)) << "paths are chosen per flow, not per packet";
}

TEST(Offloads, AutoTurnsThemOffBelowOneGigabit) {
  NodeSettings s = TwoBonded();
  EXPECT_TRUE(ShouldDisableOffloads(s));
  s.paths[0].rate_bps = 10000e6;
  s.paths[1].rate_bps = 1000e6;
  EXPECT_FALSE(ShouldDisableOffloads(s));
}

TEST(Offloads, ExplicitSettingWins) {
  NodeSettings s = TwoBonded();
  s.offload = OffloadSetting::kOn;
  EXPECT_FALSE(ShouldDisableOffloads(s));
  s.paths[0].rate_bps = 10000e6;
  s.paths[1].rate_bps = 10000e6;
  s.offload = OffloadSetting::kOff;
  EXPECT_TRUE(ShouldDisableOffloads(s));
}

TEST(PathTable, CarriesEverySetting) {
  NodeSettings s = TwoBonded();
  s.paths[1].delay_ms = 12.5;
  s.paths[1].gateway.reset();
  PathTable t = BuildPathTable(s);
  EXPECT_EQ(t[0].ifindex, 3u);
  EXPECT_EQ(t[0].src_ip, Addr("10.0.0.2").s_addr);
  EXPECT_EQ(t[0].dst_ip, Addr("10.9.9.9").s_addr);
  EXPECT_EQ(t[0].gateway, Addr("10.0.0.1").s_addr);
  EXPECT_EQ(t[0].src_port, 7201);
  EXPECT_EQ(t[0].dst_port, 7300);
  EXPECT_EQ(t[0].mtu, 1500u);
  EXPECT_EQ(t[0].rate_kbps, 40000u);
  EXPECT_EQ(t[0].state, MB_PATH_ACTIVE);
  EXPECT_EQ(t[1].rate_kbps, 20000u);
  EXPECT_EQ(t[1].owd_us, 12500u);
  EXPECT_EQ(t[1].gateway, 0u) << "no gateway means a FIB lookup in the data path";
  for (size_t i = 2; i < MB_MAX_PATHS; ++i) EXPECT_EQ(t[i].ifindex, 0u) << "slot " << i;
}

TEST(PathTable, FractionalRatesRoundToKbpsAndNeverZero) {
  NodeSettings s = TwoBonded();
  s.paths[0].rate_bps = 400;  // would be 0 kbps: the scheduler divides by it
  s.paths[1].rate_bps = 1234.5e3;
  PathTable t = BuildPathTable(s);
  EXPECT_EQ(t[0].rate_kbps, 1u);
  EXPECT_EQ(t[1].rate_kbps, 1235u);
}

TEST(PathTable, OnlyTheFirstListedBackupIsStandby) {
  NodeSettings s = TwoBonded();
  // Path ids follow interfaces.uplinks; backup order follows interfaces.backups.
  s.paths.push_back(Path("lte1", 5, 10, PathRole::kBackup, /*backup_order=*/1));
  s.paths.push_back(Path("lte0", 6, 10, PathRole::kBackup, /*backup_order=*/0));
  PathTable t = BuildPathTable(s);
  EXPECT_EQ(t[0].state, MB_PATH_ACTIVE);
  EXPECT_EQ(t[1].state, MB_PATH_ACTIVE);
  EXPECT_EQ(t[2].state, MB_PATH_DISABLED) << "second backup waits its turn";
  EXPECT_EQ(t[3].state, MB_PATH_BACKUP) << "first backup in interfaces.backups order";
}

TEST(PathTable, ActiveBackupCarriesTrafficOnThePrimaryOnly) {
  NodeSettings s = TwoBonded();
  s.mode = BondMode::kActiveBackup;
  s.primary = "wan2";
  s.paths.push_back(Path("lte0", 5, 10, PathRole::kBackup, /*backup_order=*/0));
  PathTable t = BuildPathTable(s);
  EXPECT_EQ(t[1].state, MB_PATH_ACTIVE) << "the primary";
  EXPECT_EQ(t[2].state, MB_PATH_BACKUP) << "listed backups come first";
  EXPECT_EQ(t[0].state, MB_PATH_DISABLED) << "other uplinks wait behind them";
  EXPECT_EQ(StandbyOrder(s), (std::vector<int>{2, 0}));
}

TEST(PathTable, BondedModesUseEveryBondedPath) {
  for (BondMode mode : {BondMode::kLoadBalance, BondMode::kRedundant, BondMode::kLatency}) {
    NodeSettings s = TwoBonded();
    s.mode = mode;
    s.primary = "wan1";
    PathTable t = BuildPathTable(s);
    EXPECT_EQ(t[0].state, MB_PATH_ACTIVE);
    EXPECT_EQ(t[1].state, MB_PATH_ACTIVE);
    EXPECT_TRUE(StandbyOrder(s).empty());
  }
}

TEST(PathTable, UnusablePathsAreTakenOut) {
  NodeSettings s = TwoBonded();
  s.paths.push_back(Path("lte0", 5, 10, PathRole::kBackup, 0));
  PathTable t = BuildPathTable(s, Usable({false, true, true}));
  EXPECT_EQ(t[0].state, MB_PATH_DISABLED);
  EXPECT_EQ(t[1].state, MB_PATH_ACTIVE);
  EXPECT_EQ(t[2].state, MB_PATH_BACKUP);
}

TEST(PathTable, AllBondedDownLeavesTheBackupToCarryTraffic) {
  NodeSettings s = TwoBonded();
  s.paths.push_back(Path("lte1", 5, 10, PathRole::kBackup, 1));
  s.paths.push_back(Path("lte0", 6, 10, PathRole::kBackup, 0));
  PathTable t = BuildPathTable(s, Usable({false, false, true, false}));
  EXPECT_EQ(t[0].state, MB_PATH_DISABLED);
  EXPECT_EQ(t[1].state, MB_PATH_DISABLED);
  EXPECT_EQ(t[3].state, MB_PATH_DISABLED) << "first backup is down";
  EXPECT_EQ(t[2].state, MB_PATH_BACKUP) << "so the second one takes over";
}

TEST(PathTable, ActiveBackupFailsOverInOrderAndBack) {
  NodeSettings s = TwoBonded();
  s.mode = BondMode::kActiveBackup;
  s.primary = "wan1";
  EXPECT_EQ(BuildPathTable(s, Usable({false, true}))[1].state, MB_PATH_BACKUP);
  EXPECT_EQ(BuildPathTable(s, Usable({false, true}))[0].state, MB_PATH_DISABLED);
  PathTable back = BuildPathTable(s, Usable({true, true}));
  EXPECT_EQ(back[0].state, MB_PATH_ACTIVE) << "primary recovered: traffic returns";
  EXPECT_EQ(back[1].state, MB_PATH_BACKUP);
}

TEST(PathTable, MeasuredCapacityAndDelayReplaceTheConfiguredOnes) {
  NodeSettings s = TwoBonded();
  std::vector<PathCondition> c(2);
  c[1].capacity_bps = 7.5e6;
  c[1].owd_us = 1234;
  PathTable t = BuildPathTable(s, c);
  EXPECT_EQ(t[0].rate_kbps, 40000u) << "no measurement: the configured rate";
  EXPECT_EQ(t[1].rate_kbps, 7500u);
  EXPECT_EQ(t[1].owd_us, 1234u);
}

TEST(ReseqHolds, NearerPathsWaitForTheFarthestActiveOne) {
  NodeSettings s = TwoBonded();
  s.paths.push_back(Path("wan3", 5, 10, PathRole::kBackup));
  s.reorder_deadline_ms = 100;
  std::vector<PathCondition> c(3);
  c[0].owd_us = 8000;
  c[1].owd_us = 35000;
  c[2].owd_us = 300000;  // a standby: never waited for
  PathTable t = BuildPathTable(s, c);
  EXPECT_EQ(t[0].reseq_hold_us, 27000u);
  EXPECT_EQ(t[1].reseq_hold_us, 0u) << "the farthest waits for nobody";
  EXPECT_EQ(t[2].state, MB_PATH_BACKUP);
  EXPECT_EQ(t[2].reseq_hold_us, 0u);
}

TEST(PathTable, GuardedPathStaysActiveWithoutBulk) {
  NodeSettings s = TwoBonded();
  s.floor_guard = true;
  std::vector<PathCondition> c(2);
  c[1].bulk_excluded = true;
  PathTable t = BuildPathTable(s, c);
  EXPECT_EQ(t[1].state, MB_PATH_ACTIVE) << "still there for failover and urgent packets";
  EXPECT_EQ(t[1].flags & MB_PATH_F_NO_BULK, MB_PATH_F_NO_BULK);
  EXPECT_EQ(t[0].flags & MB_PATH_F_NO_BULK, 0);
  s.mode = BondMode::kLatency;
  EXPECT_EQ(BuildPathTable(s, c)[1].flags & MB_PATH_F_NO_BULK, MB_PATH_F_NO_BULK);
}

TEST(PathTable, GuardNeverTakesTheLastBulkPath) {
  NodeSettings s = TwoBonded();
  s.floor_guard = true;
  std::vector<PathCondition> c(2);
  c[1].bulk_excluded = true;
  c[0].usable = false;
  PathTable t = BuildPathTable(s, c);
  EXPECT_EQ(t[1].state, MB_PATH_ACTIVE);
  EXPECT_EQ(t[1].flags & MB_PATH_F_NO_BULK, 0) << "the only ACTIVE path carries bulk";
  c[0].usable = true;
  c[0].bulk_excluded = true;
  t = BuildPathTable(s, c);
  EXPECT_EQ((t[0].flags | t[1].flags) & MB_PATH_F_NO_BULK, 0) << "never every path";
}

// The floor guard lab: the best path, saturated alone, loses probes and is
// degraded; the only healthy path is the one the guard keeps out of bulk.
// Taking the degraded path out for it would move bulk onto the lossy path.
TEST(PathTable, DegradedPathStaysWhenTheHealthyOneIsOutOfBulk) {
  NodeSettings s = TwoBonded();
  s.floor_guard = true;
  std::vector<PathCondition> c(2);
  c[0].degraded = true;
  c[1].bulk_excluded = true;
  PathTable t = BuildPathTable(s, c);
  EXPECT_EQ(t[0].state, MB_PATH_ACTIVE);
  EXPECT_EQ(t[0].flags & MB_PATH_F_NO_BULK, 0);
  EXPECT_EQ(t[1].state, MB_PATH_ACTIVE);
  EXPECT_EQ(t[1].flags & MB_PATH_F_NO_BULK, MB_PATH_F_NO_BULK);
  c[1].bulk_excluded = false;
  EXPECT_EQ(BuildPathTable(s, c)[0].state, MB_PATH_DISABLED) << "a healthy bulk path is left";
}

TEST(PathTable, GuardFlagOnlyWhereItActs) {
  NodeSettings s = TwoBonded();
  std::vector<PathCondition> c(2);
  c[1].bulk_excluded = true;
  s.floor_guard = false;
  EXPECT_EQ(BuildPathTable(s, c)[1].flags & MB_PATH_F_NO_BULK, 0) << "guard off";
  s.floor_guard = true;
  s.mode = BondMode::kRedundant;
  EXPECT_EQ(BuildPathTable(s, c)[1].flags & MB_PATH_F_NO_BULK, 0) << "copies go everywhere";
  s.mode = BondMode::kLoadBalance;
  c[1].manual = true;
  EXPECT_EQ(BuildPathTable(s, c)[1].flags & MB_PATH_F_NO_BULK, 0) << "moved in by hand";
}

TEST(ReseqHolds, NobodyWaitsForAGuardedPath) {
  NodeSettings s = TwoBonded();
  s.floor_guard = true;
  s.reorder_deadline_ms = 100;
  std::vector<PathCondition> c(2);
  c[0].owd_us = 1000;
  c[1].owd_us = 80000;
  c[1].bulk_excluded = true;
  PathTable t = BuildPathTable(s, c);
  EXPECT_EQ(t[0].reseq_hold_us, 0u);
  EXPECT_EQ(t[1].reseq_hold_us, 0u);
  c[1].bulk_excluded = false;
  EXPECT_EQ(BuildPathTable(s, c)[0].reseq_hold_us, 79000u);
}

TEST(ReseqHolds, NoneWhenOffOrWithinJitter) {
  NodeSettings s = TwoBonded();
  s.reorder_deadline_ms = 0;
  std::vector<PathCondition> c(2);
  c[0].owd_us = 1000;
  c[1].owd_us = 30000;
  EXPECT_EQ(BuildPathTable(s, c)[0].reseq_hold_us, 0u) << "resequencing off";
  s.reorder_deadline_ms = 100;
  c[1].owd_us = 1000 + kMinReseqHoldUs - 1;
  EXPECT_EQ(BuildPathTable(s, c)[0].reseq_hold_us, 0u) << "alike paths keep the fast path";
}

TEST(ReseqHolds, NeverLongerThanTheDeadline) {
  NodeSettings s = TwoBonded();
  s.reorder_deadline_ms = 20;
  std::vector<PathCondition> c(2);
  c[0].owd_us = 5000;
  c[1].owd_us = 300000;
  EXPECT_EQ(BuildPathTable(s, c)[0].reseq_hold_us, 20000u);
}

TEST(ReseqDeadline, LongestHoldPlusAJitterMarginAtMostTheConfiguredOne) {
  NodeSettings s = TwoBonded();
  s.reorder_deadline_ms = 0;
  PathTable t{};
  EXPECT_EQ(ReseqDeadlineUs(s, t, 0), 0u) << "off";
  s.reorder_deadline_ms = 100;
  EXPECT_EQ(ReseqDeadlineUs(s, t, 0), kMinReseqMarginUs) << "alike paths: the margin";
  t[0].reseq_hold_us = 27'000;
  EXPECT_EQ(ReseqDeadlineUs(s, t, 1'000), 27'000 + kMinReseqMarginUs);
  EXPECT_EQ(ReseqDeadlineUs(s, t, 10'000), 27'000 + 10'000 * kReseqJitterMargin);
  EXPECT_EQ(ReseqDeadlineUs(s, t, 10'100), 68'000u) << "whole milliseconds, rounded up";
  s.reorder_deadline_ms = 50;
  EXPECT_EQ(ReseqDeadlineUs(s, t, 10'000), 50'000u);
}

TEST(ReseqMargin, LatePacketsDoubleItAndCalmShrinksItToTheMinimum) {
  ReseqMargin m;
  EXPECT_EQ(m.margin_us(), kMinReseqMarginUs);
  EXPECT_FALSE(m.Update(7, 0)) << "the first reading only sets the baseline";
  EXPECT_TRUE(m.Update(9, 1 * kSecond));
  EXPECT_EQ(m.margin_us(), 2.0 * kMinReseqMarginUs);
  EXPECT_TRUE(m.Update(10, 2 * kSecond));
  EXPECT_EQ(m.margin_us(), 4.0 * kMinReseqMarginUs);
  EXPECT_FALSE(m.Update(10, 2 * kSecond + kReseqMarginCalmNs - 1)) << "not calm long enough";
  EXPECT_TRUE(m.Update(10, 2 * kSecond + kReseqMarginCalmNs));
  EXPECT_EQ(m.margin_us(), 3.2 * kMinReseqMarginUs);
  for (int i = 2; i < 20; ++i) m.Update(10, 2 * kSecond + i * kReseqMarginCalmNs);
  EXPECT_EQ(m.margin_us(), kMinReseqMarginUs) << "never below the minimum";
  EXPECT_FALSE(m.Update(3, 400 * kSecond)) << "a counter that went down was reset: no news";
  for (int i = 0; i < 40; ++i) m.Update(4 + i, (401 + i) * kSecond);
  EXPECT_LE(m.margin_us(), 1e6) << "capped at a second";
}

TEST(ReseqDeadline, TheMarginWidensTheDeadline) {
  NodeSettings s = TwoBonded();
  s.reorder_deadline_ms = 100;
  PathTable t{};
  t[0].reseq_hold_us = 20'000;
  EXPECT_EQ(ReseqDeadlineUs(s, t, 0, 50'000), 70'000u);
  EXPECT_EQ(ReseqDeadlineUs(s, t, 0, 400'000), 100'000u) << "at most the configured";
}

// Paths 0..2 ACTIVE (unless `states` says otherwise), the rest unused.
PathTable ActivePaths(std::initializer_list<uint8_t> states = {MB_PATH_ACTIVE, MB_PATH_ACTIVE,
                                                               MB_PATH_ACTIVE}) {
  PathTable t{};
  size_t i = 0;
  for (uint8_t state : states) t[i++].state = state;
  return t;
}

TEST(RepairWait, TheLargestRetransmissionTimeoutPlusTheAgentsMargin) {
  NodeSettings s = TwoBonded();
  s.loss_repair = true;
  const PathTable t = ActivePaths();
  std::vector<PathCondition> c(3);
  c[0].rtt_us = 12'000;
  c[0].rttvar_us = 1'000;
  c[1].rtt_us = 8'000;
  c[1].rttvar_us = 3'000;
  EXPECT_EQ(RepairWaitUs(s, t, c, 80'000), 8'000 + 4 * 3'000 + kRepairAgentMarginUs)
      << "the path whose RTT varies most, although its mean is the lower; path 2 has no RTT yet";
  EXPECT_EQ(RepairWaitUs(s, t, c, 20'000), 20'000u) << "at most the resequencing deadline";
  c[0] = c[1] = PathCondition{};
  c[0].rtt_us = 0;
  EXPECT_EQ(RepairWaitUs(s, t, c, 80'000), kRepairAgentMarginUs) << "at least the agents' margin";
}

TEST(RepairWait, OnlyActivePathsCount) {
  NodeSettings s = TwoBonded();
  s.loss_repair = true;
  std::vector<PathCondition> c(3);
  c[0].rtt_us = 2'000;
  c[1].rtt_us = 30'000;
  EXPECT_EQ(RepairWaitUs(s, ActivePaths({MB_PATH_ACTIVE, MB_PATH_BACKUP}), c, 80'000),
            2'000 + kRepairAgentMarginUs);
}

TEST(RepairWait, TheDeadlineBeforeAnyRoundTripIsMeasured) {
  NodeSettings s = TwoBonded();
  s.loss_repair = true;
  std::vector<PathCondition> c(3);
  c[1].rtt_us = 5'000;
  EXPECT_EQ(RepairWaitUs(s, ActivePaths(), {}, 40'000), 40'000u) << "no conditions at all";
  EXPECT_EQ(RepairWaitUs(s, ActivePaths({MB_PATH_ACTIVE, MB_PATH_DISABLED}), c, 40'000), 40'000u)
      << "only a path not ACTIVE was measured";
}

TEST(RepairWait, ZeroWhenRepairOrResequencingIsOff) {
  NodeSettings s = TwoBonded();
  std::vector<PathCondition> c(3);
  c[0].rtt_us = 10'000;
  EXPECT_EQ(RepairWaitUs(s, ActivePaths(), c, 80'000), 0u) << "loss_repair off";
  s.loss_repair = true;
  for (BondMode mode : {BondMode::kRedundant, BondMode::kActiveBackup}) {
    s.mode = mode;
    EXPECT_EQ(RepairWaitUs(s, ActivePaths(), c, 80'000), 0u)
        << BondModeName(mode) << ": no bonded bulk to repair";
  }
  s.mode = BondMode::kLatency;
  EXPECT_GT(RepairWaitUs(s, ActivePaths(), c, 80'000), 0u);
  s.reorder_deadline_ms = 0;
  EXPECT_EQ(RepairWaitUs(s, ActivePaths(), c, 0), 0u) << "resequencing off";
}

// The receiver's cumulative counters once a second: 10,000 packets each.
class RepairGateTest : public ::testing::Test {
 protected:
  // One interval: lost numbers asked for, of them repaired in time, gaps given up.
  bool Second(uint64_t requested, uint64_t repaired, uint64_t skipped) {
    totals_.requested += requested;
    totals_.repaired += repaired;
    totals_.skipped += skipped;
    totals_.received += 10'000;
    now_ += kSecond;
    return gate_.Update(totals_, now_);
  }
  RepairGate gate_;
  RepairGate::Totals totals_;
  uint64_t now_ = 0;
};

TEST_F(RepairGateTest, CongestionLossRestsRepairAndACalmIntervalResumesIt) {
  EXPECT_FALSE(Second(0, 0, 0)) << "the first reading is the baseline";
  EXPECT_FALSE(Second(300, 280, 20)) << "3%, nearly all repaired: a lossy link";
  EXPECT_TRUE(gate_.open());
  EXPECT_TRUE(Second(800, 700, 300)) << "8%: congestion";
  EXPECT_FALSE(gate_.open());
  EXPECT_DOUBLE_EQ(gate_.last_loss(), 0.08);
  for (int i = 0; i < 4; ++i) EXPECT_FALSE(Second(0, 0, 100)) << "resting 5 s, " << i;
  EXPECT_FALSE(Second(0, 0, 700)) << "resting, gaps given up count as lost: 7%";
  EXPECT_TRUE(Second(0, 0, 100)) << "1% after the rest";
  EXPECT_TRUE(gate_.open());
}

TEST_F(RepairGateTest, RepairsThatComeTooLateAreCongestionToo) {
  Second(0, 0, 0);
  EXPECT_FALSE(Second(10, 0, 10)) << "10 requests: too few to judge what came back";
  EXPECT_TRUE(gate_.open());
  EXPECT_TRUE(Second(400, 7, 400)) << "4% lost, 2% of it repaired in time";
  EXPECT_FALSE(gate_.open());
  ASSERT_TRUE(gate_.last_repaired());
  EXPECT_DOUBLE_EQ(*gate_.last_repaired(), 7.0 / 400);
}

TEST_F(RepairGateTest, RestingAgainRightAfterResumingRestsTwiceAsLong) {
  Second(0, 0, 0);
  ASSERT_TRUE(Second(800, 0, 800));
  EXPECT_EQ(gate_.rest_ns(), kRepairRestNs);
  for (int i = 0; i < 4; ++i) Second(0, 0, 100);
  ASSERT_TRUE(Second(0, 0, 100)) << "resumes";
  ASSERT_TRUE(Second(800, 0, 800)) << "and the congestion is still there";
  EXPECT_EQ(gate_.rest_ns(), 2 * kRepairRestNs);
  for (int i = 0; i < 9; ++i) EXPECT_FALSE(Second(0, 0, 100)) << i;
  ASSERT_TRUE(Second(0, 0, 100));
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(Second(100, 100, 0));
  ASSERT_TRUE(Second(800, 0, 800)) << "long after resuming: a new episode";
  EXPECT_EQ(gate_.rest_ns(), kRepairRestNs);
  EXPECT_EQ(gate_.rests(), 3u);
}

TEST(RepairGate, TooFewPacketsAccumulateAndAResetIsNoNews) {
  RepairGate gate;
  EXPECT_FALSE(gate.Update({.received = 1'000}, 0));
  EXPECT_FALSE(gate.Update({.requested = 40, .repaired = 40, .received = 1'300}, 1))
      << "300 packets: too few to judge";
  EXPECT_TRUE(gate.Update({.requested = 40, .repaired = 40, .received = 1'600}, 2))
      << "40 of 600 over both intervals: 6.7%";
  EXPECT_FALSE(gate.open());
  EXPECT_FALSE(gate.Update({.received = 10}, 3)) << "counters went down: maps pinned anew";
  EXPECT_FALSE(gate.open());
}

TEST(RepairPath, TheLeastLossyActivePath) {
  std::vector<PathCondition> c(3);
  c[0].loss = 0.04;
  c[1].loss = 0.01;
  c[2].loss = 0.02;
  for (PathCondition& p : c) p.rtt_us = 10'000;
  c[1].rtt_us = 50'000;
  EXPECT_EQ(RepairPathId(ActivePaths(), c), 1) << "loss first, beyond the tie: RTT second";
  EXPECT_EQ(RepairPathId(ActivePaths({MB_PATH_ACTIVE, MB_PATH_DISABLED, MB_PATH_ACTIVE}), c), 2)
      << "only ACTIVE paths";
}

TEST(RepairPath, NearlyEqualLossGoesToTheFasterPath) {
  std::vector<PathCondition> c(3);
  c[0].loss = 0.010;
  c[0].rtt_us = 40'000;
  c[1].loss = 0.014;  // within half a percentage point
  c[1].rtt_us = 15'000;
  c[2].loss = 0.016;  // beyond it, though faster still
  c[2].rtt_us = 5'000;
  EXPECT_EQ(RepairPathId(ActivePaths(), c), 1);
  c[1].rtt_us.reset();
  EXPECT_EQ(RepairPathId(ActivePaths(), c), 0) << "a measured RTT beats none";
  c[0].rtt_us.reset();
  EXPECT_EQ(RepairPathId(ActivePaths(), c), 0) << "nothing measured: the lower id";
}

TEST(RepairPath, NoneWithoutAnActivePath) {
  EXPECT_EQ(RepairPathId(ActivePaths({MB_PATH_BACKUP, MB_PATH_DISABLED}), {}), std::nullopt);
  EXPECT_EQ(RepairPathId(ActivePaths({MB_PATH_DISABLED, MB_PATH_ACTIVE}), {}), 1)
      << "absent conditions: lossless, unmeasured";
}

TEST(PathTable, DegradedPathGetsNoTrafficWhileAHealthyOneIsLeft) {
  NodeSettings s = TwoBonded();
  std::vector<PathCondition> c(2);
  c[1].degraded = true;
  PathTable t = BuildPathTable(s, c);
  EXPECT_EQ(t[0].state, MB_PATH_ACTIVE);
  EXPECT_EQ(t[1].state, MB_PATH_DISABLED);
  c[0].usable = false;
  t = BuildPathTable(s, c);
  EXPECT_EQ(t[1].state, MB_PATH_ACTIVE) << "a lossy path beats no path";
}

TEST(PathTable, HealthyBackupIsPreferredToADegradedBondedPath) {
  NodeSettings s = TwoBonded();
  s.paths.push_back(Path("lte0", 5, 10, PathRole::kBackup, 0));
  std::vector<PathCondition> c(3);
  c[0].usable = false;
  c[1].degraded = true;
  PathTable t = BuildPathTable(s, c);
  EXPECT_EQ(t[1].state, MB_PATH_DISABLED);
  EXPECT_EQ(t[2].state, MB_PATH_BACKUP);
  c[2].degraded = true;
  t = BuildPathTable(s, c);
  EXPECT_EQ(t[1].state, MB_PATH_ACTIVE) << "both lossy: keep the bonded one";
  EXPECT_EQ(t[2].state, MB_PATH_BACKUP);
}

TEST(PathTable, RedundantModeKeepsDegradedPathsForTheirCopies) {
  NodeSettings s = TwoBonded();
  s.mode = BondMode::kRedundant;
  std::vector<PathCondition> c(2);
  c[1].degraded = true;
  PathTable t = BuildPathTable(s, c);
  EXPECT_EQ(t[0].state, MB_PATH_ACTIVE);
  EXPECT_EQ(t[1].state, MB_PATH_ACTIVE);
}

TEST(PathTable, AllPathsDownLeavesNothingActive) {
  NodeSettings s = TwoBonded();
  s.paths.push_back(Path("lte0", 5, 10, PathRole::kBackup, 0));
  PathTable t = BuildPathTable(s, Usable({false, false, false}));
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(t[i].state, MB_PATH_DISABLED) << "path " << i;
}

TEST(PathTable, WhenProbesCondemnEveryPathTheLinksDecide) {
  NodeSettings s = TwoBonded();
  std::vector<PathCondition> c(2);
  c[0] = {.usable = false, .link_up = true};  // probes unanswered: the peer is not up yet
  c[1] = {.usable = false, .link_up = false};
  PathTable t = BuildPathTable(s, c);
  EXPECT_EQ(t[0].state, MB_PATH_ACTIVE) << "sending beats dropping everything";
  EXPECT_EQ(t[1].state, MB_PATH_DISABLED) << "no link, no traffic";
  c[1].usable = c[1].link_up = true;
  t = BuildPathTable(s, c);
  EXPECT_EQ(t[0].state, MB_PATH_DISABLED) << "one path reaches the peer: the verdict stands";
  EXPECT_EQ(t[1].state, MB_PATH_ACTIVE);
}

// --- Relayed and learned paths ----------------------------------------------

// wan1 of our own, then `p` as path 1.
NodeSettings WithSecondPath(const PathSettings& p) {
  NodeSettings s;
  s.port = 7201;
  s.paths = {Path("wan1", 3, 40), p};
  return s;
}

// A relayed path over the LAN device (ifindex 7, MTU 1400), no neighbour yet.
PathSettings Relayed() {
  PathSettings p = Path("mesh1", 7, 30);
  p.mtu = 1400;
  p.source = IpOf("10.210.0.1");
  p.gateway.reset();
  p.remote = IpAddress{};
  p.remote_port = 0;
  p.endpoint = PathEndpoint::kRelay;
  p.endpoint_known = false;
  return p;
}

// The peer's side of a relayed path, not learned yet.
PathSettings Learned() {
  PathSettings p = Path("mesh1", 5, 30);
  p.remote = IpAddress{};
  p.remote_port = 0;
  p.endpoint = PathEndpoint::kLearned;
  p.endpoint_known = false;
  return p;
}

bool AllZero(const mb_path& p) {
  const mb_path zero{};
  return std::memcmp(&p, &zero, sizeof(p)) == 0;
}

TEST(PathTable, RelayedPathWithoutNeighbourHasNoEntry) {
  const NodeSettings s = WithSecondPath(Relayed());
  EXPECT_TRUE(AllZero(BuildPathTable(s)[1]));
  EXPECT_TRUE(AllZero(BuildPathTable(s, Usable({true, true}))[1]));
  // Nor does a fallback pick it when the probes condemn everything.
  std::vector<PathCondition> c(2, PathCondition{.usable = false, .link_up = true});
  const PathTable t = BuildPathTable(s, c);
  EXPECT_EQ(t[0].state, MB_PATH_ACTIVE);
  EXPECT_TRUE(AllZero(t[1]));
}

TEST(PathTable, RelayedPathWithNeighbourIsLikeAnyPath) {
  PathSettings p = Relayed();
  p.remote = IpOf("10.210.0.2");
  p.remote_port = 7211;
  p.endpoint_known = true;
  const PathTable t = BuildPathTable(WithSecondPath(p));
  EXPECT_EQ(t[1].ifindex, 7u);
  EXPECT_EQ(t[1].src_ip, Addr("10.210.0.1").s_addr);
  EXPECT_EQ(t[1].dst_ip, Addr("10.210.0.2").s_addr);
  EXPECT_EQ(t[1].dst_port, 7211);
  EXPECT_EQ(t[1].src_port, 7201);
  EXPECT_EQ(t[1].gateway, 0u);
  EXPECT_EQ(t[1].mtu, 1400u);
  EXPECT_EQ(t[1].flags, 0u);
  EXPECT_EQ(t[1].state, MB_PATH_ACTIVE);
}

TEST(PathTable, UnlearnedPathWaitsDisabledWithItsLocalSide) {
  const NodeSettings s = WithSecondPath(Learned());
  for (const PathTable& t : {BuildPathTable(s), BuildPathTable(s, Usable({true, true})),
                             BuildPathTable(s, Usable({false, true}))}) {
    EXPECT_EQ(t[1].flags, MB_PATH_F_LEARN);
    EXPECT_EQ(t[1].ifindex, 5u);
    EXPECT_EQ(t[1].src_ip, Addr("10.0.0.2").s_addr);
    EXPECT_EQ(t[1].src_port, 7201);
    EXPECT_EQ(t[1].mtu, 1500u);
    EXPECT_EQ(t[1].dst_ip, 0u);
    EXPECT_EQ(t[1].dst_port, 0u);
    EXPECT_EQ(t[1].state, MB_PATH_DISABLED);
  }
  // Not as the only path left, not as a backup, not moved in by hand.
  EXPECT_EQ(BuildPathTable(s, {{.usable = false, .link_up = false}, {.usable = false, .link_up = true}})[1]
                .state,
            MB_PATH_DISABLED);
  NodeSettings backup = s;
  backup.paths[1].role = PathRole::kBackup;
  backup.paths[1].backup_order = 0;
  EXPECT_EQ(BuildPathTable(backup, Usable({false, true}))[1].state, MB_PATH_DISABLED);
  std::vector<PathCondition> manual = Usable({true, true});
  manual[1].manual = true;
  EXPECT_EQ(BuildPathTable(s, manual)[1].state, MB_PATH_DISABLED);
}

TEST(PathTable, LearnedPathOnceKnownCarriesTrafficAndKeepsItsFlag) {
  PathSettings p = Learned();
  p.remote = IpOf("10.211.2.2");
  p.remote_port = 7243;
  p.endpoint_known = true;
  const PathTable t = BuildPathTable(WithSecondPath(p));
  EXPECT_EQ(t[1].flags, MB_PATH_F_LEARN);
  EXPECT_EQ(t[1].dst_ip, Addr("10.211.2.2").s_addr);
  EXPECT_EQ(t[1].dst_port, 7243);
  EXPECT_EQ(t[1].state, MB_PATH_ACTIVE);
  EXPECT_EQ(BuildPathTable(TwoBonded())[1].flags, 0u) << "configured paths learn nothing";
}

TEST(BondMtu, RelayedPathsCountWithTheirLanMtu) {
  EXPECT_EQ(BondMtu(WithSecondPath(Relayed())), 1400u - MB_ENCAP_OVERHEAD);
}

}  // namespace
}  // namespace meshbpf
