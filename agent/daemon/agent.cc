#include "agent/daemon/agent.h"

#include <net/if.h>
#include <unistd.h>

#include <bit>
#include <cstdio>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "agent/core/config.h"
#include "agent/core/config_reload.h"
#include "agent/core/control_access.h"
#include "agent/core/control_protocol.h"
#include "agent/core/json_text.h"
#include "agent/core/routing_plan.h"
#include "agent/daemon/bond_datapath.h"
#include "agent/daemon/caps.h"
#include "agent/daemon/event_loop.h"
#include "agent/daemon/loss_repair.h"
#include "agent/daemon/mesh_node.h"
#include "agent/daemon/monitoring.h"
#include "agent/daemon/path_supervisor.h"
#include "agent/daemon/tunnel_auth.h"
#include "agent/daemon/uplink_test_runner.h"
#include "agent/daemon/web_endpoint.h"
#include "agent/sys/agent_log.h"
#include "agent/sys/config_file.h"
#include "agent/sys/clock.h"
#include "agent/sys/control.h"
#include "agent/sys/credentials.h"
#include "agent/sys/link_monitor.h"
#include "agent/sys/log.h"
#include "agent/sys/neighbors.h"
#include "agent/sys/netdev.h"
#include "agent/sys/policy_routing.h"
#include "agent/sys/privileges.h"
#include "agent/sys/probe_socket.h"

namespace meshbpf {
namespace {

// The neighbour's LAN among node_discovery.interfaces, and our address there.
std::optional<LanSide> LanOf(const NodeSettings& settings, const ScopedAddress& neighbour) {
  SystemInterfaceLookup lookup;
  std::vector<LanInterface> lans;
  for (const std::string& name : settings.discovery.interfaces) {
    std::optional<InterfaceInfo> info = lookup.Find(name);
    if (!info) continue;
    std::optional<int> prefix = InterfacePrefixLength(name);
    lans.push_back({info->ifindex, info->ipv4.value_or(in_addr{}), prefix.value_or(32),
                    info->ipv6_link_local});
  }
  return LanHolding(neighbour, lans);
}

// Starts the data path and the subsystems, wires them together, and serves
// their events and the control socket until SIGINT/SIGTERM.
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
  // Once started: keeps only the capabilities running needs (privileges.h).
  void DropPrivileges();
  void Stop();
  // link_aggregation.routing's rules, table and cgroup marks, once the
  // bond exists and the programs are loaded.
  absl::Status InstallRoutingPlan();
  // Writes the data path's maps from the supervisor's path table and the
  // values it tunes at run time (at start and after a reload).
  absl::Status ConfigureDatapath() {
    return datapath_->Configure(paths_->table(), paths_->reseq_deadline_us(),
                                paths_->repair_wait_us(), paths_->keep_copies());
  }
  absl::Status StartDiscovery();
  absl::Status StartLossRepair();
  // Serves every event source until SIGINT/SIGTERM.
  void Serve(int signals);
  // SIGHUP: reads the config file again and applies what changed, or logs
  // why not and keeps running on the current one.
  void Reload();
  // Every failover.monitoring_interval: caps, probes and weights, metrics.
  void OnTick();
  void OnProbeSocketReadable();
  // The "status" reply, for the control socket and the web endpoint alike.
  StatusReply CurrentStatus() const {
    StatusReply status = paths_->Status();
    if (auth_) {
      status.authentication = auth_->Report(MonotonicNs());
      status.authentication->encrypted = settings_.authentication->encryption;
    }
    if (repair_) {
      LossRepairReport& r = status.loss_repair.emplace(repair_->Report());
      r.resting = !paths_->repair_gate().open();
      r.rests = paths_->repair_gate().rests();
      r.peer_repairs = paths_->peer_repairs();
      r.wait_us = paths_->repair_wait_us();
      r.keeps_copies = paths_->keep_copies();
    }
    if (routing_) status.routing = RoutingStatus();
    return status;
  }
  // The single dispatch point of control requests: checks that `peer` may
  // run the request (MayRun) and logs every state change with its caller.
  nlohmann::json HandleControl(const nlohmann::json& request, const PeerCredentials& peer);

  const AgentOptions& options_;
  NodeSettings settings_;
  std::unique_ptr<BondDatapath> datapath_;
  std::unique_ptr<LinkMonitor> links_;
  std::unique_ptr<ControlServer> control_;
  std::optional<ControlGroup> control_group_;  // monitoring.control_group; none: root only
  std::unique_ptr<ProbeSocket> probe_socket_;  // null: no probes sent or answered
  std::unique_ptr<PathSupervisor> paths_;
  std::unique_ptr<Monitoring> monitoring_;
  std::unique_ptr<HttpServer> http_;  // null: monitoring.metrics_listen unset
  std::unique_ptr<Caps> caps_;
  std::unique_ptr<UplinkTestRunner> test_;
  std::unique_ptr<MeshDiscovery> mesh_;  // null: node_discovery disabled
  std::unique_ptr<TunnelAuth> auth_;     // null: link_aggregation.authentication off
  std::unique_ptr<LossRepair> repair_;   // null: link_aggregation.loss_repair off
  // link_aggregation.routing's plan once installed (Stop removes it then),
  // checked against the kernel every kRoutingCheckNs.
  std::optional<RoutingPlan> routing_;
  int bond_ifindex_ = 0;
  uint64_t routing_checked_ns_ = 0;
  uint64_t routing_reinstalls_ = 0;
  // Reads the kernel's rules and routes of the plan (routing_ set).
  RoutingReport RoutingStatus() const;
  // Puts back what another program (a network manager applying its own
  // rules) removed of the plan, and says so.
  void KeepRoutingInstalled(uint64_t now_ns);
};

constexpr uint64_t kRoutingCheckNs = 5'000'000'000;

absl::Status Agent::Start() {
  if (!settings_.monitoring.control_group.empty()) {
    absl::StatusOr<ControlGroup> group = LookupControlGroup(settings_.monitoring.control_group);
    if (!group.ok()) return group.status();
    control_group_ = *group;
  }
  absl::StatusOr<std::unique_ptr<ControlServer>> control = ControlServer::Open(
      ControlSocketPath(options_.run_dir, options_.instance), control_group_);
  if (!control.ok()) return control.status();
  control_ = std::move(*control);
  // Next to the control socket, in the directory it made (0755; the log is 0640).
  absl::StatusOr<std::unique_ptr<LogFile>> log_file =
      LogFile::Open(AgentLogPath(options_.run_dir, options_.instance));
  if (!log_file.ok()) return log_file.status();
  SetLogFile(std::move(*log_file));
  datapath_ = std::make_unique<BondDatapath>(settings_);
  if (absl::Status s = datapath_->CreateBond(); !s.ok()) return s;
  // Subscribe before reading link state, so no change falls in between.
  absl::StatusOr<std::unique_ptr<LinkMonitor>> links = LinkMonitor::Open();
  if (!links.ok()) return links.status();
  links_ = std::move(*links);
  const std::string pin_dir = InstancePinDir(options_.pin_root, options_.instance);
  if (absl::Status s = datapath_->Load(pin_dir); !s.ok()) return s;
  if (absl::Status s = InstallRoutingPlan(); !s.ok()) return s;
  // Before the first tick: a dead predecessor's stale beat is still there.
  datapath_->Heartbeat(MonotonicNs());

  StatusSources status;
  status.relayed_path = [this](size_t i) -> const RelayAssignment* {
    return mesh_ && mesh_->relayed_path(i) ? &*mesh_->relayed_path(i) : nullptr;
  };
  status.relay_unavailable = [this](size_t i) {
    return mesh_ ? mesh_->RelayUnavailable(i) : std::nullopt;
  };
  status.caps = [this] { return caps_ ? caps_->Entries() : std::vector<CapEntry>{}; };
  if (settings_.discovery.enabled) status.node_count = [this] { return mesh_->node_count(); };
  absl::StatusOr<std::unique_ptr<ProbeSocket>> probe_socket = OpenProbeSocket(settings_);
  if (!probe_socket.ok()) return probe_socket.status();
  probe_socket_ = std::move(*probe_socket);
  PathIo io = SystemPathIo(settings_, *datapath_, probe_socket_.get());
  io.on_transition = [this](const PathTransition& t) {
    if (monitoring_) monitoring_->RecordTransition(t);
  };
  paths_ =
      std::make_unique<PathSupervisor>(settings_, std::move(io), std::move(status), MonotonicNs());
  if (absl::Status s = ConfigureDatapath(); !s.ok()) return s;
  if (settings_.authentication) {
    TunnelAuthIo auth_io;
    auth_io.maps = &datapath_->auth();
    auth_io.table = [this]() -> const PathTable& { return paths_->table(); };
    auth_io.resolve_next_hop = [](const mb_path& p) {
      const IpAddress next_hop = NextHop(p);
      if (absl::Status s = RequestNeighborResolution(static_cast<int>(p.ifindex), next_hop); !s.ok()) {
        Log(LogLevel::kDebug, std::string(s.message()));
      }
    };
    absl::StatusOr<std::unique_ptr<TunnelAuth>> auth =
        TunnelAuth::Start(settings_, std::move(auth_io), MonotonicNs());
    if (!auth.ok()) return auth.status();
    auth_ = std::move(*auth);
  }
  if (settings_.loss_repair) {
    if (absl::Status s = StartLossRepair(); !s.ok()) return s;
  }
  if (probe_socket_ && settings_.peer_bond_address) paths_->StartProbing();
  test_ = std::make_unique<UplinkTestRunner>(settings_, *paths_);

  absl::StatusOr<std::unique_ptr<Monitoring>> monitoring =
      Monitoring::Start(settings_, options_.instance, pin_dir);
  if (!monitoring.ok()) return monitoring.status();
  monitoring_ = std::move(*monitoring);
  absl::StatusOr<std::unique_ptr<HttpServer>> http =
      OpenWebEndpoint(settings_.monitoring, *monitoring_, [this] { return CurrentStatus(); });
  if (!http.ok()) return http.status();
  http_ = std::move(*http);
  // Before discovery: its first announcement carries the share budget left.
  absl::StatusOr<std::unique_ptr<Caps>> caps =
      Caps::Start(settings_, pin_dir, options_.instance, monitoring_->history());
  if (!caps.ok()) return caps.status();
  caps_ = std::move(*caps);
  return StartDiscovery();
}

absl::Status Agent::StartLossRepair() {
  // Requests go to the peer's agent like probes, through the bond.
  if (!probe_socket_ || !settings_.peer_bond_address) {
    return absl::FailedPreconditionError(
        "link_aggregation.loss_repair needs probes: the bond's and the peer's bond addresses");
  }
  absl::StatusOr<std::unique_ptr<RepairChannel>> channel = datapath_->OpenRepairChannel();
  if (!channel.ok()) return channel.status();
  LossRepairIo io;
  io.repair_path = [this] { return paths_->RepairPath(); };
  io.send_request = [this](const ProbeMessage& request) {
    return probe_socket_->SendRequest(*settings_.peer_bond_address, settings_.failover.probe_port,
                                      request);
  };
  repair_ = std::make_unique<LossRepair>(std::move(*channel), std::move(io));
  return absl::OkStatus();
}

absl::Status Agent::StartDiscovery() {
  if (!settings_.discovery.enabled) return absl::OkStatus();
  MeshHooks hooks;
  hooks.report = [this](size_t i) {
    PathReport r = paths_->Report(i);
    r.cap_remaining_bytes = caps_->Remaining(static_cast<uint32_t>(i));
    return r;
  };
  hooks.share_remaining = [this] { return caps_->Remaining(MB_RELAY_BUDGET); };
  hooks.on_relayed_path = [this](size_t i, const std::optional<RelayAssignment>& a) {
    paths_->OnRelayedPath(i, a, MonotonicNs());
  };
  hooks.relay_maps = &datapath_->relay_maps();
  hooks.lan_of = [this](const ScopedAddress& neighbour) { return LanOf(settings_, neighbour); };
  hooks.attach_lan = [this](int ifindex) { return datapath_->AttachReceive(ifindex); };
  absl::StatusOr<std::unique_ptr<MeshDiscovery>> mesh =
      MeshDiscovery::Start(settings_, options_.instance, std::move(hooks));
  if (!mesh.ok()) return mesh.status();
  mesh_ = std::move(*mesh);
  return absl::OkStatus();
}

void Agent::OnTick() {
  const uint64_t now_ns = MonotonicNs();
  datapath_->Heartbeat(now_ns);
  caps_->Poll(absl::Now());
  const bool sample = monitoring_->Due(now_ns);
  absl::StatusOr<CounterTable> counters = absl::UnavailableError("not read");
  if (paths_->probing() || sample) {
    counters = datapath_->maps().ReadCounters();
    if (!counters.ok()) Log(LogLevel::kError, std::string(counters.status().message()));
  }
  paths_->OnTick(now_ns, counters.ok() ? &*counters : nullptr);
  KeepRoutingInstalled(now_ns);
  if (sample) {
    std::vector<PathView> views = paths_->PathViews();
    caps_->AddTo(views);
    monitoring_->Sample(now_ns, counters, paths_->table(), views);
  }
}

void Agent::OnProbeSocketReadable() {
  // Read only when a request needs answering, once per drain.
  std::optional<absl::StatusOr<CounterTable>> counters;
  auto rx_of = [&](uint8_t path) -> PathRx {
    if (!counters) counters = datapath_->maps().ReadCounters();
    if (!counters->ok() || path >= MB_MAX_PATHS) return {};
    return {(**counters)[path].rx_packets, (**counters)[path].rx_bytes};
  };
  bool changed = false;
  ProbeSocket::Handlers handlers;
  handlers.on_request = [this](const ProbeMessage& r) {
    paths_->OnProbeRequest(r.path_id, MonotonicNs());
  };
  handlers.rx_of = rx_of;
  handlers.on_reply = [&](const ProbeMessage& reply, uint64_t received_ns) {
    changed |= paths_->OnProbeReply(reply, received_ns);
  };
  handlers.on_repair_request = [this](const ProbeMessage& request) {
    if (repair_) {
      const uint64_t now_ns = MonotonicNs();
      // Copies first: the packets sent from now on can be repaired.
      paths_->OnRepairRequested(now_ns,
                                static_cast<uint32_t>(std::popcount(request.repair_missing)));
      repair_->OnRepairRequest(request, now_ns);
    } else {
      paths_->OnInvalidProbe("a request for repairs, but link_aggregation.loss_repair is off here");
    }
  };
  handlers.on_invalid = [this](const std::string& why) { paths_->OnInvalidProbe(why); };
  handlers.repairs = repair_ != nullptr;
  probe_socket_->Drain(MonotonicNs(), handlers);
  // A path coming back goes into the table at once; measurements (capacity,
  // delay) and neighbour MACs wait for the tick, which rewrites it anyway.
  if (!changed) return;
  if (absl::Status s = paths_->WriteTable(); !s.ok()) {
    Log(LogLevel::kError, std::string(s.message()));
  }
}

void Agent::Serve(int signals) {
  EventLoop loop;
  loop.Every(settings_.failover.monitoring_interval_s, "monitoring tick", [this] { OnTick(); });
  if (settings_.reorder_deadline_ms > 0) {
    // Holds and deadlines end between arrivals too, to within this tick.
    constexpr double kReseqTickS = 0.001;
    loop.Every(kReseqTickS, "resequencer tick", [this] { datapath_->ReleaseDueHeld(); });
  }
  loop.Watch(links_->fd(), "link monitor", [this] {
    // Every event reads all paths' devices again (a few ioctls), so one
    // pass after the drain covers them all, and events lost to an overflow.
    if (links_->Drain() == LinkMonitor::Drained::kOverflowed) {
      Log(LogLevel::kWarning, "link events were lost (netlink overflow): reading every uplink again");
    }
    paths_->OnLinksChanged(MonotonicNs());
  });
  loop.Watch(control_->fd(), "control socket", [this] {
    control_->Serve([this](const nlohmann::json& r, const PeerCredentials& peer) {
      return HandleControl(r, peer);
    });
  });
  if (probe_socket_) {
    loop.Watch(probe_socket_->fd(), "probe socket", [this] { OnProbeSocketReadable(); });
  }
  if (http_) {
    loop.Watch(http_->fd(), "http endpoint", [this] { http_->Serve(); });
    // Idle clients time out between wakeups too.
    loop.Every(1.0, "http endpoint timeouts", [this] { http_->Serve(); });
  }
  loop.Watch(test_->fd(), "uplink test timer", [this] { test_->OnTimer(); });
  if (repair_) {
    loop.Watch(repair_->fd(), "loss repair reports", [this] { repair_->OnReportsReadable(); });
  }
  if (auth_) {
    loop.Watch(auth_->fd(), "handshake socket", [this] { auth_->OnReadable(MonotonicNs()); });
    loop.Every(TunnelAuth::kTickS, "session keys", [this] { auth_->OnTick(MonotonicNs()); });
    // Whether or not a path is learned now: a reload may add one.
    loop.Every(PathSupervisor::kLearnedPollS, "learned endpoints",
               [this] { paths_->FollowLearnedEndpoints(MonotonicNs()); });
  }
  if (mesh_) {
    for (int fd : mesh_->fds()) {
      loop.Watch(fd, "discovery socket", [this, fd] { mesh_->OnReadable(fd); });
    }
    // Its own timer: announcements keep their interval whatever monitoring_interval is.
    loop.Every(settings_.discovery.broadcast_interval_s, "discovery announcements",
               [this] { mesh_->OnInterval(); });
  }
  loop.Run(signals, [this] { Reload(); });
}

void Agent::Reload() {
  auto keep_current = [](const std::string& why) {
    Log(LogLevel::kError, absl::StrCat("reload: ", why, "; still running on the current config"));
  };
  SystemInterfaceLookup lookup;
  absl::StatusOr<NodeSettings> next = LoadConfigFile(options_.config_path, lookup);
  if (!next.ok()) return keep_current(std::string(next.status().message()));
  const ConfigReload reload = DiffConfig(settings_, *next);
  if (!reload.needs_restart.empty()) {
    return keep_current(absl::StrCat("changing ", absl::StrJoin(reload.needs_restart, ", "),
                                     " needs a restart"));
  }
  if (!reload.changes_anything()) {
    Log(LogLevel::kInfo, "reload: nothing changed");
    return;
  }
  if (reload.paths_changed() && test_->running()) {
    return keep_current("an uplink test is running over the paths; reload when it is done");
  }
  for (const std::string& line : reload.Describe()) Log(LogLevel::kInfo, "reload: " + line);
  // What the agent learned at run time about unchanged paths stays theirs.
  for (const PathChange& c : reload.paths) {
    if (c.kind == PathChangeKind::kUnchanged) next->paths[c.id] = settings_.paths[c.id];
  }
  // Every subsystem holds a reference to settings_: they all see the new one.
  settings_ = std::move(*next);
  // An added uplink may lower the bond's MTU.
  if (absl::Status s = datapath_->CreateBond(); !s.ok()) Log(LogLevel::kError, std::string(s.message()));
  paths_->ApplyReload(reload, MonotonicNs());
  if (absl::Status s = ConfigureDatapath(); !s.ok()) {
    Log(LogLevel::kError, absl::StrCat("reload: ", s.message()));
    return;
  }
  Log(LogLevel::kInfo, absl::StrFormat("reload: done: %zu paths, mode %s", settings_.paths.size(),
                                       BondModeName(settings_.mode)));
}

nlohmann::json Agent::HandleControl(const nlohmann::json& request, const PeerCredentials& peer) {
  auto answer = Overloaded{
      [](const PingRequest&) -> ControlReply { return PingReply{}; },
      [this](const StatusRequest&) -> ControlReply { return CurrentStatus(); },
      [this](const FailoverRequest& r) { return ReplyOrError(paths_->Failover(r)); },
      [this](const CapRequest& r) { return ReplyOrError(caps_->Command(r)); },
      [this](const StatsRequest&) -> ControlReply { return monitoring_->Stats(); },
      [this](const TestRequest& r) { return ReplyOrError(test_->Start(r)); },
      [this](const TestStatusRequest&) { return ReplyOrError(test_->Reply()); },
      [this](const PeersRequest&) -> ControlReply {
        if (!mesh_) return ErrorReply{"mesh discovery is off (node_discovery.enabled is false)"};
        return mesh_->Peers();
      }};
  return DispatchControl(request, [&](const ControlRequest& r) -> ControlReply {
    if (!ChangesState(r)) return std::visit(answer, r);
    const std::string caller = absl::StrFormat("uid %u, pid %d", peer.uid, peer.pid);
    if (absl::Status allowed = MayRun(r, peer, control_group_); !allowed.ok()) {
      Log(LogLevel::kWarning, absl::StrCat("control: ", allowed.message()));
      return ErrorReply{std::string(allowed.message())};
    }
    Log(LogLevel::kInfo, absl::StrCat("control: ", JsonLine(RequestToJson(r)),
                                            " from ", caller));
    return std::visit(answer, r);
  });
}

absl::Status Agent::InstallRoutingPlan() {
  if (!settings_.routing) return absl::OkStatus();
  const RoutingPlan plan = PlanRouting(*settings_.routing);
  const int bond = static_cast<int>(if_nametoindex(settings_.bond_interface.c_str()));
  if (bond == 0) return absl::NotFoundError(absl::StrCat("routing: no device ", settings_.bond_interface));
  bond_ifindex_ = bond;
  std::vector<std::string> cgroup_dirs;
  for (const std::string& cgroup : plan.cgroups) {
    absl::StatusOr<std::string> dir = SelectedCgroupDir(cgroup);
    if (!dir.ok()) return dir.status();
    cgroup_dirs.push_back(*dir);
  }
  routing_ = plan;  // Stop also removes a partial install
  if (absl::Status s = InstallRouting(plan, bond); !s.ok()) return s;
  // The data path's stop detaches these (with the agent's exit, whatever it is).
  for (const std::string& dir : cgroup_dirs) {
    if (absl::Status s = datapath_->MarkCgroup(dir, plan.cgroup_mark); !s.ok()) return s;
  }
  for (const std::string& line : DescribeRouting(plan, settings_.bond_interface)) {
    Log(LogLevel::kInfo, absl::StrCat("routing: ", line));
  }
  return absl::OkStatus();
}

RoutingReport Agent::RoutingStatus() const {
  RoutingReport report{routing_->table, routing_->priority, {}, routing_reinstalls_, std::nullopt};
  absl::StatusOr<KernelRouting> kernel = ReadRouting(*routing_, bond_ifindex_);
  if (!kernel.ok()) report.read_error = std::string(kernel.status().message());
  report.entries = RoutingEntries(*routing_, settings_.bond_interface, kernel.ok() ? &*kernel : nullptr);
  return report;
}

void Agent::KeepRoutingInstalled(uint64_t now_ns) {
  if (!routing_ || now_ns - routing_checked_ns_ < kRoutingCheckNs) return;
  routing_checked_ns_ = now_ns;
  const RoutingReport report = RoutingStatus();
  if (report.read_error) return Log(LogLevel::kError, *report.read_error);
  if (!KernelLacksSome(report.entries)) return;
  std::vector<std::string> missing;
  for (const RoutingEntry& e : report.entries) {
    if (!e.in_kernel) missing.push_back(e.what);
  }
  Log(LogLevel::kWarning, absl::StrCat("routing: another program removed ", absl::StrJoin(missing, ", "),
                                       "; installing the plan again"));
  ++routing_reinstalls_;
  if (absl::Status s = InstallRouting(*routing_, bond_ifindex_); !s.ok()) {
    Log(LogLevel::kError, std::string(s.message()));
  }
}

void Agent::Stop() {
  if (caps_) caps_->Save();
  // While no agent runs, the selected traffic takes the host's own routes.
  if (routing_) {
    if (absl::Status s = RemoveRouting(*routing_); !s.ok()) {
      Log(LogLevel::kError, std::string(s.message()));
    } else {
      Log(LogLevel::kInfo, absl::StrFormat("routing: rules at pref %u and table %u removed",
                                           routing_->priority, routing_->table));
    }
    routing_.reset();
  }
  if (datapath_) datapath_->Stop();
}

void Agent::DropPrivileges() {
  absl::StatusOr<PrivilegeDrop> drop = KeepRuntimeCapabilities();
  if (!drop.ok()) {
    // The bond runs as before; only the hardening is missing, and the log says so.
    Log(LogLevel::kWarning, absl::StrCat(drop.status().message(), "; running with the capabilities it has"));
    return;
  }
  Log(LogLevel::kInfo,
      absl::StrCat("capabilities: kept ", drop->kept.empty() ? "none" : absl::StrJoin(drop->kept, ", "),
                   drop->bounding_set_reduced
                       ? "; every other one dropped, also from the bounding set"
                       : "; every other one dropped (bounding set as the caller left it: no cap_setpcap)"));
}

int Agent::Run() {
  SystemInterfaceLookup lookup;
  absl::StatusOr<NodeSettings> settings = LoadConfigFile(options_.config_path, lookup);
  if (!settings.ok()) return Fail(kExitConfigError, settings.status());
  settings_ = std::move(*settings);

  const int signals = AgentSignalFd();
  if (signals < 0) return Fail(kExitRuntimeError, absl::InternalError("signalfd failed"));
  if (absl::Status s = Start(); !s.ok()) {
    Stop();
    close(signals);
    return Fail(kExitRuntimeError, s);
  }
  DropPrivileges();
  Log(LogLevel::kInfo, absl::StrFormat("ready: instance %s, %zu paths, mode %s", options_.instance,
                                       settings_.paths.size(), BondModeName(settings_.mode)));
  std::printf("meshbpf-agent: ready\n");
  std::fflush(stdout);

  Serve(signals);
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
