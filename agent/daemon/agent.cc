#include "agent/daemon/agent.h"

#include <arpa/inet.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <deque>
#include <functional>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "agent/sys/agent_log.h"
#include "agent/daemon/cap_manager.h"
#include "agent/core/config.h"
#include "agent/core/control_protocol.h"
#include "agent/sys/control.h"
#include "agent/sys/datapath.h"
#include "agent/core/health.h"
#include "agent/sys/link_monitor.h"
#include "agent/sys/log.h"
#include "agent/daemon/mesh_node.h"
#include "agent/sys/metrics_server.h"
#include "agent/daemon/monitor.h"
#include "agent/sys/neighbors.h"
#include "agent/sys/netdev.h"
#include "agent/core/policy.h"
#include "agent/core/probe.h"
#include "agent/core/prober.h"
#include "agent/core/prometheus.h"
#include "agent/core/datapath_names.h"
#include "agent/daemon/uplink_test.h"

namespace meshbpf {
namespace {

std::string Ip(in_addr addr) {
  char text[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &addr, text, sizeof(text));
  return text;
}

// Blocks SIGINT/SIGTERM and returns a signalfd that reports them, so the
// main loop handles shutdown synchronously (no work in signal handlers).
int ShutdownSignalFd() {
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGTERM);
  sigprocmask(SIG_BLOCK, &mask, nullptr);
  return signalfd(-1, &mask, SFD_CLOEXEC);
}

uint64_t MonotonicNs() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

std::string UtcNow() {
  const std::time_t t = std::time(nullptr);
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return text;
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

// What a path without its far end waits for.
const char* EndpointPending(const PathSettings& p) {
  return p.endpoint == PathEndpoint::kRelay ? "a neighbour's shared uplink (none heard yet)"
                                            : "the far end, learned from the client's first probe";
}

// How long the scheduler may queue on a path (MB_SCHED_HORIZON_NS in the
// data path) is normal; a queue well beyond it means the path carries less
// than its estimate.
constexpr double kQueueLimitNs = 150e6;
// A probe is lost when not answered within this, or within RTO-like
// srtt + 4 * rttvar on slow paths. Half a second: cellular and Wi-Fi RTTs
// spike that far without the path being dead, and so does a busy host.
constexpr uint64_t kMinProbeTimeoutNs = 500'000'000;
constexpr uint64_t kMaxProbeTimeoutNs = 3'000'000'000;
constexpr size_t kTransitionsKept = 100;

absl::Status ConfigureMaps(const MapSet& maps, const NodeSettings& settings,
                           const PathTable& table, const InterfaceInfo& bond) {
  if (absl::Status s = maps.WritePaths(table); !s.ok()) return s;
  if (absl::Status s = maps.SyncPeers(PeerAddresses(settings)); !s.ok()) return s;
  // Last: marks the data path configured, so it never runs on half-written maps.
  mb_config config{};
  config.bond_ifindex = static_cast<uint32_t>(bond.ifindex);
  config.listen_port = settings.port;
  std::copy(bond.mac.begin(), bond.mac.end(), config.bond_mac);
  config.mode = static_cast<uint8_t>(settings.mode);
  config.latency_bytes = static_cast<uint16_t>(settings.latency_packet_bytes);
  config.configured = 1;
  config.agent_pid = static_cast<uint32_t>(getpid());
  config.probe_port = settings.failover.probe_port;
  if (SharesUplinks(settings)) {
    config.relay_port = settings.discovery.relay_port;
    config.relay_max_kbps =
        static_cast<uint32_t>(std::llround(settings.discovery.share_max_mbit * 1000));
  }
  config.learn_paths =
      std::any_of(settings.paths.begin(), settings.paths.end(),
                  [](const PathSettings& p) { return p.endpoint == PathEndpoint::kLearned; });
  return maps.WriteConfig(config);
}

class Agent {
 public:
  explicit Agent(const AgentOptions& options) : options_(options) {}
  int Run();

 private:
  int Fail(int code, const absl::Status& status) {
    Log(LogLevel::kError, std::string(status.message()));
    return code;
  }
  absl::Status Start();
  void Stop();
  // Calls `on_readable` from the main loop whenever `fd` is readable; every
  // event source of the agent (sockets, timers, netlink) is one of these.
  void Watch(int fd, std::function<void()> on_readable);
  // Serves every watched fd until SIGINT/SIGTERM.
  void Loop(int signals);
  void OnLinkEvent(const LinkEvent& event);
  // Whether path i's uplink exists, is up with carrier and still has the
  // path's source address.
  bool UplinkUsable(size_t i) const;
  // Health and manual failover -> path table; written when it changed.
  PathTable DesiredTable() const;
  absl::Status WritePathTable();
  // Logs a state change of path i and remembers it for `meshbpf status`;
  // whether there was one.
  bool Record(size_t i, const std::optional<Transition>& t);
  // Periodic work, every failover.monitoring_interval: probes, neighbour
  // MACs, and every rebalance_interval the estimates and weights.
  void OnTick();
  void SendProbes(uint64_t now_ns, const CounterTable& counters);
  void OnProbeSocketReadable();
  void Rebalance(uint64_t now_ns);
  absl::Status StartProbing();
  // Mesh discovery, when node_discovery.enabled.
  absl::Status StartDiscovery();
  // The neighbour on one of our node_discovery LANs, and our address there.
  std::optional<LanSide> LanOf(in_addr neighbour) const;
  // A relayed path was filled (or withdrawn) by discovery.
  void OnRelayedPath(size_t i, const std::optional<RelayAssignment>& assignment);
  // Learned paths: an authenticated probe request arrived on path i.
  void OnProbeRequest(size_t i);
  // Path i's far end changed (settings_.paths[i] already says how): fresh
  // health that waits for probes, peers and path table rewritten.
  void EndpointChanged(size_t i, const std::string& why);
  nlohmann::json HandleControl(const nlohmann::json& request);
  // Metrics sampling, history and the Prometheus endpoint (monitoring.*).
  absl::Status StartMonitoring();
  // Data caps (interfaces.uplinks[].data_cap): budgets in the data path,
  // usage in the history file.
  absl::Status StartCaps();
  void LogCapNotices(const std::vector<CapNotice>& notices);
  nlohmann::json CapCommand(const CapRequest& request);
  void SampleMetrics(uint64_t now_ns, const CounterTable& counters);
  nlohmann::json StatsReply() const;
  // meshbpf test: starts the active test of a path or interface, reports it.
  nlohmann::json StartUplinkTest(const TestRequest& request);
  nlohmann::json UplinkTestReply() const;
  void OnTestTimer(uint64_t now_ns);
  nlohmann::json StatusReply() const;
  nlohmann::json Failover(const FailoverRequest& request);
  // Paths a name refers to: a path name, or an interface carrying paths.
  std::vector<size_t> PathsNamed(const std::string& name) const;

  // Counter snapshots that bracket a rebalance interval: ours when a probe
  // left, the peer's when it answered.
  struct DeliveryMark {
    uint64_t sent_ns = 0;
    PathTx tx;
    uint64_t reflected_ns = 0;
    PathRx rx;
  };
  struct TransitionRecord {
    std::string time;
    std::string path;
    PathState from, to;
    std::string reason;
  };

  const AgentOptions& options_;
  NodeSettings settings_;
  std::unique_ptr<Datapath> datapath_;
  std::unique_ptr<RelayMaps> relay_maps_;
  HealthParams health_params_;
  std::unique_ptr<LinkMonitor> links_;
  std::unique_ptr<ControlServer> control_;
  std::unique_ptr<ProbeSocket> probe_socket_;
  std::unique_ptr<PathProber> prober_;  // null: nobody to probe (no peer_bond_address)
  std::unique_ptr<MeshDiscovery> mesh_;  // null: node_discovery disabled
  std::unique_ptr<Monitor> monitor_;
  // Data caps: the store is the monitor's, or (monitoring.history off) our own.
  std::unique_ptr<HistoryStore> cap_store_;
  std::unique_ptr<PinnedBudgetMap> budget_map_;
  std::optional<CapManager> caps_;
  std::string history_file_;  // empty: no history recorded
  std::unique_ptr<MetricsServer> metrics_server_;  // null: monitoring.metrics_listen unset
  uint64_t next_sample_ns_ = 0;
  // The running (or last) meshbpf test.
  struct UplinkTestRun {
    std::vector<size_t> paths;
    std::vector<std::unique_ptr<LoadSender>> senders;
    std::vector<Pacer> pacers;
    std::vector<std::optional<TestMark>> start;
    uint64_t start_ns = 0, load_end_ns = 0, end_ns = 0;
    bool finished = false;
    nlohmann::json results;
  };
  std::optional<UplinkTestRun> test_;
  int test_timer_ = -1;
  std::vector<PathHealth> health_;
  std::vector<std::optional<DeliveryMark>> delivery_start_, delivery_latest_;
  std::deque<TransitionRecord> transitions_;
  uint64_t next_rebalance_ns_ = 0;
  uint64_t invalid_probes_ = 0;
  // meshbpf failover FROM TO: paths held out of service and moved into it.
  std::set<size_t> held_out_, moved_in_;
  PathTable table_{};
  bool created_bond_ = false;
  struct WatchedFd {
    int fd;
    std::function<void()> on_readable;
  };
  std::vector<WatchedFd> watched_;
};

bool Agent::UplinkUsable(size_t i) const {
  const PathSettings& p = settings_.paths[i];
  std::optional<InterfaceInfo> info = SystemInterfaceLookup().Find(p.interface);
  return info && info->ifindex == p.ifindex && info->up && info->running && info->ipv4 &&
         info->ipv4->s_addr == p.source.s_addr;
}

PathTable Agent::DesiredTable() const {
  std::vector<PathCondition> conditions(settings_.paths.size());
  for (size_t i = 0; i < conditions.size(); ++i) {
    const PathHealth& h = health_[i];
    PathCondition& c = conditions[i];
    c.usable = h.state() != PathState::kDown;
    c.link_up = h.link_up();
    c.degraded = h.state() == PathState::kDegraded;
    if (prober_) {
      c.capacity_bps = h.weight_bps();
      if (h.rtt().has_sample()) c.owd_us = static_cast<double>(h.rtt().min_ns()) / 2e3;
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
  PathTable table = BuildPathTable(settings_, conditions);
  FillNextHopMacs(settings_, table);
  return table;
}

absl::Status Agent::WritePathTable() {
  const PathTable table = DesiredTable();
  if (std::memcmp(&table, &table_, sizeof(table)) == 0) return absl::OkStatus();
  for (size_t i = 0; i < settings_.paths.size(); ++i) {
    if (table[i].state != table_[i].state) {
      Log(LogLevel::kInfo, absl::StrFormat("path %s: data path state %s", settings_.paths[i].name,
                                           PathStateName(table[i].state)));
    }
  }
  table_ = table;
  return datapath_->maps().WritePaths(table);
}

bool Agent::Record(size_t i, const std::optional<Transition>& t) {
  if (!t) return false;
  Log(t->to == PathState::kUp ? LogLevel::kInfo : LogLevel::kWarning,
      absl::StrFormat("path %s: %s -> %s (%s)", settings_.paths[i].name, HealthStateName(t->from),
                      HealthStateName(t->to), t->reason));
  transitions_.push_back({UtcNow(), settings_.paths[i].name, t->from, t->to, t->reason});
  if (monitor_) {
    const PathTransition record{absl::Now(), settings_.paths[i].name,
                                ToPathStatus(t->from, false), ToPathStatus(t->to, false),
                                t->reason};
    if (absl::Status s = monitor_->RecordTransition(record); !s.ok()) {
      Log(LogLevel::kError, std::string(s.message()));
    }
  }
  if (transitions_.size() > kTransitionsKept) transitions_.pop_front();
  return true;
}

void Agent::SendProbes(uint64_t now_ns, const CounterTable& counters) {
  for (uint8_t lost : prober_->Expire(now_ns)) Record(lost, health_[lost].OnProbeLost(now_ns));
  for (size_t i = 0; i < settings_.paths.size(); ++i) {
    // A relayed or learned path without its far end has nowhere to go.
    if (!settings_.paths[i].endpoint_known) continue;
    const auto path = static_cast<uint8_t>(i);
    const RttEstimator& rtt = health_[i].rtt();
    if (rtt.has_sample()) {
      const double rto = rtt.srtt_ns() + 4 * rtt.rttvar_ns();
      prober_->SetTimeout(path, std::clamp(static_cast<uint64_t>(rto), kMinProbeTimeoutNs,
                                           kMaxProbeTimeoutNs));
    }
    const PathTx tx{counters[i].tx_packets, counters[i].tx_bytes};
    const ProbeMessage request = prober_->NextRequest(path, now_ns, tx);
    // A send error (no route, uplink gone) surfaces as a lost probe.
    if (absl::Status s = probe_socket_->SendRequest(*settings_.peer_bond_address,
                                                    settings_.failover.probe_port, request);
        !s.ok()) {
      Log(LogLevel::kDebug, std::string(s.message()));
    }
  }
}

void Agent::OnProbeSocketReadable() {
  const uint64_t now_ns = MonotonicNs();
  // Read only when a request needs answering, once per drain.
  std::optional<absl::StatusOr<CounterTable>> counters;
  auto rx_of = [&](uint8_t path) -> PathRx {
    if (!counters) counters = datapath_->maps().ReadCounters();
    if (!counters->ok() || path >= MB_MAX_PATHS) return {};
    return {(**counters)[path].rx_packets, (**counters)[path].rx_bytes};
  };
  bool changed = false;
  auto on_reply = [&](const ProbeMessage& reply, uint64_t received_ns) {
    if (!prober_ || reply.path_id >= health_.size()) return;
    std::optional<ProbeAnswer> answer = prober_->OnReply(reply, received_ns);
    if (!answer) return;
    const size_t i = reply.path_id;
    // Peer clock minus ours: its offset cancels in jitter and queue delay.
    const auto transit = static_cast<int64_t>(reply.reflected_ns - answer->sent_ns);
    changed |= Record(i, health_[i].OnProbeAnswered(answer->rtt_ns, transit, received_ns));
    delivery_latest_[i] = DeliveryMark{answer->sent_ns, answer->tx_at_send, reply.reflected_ns,
                                       {reply.rx_packets, reply.rx_bytes}};
  };
  auto on_invalid = [&](const std::string& why) {
    // Counted always, logged for the first and then every 100th: a flood of
    // forged probes must not flood the log.
    if (invalid_probes_++ % 100 == 0) {
      Log(LogLevel::kWarning, absl::StrFormat("dropped an invalid probe (%s); %u so far", why,
                                              invalid_probes_));
    }
  };
  auto on_request = [&](const ProbeMessage& request) {
    if (request.path_id < settings_.paths.size() &&
        settings_.paths[request.path_id].endpoint == PathEndpoint::kLearned) {
      OnProbeRequest(request.path_id);
    }
  };
  probe_socket_->Drain(now_ns, on_request, rx_of, on_reply, on_invalid);
  // A path coming back goes into the table at once; measurements (capacity,
  // delay) and neighbour MACs wait for the tick, which rewrites it anyway.
  if (!changed) return;
  if (absl::Status s = WritePathTable(); !s.ok()) Log(LogLevel::kError, std::string(s.message()));
}

void Agent::Rebalance(uint64_t now_ns) {
  uint64_t best_rtt = 0;
  for (const PathHealth& h : health_) {
    if (h.state() == PathState::kDown || !h.rtt().has_sample()) continue;
    const auto srtt = static_cast<uint64_t>(h.rtt().srtt_ns());
    if (best_rtt == 0 || srtt < best_rtt) best_rtt = srtt;
  }
  for (size_t i = 0; i < health_.size(); ++i) {
    std::optional<DeliverySample> delivery;
    const std::optional<DeliveryMark>& a = delivery_start_[i];
    const std::optional<DeliveryMark>& b = delivery_latest_[i];
    // Counters going backwards (the peer restarted, maps recreated) or no
    // new answer: nothing to learn this round.
    if (a && b && b->sent_ns > a->sent_ns && b->reflected_ns > a->reflected_ns &&
        b->tx.packets >= a->tx.packets && b->rx.packets >= a->rx.packets &&
        b->tx.bytes >= a->tx.bytes && b->rx.bytes >= a->rx.bytes) {
      delivery = DeliverySample{
          .sent_bps = static_cast<double>(b->tx.bytes - a->tx.bytes) * 8e9 /
                      static_cast<double>(b->sent_ns - a->sent_ns),
          .delivered_bps = static_cast<double>(b->rx.bytes - a->rx.bytes) * 8e9 /
                           static_cast<double>(b->reflected_ns - a->reflected_ns),
          .sent_packets = b->tx.packets - a->tx.packets,
          .delivered_packets = b->rx.packets - a->rx.packets,
          .seconds = static_cast<double>(b->sent_ns - a->sent_ns) / 1e9};
    }
    Record(i, health_[i].Rebalance(delivery, best_rtt, now_ns));
    delivery_start_[i] = delivery_latest_[i];
  }
}

void Agent::OnTick() {
  const uint64_t now_ns = MonotonicNs();
  if (caps_) LogCapNotices(caps_->Poll(absl::Now()));
  const bool sample = monitor_ && now_ns >= next_sample_ns_;
  absl::StatusOr<CounterTable> counters = absl::UnavailableError("not read");
  if (prober_ || sample) {
    counters = datapath_->maps().ReadCounters();
    if (!counters.ok()) Log(LogLevel::kError, std::string(counters.status().message()));
  }
  if (prober_ && counters.ok()) SendProbes(now_ns, *counters);
  if (now_ns >= next_rebalance_ns_) {
    if (prober_) Rebalance(now_ns);
    next_rebalance_ns_ =
        now_ns + static_cast<uint64_t>(settings_.failover.rebalance_interval_s * 1e9);
  }
  if (sample) {
    if (counters.ok()) SampleMetrics(now_ns, *counters);
    next_sample_ns_ = now_ns + static_cast<uint64_t>(settings_.monitoring.sample_interval_s * 1e9);
  }
  // Also picks up neighbour MACs, which get resolved and expire on their
  // own schedule: the data path's redundant copies need the current ones.
  if (absl::Status s = WritePathTable(); !s.ok()) Log(LogLevel::kError, std::string(s.message()));
}

void Agent::OnLinkEvent(const LinkEvent& event) {
  const uint64_t now_ns = MonotonicNs();
  for (size_t i = 0; i < settings_.paths.size(); ++i) {
    if (settings_.paths[i].ifindex != event.ifindex) continue;
    Record(i, health_[i].OnLink(UplinkUsable(i),
                                absl::StrCat(LinkEventName(event.kind), " on ",
                                             settings_.paths[i].interface),
                                now_ns));
  }
  // At once, not at the next tick: carrier loss must stop traffic on the
  // path within milliseconds.
  if (absl::Status s = WritePathTable(); !s.ok()) Log(LogLevel::kError, std::string(s.message()));
}

// A timerfd firing every `interval_s` seconds.
int IntervalTimer(double interval_s) {
  int fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (fd < 0) return fd;
  itimerspec spec{};
  const auto ns = static_cast<long long>(interval_s * 1e9);
  spec.it_interval.tv_sec = ns / 1000000000;
  spec.it_interval.tv_nsec = ns % 1000000000;
  spec.it_value = spec.it_interval;
  timerfd_settime(fd, 0, &spec, nullptr);
  return fd;
}

void Agent::Watch(int fd, std::function<void()> on_readable) {
  watched_.push_back({fd, std::move(on_readable)});
}

void Agent::Loop(int signals) {
  const int timer = IntervalTimer(settings_.failover.monitoring_interval_s);
  bool stop = false;
  Watch(signals, [&] {
    signalfd_siginfo info{};
    if (read(signals, &info, sizeof(info)) == sizeof(info)) {
      Log(LogLevel::kInfo, absl::StrCat("received ", strsignal(static_cast<int>(info.ssi_signo)),
                                        ", detaching"));
    }
    stop = true;
  });
  Watch(timer, [&] {
    uint64_t expirations = 0;
    if (read(timer, &expirations, sizeof(expirations)) > 0) OnTick();
  });
  Watch(links_->fd(), [this] { links_->Drain([this](const LinkEvent& e) { OnLinkEvent(e); }); });
  Watch(control_->fd(), [this] {
    control_->Serve([this](const nlohmann::json& r) { return HandleControl(r); });
  });
  if (probe_socket_) Watch(probe_socket_->fd(), [this] { OnProbeSocketReadable(); });
  if (metrics_server_) {
    Watch(metrics_server_->fd(), [this] {
      metrics_server_->Serve([this] { return FormatPrometheus(monitor_->snapshot()); });
    });
  }
  // Disarmed until a meshbpf test paces its load with it.
  test_timer_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  Watch(test_timer_, [this] {
    uint64_t expirations = 0;
    if (read(test_timer_, &expirations, sizeof(expirations)) > 0) OnTestTimer(MonotonicNs());
  });
  // Its own timer: announcements keep their interval whatever monitoring_interval is.
  const int mesh_timer = mesh_ ? IntervalTimer(settings_.discovery.broadcast_interval_s) : -1;
  if (mesh_) {
    for (int fd : mesh_->fds()) Watch(fd, [this, fd] { mesh_->OnReadable(fd); });
    Watch(mesh_timer, [this, mesh_timer] {
      uint64_t expirations = 0;
      if (read(mesh_timer, &expirations, sizeof(expirations)) > 0) mesh_->OnInterval();
    });
  }
  std::vector<pollfd> fds;
  for (const WatchedFd& w : watched_) fds.push_back({w.fd, POLLIN, 0});
  while (!stop) {
    if (poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      Log(LogLevel::kError, absl::StrCat("poll: ", std::strerror(errno)));
      break;
    }
    for (size_t i = 0; i < fds.size() && !stop; ++i) {
      if (fds[i].revents) watched_[i].on_readable();
    }
  }
  watched_.clear();
  close(timer);
  close(test_timer_);
  if (mesh_timer >= 0) close(mesh_timer);
}

absl::Status Agent::Start() {
  absl::StatusOr<std::unique_ptr<ControlServer>> control =
      ControlServer::Open(ControlSocketPath(options_.run_dir, options_.instance));
  if (!control.ok()) return control.status();
  control_ = std::move(*control);
  // Next to the control socket, in the directory it made (0750).
  absl::StatusOr<std::unique_ptr<LogFile>> log_file =
      LogFile::Open(AgentLogPath(options_.run_dir, options_.instance));
  if (!log_file.ok()) return log_file.status();
  SetLogFile(std::move(*log_file));
  const uint32_t mtu = BondMtu(settings_);
  if (mtu < 576) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the smallest uplink MTU leaves a bond MTU of ", mtu, " (< 576) after the ",
        BondOverhead(settings_), "-byte encapsulation"));
  }
  const bool no_offload = ShouldDisableOffloads(settings_);
  absl::StatusOr<bool> created = EnsureBondDevice(settings_, mtu, no_offload);
  if (!created.ok()) return created.status();
  created_bond_ = *created;
  Log(LogLevel::kInfo, absl::StrFormat("bond %s: MTU %u (smallest uplink minus %d bytes), "
                                       "segmentation offload %s",
                                       settings_.bond_interface, mtu, BondOverhead(settings_),
                                       no_offload ? "off" : "on"));

  SystemInterfaceLookup lookup;
  std::optional<InterfaceInfo> bond = lookup.Find(settings_.bond_interface);
  std::optional<InterfaceInfo> bond_tx = lookup.Find(BondTxName(settings_.bond_interface));
  if (!bond || !bond_tx) return absl::InternalError("the bond device vanished while starting");

  // Subscribe before reading link state, so no change falls in between.
  absl::StatusOr<std::unique_ptr<LinkMonitor>> links = LinkMonitor::Open();
  if (!links.ok()) return links.status();
  links_ = std::move(*links);
  health_params_.probed =
      settings_.peer_bond_address.has_value() && settings_.bond_address.has_value();
  health_params_.threshold = settings_.failover.threshold;
  health_params_.recovery_threshold = settings_.failover.recovery_threshold;
  health_params_.degrade_loss = settings_.failover.degrade_loss_percent / 100;
  health_params_.recover_loss = settings_.failover.recover_loss_percent / 100;
  const uint64_t start_ns = MonotonicNs();
  for (size_t i = 0; i < settings_.paths.size(); ++i) {
    const PathSettings& p = settings_.paths[i];
    health_.emplace_back(health_params_, p.rate_mbit * 1e6, kQueueLimitNs);
    Record(i, health_[i].OnLink(p.endpoint_known && UplinkUsable(i),
                                !p.endpoint_known ? std::string(EndpointPending(p))
                                                  : "uplink down or without its address at start",
                                start_ns));
  }
  delivery_start_.resize(settings_.paths.size());
  delivery_latest_.resize(settings_.paths.size());

  const std::string pin_dir = InstancePinDir(options_.pin_root, options_.instance);
  absl::StatusOr<std::unique_ptr<Datapath>> datapath = Datapath::Load(pin_dir);
  if (!datapath.ok()) return datapath.status();
  datapath_ = std::move(*datapath);
  absl::StatusOr<std::unique_ptr<RelayMaps>> relay_maps = RelayMaps::OpenPinned(pin_dir);
  if (!relay_maps.ok()) return relay_maps.status();
  relay_maps_ = std::move(*relay_maps);
  table_ = DesiredTable();
  if (absl::Status s = ConfigureMaps(datapath_->maps(), settings_, table_, *bond); !s.ok()) {
    return s;
  }

  std::set<int> uplinks;
  for (const PathSettings& p : settings_.paths) {
    if (uplinks.insert(p.ifindex).second) {
      if (absl::Status s = datapath_->AttachDecap(p.ifindex); !s.ok()) return s;
    }
    const std::string remote = settings_.mode == BondMode::kFlow ? "flows NATed"
                               : !p.endpoint_known
                                   ? absl::StrCat("-> ", EndpointPending(p))
                                   : absl::StrCat("-> ", Ip(p.remote), ":", p.remote_port);
    Log(LogLevel::kInfo,
        absl::StrFormat("path %s: %s %s %s via %s, %.1f Mbit/s, %s", p.name, p.interface,
                        Ip(p.source), remote,
                        p.gateway ? Ip(*p.gateway) : std::string("routing table"), p.rate_mbit,
                        p.role == PathRole::kBonded ? "bonded" : "backup"));
  }
  // Neighbours' relayed packets arrive on the LAN (an origin's relayed path
  // is a path on its LAN interface, attached above already).
  if (SharesUplinks(settings_)) {
    for (const std::string& lan : settings_.discovery.interfaces) {
      std::optional<InterfaceInfo> info = lookup.Find(lan);
      if (!info) {
        return absl::NotFoundError(
            absl::StrCat("node_discovery.interfaces: ", lan, " vanished while starting"));
      }
      if (!uplinks.insert(info->ifindex).second) continue;
      if (absl::Status s = datapath_->AttachDecap(info->ifindex); !s.ok()) return s;
    }
    Log(LogLevel::kInfo,
        absl::StrFormat("relaying for neighbours through %s at ports %u+ on %s, rate ceiling %s",
                        absl::StrJoin(settings_.discovery.share_uplinks, ", "),
                        settings_.discovery.relay_port,
                        absl::StrJoin(settings_.discovery.interfaces, ", "),
                        settings_.discovery.share_max_mbit > 0
                            ? absl::StrFormat("%.3g Mbit/s", settings_.discovery.share_max_mbit)
                            : std::string("none")));
  }
  if (absl::Status s = datapath_->AttachEncap(bond_tx->ifindex); !s.ok()) return s;
  if (absl::Status s = StartProbing(); !s.ok()) return s;
  if (absl::Status s = StartMonitoring(); !s.ok()) return s;
  // Before discovery: its first announcement carries the share budget left.
  if (absl::Status s = StartCaps(); !s.ok()) return s;
  return StartDiscovery();
}

absl::Status Agent::StartCaps() {
  std::vector<CappedUplink> capped;
  for (size_t i = 0; i < settings_.paths.size(); ++i) {
    const PathSettings& p = settings_.paths[i];
    if (p.data_cap) capped.push_back({static_cast<uint32_t>(i), p.name, *p.data_cap});
  }
  if (settings_.discovery.share_cap && SharesUplinks(settings_)) {
    capped.push_back({MB_RELAY_BUDGET, kShareCapName, *settings_.discovery.share_cap});
  }
  absl::StatusOr<std::unique_ptr<PinnedBudgetMap>> map =
      PinnedBudgetMap::Open(InstancePinDir(options_.pin_root, options_.instance));
  if (!map.ok()) return map.status();
  budget_map_ = std::move(*map);
  HistoryStore* store = monitor_ ? monitor_->history() : nullptr;
  if (!capped.empty() && store == nullptr) {
    const std::string file = settings_.monitoring.history_file.empty()
                                 ? DefaultHistoryFile(options_.instance)
                                 : settings_.monitoring.history_file;
    absl::StatusOr<std::unique_ptr<HistoryStore>> opened = HistoryStore::OpenForAgent(file);
    if (!opened.ok()) return opened.status();
    cap_store_ = std::move(*opened);
    store = cap_store_.get();
  }
  // Without caps this only clears budgets a previous configuration left.
  std::vector<CapNotice> notices;
  absl::StatusOr<CapManager> caps =
      CapManager::Start(std::move(capped), store, budget_map_.get(), absl::Now(), &notices);
  if (!caps.ok()) return caps.status();
  caps_ = std::move(*caps);
  LogCapNotices(notices);
  return absl::OkStatus();
}

void Agent::LogCapNotices(const std::vector<CapNotice>& notices) {
  for (const CapNotice& n : notices) {
    Log(n.level == CapNotice::Level::kInfo      ? LogLevel::kInfo
        : n.level == CapNotice::Level::kWarning ? LogLevel::kWarning
                                                : LogLevel::kError,
        n.text);
  }
}

// {"command": "cap"} shows every cap; {"command": "cap", "reset": PATH} starts one over.
nlohmann::json Agent::CapCommand(const CapRequest& request) {
  if (request.reset) {
    const std::string& name = *request.reset;
    std::vector<CapNotice> notices;
    absl::Status s = caps_->Reset(name, absl::Now(), &notices);
    LogCapNotices(notices);
    if (!s.ok()) return {{"error", std::string(s.message())}};
  }
  return CapStatusJson(caps_->Statuses());
}

absl::Status Agent::StartMonitoring() {
  const MonitoringSettings& m = settings_.monitoring;
  std::unique_ptr<HistoryStore> history;
  if (m.history) {
    history_file_ = m.history_file.empty() ? DefaultHistoryFile(options_.instance) : m.history_file;
    absl::StatusOr<std::unique_ptr<HistoryStore>> store = HistoryStore::OpenForAgent(history_file_);
    if (!store.ok()) return store.status();
    history = std::move(*store);
    Log(LogLevel::kInfo, absl::StrFormat("recording metrics every %.3g s into %s",
                                         m.sample_interval_s, history_file_));
  }
  monitor_ = std::make_unique<Monitor>(settings_.bond_interface, std::move(history));
  if (m.metrics_listen) {
    absl::StatusOr<std::unique_ptr<MetricsServer>> server = MetricsServer::Open(*m.metrics_listen);
    if (!server.ok()) return server.status();
    metrics_server_ = std::move(*server);
    Log(LogLevel::kInfo, absl::StrFormat("serving Prometheus metrics at http://%s:%u/metrics",
                                         Ip(m.metrics_listen->address), m.metrics_listen->port));
  }
  return absl::OkStatus();
}

void Agent::SampleMetrics(uint64_t now_ns, const CounterTable& counters) {
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
  }
  if (caps_) {
    for (const CapStatus& c : caps_->Statuses()) {
      if (c.path_id < views.size()) {
        views[c.path_id].cap = CapMetrics{c.usage.used_bytes, c.plan.limit_bytes};
      }
    }
  }
  if (absl::Status s = monitor_->Sample({now_ns, counters}, table_, views); !s.ok()) {
    Log(LogLevel::kError, absl::StrCat("metrics: ", s.message()));
  }
}

nlohmann::json Agent::StatsReply() const {
  nlohmann::json reply = SnapshotToJson(monitor_->snapshot());
  reply["history_file"] = history_file_;
  reply["sample_interval"] = settings_.monitoring.sample_interval_s;
  return reply;
}

nlohmann::json Agent::StartUplinkTest(const TestRequest& request) {
  auto error = [](const std::string& message) { return nlohmann::json{{"error", message}}; };
  if (test_ && !test_->finished) return error("a test is already running");
  if (!prober_) {
    return error("testing needs probes to the peer (link_aggregation.peer_bond_address and "
                 "bond_address)");
  }
  const std::string& name = request.interface;
  const std::vector<size_t> paths = PathsNamed(name);
  if (paths.empty()) {
    std::vector<std::string> names;
    for (const PathSettings& p : settings_.paths) names.push_back(p.name);
    return error(absl::StrCat("unknown path or interface \"", name, "\" (paths: ",
                              absl::StrJoin(names, ", "), ")"));
  }
  const double seconds = request.duration;
  if (!(seconds >= kMinTestSeconds && seconds <= kMaxTestSeconds)) {
    return error(absl::StrFormat("duration %g s is not within %g..%g s", seconds, kMinTestSeconds,
                                 kMaxTestSeconds));
  }
  UplinkTestRun run;
  const uint64_t now_ns = MonotonicNs();
  for (size_t i : paths) {
    absl::StatusOr<std::unique_ptr<LoadSender>> sender = LoadSender::Open(
        settings_.bond_address->address, *settings_.peer_bond_address, static_cast<uint8_t>(i));
    if (!sender.ok()) return error(std::string(sender.status().message()));
    run.senders.push_back(std::move(*sender));
    run.pacers.emplace_back(settings_.paths[i].rate_mbit * 1e6 * kTestLoadFactor,
                            kTestPayloadBytes, now_ns, /*max_burst=*/8);
  }
  run.paths = paths;
  run.start_ns = now_ns;
  run.load_end_ns = now_ns + static_cast<uint64_t>(seconds * 1e9);
  // A little past the load, so a probe that left behind its last packet
  // has been answered.
  run.end_ns = run.load_end_ns + 600'000'000;
  test_ = std::move(run);
  itimerspec spec{};
  spec.it_interval.tv_nsec = 2'000'000;  // 2 ms: small bursts, like a real sender
  spec.it_value = spec.it_interval;
  timerfd_settime(test_timer_, 0, &spec, nullptr);
  Log(LogLevel::kInfo, absl::StrFormat("test of %s for %g s started", name, seconds));
  return UplinkTestReply();
}

void Agent::OnTestTimer(uint64_t now_ns) {
  if (!test_ || test_->finished) return;
  UplinkTestRun& run = *test_;
  auto mark_of = [this](size_t i) -> std::optional<TestMark> {
    const std::optional<DeliveryMark>& d = delivery_latest_[i];
    if (!d) return std::nullopt;
    return TestMark{d->sent_ns, d->tx.packets, d->tx.bytes, d->reflected_ns, d->rx.packets,
                    d->rx.bytes};
  };
  if (run.start.empty()) {
    for (size_t i : run.paths) run.start.push_back(mark_of(i));
  }
  if (now_ns < run.load_end_ns) {
    for (size_t k = 0; k < run.paths.size(); ++k) run.senders[k]->Send(run.pacers[k].Due(now_ns));
    return;
  }
  if (now_ns < run.end_ns) return;
  run.results = nlohmann::json::array();
  for (size_t k = 0; k < run.paths.size(); ++k) {
    const size_t i = run.paths[k];
    PathTestResult r = CompareMarks(settings_.paths[i].name, run.start[k], mark_of(i),
                                    run.start_ns, run.load_end_ns);
    const PathHealth& h = health_[i];
    if (h.rtt().has_sample()) {
      r.rtt_ms = h.rtt().srtt_ns() / 1e6;
      r.jitter_ms = h.jitter().jitter_ns() / 1e6;
    }
    r.probe_loss = h.probe_loss();
    run.results.push_back(TestResultJson(r));
  }
  run.senders.clear();
  run.finished = true;
  itimerspec off{};
  timerfd_settime(test_timer_, 0, &off, nullptr);
  Log(LogLevel::kInfo, absl::StrCat("test finished: ", run.results.dump()));
}

nlohmann::json Agent::UplinkTestReply() const {
  if (!test_) return {{"error", "no test has run"}};
  const uint64_t now_ns = MonotonicNs();
  const double total = static_cast<double>(test_->end_ns - test_->start_ns) / 1e9;
  const double elapsed = std::min(total, static_cast<double>(now_ns - test_->start_ns) / 1e9);
  nlohmann::json reply = {{"running", !test_->finished},
                          {"elapsed", test_->finished ? total : elapsed},
                          {"total", total}};
  if (test_->finished) reply["results"] = test_->results;
  return reply;
}

absl::Status Agent::StartDiscovery() {
  if (!settings_.discovery.enabled) return absl::OkStatus();
  // What a cap with this path id has left; nullopt: no such cap.
  auto cap_left = [this](uint32_t path_id) -> std::optional<uint64_t> {
    for (const CapStatus& c : caps_->Statuses()) {
      if (c.path_id == path_id) return CapRemainingBytes(c.plan, c.usage);
    }
    return std::nullopt;
  };
  MeshHooks hooks;
  hooks.report = [this, cap_left](size_t i) {
    const PathHealth& h = health_[i];
    PathReport r;
    r.down = h.state() == PathState::kDown;
    r.capacity_bps = h.capacity_bps();
    if (h.rtt().has_sample()) r.srtt_ns = h.rtt().srtt_ns();
    r.loss = h.loss();
    r.cap_remaining_bytes = cap_left(static_cast<uint32_t>(i));
    return r;
  };
  hooks.share_remaining = [cap_left] { return cap_left(MB_RELAY_BUDGET); };
  hooks.on_relayed_path = [this](size_t i, const std::optional<RelayAssignment>& a) {
    OnRelayedPath(i, a);
  };
  hooks.relay_maps = relay_maps_.get();
  hooks.lan_of = [this](in_addr neighbour) { return LanOf(neighbour); };
  absl::StatusOr<std::unique_ptr<MeshDiscovery>> mesh =
      MeshDiscovery::Start(settings_, options_.instance, std::move(hooks));
  if (!mesh.ok()) return mesh.status();
  mesh_ = std::move(*mesh);
  return absl::OkStatus();
}

std::optional<LanSide> Agent::LanOf(in_addr neighbour) const {
  SystemInterfaceLookup lookup;
  std::vector<LanInterface> lans;
  for (const std::string& name : settings_.discovery.interfaces) {
    std::optional<InterfaceInfo> info = lookup.Find(name);
    std::optional<int> prefix = InterfacePrefixLength(name);
    if (info && info->ipv4 && prefix) lans.push_back({info->ifindex, *info->ipv4, *prefix});
  }
  return LanHolding(neighbour, lans);
}

void Agent::OnRelayedPath(size_t i, const std::optional<RelayAssignment>& assignment) {
  PathSettings& p = settings_.paths[i];
  p.endpoint_known = assignment.has_value();
  p.remote = assignment ? assignment->address : in_addr{};
  p.remote_port = assignment ? assignment->relay_port : 0;
  EndpointChanged(i, assignment ? absl::StrCat("now through ", assignment->node_name, "/",
                                               assignment->uplink, ", waiting for probes")
                                : std::string("withdrawn, no neighbour uplink fills it"));
}

void Agent::OnProbeRequest(size_t i) {
  absl::StatusOr<mb_learned_source> seen = relay_maps_->ReadLearned(static_cast<uint32_t>(i));
  if (!seen.ok()) {
    Log(LogLevel::kError, std::string(seen.status().message()));
    return;
  }
  std::optional<LearnedEndpoint> learned =
      EndpointToLearn(settings_.paths[i], *seen, MonotonicNs());
  if (!learned) return;
  PathSettings& p = settings_.paths[i];
  if (learned->ifindex != p.ifindex) {
    char name[IF_NAMESIZE] = {};
    std::optional<InterfaceInfo> info;
    if (if_indextoname(static_cast<unsigned>(learned->ifindex), name) != nullptr) {
      info = SystemInterfaceLookup().Find(name);
    }
    if (!info) {
      Log(LogLevel::kWarning, absl::StrFormat("path %s: a probe came in on interface %d, which is "
                                              "gone: far end not learned",
                                              p.name, learned->ifindex));
      return;
    }
    p.interface = name;
    p.ifindex = info->ifindex;
    p.mtu = info->mtu;
  }
  p.remote = learned->remote;
  p.remote_port = learned->remote_port;
  p.source = learned->source;
  p.endpoint_known = true;
  Log(LogLevel::kInfo, absl::StrFormat("path %s: far end learned: %s:%u (from an authenticated "
                                       "probe)",
                                       p.name, Ip(p.remote), p.remote_port));
  EndpointChanged(i, "far end learned, waiting for probes");
}

void Agent::EndpointChanged(size_t i, const std::string& why) {
  const uint64_t now_ns = MonotonicNs();
  const PathState before = health_[i].state();
  health_[i] = PathHealth(health_params_, settings_.paths[i].rate_mbit * 1e6, kQueueLimitNs);
  // Down until it answers probes, as after a link outage.
  std::optional<Transition> t = health_[i].OnLink(false, why, now_ns);
  if (t) t->from = before;
  if (t && t->from != t->to) Record(i, t);
  if (settings_.paths[i].endpoint_known) Record(i, health_[i].OnLink(UplinkUsable(i), why, now_ns));
  delivery_start_[i].reset();
  delivery_latest_[i].reset();
  if (absl::Status s = datapath_->maps().SyncPeers(PeerAddresses(settings_)); !s.ok()) {
    Log(LogLevel::kError, std::string(s.message()));
  }
  if (absl::Status s = WritePathTable(); !s.ok()) Log(LogLevel::kError, std::string(s.message()));
}

absl::Status Agent::StartProbing() {
  if (settings_.mode == BondMode::kFlow) return absl::OkStatus();  // no peer to probe
  if (!settings_.bond_address) {
    Log(LogLevel::kWarning, "no link_aggregation.bond_address: paths are not probed, only link "
                            "events take them out");
    return absl::OkStatus();
  }
  // Always open: the peer's probes need an answer even if this node does
  // not probe itself.
  absl::StatusOr<std::unique_ptr<ProbeSocket>> socket = ProbeSocket::Open(
      settings_.bond_address->address, settings_.failover.probe_port, settings_.discovery.mesh_key);
  if (!socket.ok()) return socket.status();
  probe_socket_ = std::move(*socket);
  if (!settings_.peer_bond_address) {
    Log(LogLevel::kWarning, "no link_aggregation.peer_bond_address: answering the peer's probes "
                            "but not probing; only link events take paths out");
    return absl::OkStatus();
  }
  const auto interval_ns =
      static_cast<uint64_t>(settings_.failover.monitoring_interval_s * 1e9);
  prober_ = std::make_unique<PathProber>(
      settings_.paths.size(), std::clamp(interval_ns, kMinProbeTimeoutNs, kMaxProbeTimeoutNs));
  Log(LogLevel::kInfo,
      absl::StrFormat("probing every path to %s:%u every %.3g s: down after %u lost, back "
                      "after %u answered",
                      Ip(*settings_.peer_bond_address), settings_.failover.probe_port,
                      settings_.failover.monitoring_interval_s, settings_.failover.threshold,
                      settings_.failover.recovery_threshold));
  return absl::OkStatus();
}

std::vector<size_t> Agent::PathsNamed(const std::string& name) const {
  std::vector<size_t> found;
  for (size_t i = 0; i < settings_.paths.size(); ++i) {
    if (settings_.paths[i].name == name) return {i};
    if (settings_.paths[i].interface == name) found.push_back(i);
  }
  return found;
}

nlohmann::json Agent::StatusReply() const {
  nlohmann::json paths = nlohmann::json::array();
  for (size_t i = 0; i < settings_.paths.size(); ++i) {
    const PathSettings& p = settings_.paths[i];
    const PathHealth& h = health_[i];
    nlohmann::json path = {
        {"id", i},
        {"name", p.name},
        {"interface", p.interface},
        {"health", HealthStateName(h.state())},
        {"link_up", h.link_up()},
        {"data_path_state", PathStateName(table_[i].state)},
        {"configured_mbit", p.rate_mbit},
        {"capacity_mbit", h.capacity_bps() / 1e6},
        {"weight_mbit", h.weight_bps() / 1e6},
        {"loss", h.loss()},
        {"probe_loss", h.probe_loss()},
        {"down_count", h.down_count()},
        {"held_out", held_out_.count(i) > 0},
        {"moved_in", moved_in_.count(i) > 0}};
    path["endpoint"] = EndpointName(p.endpoint);
    path["remote"] = p.endpoint_known
                         ? nlohmann::json(absl::StrCat(Ip(p.remote), ":", p.remote_port))
                         : nlohmann::json(nullptr);
    if (p.endpoint == PathEndpoint::kRelay) {
      const RelayAssignment* a =
          mesh_ && mesh_->relayed_path(i) ? &*mesh_->relayed_path(i) : nullptr;
      path["relay"] = a ? nlohmann::json{{"node", a->node_name},
                                         {"node_id", a->node_id},
                                         {"uplink", a->uplink},
                                         {"address", Ip(a->address)},
                                         {"port", a->relay_port}}
                        : nlohmann::json(nullptr);
    }
    if (p.endpoint == PathEndpoint::kLearned) path["learned_endpoint"] = path["remote"];
    if (h.rtt().has_sample()) {
      path["rtt_ms"] = h.rtt().srtt_ns() / 1e6;
      path["min_rtt_ms"] = static_cast<double>(h.rtt().min_ns()) / 1e6;
      path["jitter_ms"] = h.jitter().jitter_ns() / 1e6;
      path["queue_delay_ms"] = h.jitter().queue_delay_ns() / 1e6;
    }
    paths.push_back(std::move(path));
  }
  nlohmann::json transitions = nlohmann::json::array();
  for (const TransitionRecord& t : transitions_) {
    transitions.push_back({{"time", t.time},
                           {"path", t.path},
                           {"from", HealthStateName(t.from)},
                           {"to", HealthStateName(t.to)},
                           {"reason", t.reason}});
  }
  return {{"mode", BondModeName(settings_.mode)},
          {"probing", prober_ != nullptr},
          {"invalid_probes", invalid_probes_},
          {"nodes", mesh_ ? nlohmann::json(mesh_->node_count()) : nlohmann::json(nullptr)},
          {"paths", std::move(paths)},
          {"caps", caps_ ? CapStatusJson(caps_->Statuses()).at("caps") : nlohmann::json::array()},
          {"transitions", std::move(transitions)}};
}

nlohmann::json Agent::Failover(const FailoverRequest& request) {
  auto error = [](const std::string& message) { return nlohmann::json{{"error", message}}; };
  if (request.automatic) {
    held_out_.clear();
    moved_in_.clear();
    Log(LogLevel::kInfo, "manual failover cleared: paths follow their health again");
  } else {
    const std::string& from = request.from;
    const std::string& to = request.to;
    std::vector<std::string> names;
    for (const PathSettings& p : settings_.paths) names.push_back(p.name);
    const std::string known = absl::StrCat(" (paths: ", absl::StrJoin(names, ", "), ")");
    const std::vector<size_t> out = PathsNamed(from);
    const std::vector<size_t> in = PathsNamed(to);
    if (out.empty()) return error(absl::StrCat("unknown path or interface \"", from, "\"", known));
    if (in.empty()) return error(absl::StrCat("unknown path or interface \"", to, "\"", known));
    if (out == in) {
      return error(absl::StrCat("\"", from, "\" and \"", to, "\" are the same path"));
    }
    for (size_t i : in) {
      if (health_[i].state() == PathState::kDown) {
        return error(absl::StrCat("path ", settings_.paths[i].name,
                                  " is down; not moving traffic onto it"));
      }
    }
    held_out_ = std::set<size_t>(out.begin(), out.end());
    moved_in_ = std::set<size_t>(in.begin(), in.end());
    Log(LogLevel::kWarning, absl::StrFormat("manual failover: traffic moved from %s to %s", from,
                                            to));
  }
  if (absl::Status s = WritePathTable(); !s.ok()) return error(std::string(s.message()));
  return StatusReply();
}

nlohmann::json Agent::HandleControl(const nlohmann::json& request) {
  auto answer = Overloaded{
      [](const PingRequest&) { return ToJson(PingReply{}); },
      [this](const StatusRequest&) { return StatusReply(); },
      [this](const FailoverRequest& r) { return Failover(r); },
      [this](const CapRequest& r) {
        return caps_ ? CapCommand(r) : ToJson(ErrorReply{"unknown control command \"cap\""});
      },
      [this](const StatsRequest&) { return StatsReply(); },
      [this](const TestRequest& r) { return StartUplinkTest(r); },
      [this](const TestStatusRequest&) { return UplinkTestReply(); },
      [this](const PeersRequest&) {
        if (!mesh_) {
          return ToJson(ErrorReply{"mesh discovery is off (node_discovery.enabled is false)"});
        }
        return mesh_->PeersJson();
      }};
  return DispatchControl(request,
                         [&answer](const ControlRequest& r) { return std::visit(answer, r); });
}

void Agent::Stop() {
  if (caps_) {
    if (absl::Status s = caps_->Save(); !s.ok()) Log(LogLevel::kError, std::string(s.message()));
  }
  if (datapath_) {
    // Leave the maps pinned (counters survive a restart) but mark them
    // unconfigured so nothing reads them as a live agent's.
    if (absl::StatusOr<mb_config> config = datapath_->maps().ReadConfig(); config.ok()) {
      config->configured = 0;
      config->agent_pid = 0;
      (void)datapath_->maps().WriteConfig(*config);
    }
    datapath_->DetachAll();
    datapath_.reset();
  }
  if (created_bond_) {
    if (absl::Status s = DeleteBondDevice(settings_.bond_interface); !s.ok()) {
      Log(LogLevel::kWarning, std::string(s.message()));
    }
  }
}

int Agent::Run() {
  SystemInterfaceLookup lookup;
  absl::StatusOr<NodeSettings> settings = LoadConfigFile(options_.config_path, lookup);
  if (!settings.ok()) return Fail(kExitConfigError, settings.status());
  settings_ = std::move(*settings);

  const int signals = ShutdownSignalFd();
  if (signals < 0) return Fail(kExitRuntimeError, absl::InternalError("signalfd failed"));
  if (absl::Status s = Start(); !s.ok()) {
    Stop();
    close(signals);
    return Fail(kExitRuntimeError, s);
  }
  Log(LogLevel::kInfo, absl::StrFormat("ready: instance %s, %zu paths, mode %s",
                                       options_.instance, settings_.paths.size(),
                                       BondModeName(settings_.mode)));
  std::printf("meshbpf-agent: ready\n");
  std::fflush(stdout);

  Loop(signals);
  Stop();
  close(signals);
  Log(LogLevel::kInfo, "stopped");
  SetLogFile(nullptr);
  return kExitOk;
}

}  // namespace

int RunAgent(const AgentOptions& options) {
  SetVerbose(options.verbose);
  Agent agent(options);
  return agent.Run();
}

}  // namespace meshbpf
