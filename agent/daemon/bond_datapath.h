// The bond device and the data path behind it, as the agent sets them up
// and takes them down: the bond (created if missing, its MTU and offloads),
// the programs with their pinned maps, the maps' configuration, and the
// programs attached to every uplink, LAN (when relaying) and the bond.
#pragma once

#include <memory>
#include <set>
#include <string>

#include "absl/status/status.h"
#include "agent/core/config.h"
#include "agent/core/policy.h"
#include "agent/core/probe.h"
#include "agent/daemon/path_supervisor.h"
#include "agent/sys/datapath.h"
#include "agent/sys/map_io.h"
#include "agent/sys/probe_socket.h"
#include "agent/sys/repair_channel.h"

namespace meshbpf {

class BondDatapath {
 public:
  explicit BondDatapath(const NodeSettings& settings) : settings_(settings) {}

  // Creates the bond device, or adopts the one an earlier run left (with
  // its routes), with the MTU every encapsulated packet fits in.
  absl::Status CreateBond();
  // Loads the programs; their maps are pinned under `pin_dir`.
  absl::Status Load(const std::string& pin_dir);
  // Writes the maps (the path table `table`, peers, configuration last,
  // with the resequencing deadline and loss repair's wait and copies, as
  // the agent tunes them at run time) and attaches the programs where they
  // are not yet: again after a reload, for the uplinks it added. (Uplinks
  // it removed keep mb_decap until the agent stops: it passes everything
  // that is not from a peer.)
  absl::Status Configure(const PathTable& table, uint32_t reseq_deadline_us,
                         uint32_t repair_wait_us, bool keep_copies);
  // Marks the sockets created in the cgroup directory `cgroup_dir`.
  absl::Status MarkCgroup(const std::string& cgroup_dir, uint32_t mark) {
    return datapath_->AttachCgroupMark(cgroup_dir, mark);
  }
  // Attaches the receive program to `ifindex`: a device created again under
  // an uplink's name, or a LAN's this node relays on, comes without it.
  absl::Status AttachReceive(int ifindex) { return datapath_->AttachDecap(ifindex); }
  // Marks the maps unconfigured (they stay pinned: counters survive a
  // restart) and detaches. The bond device stays, with its routes, for the
  // next run.
  void Stop();

  const MapSet& maps() const { return datapath_->maps(); }
  // Resequencing: releases the held packets that are due. Logs the first
  // failure only, since it runs every millisecond.
  void ReleaseDueHeld();
  // Tells the data path the agent is alive (bpf/meshbpf.h, "Agent
  // liveness"). Logs the first failure only, since it runs every tick.
  void Heartbeat(uint64_t now_ns);
  const RelayMaps& relay_maps() const { return *relay_maps_; }
  const ResequencerMaps& resequencer() const { return *resequencer_; }
  const AuthMaps& auth() const { return *auth_; }
  // Loss repair's reports and copies, sent into the bond device.
  absl::StatusOr<std::unique_ptr<RepairChannel>> OpenRepairChannel() const;

 private:
  const NodeSettings& settings_;
  std::unique_ptr<Datapath> datapath_;
  std::unique_ptr<RelayMaps> relay_maps_;
  std::unique_ptr<ResequencerMaps> resequencer_;
  std::unique_ptr<LivenessMaps> liveness_;
  std::unique_ptr<AuthMaps> auth_;
  std::set<int> attached_;  // ifindexes our programs are attached to
  bool tick_failed_ = false;
  bool heartbeat_failed_ = false;
};

// The path supervisor's I/O on this system: `datapath`'s maps, the kernel's
// interfaces and neighbours, probes through `probes` (null: none sent).
// Transitions are left to the caller.
PathIo SystemPathIo(const NodeSettings& settings, BondDatapath& datapath,
                    ProbeSocket* probes);

// The probe socket on the bond address; null when nothing is probed (flow
// mode, no bond_address). It is open even without peer_bond_address: the
// peer's probes need an answer.
absl::StatusOr<std::unique_ptr<ProbeSocket>> OpenProbeSocket(const NodeSettings& settings);

}  // namespace meshbpf
