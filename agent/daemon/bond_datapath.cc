#include "agent/daemon/bond_datapath.h"

#include <net/if.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "agent/core/liveness.h"
#include "agent/core/net_format.h"
#include "agent/daemon/mesh_node.h"
#include "agent/daemon/path_supervisor.h"
#include "agent/sys/log.h"
#include "agent/sys/neighbors.h"
#include "agent/sys/netdev.h"
#include "agent/sys/sysfs.h"

namespace meshbpf {
namespace {

absl::Status ConfigureMaps(const MapSet& maps, const NodeSettings& settings, const PathTable& table,
                           uint32_t reseq_deadline_us, uint32_t repair_wait_us,
                           bool keep_copies, const InterfaceInfo& bond) {
  if (absl::Status s = maps.WritePaths(table); !s.ok()) return s;
  if (absl::Status s = maps.SyncPeers(PeerAddresses(settings)); !s.ok()) return s;
  // Last: marks the data path configured, so it never runs on half-written
  // maps.
  mb_config config{};
  config.bond_ifindex = static_cast<uint32_t>(bond.ifindex);
  config.listen_port = settings.port;
  std::copy(bond.mac.begin(), bond.mac.end(), config.bond_mac);
  config.mode = static_cast<uint8_t>(settings.mode);
  config.latency_bytes = static_cast<uint16_t>(settings.latency_packet_bytes);
  config.reseq_deadline_us = reseq_deadline_us;
  config.repair_wait_us = repair_wait_us;
  config.keep_copies = keep_copies;
  config.reseq_window = static_cast<uint16_t>(settings.max_queue_size);
  config.bond_mtu = static_cast<uint16_t>(TunnelPayloadMtu(table, BondOverhead(settings)));
  config.path_slots = static_cast<uint8_t>(settings.paths.size());
  config.configured = 1;
  config.agent_pid = static_cast<uint32_t>(getpid());
  config.probe_port = settings.failover.probe_port;
  if (SharesUplinks(settings)) {
    config.relay_port = settings.discovery.relay_port;
    config.relay_max_kbps =
        static_cast<uint32_t>(std::llround(settings.discovery.share_max_bps / 1000));
  }
  config.authenticate = settings.authentication.has_value();
  config.encrypt = settings.authentication && settings.authentication->encryption;
  config.check_inner_source = !settings.peer_allowed_sources.empty();
  config.learn_paths =
      std::any_of(settings.paths.begin(), settings.paths.end(),
                  [](const PathSettings& p) { return p.endpoint == PathEndpoint::kLearned; });
  return maps.WriteConfig(config);
}

// `address` alone, as a prefix of inner sources.
InnerPrefix HostPrefix(const IpAddress& address) {
  return InnerPrefix{.family = address.family, .address = address.bytes,
                     .prefix_len = address.is_v6() ? 128 : 32};
}

// "40-byte encapsulation", or "40-byte encapsulation (60 on IPv6 paths)".
std::string EncapsulationText(const NodeSettings& settings) {
  const uint32_t v4 = BondOverhead(settings);
  return HasIpv6Path(settings) ? absl::StrCat(v4, "-byte encapsulation (", v4 + MB_OUTER_IPV6_EXTRA,
                               " on IPv6 paths)")
                : absl::StrCat(v4, "-byte encapsulation");
}

// "path wan0: eth0 192.0.2.1 -> 198.51.100.7:7201 via 192.0.2.254, 40.0 Mbit/s,
// bonded"
std::string DescribePath(const NodeSettings& settings, const PathSettings& p) {
  const std::string remote = settings.mode == BondMode::kFlow ? "flows NATed"
                             : !p.endpoint_known
                                 ? absl::StrCat("-> ", EndpointPending(p))
                                 : absl::StrCat("-> ", IpPortText(p.remote, p.remote_port));
  return absl::StrFormat("path %s: %s %s %s via %s, %.1f Mbit/s, %s", p.name, p.interface,
                         IpText(p.source), remote,
                         p.gateway ? IpText(*p.gateway) : std::string("routing table"),
                         p.rate_bps / 1e6, p.role == PathRole::kBonded ? "bonded" : "backup");
}

}  // namespace

absl::Status BondDatapath::CreateBond() {
  const uint32_t mtu = BondMtu(settings_);
  if (mtu < 576) {
    return absl::FailedPreconditionError(
        absl::StrCat("the smallest uplink MTU leaves a bond MTU of ", mtu, " (< 576) after the ",
                     EncapsulationText(settings_)));
  }
  const bool no_offload = ShouldDisableOffloads(settings_);
  absl::StatusOr<bool> created = EnsureBondDevice(settings_, mtu, no_offload);
  if (!created.ok()) return created.status();
  Log(LogLevel::kInfo, absl::StrFormat("bond %s %s: MTU %u (what every uplink carries after the %s), "
                                       "segmentation offload %s",
                                       settings_.bond_interface,
                                       *created ? "created" : "kept from an earlier run, with its routes",
                                       mtu, EncapsulationText(settings_), no_offload ? "off" : "on"));
  absl::StatusOr<BondSteering> steering =
      SteerBondFlows(kSysfsNet, settings_.bond_interface, get_nprocs_conf());
  if (!steering.ok()) {
    Log(LogLevel::kWarning, absl::StrCat(steering.status().message(),
                                         ": packets the resequencer releases from two CPUs may "
                                         "still swap on their way to the end host"));
  } else {
    Log(LogLevel::kInfo, absl::StrFormat("bond %s: each flow received on one CPU (rps_cpus %s%s)",
                                         settings_.bond_interface, steering->rps_cpus,
                                         steering->kept ? ", as already set" : ""));
  }
  return absl::OkStatus();
}

absl::Status BondDatapath::Load(const std::string& pin_dir) {
  const uint32_t slots = ReseqSlots(settings_);
  absl::StatusOr<std::unique_ptr<Datapath>> datapath =
      Datapath::Load(pin_dir, slots, settings_.loss_repair);
  if (!datapath.ok()) return datapath.status();
  Log(LogLevel::kInfo,
      absl::StrFormat("resequencer: %u slots (%.1f MiB), %.0f ms of the bonded paths' configured rate",
                      slots, slots * sizeof(mb_reseq_slot) / 1048576.0, ReseqSlotsMs(settings_, slots)));
  datapath_ = std::move(*datapath);
  absl::StatusOr<std::unique_ptr<RelayMaps>> relay_maps = RelayMaps::OpenPinned(pin_dir);
  if (!relay_maps.ok()) return relay_maps.status();
  relay_maps_ = std::move(*relay_maps);
  absl::StatusOr<std::unique_ptr<ResequencerMaps>> resequencer = ResequencerMaps::OpenPinned(pin_dir);
  if (!resequencer.ok()) return resequencer.status();
  resequencer_ = std::move(*resequencer);
  absl::StatusOr<std::unique_ptr<LivenessMaps>> liveness = LivenessMaps::OpenPinned(pin_dir);
  if (!liveness.ok()) return liveness.status();
  liveness_ = std::move(*liveness);
  absl::StatusOr<std::unique_ptr<AuthMaps>> auth = AuthMaps::OpenPinned(pin_dir);
  if (!auth.ok()) return auth.status();
  auth_ = std::move(*auth);
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<RepairChannel>> BondDatapath::OpenRepairChannel() const {
  std::optional<InterfaceInfo> bond = SystemInterfaceLookup().Find(settings_.bond_interface);
  if (!bond) return absl::InternalError("the bond device vanished while starting");
  return RepairChannel::Open(datapath_->repair_requests_fd(), datapath_->repair_copies_fd(),
                             bond->ifindex);
}

absl::Status BondDatapath::Configure(const PathTable& table, uint32_t reseq_deadline_us,
                                     uint32_t repair_wait_us, bool keep_copies) {
  SystemInterfaceLookup lookup;
  std::optional<InterfaceInfo> bond = lookup.Find(settings_.bond_interface);
  std::optional<InterfaceInfo> bond_tx = lookup.Find(BondTxName(settings_.bond_interface));
  if (!bond || !bond_tx) return absl::InternalError("the bond device vanished while starting");
  // Before mb_config turns the check on. The peer's probes come from its
  // bond address; its own IPv6 traffic on the bond from its IPv6 one.
  if (!settings_.peer_allowed_sources.empty()) {
    std::vector<InnerPrefix> allowed = settings_.peer_allowed_sources;
    if (settings_.peer_bond_address) {
      allowed.push_back(HostPrefix(IpAddress::V4(*settings_.peer_bond_address)));
    }
    if (settings_.peer_bond_address_ipv6) {
      allowed.push_back(HostPrefix(*settings_.peer_bond_address_ipv6));
    }
    if (absl::Status s = auth_->SyncAllowedSources(allowed); !s.ok()) return s;
  }
  if (absl::Status s = ConfigureMaps(datapath_->maps(), settings_, table, reseq_deadline_us,
                                     repair_wait_us, keep_copies, *bond);
      !s.ok()) {
    return s;
  }
  for (const PathSettings& p : settings_.paths) {
    if (attached_.insert(p.ifindex).second) {
      if (absl::Status s = datapath_->AttachDecap(p.ifindex); !s.ok()) return s;
    }
    Log(LogLevel::kInfo, DescribePath(settings_, p));
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
      if (!attached_.insert(info->ifindex).second) continue;
      if (absl::Status s = datapath_->AttachDecap(info->ifindex); !s.ok()) return s;
    }
    Log(LogLevel::kInfo,
        absl::StrFormat(
            "relaying for neighbours through %s at ports %u+ on %s, rate "
            "ceiling %s",
            absl::StrJoin(settings_.discovery.share_uplinks, ", "), settings_.discovery.relay_port,
            absl::StrJoin(settings_.discovery.interfaces, ", "),
            settings_.discovery.share_max_bps > 0
                ? absl::StrFormat("%.3g Mbit/s", settings_.discovery.share_max_bps / 1e6)
                : std::string("none")));
  }
  if (!attached_.insert(bond_tx->ifindex).second) return absl::OkStatus();
  return datapath_->AttachEncap(bond_tx->ifindex);
}

void BondDatapath::ReleaseDueHeld() {
  if (!datapath_) return;
  absl::Status s = datapath_->ReleaseDueHeld();
  if (!s.ok() && !tick_failed_) {
    Log(LogLevel::kError, absl::StrCat(s.message(), ": held packets now wait for the next arrival"));
  }
  tick_failed_ = !s.ok();
}

void BondDatapath::Heartbeat(uint64_t now_ns) {
  if (!liveness_) return;
  absl::Status s =
      liveness_->WriteHeartbeat(HeartbeatAt(now_ns, settings_.failover.monitoring_interval_s));
  if (!s.ok() && !heartbeat_failed_) {
    Log(LogLevel::kError,
        absl::StrCat(s.message(), ": the data path will take the agent for gone"));
  }
  heartbeat_failed_ = !s.ok();
}

void BondDatapath::Stop() {
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
    attached_.clear();
  }
}

PathIo SystemPathIo(const NodeSettings& settings, BondDatapath& datapath,
                    ProbeSocket* probes) {
  PathIo io;
  io.write_paths = [&datapath](const PathTable& table) {
    return datapath.maps().WritePaths(table);
  };
  io.sync_peers = [&datapath](const std::set<IpAddress>& peers) {
    return datapath.maps().SyncPeers(peers);
  };
  io.find_interface = [](const std::string& name) { return SystemInterfaceLookup().Find(name); };
  io.interface_name = [](int ifindex) -> std::optional<std::string> {
    char name[IF_NAMESIZE] = {};
    if (if_indextoname(static_cast<unsigned>(ifindex), name) == nullptr) return std::nullopt;
    return name;
  };
  io.attach_uplink = [&datapath](int ifindex) { return datapath.AttachReceive(ifindex); };
  io.fill_next_hop_macs = [&settings](PathTable& table) { FillNextHopMacs(settings, table); };
  io.send_probe = [&settings, probes](const ProbeMessage& request) {
    return probes->SendRequest(*settings.peer_bond_address, settings.failover.probe_port, request);
  };
  io.read_learned = [&datapath](uint32_t path) { return datapath.relay_maps().ReadLearned(path); };
  io.read_resequencer = [&datapath]() { return datapath.resequencer().Read(); };
  io.update_config = [&datapath](const std::function<void(mb_config&)>& change) -> absl::Status {
    absl::StatusOr<mb_config> config = datapath.maps().ReadConfig();
    if (!config.ok()) return config.status();
    change(*config);
    return datapath.maps().WriteConfig(*config);
  };
  return io;
}

absl::StatusOr<std::unique_ptr<ProbeSocket>> OpenProbeSocket(const NodeSettings& settings) {
  if (settings.mode == BondMode::kFlow) return nullptr;  // no peer to probe
  if (!settings.bond_address) {
    Log(LogLevel::kWarning,
        "no link_aggregation.bond_address: paths are not probed, only link "
        "events take them out");
    return nullptr;
  }
  absl::StatusOr<std::unique_ptr<ProbeSocket>> socket = ProbeSocket::Open(
      settings.bond_address->address.v4(), settings.failover.probe_port, settings.discovery.mesh_key);
  if (socket.ok() && !settings.peer_bond_address) {
    Log(LogLevel::kWarning,
        "no link_aggregation.peer_bond_address: answering the peer's probes "
        "but not probing; only link events take paths out");
  }
  return socket;
}

}  // namespace meshbpf
