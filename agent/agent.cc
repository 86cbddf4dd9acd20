#include "agent/agent.h"

#include <arpa/inet.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "agent/config.h"
#include "agent/datapath.h"
#include "agent/log.h"
#include "agent/link_monitor.h"
#include "agent/neighbors.h"
#include "agent/netdev.h"
#include "agent/policy.h"

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

absl::Status ConfigureMaps(const MapSet& maps, const NodeSettings& settings,
                           const std::vector<bool>& usable, const InterfaceInfo& bond) {
  if (absl::Status s = maps.WritePaths(BuildPathTable(settings, usable)); !s.ok()) return s;
  std::set<in_addr_t> peers;
  for (const PathSettings& p : settings.paths) peers.insert(p.remote.s_addr);
  if (absl::Status s = maps.SyncPeers(peers); !s.ok()) return s;
  // Last: marks the data path configured, so it never runs on half-written maps.
  mb_config config{};
  config.bond_ifindex = static_cast<uint32_t>(bond.ifindex);
  config.listen_port = settings.port;
  std::copy(bond.mac.begin(), bond.mac.end(), config.bond_mac);
  config.mode = static_cast<uint8_t>(settings.mode);
  config.latency_bytes = static_cast<uint16_t>(settings.latency_packet_bytes);
  config.configured = 1;
  config.agent_pid = static_cast<uint32_t>(getpid());
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
  // Serves link events and signals until SIGINT/SIGTERM.
  void Loop(int signals);
  void OnLinkEvent(const LinkEvent& event);
  // Whether path i's uplink exists, is up with carrier and still has the
  // path's source address.
  bool UplinkUsable(size_t i) const;
  absl::Status WritePathTable();
  // Periodic work, every failover.monitoring_interval.
  void OnTick();

  const AgentOptions& options_;
  NodeSettings settings_;
  std::unique_ptr<Datapath> datapath_;
  std::unique_ptr<LinkMonitor> links_;
  std::vector<bool> usable_;
  PathTable table_{};
  bool created_bond_ = false;
};

bool Agent::UplinkUsable(size_t i) const {
  const PathSettings& p = settings_.paths[i];
  std::optional<InterfaceInfo> info = SystemInterfaceLookup().Find(p.interface);
  return info && info->ifindex == p.ifindex && info->up && info->running && info->ipv4 &&
         info->ipv4->s_addr == p.source.s_addr;
}

absl::Status Agent::WritePathTable() {
  PathTable table = BuildPathTable(settings_, usable_);
  FillNextHopMacs(settings_, table);
  table_ = table;
  return datapath_->maps().WritePaths(table);
}

void Agent::OnTick() {
  // Neighbours get resolved and expire on their own schedule; the data
  // path's clones need the current ones.
  PathTable table = table_;
  if (FillNextHopMacs(settings_, table)) {
    table_ = table;
    if (absl::Status s = datapath_->maps().WritePaths(table); !s.ok()) {
      Log(LogLevel::kError, std::string(s.message()));
    }
  }
}

void Agent::OnLinkEvent(const LinkEvent& event) {
  bool changed = false;
  for (size_t i = 0; i < settings_.paths.size(); ++i) {
    if (settings_.paths[i].ifindex != event.ifindex) continue;
    const bool usable = UplinkUsable(i);
    if (usable == usable_[i]) continue;
    usable_[i] = usable;
    changed = true;
    Log(LogLevel::kWarning,
        absl::StrFormat("path %s: %s (%s on %s)", settings_.paths[i].name,
                        usable ? "usable again" : "taken out", LinkEventName(event.kind),
                        settings_.paths[i].interface));
  }
  if (!changed) return;
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

void Agent::Loop(int signals) {
  const int timer = IntervalTimer(settings_.failover.monitoring_interval_s);
  pollfd fds[3] = {{signals, POLLIN, 0}, {links_->fd(), POLLIN, 0}, {timer, POLLIN, 0}};
  while (true) {
    if (poll(fds, 3, -1) < 0) {
      if (errno == EINTR) continue;
      Log(LogLevel::kError, absl::StrCat("poll: ", std::strerror(errno)));
      break;
    }
    if (fds[1].revents) links_->Drain([this](const LinkEvent& e) { OnLinkEvent(e); });
    uint64_t expirations = 0;
    if (fds[2].revents && read(timer, &expirations, sizeof(expirations)) > 0) OnTick();
    if (fds[0].revents) {
      signalfd_siginfo info{};
      if (read(signals, &info, sizeof(info)) == sizeof(info)) {
        Log(LogLevel::kInfo, absl::StrCat("received ",
                                          strsignal(static_cast<int>(info.ssi_signo)),
                                          ", detaching"));
      }
      break;
    }
  }
  close(timer);
}

absl::Status Agent::Start() {
  const uint32_t mtu = BondMtu(settings_);
  if (mtu < 576) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the smallest uplink MTU leaves a bond MTU of ", mtu, " (< 576) after the ",
        MB_ENCAP_OVERHEAD, "-byte encapsulation"));
  }
  const bool no_offload = ShouldDisableOffloads(settings_);
  absl::StatusOr<bool> created = EnsureBondDevice(settings_, mtu, no_offload);
  if (!created.ok()) return created.status();
  created_bond_ = *created;
  Log(LogLevel::kInfo, absl::StrFormat("bond %s: MTU %u (smallest uplink minus %d bytes), "
                                       "segmentation offload %s",
                                       settings_.bond_interface, mtu, MB_ENCAP_OVERHEAD,
                                       no_offload ? "off" : "on"));

  SystemInterfaceLookup lookup;
  std::optional<InterfaceInfo> bond = lookup.Find(settings_.bond_interface);
  std::optional<InterfaceInfo> bond_tx = lookup.Find(BondTxName(settings_.bond_interface));
  if (!bond || !bond_tx) return absl::InternalError("the bond device vanished while starting");

  // Subscribe before reading link state, so no change falls in between.
  absl::StatusOr<std::unique_ptr<LinkMonitor>> links = LinkMonitor::Open();
  if (!links.ok()) return links.status();
  links_ = std::move(*links);
  usable_.assign(settings_.paths.size(), true);
  for (size_t i = 0; i < settings_.paths.size(); ++i) {
    usable_[i] = UplinkUsable(i);
    if (!usable_[i]) {
      Log(LogLevel::kWarning, absl::StrCat("path ", settings_.paths[i].name,
                                           ": uplink down or without its address at start"));
    }
  }

  const std::string pin_dir = InstancePinDir(options_.pin_root, options_.instance);
  absl::StatusOr<std::unique_ptr<Datapath>> datapath = Datapath::Load(pin_dir);
  if (!datapath.ok()) return datapath.status();
  datapath_ = std::move(*datapath);
  if (absl::Status s = ConfigureMaps(datapath_->maps(), settings_, usable_, *bond); !s.ok()) {
    return s;
  }
  if (absl::Status s = WritePathTable(); !s.ok()) return s;

  std::set<int> uplinks;
  for (const PathSettings& p : settings_.paths) {
    if (uplinks.insert(p.ifindex).second) {
      if (absl::Status s = datapath_->AttachDecap(p.ifindex); !s.ok()) return s;
    }
    Log(LogLevel::kInfo,
        absl::StrFormat("path %s: %s %s -> %s:%u via %s, %.1f Mbit/s, %s", p.name, p.interface,
                        Ip(p.source), Ip(p.remote), p.remote_port,
                        p.gateway ? Ip(*p.gateway) : std::string("routing table"), p.rate_mbit,
                        p.role == PathRole::kBonded ? "bonded" : "backup"));
  }
  if (absl::Status s = datapath_->AttachEncap(bond_tx->ifindex); !s.ok()) return s;
  return absl::OkStatus();
}

void Agent::Stop() {
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
  if (settings_.mode == BondMode::kFlow) {
    return Fail(kExitConfigError,
                absl::InvalidArgumentError(
                    "link_aggregation.mode: \"flow\" (per-flow multi-WAN without a peer) is "
                    "not implemented by this version (implemented: load_balance, redundant, "
                    "active_backup, latency)"));
  }

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
  return kExitOk;
}

}  // namespace

int RunAgent(const AgentOptions& options) {
  SetVerbose(options.verbose);
  Agent agent(options);
  return agent.Run();
}

}  // namespace meshbpf
