#include "agent/core/config_reload.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace meshbpf {
namespace {

bool SameAddress(const in_addr& a, const in_addr& b) { return a.s_addr == b.s_addr; }

template <typename T, typename Same>
bool SameOptional(const std::optional<T>& a, const std::optional<T>& b, Same same) {
  return a.has_value() == b.has_value() && (!a || same(*a, *b));
}

bool SameCap(const std::optional<CapPlan>& a, const std::optional<CapPlan>& b) {
  return SameOptional(a, b, [](const CapPlan& x, const CapPlan& y) {
    return x.limit_bytes == y.limit_bytes && x.period == y.period && x.reset_day == y.reset_day &&
           x.zone == y.zone && x.warn_at == y.warn_at && x.when_exhausted == y.when_exhausted;
  });
}

// The fields (as the config names them) in which two paths of one name differ.
std::vector<std::string> PathFieldsChanged(const PathSettings& a, const PathSettings& b) {
  std::vector<std::string> fields;
  auto note = [&](const char* field, bool same) {
    if (!same) fields.push_back(field);
  };
  note("interface", a.interface == b.interface && a.ifindex == b.ifindex);
  note("source_address", a.source == b.source);
  note("remote_address", a.remote == b.remote);
  note("remote_port", a.remote_port == b.remote_port);
  note("gateway", a.gateway == b.gateway);
  note("rate_mbit", a.rate_bps == b.rate_bps);
  note("delay_ms", a.delay_ms == b.delay_ms);
  note("role (interfaces.backups)", a.role == b.role && a.backup_order == b.backup_order);
  note("data_cap", SameCap(a.data_cap, b.data_cap));
  note("mtu", a.mtu == b.mtu);
  return fields;
}

// Fields outside the paths that only a restart applies.
std::vector<std::string> RestartFields(const NodeSettings& a, const NodeSettings& b) {
  std::vector<std::string> fields;
  auto note = [&](const char* field, bool same) {
    if (!same) fields.push_back(field);
  };
  note("link_aggregation.bond_interface", a.bond_interface == b.bond_interface);
  note("link_aggregation.bond_address", a.bond_address == b.bond_address);
  note("link_aggregation.peer_bond_address",
       SameOptional(a.peer_bond_address, b.peer_bond_address, SameAddress));
  note("link_aggregation.bond_address_ipv6", a.bond_address_ipv6 == b.bond_address_ipv6);
  note("link_aggregation.peer_bond_address_ipv6", a.peer_bond_address_ipv6 == b.peer_bond_address_ipv6);
  note("link_aggregation.port", a.port == b.port);
  note("link_aggregation.segmentation_offload", a.offload == b.offload);
  note("link_aggregation.reorder_deadline_ms", a.reorder_deadline_ms == b.reorder_deadline_ms);
  note("link_aggregation.max_queue_size", a.max_queue_size == b.max_queue_size);
  note("link_aggregation.floor_guard", a.floor_guard == b.floor_guard);
  note("link_aggregation.loss_repair", a.loss_repair == b.loss_repair);
  // The handshake, its keys and the bond's MTU are set up at start.
  note("link_aggregation.authentication, its keys and encryption", a.authentication == b.authentication);
  note("link_aggregation.peer_allowed_sources", a.peer_allowed_sources == b.peer_allowed_sources);
  note("link_aggregation.routing",
       SameOptional(a.routing, b.routing, [&](const RoutingSettings& x, const RoutingSettings& y) {
         return x.table == y.table && x.priority == y.priority && x.cgroups == y.cgroups &&
                x.cgroup_mark == y.cgroup_mark &&
                x.destinations == y.destinations && x.sources == y.sources &&
                std::equal(x.fwmarks.begin(), x.fwmarks.end(), y.fwmarks.begin(), y.fwmarks.end(),
                           [](const FwMark& m, const FwMark& n) { return m.mark == n.mark && m.mask == n.mask; });
       }));
  // Flow mode runs without probes or a peer: another agent altogether.
  note("link_aggregation.mode (to or from flow)",
       (a.mode == BondMode::kFlow) == (b.mode == BondMode::kFlow));
  const FailoverSettings &fa = a.failover, &fb = b.failover;
  note("failover", fa.monitoring_interval_s == fb.monitoring_interval_s &&
                       fa.threshold == fb.threshold &&
                       fa.recovery_threshold == fb.recovery_threshold &&
                       fa.rebalance_interval_s == fb.rebalance_interval_s &&
                       fa.probe_port == fb.probe_port &&
                       fa.degrade_loss_percent == fb.degrade_loss_percent &&
                       fa.recover_loss_percent == fb.recover_loss_percent);
  const DiscoverySettings &da = a.discovery, &db = b.discovery;
  note("node_discovery",
       da.enabled == db.enabled && da.port == db.port &&
           da.broadcast_interval_s == db.broadcast_interval_s &&
           da.node_timeout_s == db.node_timeout_s && da.node_name == db.node_name &&
           da.mesh_key == db.mesh_key && da.interfaces == db.interfaces &&
           da.share_uplinks == db.share_uplinks && da.node_id == db.node_id &&
           da.relay_port == db.relay_port && SameCap(da.share_cap, db.share_cap) &&
           da.share_max_bps == db.share_max_bps);
  const MonitoringSettings &ma = a.monitoring, &mb = b.monitoring;
  note("monitoring",
       ma.history_file == mb.history_file && ma.history == mb.history &&
           ma.sample_interval_s == mb.sample_interval_s &&
           SameOptional(ma.metrics_listen, mb.metrics_listen,
                        [](const ListenAddress& x, const ListenAddress& y) {
                          return SameAddress(x.address, y.address) && x.port == y.port;
                        }) &&
           ma.metrics_allow_remote == mb.metrics_allow_remote && ma.status_page == mb.status_page &&
           ma.control_group == mb.control_group);
  return fields;
}

}  // namespace

bool ConfigReload::paths_changed() const {
  return std::any_of(paths.begin(), paths.end(),
                     [](const PathChange& c) { return c.kind != PathChangeKind::kUnchanged; });
}

std::vector<std::string> ConfigReload::Describe() const {
  std::vector<std::string> lines = settings;
  for (const PathChange& c : paths) {
    const std::string path = absl::StrCat("path ", c.name, " (id ", c.id, ")");
    switch (c.kind) {
      case PathChangeKind::kUnchanged:
        break;
      case PathChangeKind::kChanged:
        lines.push_back(absl::StrCat(path, " changed: ", absl::StrJoin(c.fields, ", ")));
        break;
      case PathChangeKind::kAdded:
        lines.push_back(absl::StrCat(path, " added"));
        break;
      case PathChangeKind::kRemoved:
        lines.push_back(absl::StrCat(path, " removed"));
        break;
    }
  }
  return lines;
}

ConfigReload DiffConfig(const NodeSettings& running, const NodeSettings& next) {
  ConfigReload reload;
  reload.needs_restart = RestartFields(running, next);
  const size_t ids = std::max(running.paths.size(), next.paths.size());
  for (size_t id = 0; id < ids; ++id) {
    const PathSettings* before = id < running.paths.size() ? &running.paths[id] : nullptr;
    const PathSettings* after = id < next.paths.size() ? &next.paths[id] : nullptr;
    if (before && after && before->name == after->name) {
      std::vector<std::string> fields = PathFieldsChanged(*before, *after);
      reload.paths.push_back({id,
                              fields.empty() ? PathChangeKind::kUnchanged : PathChangeKind::kChanged,
                              after->name, std::move(fields)});
      continue;
    }
    if (before) reload.paths.push_back({id, PathChangeKind::kRemoved, before->name, {}});
    if (after) reload.paths.push_back({id, PathChangeKind::kAdded, after->name, {}});
  }
  // Relayed and learned far ends, and data caps, are kept per path id by
  // discovery and the cap manager: those paths reload only unchanged.
  for (const PathChange& c : reload.paths) {
    if (c.kind == PathChangeKind::kUnchanged) continue;
    for (const NodeSettings* s : {&running, &next}) {
      if (c.id >= s->paths.size() || s->paths[c.id].name != c.name) continue;
      const PathSettings& p = s->paths[c.id];
      const char* why = p.endpoint != PathEndpoint::kConfigured ? "relay or learn_remote"
                        : p.data_cap                             ? "a path with a data_cap"
                                                                 : nullptr;
      if (why) {
        reload.needs_restart.push_back(
            absl::StrCat("interfaces.uplinks[", c.id, "] (", p.name, "): ", why));
        break;  // a changed path is in both configs: once is enough
      }
    }
  }
  if (running.mode != next.mode) {
    reload.settings.push_back(absl::StrCat("link_aggregation.mode: ", std::string(BondModeName(running.mode)),
                                           " -> ", std::string(BondModeName(next.mode))));
  }
  if (running.latency_packet_bytes != next.latency_packet_bytes) {
    reload.settings.push_back(absl::StrCat("link_aggregation.latency_packet_bytes: ",
                                           running.latency_packet_bytes, " -> ",
                                           next.latency_packet_bytes));
  }
  if (running.primary != next.primary) {
    reload.settings.push_back(
        absl::StrCat("interfaces.primary: ", running.primary, " -> ", next.primary));
  }
  return reload;
}

}  // namespace meshbpf
