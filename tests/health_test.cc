#include "agent/core/health.h"

#include <gtest/gtest.h>

#include <cmath>

#include "tests/test_common.h"

namespace meshbpf {
namespace {

TEST(RttEstimator, FollowsRfc6298) {
  RttEstimator rtt;
  rtt.Add(100 * kMs, 0);
  EXPECT_DOUBLE_EQ(rtt.srtt_ns(), 100.0 * kMs);
  EXPECT_DOUBLE_EQ(rtt.rttvar_ns(), 50.0 * kMs);
  rtt.Add(200 * kMs, kSecond);
  // rttvar = 3/4*50 + 1/4*|100-200| = 62.5; srtt = 7/8*100 + 1/8*200 = 112.5
  EXPECT_DOUBLE_EQ(rtt.rttvar_ns(), 62.5 * kMs);
  EXPECT_DOUBLE_EQ(rtt.srtt_ns(), 112.5 * kMs);
}

TEST(RttEstimator, MinimumSlidesOutOfItsWindow) {
  RttEstimator rtt(10 * kSecond);
  rtt.Add(30 * kMs, 0);
  rtt.Add(50 * kMs, 1 * kSecond);
  rtt.Add(40 * kMs, 2 * kSecond);
  EXPECT_EQ(rtt.min_ns(), 30 * kMs);
  rtt.Add(45 * kMs, 11 * kSecond);  // the 30 ms sample is 11 s old now
  EXPECT_EQ(rtt.min_ns(), 40 * kMs);
  rtt.Add(60 * kMs, 30 * kSecond);  // everything older is gone
  EXPECT_EQ(rtt.min_ns(), 60 * kMs);
}

TEST(JitterEstimator, Rfc3550GainAndClockOffsetCancels) {
  JitterEstimator j;
  const int64_t offset = -123'456'789'000;  // the peer's clock is far behind ours
  j.Add(offset + 10 * kMs, 0);
  EXPECT_DOUBLE_EQ(j.jitter_ns(), 0);
  j.Add(offset + 26 * kMs, 200 * kMs);  // D = 16 ms: J = 16/16 = 1 ms
  EXPECT_DOUBLE_EQ(j.jitter_ns(), 1.0 * kMs);
  EXPECT_DOUBLE_EQ(j.queue_delay_ns(), 16.0 * kMs) << "16 ms above the fastest transit";
  for (int i = 0; i < 200; ++i) j.Add(offset + 10 * kMs, (i + 2) * 200 * kMs);
  EXPECT_LT(j.jitter_ns(), 0.01 * kMs) << "a steady path converges to no jitter";
  EXPECT_DOUBLE_EQ(j.queue_delay_ns(), 0);
}

TEST(ProbeLossWindow, CountsOverTheLastProbesOnly) {
  ProbeLossWindow w(10);
  EXPECT_EQ(w.loss(), 0);
  for (int i = 0; i < 10; ++i) w.Add(i < 3);
  EXPECT_DOUBLE_EQ(w.loss(), 0.3);
  for (int i = 0; i < 3; ++i) w.Add(false);  // the three losses wrap out
  EXPECT_DOUBLE_EQ(w.loss(), 0.0);
  EXPECT_EQ(w.count(), 10u);
  w.Add(true);
  EXPECT_DOUBLE_EQ(w.loss(), 0.1);
}

TEST(CapacityEstimator, DropsToWhatAPushedPathDelivers) {
  CapacityEstimator c(20e6, 100.0 * kMs);
  c.Update({.sent_bps = 19e6, .delivered_bps = 12e6}, 19e6, 0);
  EXPECT_DOUBLE_EQ(c.estimate_bps(), 12e6);
  c.Update({.sent_bps = 12e6, .delivered_bps = 1e6}, 12e6, 0);
  EXPECT_DOUBLE_EQ(c.estimate_bps(), 6e6) << "at most halved per step";
}

// A burst that overran the path for part of the window (a redundant-mode
// upload on the 20 Mbit/s path): its average "delivered" is no capacity.
TEST(CapacityEstimator, AShortfallCountsOnlyOnAPushedPath) {
  CapacityEstimator c(20e6, 150.0 * kMs);
  c.Update({.sent_bps = 9e6, .delivered_bps = 5e6}, 9e6, 0);
  EXPECT_DOUBLE_EQ(c.estimate_bps(), 20e6);
  c.Update({.sent_bps = 19e6, .delivered_bps = 12e6}, 19e6, 0);
  EXPECT_DOUBLE_EQ(c.estimate_bps(), 12e6) << "pushed: what arrived is what it carries";
  c.Update({.sent_bps = 3e6, .delivered_bps = 3e6}, 3e6, 0);
  EXPECT_DOUBLE_EQ(c.estimate_bps(), 12e6) << "delivers what it is sent, not pushed: no growth";
  c.Update({.sent_bps = 1e6, .delivered_bps = 1e6}, 1e6, 10.0 * kMs, 10.0 * kMs);
  EXPECT_DOUBLE_EQ(c.estimate_bps(), 12e6) << "under a tenth of the estimate: too little to judge";
}

// A redundant-mode upload overran the 20 Mbit/s path for 1 s of the 2 s
// window (36 sent, 20 delivered while busy): over the window it looks pushed
// (18 sent, 10 delivered), and the average once cut it to 10, then 5.
TEST(CapacityEstimator, APartlyBusyWindowIsJudgedOnWhatThePathDeliveredWhileBusy) {
  CapacityEstimator c(20e6, 150.0 * kMs);
  const DeliverySample burst{.sent_bps = 18e6, .delivered_bps = 10e6, .seconds = 2,
                             .busy_seconds = 1, .busy_delivered_bps = 19.5e6};
  c.Update(burst, 0, 0);
  EXPECT_DOUBLE_EQ(c.estimate_bps(), 19.5e6);
  c.Update(burst, 0, 0);
  EXPECT_DOUBLE_EQ(c.estimate_bps(), 19.5e6) << "and it stays there";
  DeliverySample glimpse = burst;
  glimpse.busy_seconds = 0.2;
  CapacityEstimator d(20e6, 150.0 * kMs);
  d.Update(glimpse, 0, 0);
  EXPECT_DOUBLE_EQ(d.estimate_bps(), 10e6) << "busy for one probe interval: too short to tell";
  DeliverySample misaligned = burst;
  misaligned.busy_delivered_bps = 4e6;
  CapacityEstimator e(20e6, 150.0 * kMs);
  e.Update(misaligned, 0, 0);
  EXPECT_DOUBLE_EQ(e.estimate_bps(), 10e6) << "never below the window's average";
}

// Marks every 200 ms: 1 s at 36 Mbit/s sent into a 20 Mbit/s link, then
// 0.6 s in which it drains its queue while nothing more is sent.
TEST(DeliveryMeter, MeasuresWhatThePathDeliversWhileBusy) {
  DeliveryMeter meter;
  DeliveryMark m;
  auto answer = [&](double sent_mbit_s, double delivered_mbit_s) {
    m.sent_ns += 200 * kMs;
    m.reflected_ns += 200 * kMs;
    m.tx.bytes += static_cast<uint64_t>(sent_mbit_s * 1e6 / 8 * 0.2);
    m.rx.bytes += static_cast<uint64_t>(delivered_mbit_s * 1e6 / 8 * 0.2);
    m.tx.packets += 1;
    m.rx.packets += 1;
    meter.OnAnswer(m, 16e6);
  };
  answer(0, 0);
  EXPECT_FALSE(meter.EndInterval()) << "one mark brackets nothing";
  for (int i = 0; i < 5; ++i) answer(36, 20);
  for (int i = 0; i < 3; ++i) answer(0, 20);
  std::optional<DeliverySample> s = meter.EndInterval();
  ASSERT_TRUE(s);
  EXPECT_NEAR(s->seconds, 1.6, 1e-9);
  EXPECT_NEAR(s->sent_bps, 36e6 * 5 / 8, 1e3);
  EXPECT_NEAR(s->delivered_bps, 20e6, 1e3);
  EXPECT_NEAR(s->busy_seconds, 1.0, 1e-9);
  EXPECT_NEAR(s->busy_delivered_bps, 20e6, 1e3);
  answer(0, 0);
  s = meter.EndInterval();
  ASSERT_TRUE(s);
  EXPECT_EQ(s->busy_seconds, 0) << "each interval counts its own busy time";
  m.rx.bytes = 0;  // the peer restarted
  answer(0, 0);
  EXPECT_FALSE(meter.EndInterval()) << "counters went backwards";
}

// Benchmark scenario 10: the 20 Mbit/s link at 5 under a download the bond
// holds to a third of the total on it. It delivers all it is sent, behind a
// queue that stands.
TEST(CapacityEstimator, AStandingQueueMeansThePathIsSaturated) {
  CapacityEstimator c(20e6, 150.0 * kMs);
  c.Update({.sent_bps = 4.8e6, .delivered_bps = 4.8e6}, 4.8e6, 10.0 * kMs, 2.0 * kMs);
  EXPECT_DOUBLE_EQ(c.estimate_bps(), 20e6) << "a short median queue: jitter, not saturation";
  for (double expected : {10e6, 5e6, 4.8e6}) {
    c.Update({.sent_bps = 4.8e6, .delivered_bps = 4.8e6}, 4.8e6, 10.0 * kMs, 8.0 * kMs);
    EXPECT_DOUBLE_EQ(c.estimate_bps(), expected) << "toward 4.8, at most halved per step";
  }
  // The link back at 20: pushed, and the queue gone.
  c.Update({.sent_bps = 4.8e6, .delivered_bps = 4.8e6}, 4.8e6, 0, 0);
  EXPECT_DOUBLE_EQ(c.estimate_bps(), 4.8e6 * CapacityEstimator::kRegrowth);
}

// After scenario 10's dip: each step is judged on the interval sent at the
// estimate before it, and grows more while the path stays free.
TEST(CapacityEstimator, WinsALinkBackInGrowingStepsWhileItStaysFree) {
  CapacityEstimator c(20e6, 150.0 * kMs);
  auto free_interval = [&c] {
    const double sent = c.estimate_bps();
    c.Update({.sent_bps = sent, .delivered_bps = sent}, sent, 1.0 * kMs, 0);
  };
  c.Update({.sent_bps = 5e6, .delivered_bps = 5e6}, 5e6, 10.0 * kMs, 8.0 * kMs);
  c.Update({.sent_bps = 5e6, .delivered_bps = 5e6}, 5e6, 10.0 * kMs, 8.0 * kMs);
  ASSERT_DOUBLE_EQ(c.estimate_bps(), 5e6);
  for (double expected : {6.25e6, 9.375e6, 18.75e6, 20e6}) {
    free_interval();
    EXPECT_DOUBLE_EQ(c.estimate_bps(), expected);
  }
}

TEST(CapacityEstimator, AQueueAfterAStepEndsTheRunOfGrowth) {
  CapacityEstimator c(20e6, 150.0 * kMs);
  c.Update({.sent_bps = 16e6, .delivered_bps = 10e6}, 16e6, 0);
  ASSERT_DOUBLE_EQ(c.estimate_bps(), 10e6);
  c.Update({.sent_bps = 10e6, .delivered_bps = 10e6}, 10e6, 0);
  EXPECT_DOUBLE_EQ(c.estimate_bps(), 12.5e6);
  c.Update({.sent_bps = 11e6, .delivered_bps = 11e6}, 12.5e6, 40.0 * kMs);
  EXPECT_DOUBLE_EQ(c.estimate_bps(), 12.5e6) << "the latest probe queued: no step, the run ends";
  c.Update({.sent_bps = 12.5e6, .delivered_bps = 12.5e6}, 12.5e6, 0);
  EXPECT_DOUBLE_EQ(c.estimate_bps(), 15.625e6) << "a new run starts with the small step";
  c.Update({.sent_bps = 14e6, .delivered_bps = 14e6}, 12e6, 0);
  EXPECT_DOUBLE_EQ(c.estimate_bps(), 15.625e6) << "the newest interval did not push it";
}

TEST(CapacityEstimator, RandomLossBelowTheShortfallIsNotCapacity) {
  CapacityEstimator c(20e6, 100.0 * kMs);
  c.Update({.sent_bps = 20e6, .delivered_bps = 19e6}, 20e6, 0);  // 5% loss, no queue
  EXPECT_DOUBLE_EQ(c.estimate_bps(), 20e6);
}

TEST(CapacityEstimator, LongQueueMeansTheEstimateIsTooHigh) {
  CapacityEstimator c(20e6, 100.0 * kMs);
  c.Update({.sent_bps = 20e6, .delivered_bps = 20e6}, 20e6, 300.0 * kMs);
  EXPECT_LT(c.estimate_bps(), 20e6);
}

TEST(CapacityEstimator, IdlePathKeepsItsEstimateAndGrowthStopsAtTheConfiguredRate) {
  CapacityEstimator c(20e6, 100.0 * kMs);
  c.Update({.sent_bps = 16e6, .delivered_bps = 10e6}, 16e6, 0);
  const double low = c.estimate_bps();
  c.Update({.sent_bps = 1e6, .delivered_bps = 1e6}, 1e6, 0);
  EXPECT_DOUBLE_EQ(c.estimate_bps(), low) << "too little traffic to learn anything";
  for (int i = 0; i < 50; ++i) {
    c.Update({.sent_bps = c.estimate_bps(), .delivered_bps = c.estimate_bps()}, c.estimate_bps(), 0);
  }
  EXPECT_DOUBLE_EQ(c.estimate_bps(), 20e6);
}

TEST(CapacityEstimator, NeverBelowTheFloor) {
  CapacityEstimator c(20e6, 100.0 * kMs);
  for (int i = 0; i < 20; ++i) c.Update({.sent_bps = c.estimate_bps(), .delivered_bps = 0}, c.estimate_bps(), 0);
  EXPECT_DOUBLE_EQ(c.estimate_bps(), CapacityEstimator::kFloor * 20e6);
}

class PathHealthTest : public ::testing::Test {
 protected:
  PathHealth Make(HealthParams p = {}) { return PathHealth(p, 20e6, 100.0 * kMs); }
  // One probe interval of 200 ms.
  uint64_t Tick() { return now_ += 200 * kMs; }
  uint64_t now_ = 0;
};

TEST_F(PathHealthTest, DownAfterThresholdLostProbesUpAfterRecoveryThreshold) {
  PathHealth h = Make();
  EXPECT_FALSE(h.OnProbeLost(Tick()));
  EXPECT_FALSE(h.OnProbeLost(Tick()));
  std::optional<Transition> t = h.OnProbeLost(Tick());
  ASSERT_TRUE(t);
  EXPECT_EQ(t->from, PathState::kUp);
  EXPECT_EQ(t->to, PathState::kDown);
  EXPECT_EQ(t->reason, "3 probes lost in a row");
  for (int i = 0; i < 4; ++i) EXPECT_FALSE(h.OnProbeAnswered(kMs, 0, Tick())) << i;
  t = h.OnProbeAnswered(kMs, 0, Tick());
  ASSERT_TRUE(t);
  EXPECT_EQ(t->to, PathState::kUp);
  EXPECT_EQ(t->reason, "5 probes answered in a row");
}

TEST_F(PathHealthTest, AnAnswerBreaksTheRunOfLosses) {
  PathHealth h = Make();
  for (int i = 0; i < 5; ++i) h.OnProbeAnswered(kMs, 0, Tick());  // confirmed: loss counts
  for (int i = 0; i < 20; ++i) {
    EXPECT_FALSE(h.OnProbeLost(Tick()));
    EXPECT_FALSE(h.OnProbeLost(Tick()));
    EXPECT_FALSE(h.OnProbeAnswered(kMs, 0, Tick()));
  }
  EXPECT_EQ(h.state(), PathState::kUp);
  EXPECT_NEAR(h.probe_loss(), 2.0 / 3, 0.02);
}

TEST_F(PathHealthTest, FlappingPathMustProveItselfLonger) {
  PathHealth h = Make();
  auto down = [&] {
    for (int i = 0; i < 3; ++i) h.OnProbeLost(Tick());
    ASSERT_EQ(h.state(), PathState::kDown);
  };
  auto probes_until_up = [&] {
    int n = 0;
    while (h.state() == PathState::kDown && n < 100) {
      h.OnProbeAnswered(kMs, 0, Tick());
      ++n;
    }
    return n;
  };
  down();
  EXPECT_EQ(probes_until_up(), 5);
  down();  // again within a minute of coming back
  EXPECT_EQ(probes_until_up(), 10);
  down();
  EXPECT_EQ(probes_until_up(), 20);
  down();
  down();
  EXPECT_EQ(h.probes_needed_to_recover(), 40u) << "capped at 8x";
  EXPECT_EQ(probes_until_up(), 40);
  // A stable minute forgives the past.
  for (int i = 0; i < 301; ++i) h.OnProbeAnswered(kMs, 0, Tick());
  EXPECT_EQ(h.probes_needed_to_recover(), 5u);
}

TEST_F(PathHealthTest, CarrierLossIsImmediateAndRecoveryNeedsProbes) {
  PathHealth h = Make();
  std::optional<Transition> t = h.OnLink(false, "carrier lost on wan1", Tick());
  ASSERT_TRUE(t);
  EXPECT_EQ(t->to, PathState::kDown);
  EXPECT_EQ(t->reason, "carrier lost on wan1");
  EXPECT_FALSE(h.OnLink(true, "carrier back on wan1", Tick()))
      << "carrier is not proof of reaching the peer";
  for (int i = 0; i < 4; ++i) h.OnProbeAnswered(kMs, 0, Tick());
  EXPECT_EQ(h.state(), PathState::kDown);
  EXPECT_TRUE(h.OnProbeAnswered(kMs, 0, Tick()));
  EXPECT_EQ(h.state(), PathState::kUp);
}

TEST_F(PathHealthTest, WithoutProbesTheLinkAloneDecides) {
  HealthParams p;
  p.probed = false;
  PathHealth h = Make(p);
  ASSERT_TRUE(h.OnLink(false, "carrier lost", Tick()));
  std::optional<Transition> t = h.OnLink(true, "carrier back", Tick());
  ASSERT_TRUE(t);
  EXPECT_EQ(t->to, PathState::kUp);
}

TEST_F(PathHealthTest, APathThatMustBeProvenStartsDownUntilItsProbesAreAnswered) {
  HealthParams p;
  p.proven_before_use = true;
  PathHealth h = Make(p);
  EXPECT_EQ(h.state(), PathState::kDown);
  EXPECT_FALSE(h.OnLink(true, "uplink up at start", Tick()));
  // A slow handshake: probes go unanswered, and that is no failover.
  for (int i = 0; i < 10; ++i) EXPECT_FALSE(h.OnProbeLost(Tick())) << i;
  for (int i = 0; i < 4; ++i) EXPECT_FALSE(h.OnProbeAnswered(kMs, 0, Tick())) << i;
  std::optional<Transition> t = h.OnProbeAnswered(kMs, 0, Tick());
  ASSERT_TRUE(t);
  EXPECT_EQ(t->from, PathState::kDown);
  EXPECT_EQ(t->to, PathState::kUp);
  EXPECT_EQ(h.down_count(), 0u);

  p.probed = false;  // without probes nothing could prove it: the link decides
  EXPECT_EQ(Make(p).state(), PathState::kUp);
}

TEST_F(PathHealthTest, ProbesAnsweredWhileTheLinkIsDownDoNotBringItBack) {
  PathHealth h = Make();
  h.OnLink(false, "address removed", Tick());
  for (int i = 0; i < 10; ++i) EXPECT_FALSE(h.OnProbeAnswered(kMs, 0, Tick()));
  EXPECT_EQ(h.state(), PathState::kDown);
  std::optional<Transition> t = h.OnLink(true, "address back", Tick());
  ASSERT_TRUE(t) << "enough probes were answered meanwhile";
  EXPECT_EQ(t->to, PathState::kUp);
}

TEST_F(PathHealthTest, OutagesAndASilentStartAreNotLoss) {
  PathHealth h = Make();
  for (int i = 0; i < 4; ++i) h.OnProbeLost(Tick());  // the peer is not up yet
  EXPECT_EQ(h.state(), PathState::kDown);
  for (int i = 0; i < 5; ++i) h.OnProbeAnswered(kMs, 0, Tick());
  EXPECT_EQ(h.state(), PathState::kUp);
  EXPECT_EQ(h.probe_loss(), 0) << "nothing was lost on a path that had never answered";
  // Stable for a minute (so the next outage is no relapse), then blackholed for 2 s.
  for (int i = 0; i < 301; ++i) h.OnProbeAnswered(kMs, 0, Tick());
  for (int i = 0; i < 10; ++i) h.OnProbeLost(Tick());
  for (int i = 0; i < 5; ++i) h.OnProbeAnswered(kMs, 0, Tick());
  EXPECT_EQ(h.state(), PathState::kUp);
  EXPECT_EQ(h.probe_loss(), 0) << "the outage, including the losses that revealed it";
  EXPECT_FALSE(h.Rebalance(std::nullopt, 0, Tick())) << "so it comes back up, not degraded";
}

TEST(ProbeLossWindow, RetractTakesBackTheNewest) {
  ProbeLossWindow w(4);
  for (bool lost : {true, false, true, true, true, false}) w.Add(lost);  // wrapped: T T T F
  EXPECT_DOUBLE_EQ(w.loss(), 0.75);
  w.Retract(1);  // the F
  EXPECT_DOUBLE_EQ(w.loss(), 1.0);
  w.Retract(2);
  EXPECT_EQ(w.count(), 1u);
  w.Add(false);
  EXPECT_DOUBLE_EQ(w.loss(), 0.5);
  w.Retract(10);
  EXPECT_EQ(w.count(), 0u);
  EXPECT_EQ(w.loss(), 0);
}

DeliverySample Delivered(uint64_t sent, uint64_t got) {
  return {.sent_bps = 1e6, .delivered_bps = 1e6, .sent_packets = sent, .delivered_packets = got};
}

TEST_F(PathHealthTest, DataLossDegradesWithHysteresis) {
  PathHealth h = Make();
  EXPECT_FALSE(h.Rebalance(Delivered(1000, 990), 0, Tick())) << "1% is tolerated";
  std::optional<Transition> t;
  for (int i = 0; i < 5 && !t; ++i) t = h.Rebalance(Delivered(1000, 850), 0, Tick());
  ASSERT_TRUE(t);
  EXPECT_EQ(t->to, PathState::kDegraded);
  EXPECT_NE(t->reason.find("loss"), std::string::npos) << t->reason;
  for (int i = 0; i < 10; ++i) {
    EXPECT_FALSE(h.Rebalance(Delivered(1000, 940), 0, Tick())) << "6% is not clean enough yet";
  }
  t.reset();
  for (int i = 0; i < 10 && !t; ++i) t = h.Rebalance(Delivered(1000, 1000), 0, Tick());
  ASSERT_TRUE(t);
  EXPECT_EQ(t->to, PathState::kUp);
}

TEST_F(PathHealthTest, ModerateLossLowersTheWeightOnly) {
  PathHealth h = Make();
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(h.Rebalance(Delivered(1000, 980), 0, Tick()));
  EXPECT_EQ(h.state(), PathState::kUp);
  EXPECT_NEAR(h.weight_bps(), 0.9 * h.capacity_bps(), 1e3) << "2% loss keeps 90%";
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(h.Rebalance(Delivered(1000, 950), 0, Tick()));
  EXPECT_NEAR(h.weight_bps(), 0.75 * h.capacity_bps(), 1e3) << "5% loss keeps 75%";
}

TEST_F(PathHealthTest, ProbeLossIsConvertedToOneWay) {
  PathHealth h = Make();
  for (int i = 0; i < 5; ++i) h.OnProbeAnswered(kMs, 0, Tick());  // confirmed
  // 19 of 100 round trips lost: 10% each way.
  for (int i = 0; i < 100; ++i) {
    if (i % 100 < 19) {
      h.OnProbeLost(Tick());
    }
    h.OnProbeAnswered(kMs, 0, Tick());
  }
  EXPECT_NEAR(h.loss(), 1 - std::sqrt(1 - h.probe_loss()), 1e-12);
  EXPECT_LT(h.loss(), h.probe_loss());
}

TEST_F(PathHealthTest, SnapshotSkewBetweenIntervalsCancelsOut) {
  PathHealth h = Make();
  // The peer read its counters late in one interval (60 packets that
  // arrived after the probe counted early) and so "missed" them in the next.
  for (int i = 0; i < 20; ++i) {
    EXPECT_FALSE(h.Rebalance(Delivered(1000, i % 2 ? 940 : 1060), 0, Tick())) << i;
  }
  EXPECT_LT(h.loss(), 0.015) << "what is left is one skew over five intervals";
}

TEST_F(PathHealthTest, DataLossIsForgottenWhenTrafficStops) {
  PathHealth h = Make();
  for (int i = 0; i < 3; ++i) h.Rebalance(Delivered(1000, 850), 0, Tick());
  ASSERT_EQ(h.state(), PathState::kDegraded);
  for (int i = 0; i < 30; ++i) h.OnProbeAnswered(kMs, 0, Tick());
  std::optional<Transition> t;
  for (int i = 0; i < 5 && !t; ++i) t = h.Rebalance(std::nullopt, 0, Tick());
  ASSERT_TRUE(t) << "the window aged out; clean probes speak for the path";
  EXPECT_EQ(t->to, PathState::kUp);
}

TEST_F(PathHealthTest, DropsOfAFullQueueAreCongestionNotLoss) {
  PathHealth h = Make();
  for (int i = 0; i < 30; ++i) h.OnProbeAnswered(kMs, 0, Tick());  // queue empty
  // Saturated: probes queue 30 ms behind data, a third of them and 10% of
  // the data are tail-dropped.
  for (int i = 0; i < 30; ++i) {
    h.OnProbeAnswered(kMs, 30 * static_cast<int64_t>(kMs), Tick());
    if (i % 3 == 0) h.OnProbeLost(Tick());
    EXPECT_TRUE(h.congested(now_));
    EXPECT_FALSE(h.Rebalance(Delivered(1000, 900), 0, Tick())) << i;
  }
  EXPECT_EQ(h.loss(), 0);
  EXPECT_DOUBLE_EQ(h.weight_bps(), h.capacity_bps());
  // The queue drains and the same loss goes on: once the congestion is
  // further back than its memory (2 s), the loss is the link's.
  h.OnProbeAnswered(kMs, 0, Tick());
  EXPECT_TRUE(h.congested(now_)) << "a full queue a probe ago";
  int remembered = 0;
  for (; h.congested(now_) && remembered < 20; ++remembered) {
    EXPECT_FALSE(h.Rebalance(Delivered(1000, 880), 0, Tick()));
  }
  // The last full queue was seen 400 ms before: 1.6 s more, in 200 ms steps.
  EXPECT_EQ(remembered, 8);
  std::optional<Transition> t;
  for (int i = 0; i < 5 && !t; ++i) t = h.Rebalance(Delivered(1000, 880), 0, Tick());
  ASSERT_TRUE(t);
  EXPECT_EQ(t->to, PathState::kDegraded);
}

TEST_F(PathHealthTest, ProbesLostSoonAfterAFullQueueAreCongestion) {
  PathHealth h = Make();
  for (int i = 0; i < 30; ++i) h.OnProbeAnswered(kMs, 0, Tick());
  h.OnProbeAnswered(kMs, 30 * static_cast<int64_t>(kMs), Tick());  // one probe saw the queue full
  h.OnProbeAnswered(kMs, 0, Tick());                                // the next saw it drained
  for (int i = 0; i < 4; ++i) {  // 800 ms: the flow that filled it lost these
    h.OnProbeLost(Tick());
    h.OnProbeAnswered(kMs, 0, Tick());
  }
  EXPECT_EQ(h.probe_loss(), 0);
  for (int i = 0; i < 30; ++i) h.OnProbeAnswered(kMs, 0, Tick());  // well past the memory
  for (int i = 0; i < 4; ++i) {
    h.OnProbeLost(Tick());
    h.OnProbeAnswered(kMs, 0, Tick());
  }
  EXPECT_GT(h.probe_loss(), 0) << "losses without a queue are the link's";
}

TEST_F(PathHealthTest, OneIntervalsBurstOfDropsIsNotTheLinksLoss) {
  PathHealth h = Make();
  for (int i = 0; i < 30; ++i) h.OnProbeAnswered(kMs, 0, Tick());
  // A download starts: its first round trips overshoot the path and 30% of
  // one interval is dropped (no probe saw the queue); then it runs clean.
  // Over the four intervals that is 11% lost.
  EXPECT_FALSE(h.Rebalance(Delivered(500, 500), 0, Tick()));
  EXPECT_FALSE(h.Rebalance(Delivered(4000, 2800), 0, Tick()));
  EXPECT_FALSE(h.Rebalance(Delivered(3300, 3280), 0, Tick()));
  EXPECT_FALSE(h.Rebalance(Delivered(3300, 3280), 0, Tick()));
  EXPECT_EQ(h.state(), PathState::kUp);
  EXPECT_LT(h.loss(), 0.01);
  // Loss in every interval is the link's, though one interval is left out.
  std::optional<Transition> t;
  for (int i = 0; i < 8 && !t; ++i) t = h.Rebalance(Delivered(3300, 2900), 0, Tick());
  ASSERT_TRUE(t);
  EXPECT_EQ(t->to, PathState::kDegraded);
}

TEST_F(PathHealthTest, TooFewPacketsFallBackToProbeLoss) {
  PathHealth h = Make();
  for (int i = 0; i < 40; ++i) h.OnProbeAnswered(kMs, 0, Tick());
  EXPECT_FALSE(h.Rebalance(Delivered(50, 0), 0, Tick())) << "50 packets prove nothing";
  EXPECT_EQ(h.loss(), 0);
  for (int i = 0; i < 15; ++i) {
    h.OnProbeLost(Tick());
    h.OnProbeAnswered(kMs, 0, Tick());
  }
  std::optional<Transition> t = h.Rebalance(std::nullopt, 0, Tick());
  ASSERT_TRUE(t) << "15 of 65 probes lost: 12% each way";
  EXPECT_EQ(t->to, PathState::kDegraded);
}
TEST_F(PathHealthTest, ProbeLossNeedsEnoughProbesAndIgnoresAnUnfinishedRun) {
  PathHealth h = Make();
  for (int i = 0; i < 5; ++i) h.OnProbeAnswered(kMs, 0, Tick());  // confirmed: loss counts
  h.OnProbeLost(Tick());
  h.OnProbeAnswered(kMs, 0, Tick());
  EXPECT_EQ(h.probe_loss(), 0) << "1 of 2 is too few to judge";
  for (int i = 0; i < 40; ++i) h.OnProbeAnswered(kMs, 0, Tick());
  const double before = h.probe_loss();
  EXPECT_NEAR(before, 1.0 / 42, 1e-9);
  h.OnProbeLost(Tick());
  h.OnProbeLost(Tick());
  EXPECT_DOUBLE_EQ(h.probe_loss(), before) << "two in a row may be an outage starting";
  EXPECT_FALSE(h.Rebalance(std::nullopt, 0, Tick()));
  h.OnProbeAnswered(kMs, 0, Tick());
  EXPECT_NEAR(h.probe_loss(), 3.0 / 45, 1e-9) << "it was loss after all";
}

TEST_F(PathHealthTest, FarSlowerThanTheBestPathIsDegraded) {
  PathHealth h = Make();
  for (int i = 0; i < 20; ++i) h.OnProbeAnswered(600 * kMs, 0, Tick());
  std::optional<Transition> t = h.Rebalance(std::nullopt, 20 * kMs, Tick());
  ASSERT_TRUE(t);
  EXPECT_EQ(t->to, PathState::kDegraded);
  EXPECT_NE(t->reason.find("RTT"), std::string::npos) << t->reason;
  EXPECT_FALSE(h.Rebalance(std::nullopt, 400 * kMs, Tick())) << "within 250 ms but not 125 ms";
  EXPECT_TRUE(h.Rebalance(std::nullopt, 590 * kMs, Tick()));
  EXPECT_EQ(h.state(), PathState::kUp);
}

TEST_F(PathHealthTest, DegradedPathStillGoesDownAndComesBackDegraded) {
  PathHealth h = Make();
  for (int i = 0; i < 3; ++i) h.Rebalance(Delivered(1000, 800), 0, Tick());
  ASSERT_EQ(h.state(), PathState::kDegraded);
  for (int i = 0; i < 3; ++i) h.OnProbeLost(Tick());
  EXPECT_EQ(h.state(), PathState::kDown);
  std::optional<Transition> t;
  for (int i = 0; i < 5; ++i) t = h.OnProbeAnswered(kMs, 0, Tick());
  ASSERT_TRUE(t);
  EXPECT_EQ(t->to, PathState::kDegraded) << "reachable again, still lossy";
}

TEST_F(PathHealthTest, CapacityFollowsDeliveryOverSeveralIntervals) {
  PathHealth h = Make();
  const DeliverySample pushed{.sent_bps = 20e6, .delivered_bps = 8e6, .sent_packets = 1700,
                              .delivered_packets = 1700, .seconds = 1};
  h.Rebalance(pushed, 0, Tick());
  EXPECT_DOUBLE_EQ(h.capacity_bps(), 20e6) << "one interval is not enough evidence";
  h.Rebalance(pushed, 0, Tick());
  EXPECT_DOUBLE_EQ(h.capacity_bps(), 10e6) << "halved at most in one step";
  h.Rebalance(pushed, 0, Tick());
  EXPECT_DOUBLE_EQ(h.capacity_bps(), 8e6);
}

// Probes answered with a one-way transit of `queue` above the base the
// first one sets; the capacity window is the newest 2 s.
TEST_F(PathHealthTest, CapacityFollowsAQueueThatStandsNotItsSpikes) {
  PathHealth h = Make();
  const DeliverySample steady{.sent_bps = 4.8e6, .delivered_bps = 4.8e6, .sent_packets = 400,
                              .delivered_packets = 400, .seconds = 1};
  h.OnProbeAnswered(kMs, 0, Tick());
  auto interval = [&](std::initializer_list<int> queues_ms) {
    for (int q : queues_ms) h.OnProbeAnswered(kMs + q * kMs, q * static_cast<int64_t>(kMs), Tick());
    h.Rebalance(steady, 0, now_);
  };
  for (int i = 0; i < 3; ++i) interval({0, 1, 40, 0, 1});  // a spike per second: jitter
  EXPECT_DOUBLE_EQ(h.capacity_bps(), 20e6);
  interval({9, 8, 2, 10, 9});
  EXPECT_DOUBLE_EQ(h.capacity_bps(), 20e6) << "half the 2 s window still had no queue: a burst";
  interval({8, 9, 9, 1, 9});
  EXPECT_DOUBLE_EQ(h.capacity_bps(), 10e6) << "8 ms or more in three of four probes: saturated";
}

// Growth is judged on the newest interval, so it steps every interval, not
// once per 2 s window (which mixes intervals sent at the old estimate).
TEST_F(PathHealthTest, CapacityGrowsEveryIntervalWhileThePathIsFree) {
  PathHealth h = Make();
  const DeliverySample cut{.sent_bps = 20e6, .delivered_bps = 5e6, .sent_packets = 1700,
                           .delivered_packets = 1700, .seconds = 1};
  for (int i = 0; i < 4; ++i) h.Rebalance(cut, 0, Tick());
  ASSERT_DOUBLE_EQ(h.capacity_bps(), 5e6);
  // Sent what it delivers: the window still holds the cut, no step yet.
  h.Rebalance(DeliverySample{.sent_bps = 5e6, .delivered_bps = 5e6, .sent_packets = 1000,
                             .delivered_packets = 1000, .seconds = 1},
              0, Tick());
  ASSERT_DOUBLE_EQ(h.capacity_bps(), 5e6);
  for (double expected : {6.25e6, 9.375e6, 18.75e6}) {
    const double sent = h.capacity_bps();
    h.Rebalance(DeliverySample{.sent_bps = sent, .delivered_bps = sent, .sent_packets = 1000,
                               .delivered_packets = 1000, .seconds = 1},
                0, Tick());
    EXPECT_DOUBLE_EQ(h.capacity_bps(), expected);
  }
}

TEST_F(PathHealthTest, OneSkewedIntervalDoesNotCutCapacity) {
  PathHealth h = Make();
  auto sample = [](double delivered) {
    return DeliverySample{.sent_bps = 20e6, .delivered_bps = delivered, .sent_packets = 1700,
                          .delivered_packets = 1700, .seconds = 1};
  };
  for (int i = 0; i < 4; ++i) h.Rebalance(sample(20e6), 0, Tick());
  h.Rebalance(sample(15e6), 0, Tick());  // counters read late: the next interval makes up
  h.Rebalance(sample(25e6), 0, Tick());
  EXPECT_DOUBLE_EQ(h.capacity_bps(), 20e6);
}
}  // namespace
}  // namespace meshbpf
