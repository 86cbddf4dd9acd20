#include "agent/daemon/path_supervisor.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "agent/core/datapath_names.h"
#include "agent/core/metrics.h"
#include "agent/core/net_format.h"
#include "agent/core/uplink_watch.h"
#include "agent/sys/log.h"

namespace meshbpf {
namespace {

// How long the scheduler may queue on a path (MB_SCHED_HORIZON_NS in the
// data path) is normal; a queue well beyond it means the path carries less
// than its estimate.
constexpr double kQueueLimitNs = 150e6;
// A probe is lost when not answered within this, or within RTO-like
// srtt + 4 * rttvar on slow paths. Half a second: cellular and Wi-Fi RTTs
// spike that far without the path being dead, and so does a busy host.
constexpr uint64_t kMinProbeTimeoutNs = 500'000'000;
constexpr uint64_t kMaxProbeTimeoutNs = 3'000'000'000;
// Size probes (path MTU): a full-size packet may queue behind bulk traffic.
constexpr uint64_t kSizeProbeTimeoutNs = 2'000'000'000;
// A size probe's own IPv4 and UDP headers, inside the encapsulation.
constexpr uint32_t kIpUdpHeaderBytes = 28;

std::string UtcText(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

const char* EndpointName(PathEndpoint endpoint) {
  switch (endpoint) {
    case PathEndpoint::kConfigured:
      return "configured";
    case PathEndpoint::kRelay:
      return "relay";
    case PathEndpoint::kLearned:
      return "learned";
  }
  return "?";
}

}  // namespace

std::vector<size_t> PathsNamed(const NodeSettings& settings, const std::string& name) {
  std::vector<size_t> found;
  for (size_t i = 0; i < settings.paths.size(); ++i) {
    if (settings.paths[i].name == name) return {i};
    if (settings.paths[i].interface == name) found.push_back(i);
  }
  return found;
}

std::string UnknownPathError(const NodeSettings& settings, const std::string& name) {
  std::vector<std::string> names;
  for (const PathSettings& p : settings.paths) names.push_back(p.name);
  return absl::StrCat("unknown path or interface \"", name,
                      "\" (paths: ", absl::StrJoin(names, ", "), ")");
}

const char* EndpointPending(const PathSettings& p) {
  return p.endpoint == PathEndpoint::kRelay ? "a neighbour's shared uplink (none heard yet)"
                                            : "the far end, learned from the client's first probe";
}

HealthParams HealthParamsFor(const NodeSettings& settings) {
  HealthParams params;
  params.probed = settings.peer_bond_address.has_value() && settings.bond_address.has_value();
  params.proven_before_use = settings.authentication.has_value();
  params.threshold = settings.failover.threshold;
  params.recovery_threshold = settings.failover.recovery_threshold;
  params.degrade_loss = settings.failover.degrade_loss_percent / 100;
  params.recover_loss = settings.failover.recover_loss_percent / 100;
  return params;
}

bool FloorGuardRuns(const NodeSettings& settings) {
  return settings.floor_guard &&
         (settings.mode == BondMode::kLoadBalance || settings.mode == BondMode::kLatency) &&
         HealthParamsFor(settings).probed;
}

PathSupervisor::PathSupervisor(NodeSettings& settings, PathIo io, StatusSources status,
                               uint64_t now_ns)
    : settings_(settings),
      io_(std::move(io)),
      status_(std::move(status)),
      health_params_(HealthParamsFor(settings)),
      delivery_(settings.paths.size()),
      guard_counts_(settings.paths.size()) {
  if (FloorGuardRuns(settings_)) {
    // What the far end's resequencer can hide is the deadline's ceiling
    // (the agent grows the deadline in force up to it).
    guard_.emplace(settings_.paths.size(),
                   GuardParams{.hideable_skew_us = settings_.reorder_deadline_ms * 1000});
  }
  for (size_t i = 0; i < settings_.paths.size(); ++i) {
    health_.emplace_back(health_params_, settings_.paths[i].rate_bps, kQueueLimitNs);
    StartHealth(i, now_ns);
  }
  const std::vector<PathCondition> conditions = Conditions(true);
  table_ = DesiredTable(conditions);
  reseq_deadline_us_ = ReseqDeadlineUs(settings_, table_, 0);
  repair_wait_us_ = RepairWaitMs(table_, conditions);
  tunnel_payload_mtu_ = TunnelPayloadMtu(table_, BondOverhead(settings_));
}

void PathSupervisor::JudgeRepairLoss(const ResequencerStats& reseq, const CounterTable& counters,
                                     uint64_t now_ns) {
  uint64_t received = 0;
  for (size_t i = 0; i < MB_MAX_PATHS; ++i) received += counters[i].rx_packets;
  if (!repair_gate_.Update({.requested = reseq.repairs_requested,
                            .repaired = reseq.repaired,
                            .skipped = reseq.gaps_skipped,
                            .received = received},
                           now_ns)) {
    return;
  }
  const std::string interval = absl::StrFormat(
      "%.1f%% of the packets received lost%s in the last interval",
      repair_gate_.last_loss() * 100,
      repair_gate_.last_repaired()
          ? absl::StrFormat(", %.0f%% of those asked for repaired in time",
                            *repair_gate_.last_repaired() * 100)
          : "");
  if (repair_gate_.open()) {
    Log(LogLevel::kInfo, absl::StrCat("loss repair resumes: ", interval));
  } else {
    Log(LogLevel::kWarning,
        absl::StrFormat("loss repair rests for at least %.0f s: %s (limits: %.0f%% lost, %.0f%% "
                        "repaired). That is congestion, which the end hosts must see at once",
                        repair_gate_.rest_ns() / 1e9, interval, kRepairableLossFraction * 100,
                        kMinRepairedFraction * 100));
  }
}

void PathSupervisor::NotePeerRepairs(bool repairs) {
  if (peer_repairs_ == repairs) return;
  // Said once per change, and only where this end would ask for repairs.
  if (settings_.loss_repair && (peer_repairs_.has_value() || !repairs)) {
    Log(repairs ? LogLevel::kInfo : LogLevel::kWarning,
        repairs ? std::string("loss repair: the peer answers repair requests again")
                : std::string("loss repair: the peer does not answer repair requests (its "
                              "link_aggregation.loss_repair is off); lost packets are given "
                              "up at once"));
  }
  peer_repairs_ = repairs;
}

void PathSupervisor::OnRepairRequested(uint64_t now_ns, uint32_t packets) {
  repair_requested_ns_ = now_ns;
  if (keep_copies_) return;
  if (now_ns - requests_window_ns_ >= kCopiesWindowNs) {
    requests_window_ns_ = now_ns;
    requested_in_window_ = 0;
  }
  requested_in_window_ += packets;
  if (requested_in_window_ >= kCopiesAfterLosses) {
    KeepCopies(true, absl::StrFormat("the peer asked for %u repairs within %.0f s",
                                     requested_in_window_, kCopiesWindowNs / 1e9));
  }
}

template <typename Value, typename Field>
absl::Status PathSupervisor::WriteConfigField(Field mb_config::*field, Value value, Value& written,
                                              const std::function<void()>& announce) {
  if (value == written || !io_.update_config) return absl::OkStatus();
  announce();
  if (absl::Status s = io_.update_config([&](mb_config& c) { c.*field = static_cast<Field>(value); });
      !s.ok()) {
    return s;
  }
  written = value;
  return absl::OkStatus();
}

void PathSupervisor::KeepCopies(bool keep, const std::string& why) {
  if (absl::Status s = WriteConfigField(&mb_config::keep_copies, keep, keep_copies_, [&] {
        Log(LogLevel::kInfo, absl::StrCat("loss repair: ", keep ? "keeping" : "no longer keeping",
                                          " copies of sent packets (", why, ")"));
      });
      !s.ok()) {
    Log(LogLevel::kError, absl::StrCat("loss repair: ", s.message()));
  }
}

uint32_t PathSupervisor::RepairWaitMs(const PathTable& table,
                                      const std::vector<PathCondition>& conditions) const {
  if (!repair_gate_.open() || !peer_repairs()) return 0;
  // In whole milliseconds, so the smoothed RTT's wobble rewrites nothing.
  const uint32_t wait_us = RepairWaitUs(settings_, table, conditions, reseq_deadline_us_);
  return std::min((wait_us + 999) / 1000 * 1000, reseq_deadline_us_);
}

void PathSupervisor::StartHealth(size_t i, uint64_t now_ns) {
  const PathSettings& p = settings_.paths[i];
  Record(i, health_[i].OnLink(p.endpoint_known && UplinkUsable(i),
                              !p.endpoint_known ? std::string(EndpointPending(p))
                                                : "uplink down or without its address at start",
                              now_ns));
}

void PathSupervisor::ApplyReload(const ConfigReload& reload, uint64_t now_ns) {
  const size_t paths = settings_.paths.size();
  std::vector<bool> kept(paths, false);
  for (const PathChange& c : reload.paths) {
    if (c.kind == PathChangeKind::kUnchanged) kept[c.id] = true;
  }
  std::vector<PathHealth> health;
  for (size_t i = 0; i < paths; ++i) {
    if (kept[i]) {
      health.push_back(std::move(health_[i]));
    } else {
      health.emplace_back(health_params_, settings_.paths[i].rate_bps, kQueueLimitNs);
    }
  }
  health_ = std::move(health);
  delivery_.resize(paths);
  if (prober_) prober_->Resize(paths);
  for (size_t i = 0; i < paths; ++i) {
    if (kept[i]) continue;
    delivery_[i] = DeliveryMeter();
    if (prober_) prober_->Forget(static_cast<uint8_t>(i));
    if (i < mtu_search_.size()) mtu_search_[i] = PathMtuSearch(settings_.paths[i].mtu, kSizeProbeTimeoutNs);
    StartHealth(i, now_ns);
  }
  // A manual failover names paths: it holds only while they are the same.
  auto forget_replaced = [&](std::set<size_t>& ids) {
    std::erase_if(ids, [&](size_t i) { return i >= paths || !kept[i]; });
  };
  forget_replaced(held_out_);
  forget_replaced(moved_in_);
  LogError(io_.sync_peers(PeerAddresses(settings_)));
  LogError(WriteTable());
}

void PathSupervisor::StartProbing() {
  const auto interval_ns = static_cast<uint64_t>(settings_.failover.monitoring_interval_s * 1e9);
  prober_.emplace(settings_.paths.size(),
                  std::clamp(interval_ns, kMinProbeTimeoutNs, kMaxProbeTimeoutNs));
  Log(LogLevel::kInfo,
      absl::StrFormat("probing every path to %s:%u every %.3g s: down after %u lost, back "
                      "after %u answered",
                      Ipv4Text(*settings_.peer_bond_address), settings_.failover.probe_port,
                      settings_.failover.monitoring_interval_s, settings_.failover.threshold,
                      settings_.failover.recovery_threshold));
}

void PathSupervisor::LogError(const absl::Status& status) const {
  if (!status.ok()) Log(LogLevel::kError, std::string(status.message()));
}

bool PathSupervisor::UplinkUsable(size_t i) const {
  const PathSettings& p = settings_.paths[i];
  return !UplinkProblem(p, io_.find_interface(p.interface));
}

std::vector<PathCondition> PathSupervisor::Conditions(bool guarded) const {
  std::vector<PathCondition> conditions(settings_.paths.size());
  for (size_t i = 0; i < conditions.size(); ++i) {
    const PathHealth& h = health_[i];
    PathCondition& c = conditions[i];
    c.usable = h.state() != PathState::kDown;
    c.link_up = h.link_up();
    c.degraded = h.state() == PathState::kDegraded;
    if (prober_) {
      c.capacity_bps = h.weight_bps();
      if (h.rtt().has_sample()) {
        c.owd_us = static_cast<double>(h.rtt().min_ns()) / 2e3;
        c.rtt_us = h.rtt().srtt_ns() / 1e3;
        c.rttvar_us = h.rtt().rttvar_ns() / 1e3;
      }
      c.loss = h.loss();
    }
    c.bulk_excluded = guarded && guard_ && guard_->excluded(i);
    if (i < mtu_search_.size() && mtu_search_[i].mtu() < settings_.paths[i].mtu) {
      c.mtu = mtu_search_[i].mtu();
    }
  }
  // A manual hold yields when nothing else could carry traffic: the user
  // asked to move traffic, not to cut it.
  std::vector<PathCondition> manual = conditions;
  for (size_t i : held_out_) manual[i].usable = false;
  for (size_t i : moved_in_) manual[i].manual = true;
  if (std::any_of(manual.begin(), manual.end(), [](const PathCondition& c) { return c.usable; })) {
    conditions = std::move(manual);
  }
  return conditions;
}

PathTable PathSupervisor::DesiredTable(const std::vector<PathCondition>& conditions) const {
  PathTable table = BuildPathTable(settings_, conditions);
  io_.fill_next_hop_macs(table);
  return table;
}

void PathSupervisor::RunFloorGuard(uint64_t now_ns) {
  if (!guard_) return;
  // The guard judges the paths that are ACTIVE with its exclusions as they
  // stand: a degraded best path kept active because the only healthy one is
  // out of bulk stays its anchor, rather than the excluded path coming back
  // as 'the best' (in a lab, that moved a download onto the lossy path).
  const std::vector<PathCondition> conditions = Conditions(true);
  const PathTable judged = BuildPathTable(settings_, conditions);
  std::vector<GuardPathInput> inputs(health_.size());
  for (size_t i = 0; i < inputs.size(); ++i) {
    const PathHealth& h = health_[i];
    GuardPathInput& in = inputs[i];
    in.eligible = judged[i].state == MB_PATH_ACTIVE && !conditions[i].manual;
    in.capacity_bps = h.capacity_bps();
    in.owd_us = judged[i].owd_us;
    in.jitter_us = h.jitter().jitter_ns() / 1e3;
    in.rtt_us = h.rtt().has_sample() ? h.rtt().srtt_ns() / 1e3 : 2.0 * in.owd_us;
    in.loss = h.loss();
  }
  for (const GuardDecision& d : guard_->Update(inputs, now_ns)) {
    const std::string& name = settings_.paths[d.path].name;
    Log(d.excluded ? LogLevel::kWarning : LogLevel::kInfo,
        absl::StrFormat("path %s: floor guard: %s bonded bulk traffic (%s: %s)", name,
                        d.excluded ? "out of" : "back in", GuardReasonName(d.reason), d.detail));
    guard_decisions_.push_back(
        {UtcText(absl::Now()), name, d.excluded, GuardReasonName(d.reason), d.detail});
    if (guard_decisions_.size() > kTransitionsKept) guard_decisions_.pop_front();
    ++guard_counts_[d.path][static_cast<size_t>(d.reason)];
  }
}

double PathSupervisor::LargestJitterUs(const PathTable& table) const {
  double largest_ns = 0;
  for (size_t i = 0; i < health_.size() && i < table.size(); ++i) {
    if (table[i].state == MB_PATH_ACTIVE) {
      largest_ns = std::max(largest_ns, health_[i].jitter().jitter_ns());
    }
  }
  return largest_ns / 1e3;
}

absl::Status PathSupervisor::WriteTable() {
  const std::vector<PathCondition> conditions = Conditions(true);
  const PathTable table = DesiredTable(conditions);
  // Before the holds it must cover grow.
  const uint32_t deadline_us = ReseqDeadlineUs(settings_, table, LargestJitterUs(table),
                                               reseq_margin_.margin_us());
  if (absl::Status s = WriteConfigField(&mb_config::reseq_deadline_us, deadline_us,
                                        reseq_deadline_us_, [&] {
                                          Log(LogLevel::kInfo,
                                              absl::StrFormat("resequencing deadline %u ms (longest "
                                                              "hold %u ms plus margin)",
                                                              deadline_us / 1000,
                                                              LongestReseqHoldUs(table) / 1000));
                                        });
      !s.ok()) {
    return s;
  }
  const uint32_t wait_us = RepairWaitMs(table, conditions);
  if (absl::Status s = WriteConfigField(&mb_config::repair_wait_us, wait_us, repair_wait_us_, [&] {
        // Debug: it follows the smoothed RTT, which load moves every few probes.
        Log(LogLevel::kDebug,
            absl::StrFormat("loss repair: a lost packet waits %u ms for its repair", wait_us / 1000));
      });
      !s.ok()) {
    return s;
  }
  const uint32_t payload_mtu = TunnelPayloadMtu(table, BondOverhead(settings_));
  if (absl::Status s = WriteConfigField(&mb_config::bond_mtu, payload_mtu, tunnel_payload_mtu_, [&] {
        Log(LogLevel::kInfo, absl::StrFormat("TCP MSS clamped for inner packets of %u bytes (the "
                                             "smallest path's MTU less the encapsulation)",
                                             payload_mtu));
      });
      !s.ok()) {
    return s;
  }
  if (std::memcmp(&table, &table_, sizeof(table)) == 0) return absl::OkStatus();
  for (size_t i = 0; i < settings_.paths.size(); ++i) {
    if (table[i].state != table_[i].state) {
      Log(LogLevel::kInfo, absl::StrFormat("path %s: data path state %s", settings_.paths[i].name,
                                           PathStateName(table[i].state)));
    }
  }
  table_ = table;
  return io_.write_paths(table);
}

bool PathSupervisor::Record(size_t i, const std::optional<Transition>& t) {
  if (!t) return false;
  Log(t->to == PathState::kUp ? LogLevel::kInfo : LogLevel::kWarning,
      absl::StrFormat("path %s: %s -> %s (%s)", settings_.paths[i].name, HealthStateName(t->from),
                      HealthStateName(t->to), t->reason));
  const absl::Time now = absl::Now();
  transitions_.push_back({UtcText(now), settings_.paths[i].name, t->from, t->to, t->reason});
  if (transitions_.size() > kTransitionsKept) transitions_.pop_front();
  if (io_.on_transition) {
    io_.on_transition({now, settings_.paths[i].name, ToPathStatus(t->from, false),
                       ToPathStatus(t->to, false), t->reason});
  }
  return true;
}

void PathSupervisor::OnLinksChanged(uint64_t now_ns) {
  FollowUplinks(now_ns);
  LogError(WriteTable());
}

void PathSupervisor::FollowUplinks(uint64_t now_ns) {
  struct Devices : InterfaceLookup {
    const PathIo* io;
    std::optional<InterfaceInfo> Find(std::string_view name) const override {
      return io->find_interface(std::string(name));
    }
  } devices;
  devices.io = &io_;
  std::set<int> attached;
  for (const UplinkChange& change : UplinkChanges(settings_.paths, devices)) {
    const PathSettings& p = settings_.paths[change.path];
    if (change.reattach && !attached.count(change.ifindex)) {
      // Until attached, the path keeps its old ifindex, so UplinkProblem
      // keeps it down and the next tick tries again.
      if (absl::Status s = io_.attach_uplink(change.ifindex); !s.ok()) {
        Log(LogLevel::kError, absl::StrCat("path ", p.name, ": ", change.what, ": ", s.message()));
        continue;
      }
      attached.insert(change.ifindex);
    }
    Log(LogLevel::kInfo, absl::StrCat("path ", p.name, ": following its uplink: ", change.what));
    ApplyUplinkChange(change, settings_.paths);
  }
  for (size_t i = 0; i < settings_.paths.size(); ++i) {
    const PathSettings& p = settings_.paths[i];
    if (!p.endpoint_known) continue;
    const std::optional<std::string> problem = UplinkProblem(p, io_.find_interface(p.interface));
    Record(i, health_[i].OnLink(!problem, problem.value_or(p.interface + " usable again"), now_ns));
  }
}

void PathSupervisor::OnTick(uint64_t now_ns, const CounterTable* counters) {
  FollowUplinks(now_ns);
  if (prober_ && counters) SendProbes(now_ns, *counters);
  if (prober_) SendSizeProbes(now_ns);
  std::optional<ResequencerStats> reseq;
  if (settings_.reorder_deadline_ms > 0 && io_.read_resequencer) {
    if (absl::StatusOr<ResequencerStats> stats = io_.read_resequencer(); stats.ok()) reseq = *stats;
  }
  if (reseq && reseq_margin_.Update(reseq->late, now_ns)) {
    Log(LogLevel::kInfo, absl::StrFormat("resequencing margin %.0f ms (%s)",
                                         reseq_margin_.margin_us() / 1000,
                                         "late packets widen it, calm narrows it"));
  }
  if (now_ns >= next_rebalance_ns_) {
    if (prober_) Rebalance(now_ns);
    if (reseq && counters && settings_.loss_repair) JudgeRepairLoss(*reseq, *counters, now_ns);
    next_rebalance_ns_ =
        now_ns + static_cast<uint64_t>(settings_.failover.rebalance_interval_s * 1e9);
  }
  if (keep_copies_ && now_ns - repair_requested_ns_ >= kKeepCopiesNs) {
    KeepCopies(false, absl::StrFormat("no repair asked for in %.0f s", kKeepCopiesNs / 1e9));
  }
  // Also picks up neighbour MACs, which get resolved and expire on their
  // own schedule: the data path's redundant copies need the current ones.
  LogError(WriteTable());
}

void PathSupervisor::SendProbes(uint64_t now_ns, const CounterTable& counters) {
  for (uint8_t lost : prober_->Expire(now_ns)) Record(lost, health_[lost].OnProbeLost(now_ns));
  for (size_t i = 0; i < settings_.paths.size(); ++i) {
    // A relayed or learned path without its far end has nowhere to go.
    if (!settings_.paths[i].endpoint_known) continue;
    const auto path = static_cast<uint8_t>(i);
    const RttEstimator& rtt = health_[i].rtt();
    if (rtt.has_sample()) {
      const double rto = rtt.srtt_ns() + 4 * rtt.rttvar_ns();
      prober_->SetTimeout(
          path, std::clamp(static_cast<uint64_t>(rto), kMinProbeTimeoutNs, kMaxProbeTimeoutNs));
    }
    const PathTx tx{counters[i].tx_packets, counters[i].tx_bytes};
    // A send error (no route, uplink gone) surfaces as a lost probe.
    if (absl::Status s = io_.send_probe(prober_->NextRequest(path, now_ns, tx)); !s.ok()) {
      Log(LogLevel::kDebug, std::string(s.message()));
    }
  }
}

void PathSupervisor::SendSizeProbes(uint64_t now_ns) {
  for (size_t i = 0; i < settings_.paths.size(); ++i) {
    const PathSettings& p = settings_.paths[i];
    if (i == mtu_search_.size()) mtu_search_.emplace_back(p.mtu, kSizeProbeTimeoutNs);
    PathMtuSearch& search = mtu_search_[i];
    // A device created again may have another MTU: what was found is void.
    if (search.link_mtu() != p.mtu) search = PathMtuSearch(p.mtu, kSizeProbeTimeoutNs);
    if (!p.endpoint_known || health_[i].state() == PathState::kDown) {
      search.OnPathDown();
      continue;
    }
    search.OnPathUp(now_ns);
    if (std::optional<uint32_t> mtu = search.Expire(now_ns)) {
      Log(*mtu < p.mtu ? LogLevel::kWarning : LogLevel::kInfo,
          absl::StrFormat("path %s: carries packets of at most %u bytes (%s)", p.name, *mtu,
                          search.reason()));
    }
    for (const PathMtuSearch::Probe& probe : search.Due(now_ns)) {
      ProbeMessage request;
      request.path_id = static_cast<uint8_t>(i);
      request.seq = probe.seq;
      request.sent_ns = now_ns;
      request.size_probe = true;
      // The outer packet of `probe.size` bytes: the path's encapsulation,
      // then the probe's own IPv4 and UDP headers.
      request.datagram_bytes = probe.size - PathOverhead(settings_, p) - kIpUdpHeaderBytes;
      if (absl::Status s = io_.send_probe(request); !s.ok()) {
        search.OnNotSent(probe.seq, now_ns);
        Log(LogLevel::kDebug, std::string(s.message()));
      }
    }
  }
}

bool PathSupervisor::OnProbeReply(const ProbeMessage& reply, uint64_t received_ns) {
  if (!prober_ || reply.path_id >= health_.size()) return false;
  NotePeerRepairs(reply.repairs);
  if (reply.size_probe) {
    if (reply.path_id < mtu_search_.size()) mtu_search_[reply.path_id].OnAnswered(reply.seq);
    return false;
  }
  std::optional<ProbeAnswer> answer = prober_->OnReply(reply, received_ns);
  if (!answer) return false;
  const size_t i = reply.path_id;
  // Peer clock minus ours: its offset cancels in jitter and queue delay.
  const auto transit = static_cast<int64_t>(reply.reflected_ns - answer->sent_ns);
  delivery_[i].OnAnswer(
      DeliveryMark{answer->sent_ns, answer->tx_at_send, reply.reflected_ns,
                   {reply.rx_packets, reply.rx_bytes}},
      CapacityEstimator::kBusy * health_[i].capacity_bps());
  return Record(i, health_[i].OnProbeAnswered(answer->rtt_ns, transit, received_ns));
}

void PathSupervisor::OnInvalidProbe(const std::string& why) {
  // Counted always, logged for the first and then every 100th: a flood of
  // forged probes must not flood the log.
  if (invalid_probes_++ % 100 == 0) {
    Log(LogLevel::kWarning,
        absl::StrFormat("dropped an invalid probe (%s); %u so far", why, invalid_probes_));
  }
}

void PathSupervisor::Rebalance(uint64_t now_ns) {
  uint64_t best_rtt = 0;
  for (const PathHealth& h : health_) {
    if (h.state() == PathState::kDown || !h.rtt().has_sample()) continue;
    const auto srtt = static_cast<uint64_t>(h.rtt().srtt_ns());
    if (best_rtt == 0 || srtt < best_rtt) best_rtt = srtt;
  }
  for (size_t i = 0; i < health_.size(); ++i) {
    Record(i, health_[i].Rebalance(delivery_[i].EndInterval(), best_rtt, now_ns));
  }
  RunFloorGuard(now_ns);
}

void PathSupervisor::OnRelayedPath(size_t i, const std::optional<RelayAssignment>& assignment,
                                   uint64_t now_ns) {
  PathSettings& p = settings_.paths[i];
  p.endpoint_known = assignment.has_value();
  p.remote = assignment ? assignment->address : IpAddress{.family = p.source.family};
  p.remote_port = assignment ? assignment->relay_port : 0;
  EndpointChanged(i,
                  assignment ? absl::StrCat("now through ", assignment->node_name, "/",
                                            assignment->uplink, ", waiting for probes")
                             : std::string("withdrawn, no neighbour uplink fills it"),
                  now_ns);
}

void PathSupervisor::OnProbeRequest(size_t i, uint64_t now_ns) {
  if (i >= settings_.paths.size() || settings_.paths[i].endpoint != PathEndpoint::kLearned) return;
  AdoptLearnedEndpoint(i, "probe", now_ns);
}

void PathSupervisor::FollowLearnedEndpoints(uint64_t now_ns) {
  if (!settings_.authentication) return;  // unverified probes are recorded too
  for (size_t i = 0; i < settings_.paths.size(); ++i) {
    if (settings_.paths[i].endpoint == PathEndpoint::kLearned) AdoptLearnedEndpoint(i, "packet", now_ns);
  }
}

void PathSupervisor::AdoptLearnedEndpoint(size_t i, const char* from, uint64_t now_ns) {
  absl::StatusOr<mb_learned_source> seen = io_.read_learned(static_cast<uint32_t>(i));
  if (!seen.ok()) return LogError(seen.status());
  std::optional<LearnedEndpoint> learned = EndpointToLearn(settings_.paths[i], *seen, now_ns);
  if (!learned) return;
  PathSettings& p = settings_.paths[i];
  // Only the port moved, on the same address and uplink: a NAT gave the
  // client's uplink a new mapping. It is the same path: its health stays,
  // so the bond is back on it with this probe, not after recovery_threshold.
  if (p.endpoint_known && learned->ifindex == p.ifindex &&
      learned->remote == p.remote && learned->source == p.source &&
      learned->remote_port != p.remote_port) {
    Log(LogLevel::kInfo, absl::StrFormat("path %s: far end moved from port %u to %u (a NAT's new "
                                         "mapping; from an authenticated %s): health kept",
                                         p.name, p.remote_port, learned->remote_port, from));
    p.remote_port = learned->remote_port;
    LogError(WriteTable());
    return;
  }
  if (learned->ifindex != p.ifindex) {
    std::optional<std::string> name = io_.interface_name(learned->ifindex);
    std::optional<InterfaceInfo> info = name ? io_.find_interface(*name) : std::nullopt;
    if (!info) {
      // Polled every 50 ms while packets keep coming: once per 10 s per path.
      if (std::optional<uint64_t> held_back =
              gone_interface_log_.Admit(p.name, LogThrottle::Clock::now())) {
        Log(LogLevel::kWarning,
            absl::StrFormat("path %s: an authenticated %s came in on interface %d, which is gone: "
                            "far end not learned%s",
                            p.name, from, learned->ifindex,
                            LogThrottle::HeldBackNote(*held_back, "such packets")));
      }
      return;
    }
    p.interface = *name;
    p.ifindex = info->ifindex;
    p.mtu = info->mtu;
  }
  p.remote = learned->remote;
  p.remote_port = learned->remote_port;
  p.source = learned->source;
  p.endpoint_known = true;
  Log(LogLevel::kInfo, absl::StrFormat("path %s: far end learned: %s (from an authenticated %s)",
                                       p.name, IpPortText(p.remote, p.remote_port), from));
  EndpointChanged(i, "far end learned, waiting for probes", now_ns);
}

void PathSupervisor::EndpointChanged(size_t i, const std::string& why, uint64_t now_ns) {
  const PathState before = health_[i].state();
  health_[i] = PathHealth(health_params_, settings_.paths[i].rate_bps, kQueueLimitNs);
  // Down until it answers probes, as after a link outage. (The new health
  // may start down already: with authentication the transition is still
  // the old state's.)
  health_[i].OnLink(false, why, now_ns);
  if (before != PathState::kDown) Record(i, Transition{before, PathState::kDown, why});
  if (settings_.paths[i].endpoint_known) Record(i, health_[i].OnLink(UplinkUsable(i), why, now_ns));
  delivery_[i] = DeliveryMeter();
  LogError(io_.sync_peers(PeerAddresses(settings_)));
  LogError(WriteTable());
}

absl::StatusOr<StatusReply> PathSupervisor::Failover(const FailoverRequest& request) {
  if (request.automatic) {
    held_out_.clear();
    moved_in_.clear();
    Log(LogLevel::kInfo, "manual failover cleared: paths follow their health again");
  } else {
    const std::string& from = request.from;
    const std::string& to = request.to;
    const std::vector<size_t> out = PathsNamed(settings_, from);
    const std::vector<size_t> in = PathsNamed(settings_, to);
    if (out.empty()) return absl::NotFoundError(UnknownPathError(settings_, from));
    if (in.empty()) return absl::NotFoundError(UnknownPathError(settings_, to));
    if (out == in) {
      return absl::InvalidArgumentError(
          absl::StrCat("\"", from, "\" and \"", to, "\" are the same path"));
    }
    for (size_t i : in) {
      if (health_[i].state() == PathState::kDown) {
        return absl::FailedPreconditionError(
            absl::StrCat("path ", settings_.paths[i].name, " is down; not moving traffic onto it"));
      }
    }
    held_out_ = std::set<size_t>(out.begin(), out.end());
    moved_in_ = std::set<size_t>(in.begin(), in.end());
    Log(LogLevel::kWarning,
        absl::StrFormat("manual failover: traffic moved from %s to %s", from, to));
  }
  if (absl::Status s = WriteTable(); !s.ok()) return s;
  return Status();
}

StatusReply PathSupervisor::Status() const {
  StatusReply status;
  for (size_t i = 0; i < settings_.paths.size(); ++i) {
    const PathSettings& p = settings_.paths[i];
    const PathHealth& h = health_[i];
    PathStatusEntry& path = status.paths.emplace_back();
    path.id = static_cast<uint32_t>(i);
    path.name = p.name;
    path.interface = p.interface;
    path.health = HealthStateName(h.state());
    path.link_up = h.link_up();
    path.data_path_state = PathStateName(table_[i].state);
    path.mtu = table_[i].mtu;
    path.uplink_mtu = settings_.paths[i].mtu;
    path.configured_mbit = p.rate_bps / 1e6;
    path.capacity_mbit = h.capacity_bps() / 1e6;
    path.weight_mbit = h.weight_bps() / 1e6;
    path.loss = h.loss();
    path.probe_loss = h.probe_loss();
    path.down_count = h.down_count();
    path.held_out = held_out_.count(i) > 0;
    path.moved_in = moved_in_.count(i) > 0;
    path.bulk_excluded = (table_[i].flags & MB_PATH_F_NO_BULK) != 0;
    if (path.bulk_excluded && guard_) path.guard_reason = guard_->why(i);
    path.endpoint = EndpointName(p.endpoint);
    if (p.endpoint_known) path.remote = IpPortText(p.remote, p.remote_port);
    if (p.endpoint == PathEndpoint::kRelay && status_.relayed_path) {
      if (const RelayAssignment* a = status_.relayed_path(i)) {
        path.relay = RelayInfo{a->node_name, a->node_id, a->uplink, IpText(a->address), a->relay_port};
      }
    }
    if (p.endpoint == PathEndpoint::kRelay && !path.relay && status_.relay_unavailable) {
      path.relay_unavailable = status_.relay_unavailable(i);
    }
    if (h.rtt().has_sample()) {
      path.rtt = PathRtt{h.rtt().srtt_ns() / 1e6, static_cast<double>(h.rtt().min_ns()) / 1e6,
                         h.jitter().jitter_ns() / 1e6, h.jitter().queue_delay_ns() / 1e6};
    }
  }
  for (const TransitionRecord& t : transitions_) {
    status.transitions.push_back(
        {t.time, t.path, HealthStateName(t.from), HealthStateName(t.to), t.reason});
  }
  status.guard_decisions.assign(guard_decisions_.begin(), guard_decisions_.end());
  status.mode = BondModeName(settings_.mode);
  status.probing = probing();
  status.invalid_probes = invalid_probes_;
  if (status_.node_count) status.nodes = status_.node_count();
  if (status_.caps) status.caps = status_.caps();
  return status;
}

std::vector<PathView> PathSupervisor::PathViews() const {
  std::vector<PathView> views(settings_.paths.size());
  for (size_t i = 0; i < views.size(); ++i) {
    const PathHealth& h = health_[i];
    PathView& v = views[i];
    v.name = settings_.paths[i].name;
    v.status = ToPathStatus(h.state(), table_[i].state == MB_PATH_BACKUP);
    if (h.rtt().has_sample()) {
      v.rtt_ms = h.rtt().srtt_ns() / 1e6;
      v.jitter_ms = h.jitter().jitter_ns() / 1e6;
    }
    v.loss = h.loss();
    v.bulk_excluded = (table_[i].flags & MB_PATH_F_NO_BULK) != 0;
    for (GuardReason reason : kAllGuardReasons) {
      if (const uint64_t n = guard_counts_[i][static_cast<size_t>(reason)]) {
        v.guard_decisions.push_back({GuardReasonName(reason), n});
      }
    }
  }
  return views;
}

PathReport PathSupervisor::Report(size_t i) const {
  const PathHealth& h = health_[i];
  PathReport r;
  r.down = h.state() == PathState::kDown;
  r.capacity_bps = h.capacity_bps();
  if (h.rtt().has_sample()) r.srtt_ns = h.rtt().srtt_ns();
  r.loss = h.loss();
  return r;
}

}  // namespace meshbpf
