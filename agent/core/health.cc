#include "agent/core/health.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_format.h"

namespace meshbpf {
namespace {

// RFC 6298 gains.
constexpr double kRttAlpha = 1.0 / 8;
constexpr double kRttBeta = 1.0 / 4;
// RFC 3550 jitter gain.
constexpr double kJitterGain = 1.0 / 16;

double Percent(double fraction) { return fraction * 100.0; }

double Seconds(uint64_t from_ns, uint64_t to_ns) { return static_cast<double>(to_ns - from_ns) / 1e9; }

double Bits(uint64_t from_bytes, uint64_t to_bytes) {
  return static_cast<double>(to_bytes - from_bytes) * 8;
}

}  // namespace

bool CountersMovedOn(const DeliveryMark& a, const DeliveryMark& b) {
  return b.sent_ns > a.sent_ns && b.reflected_ns > a.reflected_ns &&
         b.tx.packets >= a.tx.packets && b.rx.packets >= a.rx.packets &&
         b.tx.bytes >= a.tx.bytes && b.rx.bytes >= a.rx.bytes;
}

void RttEstimator::Add(uint64_t rtt_ns, uint64_t now_ns) {
  const double r = static_cast<double>(rtt_ns);
  if (!has_sample_) {
    srtt_ = r;
    rttvar_ = r / 2;
    has_sample_ = true;
  } else {
    rttvar_ = (1 - kRttBeta) * rttvar_ + kRttBeta * std::fabs(srtt_ - r);
    srtt_ = (1 - kRttAlpha) * srtt_ + kRttAlpha * r;
  }
  while (!window_.empty() && window_.back().rtt_ns >= rtt_ns) window_.pop_back();
  window_.push_back({now_ns, rtt_ns});
  while (window_.size() > 1 && now_ns - window_.front().at_ns > window_ns_) window_.pop_front();
}

void JitterEstimator::Add(int64_t transit_ns, uint64_t now_ns) {
  if (last_transit_) {
    const double d = std::fabs(static_cast<double>(transit_ns - *last_transit_));
    jitter_ += (d - jitter_) * kJitterGain;
  }
  last_transit_ = transit_ns;
  while (!base_.empty() && base_.back().transit_ns >= transit_ns) base_.pop_back();
  base_.push_back({now_ns, transit_ns});
  while (base_.size() > 1 && now_ns - base_.front().at_ns > base_window_ns_) base_.pop_front();
}

double JitterEstimator::queue_delay_ns() const {
  if (!last_transit_ || base_.empty()) return 0;
  return static_cast<double>(*last_transit_ - base_.front().transit_ns);
}

void ProbeLossWindow::Add(bool lost) {
  if (outcomes_.empty()) return;
  if (count_ == outcomes_.size()) {
    lost_ -= outcomes_[next_] ? 1 : 0;
  } else {
    ++count_;
  }
  outcomes_[next_] = lost;
  lost_ += lost ? 1 : 0;
  next_ = (next_ + 1) % outcomes_.size();
}

void ProbeLossWindow::Retract(size_t n) {
  for (; n > 0 && count_ > 0; --n, --count_) {
    next_ = (next_ + outcomes_.size() - 1) % outcomes_.size();
    lost_ -= outcomes_[next_] ? 1 : 0;
    outcomes_[next_] = false;
  }
}

void CapacityEstimator::Update(const DeliverySample& window, double newest_sent_bps,
                               double queue_delay_ns, double standing_queue_ns) {
  if (window.sent_bps < kJudged * estimate_) {
    growth_run_ = 0;
    return;
  }
  const bool pushed = window.sent_bps >= kBusy * estimate_;
  const bool saturated = (pushed && window.delivered_bps < kShortfall * window.sent_bps) ||
                         standing_queue_ns >= kStandingQueueNs;
  if (saturated || queue_delay_ns > queue_limit_ns_) {
    // What arrived is what the path can carry (while it was busy, when
    // that is known; the window's average is the least it can); a long
    // queue alone says "somewhat less than we send". Never more than halve
    // in one step.
    const double carried = window.busy_seconds >= kMinBusySeconds
                               ? std::max(window.delivered_bps, window.busy_delivered_bps)
                               : window.delivered_bps;
    const double target = saturated ? std::min(estimate_, carried)
                                    : std::min(estimate_, window.sent_bps) / kGrowth;
    estimate_ = std::max({target, estimate_ / 2, kFloor * configured_});
    growth_run_ = 0;
  } else if (newest_sent_bps >= kBusy * estimate_ && queue_delay_ns < kStandingQueueNs) {
    const double step = kRegrowthSteps[std::min(growth_run_, kRegrowthSteps.size() - 1)];
    estimate_ = std::min(configured_, estimate_ * step);
    ++growth_run_;
  } else {
    growth_run_ = 0;
  }
}

void DeliveryMeter::OnAnswer(const DeliveryMark& mark, double busy_bps) {
  if (latest_ && CountersMovedOn(*latest_, mark)) {
    const double seconds = Seconds(latest_->sent_ns, mark.sent_ns);
    if (busy_bps > 0 && Bits(latest_->tx.bytes, mark.tx.bytes) >= busy_bps * seconds) {
      busy_seconds_ += seconds;
      busy_delivered_bits_ += Bits(latest_->rx.bytes, mark.rx.bytes);
      busy_delivered_seconds_ += Seconds(latest_->reflected_ns, mark.reflected_ns);
    }
  }
  latest_ = mark;
}

std::optional<DeliverySample> DeliveryMeter::EndInterval() {
  std::optional<DeliverySample> sample;
  if (start_ && latest_ && CountersMovedOn(*start_, *latest_)) {
    const DeliveryMark& a = *start_;
    const DeliveryMark& b = *latest_;
    sample = DeliverySample{
        .sent_bps = Bits(a.tx.bytes, b.tx.bytes) / Seconds(a.sent_ns, b.sent_ns),
        .delivered_bps = Bits(a.rx.bytes, b.rx.bytes) / Seconds(a.reflected_ns, b.reflected_ns),
        .sent_packets = b.tx.packets - a.tx.packets,
        .delivered_packets = b.rx.packets - a.rx.packets,
        .seconds = Seconds(a.sent_ns, b.sent_ns),
        .busy_seconds = busy_seconds_,
        .busy_delivered_bps =
            busy_delivered_seconds_ > 0 ? busy_delivered_bits_ / busy_delivered_seconds_ : 0};
  }
  start_ = latest_;
  busy_seconds_ = busy_delivered_bits_ = busy_delivered_seconds_ = 0;
  return sample;
}

const char* HealthStateName(PathState state) {
  switch (state) {
    case PathState::kUp:
      return "up";
    case PathState::kDegraded:
      return "degraded";
    case PathState::kDown:
      return "down";
  }
  return "?";
}

bool PathHealth::congested(uint64_t now_ns) const {
  return jitter_.queue_delay_ns() > params_.congested_queue_ns ||
         (last_congested_ns_ && now_ns - *last_congested_ns_ < params_.congestion_memory_ns);
}

double PathHealth::loss() const {
  if (data_loss_) return *data_loss_;
  return 1.0 - std::sqrt(1.0 - probe_loss());
}

double PathHealth::weight_bps() const {
  return capacity_bps() * std::max(0.0, 1.0 - params_.loss_weight_slope * loss());
}

double PathHealth::probe_loss() const {
  const size_t judged = probe_loss_.count() - pending_losses_;
  if (judged < params_.min_probes_for_loss) return 0;
  const double lost = probe_loss_.loss() * static_cast<double>(probe_loss_.count());
  return (lost - pending_losses_) / static_cast<double>(judged);
}

uint32_t PathHealth::probes_needed_to_recover() const {
  return params_.recovery_threshold * flap_factor_;
}

std::optional<Transition> PathHealth::Settle(uint64_t now_ns, const std::string& why) {
  const PathState target = !link_up_ || unreachable_ ? PathState::kDown
                           : harmful_                ? PathState::kDegraded
                                                     : PathState::kUp;
  if (target == state_) return std::nullopt;
  Transition t{state_, target, why};
  if (target == PathState::kDown) {
    ++down_count_;
    // Down again soon after coming back: flapping, so it must prove itself longer.
    if (last_up_ns_ && now_ns - *last_up_ns_ < params_.flap_window_ns) {
      flap_factor_ = std::min(flap_factor_ * 2, params_.max_flap_factor);
    }
  } else if (state_ == PathState::kDown) {
    last_up_ns_ = now_ns;
  }
  state_ = target;
  return t;
}

std::optional<Transition> PathHealth::OnLink(bool up, const std::string& why, uint64_t now_ns) {
  if (up == link_up_) return std::nullopt;
  link_up_ = up;
  if (!up && params_.probed) {
    // A link that comes back must still show it reaches the peer.
    unreachable_ = true;
    successes_ = 0;
  }
  return Settle(now_ns, why);
}

std::optional<Transition> PathHealth::OnProbeAnswered(uint64_t rtt_ns, int64_t transit_ns,
                                                      uint64_t now_ns) {
  rtt_.Add(rtt_ns, now_ns);
  jitter_.Add(transit_ns, now_ns);
  if (jitter_.queue_delay_ns() > params_.congested_queue_ns) last_congested_ns_ = now_ns;
  interval_queue_.push_back(jitter_.queue_delay_ns());
  const bool counts = confirmed_ && state_ != PathState::kDown && !congested(now_ns);
  if (counts) probe_loss_.Add(false);
  failures_ = 0;
  pending_losses_ = 0;
  ++successes_;
  confirmed_ = confirmed_ || successes_ >= params_.recovery_threshold;
  if (state_ != PathState::kDown && last_up_ns_ && now_ns - *last_up_ns_ >= params_.flap_window_ns) {
    flap_factor_ = 1;
  }
  if (unreachable_ && successes_ >= probes_needed_to_recover()) {
    unreachable_ = false;
    return Settle(now_ns, absl::StrFormat("%u probes answered in a row", successes_));
  }
  return std::nullopt;
}

std::optional<Transition> PathHealth::OnProbeLost(uint64_t now_ns) {
  const bool counts = confirmed_ && state_ != PathState::kDown && !congested(now_ns);
  if (counts) {
    probe_loss_.Add(true);
    ++pending_losses_;
  }
  successes_ = 0;
  ++failures_;
  if (!unreachable_ && failures_ >= params_.threshold) {
    unreachable_ = true;
    // The run of losses that takes the path down is an outage, not loss.
    probe_loss_.Retract(pending_losses_);
    pending_losses_ = 0;
    return Settle(now_ns, absl::StrFormat("%u probes lost in a row", failures_));
  }
  return std::nullopt;
}

std::optional<Transition> PathHealth::Rebalance(const std::optional<DeliverySample>& delivery,
                                                uint64_t best_rtt_ns, uint64_t now_ns) {
  // An interval without a sample (no answer) or a congested one still ages
  // the window. Capacity sees congested intervals too: they are when a path
  // shows what it can carry.
  DeliverySample judged = delivery.value_or(DeliverySample{});
  if (congested(now_ns)) judged.sent_packets = judged.delivered_packets = 0;
  intervals_.push_back({judged, std::move(interval_queue_)});
  interval_queue_.clear();
  while (intervals_.size() > params_.data_loss_intervals) intervals_.pop_front();
  uint64_t sent = 0, delivered = 0;
  auto lost = [](const Interval& i) {
    return static_cast<int64_t>(i.delivery.sent_packets) - static_cast<int64_t>(i.delivery.delivered_packets);
  };
  const Interval& worst = *std::max_element(
      intervals_.begin(), intervals_.end(),
      [&](const Interval& a, const Interval& b) { return lost(a) < lost(b); });
  for (const Interval& i : intervals_) {
    if (&i == &worst) continue;
    sent += i.delivery.sent_packets;
    delivered += i.delivery.delivered_packets;
  }
  data_loss_.reset();
  if (sent >= params_.min_packets_for_loss) {
    data_loss_ = std::clamp(1.0 - static_cast<double>(delivered) / static_cast<double>(sent),
                            0.0, 1.0);
  }
  if (delivery && state_ != PathState::kDown) {
    // The newest intervals that make min_capacity_window_s: a longer window
    // would lag behind the path's own regrowth (pushed is judged against
    // an estimate that just grew).
    DeliverySample window;
    std::vector<double> queue;
    for (auto i = intervals_.rbegin(); i != intervals_.rend() && window.seconds < params_.min_capacity_window_s;
         ++i) {
      const DeliverySample& d = i->delivery;
      window.sent_bps += d.sent_bps * d.seconds;
      window.delivered_bps += d.delivered_bps * d.seconds;
      window.seconds += d.seconds;
      window.busy_seconds += d.busy_seconds;
      window.busy_delivered_bps += d.busy_delivered_bps * d.busy_seconds;
      queue.insert(queue.end(), i->probe_queues_ns.begin(), i->probe_queues_ns.end());
    }
    if (window.seconds >= params_.min_capacity_window_s) {
      window.sent_bps /= window.seconds;
      window.delivered_bps /= window.seconds;
      if (window.busy_seconds > 0) window.busy_delivered_bps /= window.busy_seconds;
      // The queue three in four probes of the window found: it stood
      // through the window, not through a burst in it.
      double standing = 0;
      if (!queue.empty()) {
        std::nth_element(queue.begin(), queue.begin() + queue.size() / 4, queue.end());
        standing = queue[queue.size() / 4];
      }
      capacity_.Update(window, delivery->sent_bps, jitter_.queue_delay_ns(), standing);
    }
  }

  const double loss = this->loss();
  const double extra_rtt =
      rtt_.has_sample() && best_rtt_ns > 0 ? rtt_.srtt_ns() - static_cast<double>(best_rtt_ns) : 0;
  const double rtt_limit = static_cast<double>(params_.degrade_extra_rtt_ns);
  std::string why;
  if (!harmful_) {
    if (loss >= params_.degrade_loss) {
      why = absl::StrFormat("loss %.1f%% (limit %.1f%%)", Percent(loss),
                            Percent(params_.degrade_loss));
    } else if (extra_rtt > rtt_limit) {
      why = absl::StrFormat("RTT %.0f ms above the best path's (limit %.0f ms)", extra_rtt / 1e6,
                            rtt_limit / 1e6);
    }
    harmful_ = !why.empty();
  } else if (loss < params_.recover_loss && extra_rtt < rtt_limit / 2) {
    harmful_ = false;
    why = absl::StrFormat("loss %.1f%%, RTT %.0f ms above the best path's", Percent(loss),
                          std::max(extra_rtt, 0.0) / 1e6);
  }
  if (why.empty()) return std::nullopt;
  return Settle(now_ns, why);
}

}  // namespace meshbpf
