// Path health: estimators (RTT, jitter, loss, capacity) and the per-path
// state machine that decides whether a path is up, degraded or down. Pure
// code with an injected clock (all times are CLOCK_MONOTONIC nanoseconds
// passed in), so every rule is unit-tested without root.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "agent/core/config_defaults.h"
#include "agent/core/probe.h"

namespace meshbpf {

// Smoothed RTT and variation as in RFC 6298, plus the minimum over a sliding
// window (the propagation delay, which the scheduler wants as one-way delay).
class RttEstimator {
 public:
  explicit RttEstimator(uint64_t min_window_ns = 30'000'000'000ull) : window_ns_(min_window_ns) {}
  void Add(uint64_t rtt_ns, uint64_t now_ns);
  bool has_sample() const { return has_sample_; }
  double srtt_ns() const { return srtt_; }
  double rttvar_ns() const { return rttvar_; }
  uint64_t min_ns() const { return window_.empty() ? 0 : window_.front().rtt_ns; }

 private:
  struct Sample {
    uint64_t at_ns;
    uint64_t rtt_ns;
  };
  uint64_t window_ns_;
  bool has_sample_ = false;
  double srtt_ = 0, rttvar_ = 0;
  std::deque<Sample> window_;  // increasing rtt from front: a monotonic-queue minimum
};

// Interarrival jitter of RFC 3550 (6.4.1) from one-way transit times
// (receiver clock minus sender clock). The clocks need not agree: the
// offset cancels in the differences. The same transit times give the
// queueing delay: transit minus the smallest transit seen in a window.
class JitterEstimator {
 public:
  explicit JitterEstimator(uint64_t base_window_ns = 30'000'000'000ull)
      : base_window_ns_(base_window_ns) {}
  void Add(int64_t transit_ns, uint64_t now_ns);
  double jitter_ns() const { return jitter_; }
  // How far the latest transit lies above the window's smallest.
  double queue_delay_ns() const;

 private:
  struct Sample {
    uint64_t at_ns;
    int64_t transit_ns;
  };
  uint64_t base_window_ns_;
  std::optional<int64_t> last_transit_;
  double jitter_ = 0;
  std::deque<Sample> base_;  // monotonic-queue minimum of transit
};

// Loss over the last `window` probes (a ring of outcomes).
class ProbeLossWindow {
 public:
  explicit ProbeLossWindow(size_t window = 100) : outcomes_(window, false) {}
  void Add(bool lost);
  // Takes back the newest `n` outcomes.
  void Retract(size_t n);
  size_t count() const { return count_; }
  double loss() const { return count_ == 0 ? 0.0 : static_cast<double>(lost_) / count_; }

 private:
  std::vector<bool> outcomes_;
  size_t next_ = 0, count_ = 0, lost_ = 0;
};

// What one path delivered over one rebalance interval, from the per-path
// counters: our tx counters when the probes left and the peer's rx counters
// when it reflected them (the probe queues behind the data sent before it,
// so the two snapshots line up).
struct DeliverySample {
  double sent_bps = 0;       // what we put on the path
  double delivered_bps = 0;  // what the peer received from it
  uint64_t sent_packets = 0;
  uint64_t delivered_packets = 0;
  double seconds = 0;  // length of the interval
  // The part of the interval in which the path was busy (sent, between two
  // probe answers, at least CapacityEstimator::kBusy of its estimate), and
  // what it delivered then: a burst's delivery averaged over the idle rest
  // of a window is no capacity.
  double busy_seconds = 0;
  double busy_delivered_bps = 0;
};

// Counter snapshots a probe answer carries: ours when the probe left, the
// peer's when it answered.
struct DeliveryMark {
  uint64_t sent_ns = 0;
  PathTx tx;
  uint64_t reflected_ns = 0;
  PathRx rx;
};
// Whether mark `b` is later than `a` on both ends and no counter went back
// (a reset or the peer's restart in between spoils the difference).
bool CountersMovedOn(const DeliveryMark& a, const DeliveryMark& b);

// One path's delivery over each rebalance interval, from the marks of its
// probe answers (every probe interval, so a burst's busy time is known to
// within one).
class DeliveryMeter {
 public:
  // An answer's mark. `busy_bps`: from this rate sent since the last
  // answer, that time counts as busy.
  void OnAnswer(const DeliveryMark& mark, double busy_bps);
  // The interval since the last call; nothing without a new answer, or
  // when counters went backwards (the peer restarted, maps recreated).
  std::optional<DeliverySample> EndInterval();
  const std::optional<DeliveryMark>& latest() const { return latest_; }

 private:
  std::optional<DeliveryMark> start_, latest_;
  double busy_seconds_ = 0, busy_delivered_bits_ = 0, busy_delivered_seconds_ = 0;
};

// Capacity estimate for one path, in bit/s, never above the configured rate
// (the user's promise of the plan; the estimate finds shortfalls). It is fed
// averages over several intervals: one interval's counter snapshots can be a
// scheduling delay apart, and reacting to that noise moves traffic for nothing.
// - the path is pushed (sent >= kBusy of the estimate) and delivers clearly
//   less than it is sent, or, sent at least kJudged of the estimate, its
//   queue stands (three in four of the window's probes found
//   kStandingQueueNs or more: spikes such as a rate change's, or a burst
//   shorter than the window, do not make it): it is saturated, and the
//   estimate drops to what it delivered (at most by half per step). Over a
//   window the path was not busy throughout, "delivered" is no capacity:
//   a redundant-mode burst on a 20 Mbit/s path once cut it to 2.5. Nor
//   is it when the path was pushed for part of the window only (a 1 s
//   burst at 36 Mbit/s averages "pushed" over 2 s): what the path
//   delivered while busy is then its capacity (see DeliverySample);
// - its latest queueing delay exceeds `queue_limit_ns`: the estimate drops
//   below what was sent;
// - the path was pushed over the newest interval (sent >= kBusy of the
//   estimate), the window shows no shortfall or standing queue and the
//   latest probe found no queue (under kStandingQueueNs): the estimate grows
//   back toward the configured rate, by kRegrowth, then by larger steps
//   (kRegrowthSteps) while each step still finds the path free. Judged on
//   the newest interval, each step sees the one before it at work: judged
//   on the window, growth waited a whole window per step, and the bond took
//   ~9 s to win a link back after a dip (scenario 10) where MPTCP took 2.
//   A step too far shows within the next interval: the queue it builds
//   (a quarter second per second at 25% over) ends the run of steps.
// Why a standing queue counts even on a path sent little: the resequencer
// holds a flow to what its slowest share allows, so a link that falls to a
// quarter of its rate delivers all it is sent, behind a steady queue, while
// the flow collapses to a few times that (benchmark scenario 10). Too high
// an estimate costs the whole bond; too low only the path's surplus, which
// regrowth wins back within seconds.
class CapacityEstimator {
 public:
  static constexpr double kBusy = 0.8;    // of the estimate: pushed enough to grow
  static constexpr double kJudged = 0.1;  // of the estimate: enough to judge a standing queue
  static constexpr double kShortfall = 0.9;  // delivered/sent below this: the path cannot keep up
  static constexpr double kGrowth = 1.1;     // a long queue: the step down
  static constexpr double kRegrowth = 1.25;  // a free path: the first step back up
  // The steps of a run of growth, each while the one before found the path free.
  static constexpr std::array<double, 3> kRegrowthSteps = {kRegrowth, 1.5, 2.0};
  static constexpr double kStandingQueueNs = 5e6;
  static constexpr double kFloor = 0.05;  // of the configured rate
  // Busy time that says what the path delivers while busy: at least two
  // probe intervals, the counters' alignment error shrinks over them.
  static constexpr double kMinBusySeconds = 0.4;

  CapacityEstimator(double configured_bps, double queue_limit_ns)
      : configured_(configured_bps), estimate_(configured_bps), queue_limit_ns_(queue_limit_ns) {}
  // `window`: the newest intervals (min_capacity_window_s);
  // `newest_sent_bps`: what was sent over the newest of them;
  // `queue_delay_ns`: the latest probe's; `standing_queue_ns`: what three
  // in four of the window's probes found at least (0: none answered).
  void Update(const DeliverySample& window, double newest_sent_bps, double queue_delay_ns,
              double standing_queue_ns = 0);
  double estimate_bps() const { return estimate_; }

 private:
  double configured_, estimate_, queue_limit_ns_;
  size_t growth_run_ = 0;  // steps grown in a row
};

enum class PathState { kUp, kDegraded, kDown };
const char* HealthStateName(PathState state);

struct HealthParams {
  // Whether probes run (the peer's bond address is known). Without them a
  // path comes back as soon as its link does.
  bool probed = true;
  // Whether a probed path starts down, until `recovery_threshold` probes are
  // answered, rather than up. With authentication nothing reaches the peer
  // before the session: starting up, each path went down 3 probes into a
  // slow handshake, a failover in the history at every start.
  bool proven_before_use = false;
  uint32_t threshold = config_defaults::kThreshold;                    // lost probes: down
  uint32_t recovery_threshold = config_defaults::kRecoveryThreshold;  // answered: back up
  // A path that goes down again within `flap_window_ns` of coming back is
  // flapping: each such relapse doubles the probes it needs to come back
  // (up to `max_flap_factor` times recovery_threshold); a stable period of
  // flap_window_ns resets the factor.
  uint64_t flap_window_ns = 60'000'000'000ull;
  uint32_t max_flap_factor = 8;
  // Below `degrade_loss` a lossy path still carries traffic, but less: its
  // weight is its capacity times (1 - loss_weight_slope * loss), so 2% loss
  // keeps 90%, 5% keeps 75%. (Measured in the lab: a 40 + 20 Mbit/s bond with
  // 2% or 5% loss on the 20 still uploads 54 Mbit/s with the lossy path in,
  // 37 without it.) At `degrade_loss` the path is degraded and carries no
  // bonded traffic while a healthy one is left; below `recover_loss` it is
  // back (hysteresis). Loss is one-way: probe round trips are converted. The
  // config sets both (failover.degrade_loss_percent / recover_loss_percent).
  double loss_weight_slope = 5;
  double degrade_loss = config_defaults::kDegradeLossPercent / 100;
  double recover_loss = config_defaults::kRecoverLossPercent / 100;
  // ... or when its RTT exceeds the best path's by more than this.
  uint64_t degrade_extra_rtt_ns = 250'000'000ull;
  // Data loss is judged over the last `data_loss_intervals` rebalance
  // intervals, leaving out the one that lost most, once the others carried
  // `min_packets_for_loss` packets: a burst of drops in one interval (a
  // flow's start overshooting the path) is not the link's loss, which goes
  // on in every interval; probe loss
  // once `min_probes_for_loss` probes were judged (2 lost of 5 says little).
  // A long window matters: the two counter snapshots of an interval are
  // taken a scheduling delay apart, and only over several intervals does
  // that error cancel out against the traffic.
  size_t data_loss_intervals = 5;
  double min_capacity_window_s = 2;
  // Loss while the path's queue is this long (probes' one-way delay above
  // its minimum) is congestion, the drops of a full queue that TCP answers
  // by itself, not a lossy link: such intervals and probes do not count.
  // (Counting them cut the weights of saturated paths and shifted traffic
  // around until 8 TCP flows over 40 + 20 Mbit/s got less than one link.)
  double congested_queue_ns = 10e6;
  // ... and for this long after a probe saw it: probes sample the queue
  // every 200 ms while a TCP start fills it, drops and drains it within a
  // few round trips (BBR's startup), so the probe after the drops often
  // sees an empty queue. (Seen: a download's start cost the best path 12%
  // "loss" and took it out of the bond.)
  uint64_t congestion_memory_ns = 2'000'000'000ull;
  uint64_t min_packets_for_loss = 2000;
  size_t min_probes_for_loss = 20;
  size_t loss_window = 100;
};

struct Transition {
  PathState from, to;
  std::string reason;
};

// One path's health. Link events come from netlink, probe outcomes from the
// prober, delivery samples every rebalance interval.
class PathHealth {
 public:
  PathHealth(const HealthParams& params, double configured_bps, double queue_limit_ns)
      : params_(params), capacity_(configured_bps, queue_limit_ns),
        probe_loss_(params.loss_window) {
    if (params.probed && params.proven_before_use) {
      state_ = PathState::kDown;
      unreachable_ = true;
    }
  }

  std::optional<Transition> OnLink(bool up, const std::string& why, uint64_t now_ns);
  std::optional<Transition> OnProbeAnswered(uint64_t rtt_ns, int64_t transit_ns, uint64_t now_ns);
  std::optional<Transition> OnProbeLost(uint64_t now_ns);
  // Every rebalance interval: data loss and capacity from the counters,
  // and whether loss or latency (against the best path's RTT) make the path
  // harmful to the bond.
  std::optional<Transition> Rebalance(const std::optional<DeliverySample>& delivery,
                                      uint64_t best_rtt_ns, uint64_t now_ns);

  PathState state() const { return state_; }
  bool link_up() const { return link_up_; }
  // Whether the path's queue is long enough that drops are congestion, or
  // was so within congestion_memory_ns before now_ns.
  bool congested(uint64_t now_ns) const;
  // One-way loss: data loss when traffic flowed recently, else probe loss
  // (a round trip) converted, as if both directions lost alike.
  double loss() const;
  // Probe loss, leaving out a run of losses still under `threshold`: it may
  // be the start of an outage, which is not loss.
  double probe_loss() const;
  const RttEstimator& rtt() const { return rtt_; }
  const JitterEstimator& jitter() const { return jitter_; }
  double capacity_bps() const { return capacity_.estimate_bps(); }
  // What the path should carry in the bond: capacity, less for loss.
  double weight_bps() const;
  uint32_t probes_needed_to_recover() const;
  uint32_t down_count() const { return down_count_; }

 private:
  // The state the counters and flags call for; moves there, reporting why.
  std::optional<Transition> Settle(uint64_t now_ns, const std::string& why);

  HealthParams params_;
  RttEstimator rtt_;
  JitterEstimator jitter_;
  CapacityEstimator capacity_;
  ProbeLossWindow probe_loss_;
  std::optional<double> data_loss_;
  // One rebalance interval: what the path delivered, and the queueing delay
  // of each probe answered in it.
  struct Interval {
    DeliverySample delivery;
    std::vector<double> probe_queues_ns;
  };
  std::deque<Interval> intervals_;       // the last data_loss_intervals
  std::vector<double> interval_queue_;  // the current interval's probes so far
  PathState state_ = PathState::kUp;
  // Loss counts only while the path is up and once the peer has answered
  // recovery_threshold probes in a row on it: a peer still starting or an
  // outage is not loss, and must not keep a recovered path degraded.
  bool confirmed_ = false;
  bool link_up_ = true;
  bool unreachable_ = false;  // probes failing
  bool harmful_ = false;
  std::string harm_reason_;
  uint32_t failures_ = 0, successes_ = 0;
  uint32_t pending_losses_ = 0;  // losses of the current run in probe_loss_
  uint32_t flap_factor_ = 1;
  uint32_t down_count_ = 0;
  std::optional<uint64_t> last_up_ns_;
  std::optional<uint64_t> last_congested_ns_;  // a probe's queue above congested_queue_ns
};

}  // namespace meshbpf
