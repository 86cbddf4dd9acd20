#include "agent/daemon/path_supervisor.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "tests/test_common.h"

namespace meshbpf {
namespace {

using ::testing::HasSubstr;

constexpr uint64_t kTickNs = 200'000'000;  // failover.monitoring_interval

PathSettings Path(const std::string& name, const std::string& interface, int ifindex,
                  const char* source) {
  PathSettings p;
  p.name = name;
  p.interface = interface;
  p.ifindex = ifindex;
  p.mtu = 1500;
  p.source = IpOf(source);
  p.remote = IpOf("198.51.100.7");
  p.remote_port = 7201;
  p.rate_bps = 40e6;
  return p;
}

// Two bonded paths over eth0 and eth1. Probed only when asked: without
// probes a path whose link comes back is up at once.
NodeSettings TwoPaths(bool probed) {
  NodeSettings s;
  s.paths = {Path("wan0", "eth0", 2, "10.0.0.2"), Path("wan1", "eth1", 3, "10.1.0.2")};
  if (probed) {
    s.bond_address = BondAddress{IpAddress::V4(Addr("10.99.0.1")), 30};
    s.peer_bond_address = Addr("10.99.0.2");
  }
  return s;
}

// The system as the supervisor sees it: interfaces, the path table it
// wrote, the probes it sent and the transitions it reported.
class FakeSystem {
 public:
  explicit FakeSystem(const NodeSettings& settings) {
    for (const PathSettings& p : settings.paths) {
      InterfaceInfo info;
      info.ifindex = p.ifindex;
      info.mtu = p.mtu;
      info.ipv4 = p.source.v4();
      info.up = info.running = true;
      interfaces[p.interface] = info;
    }
  }

  PathIo Io() {
    PathIo io;
    io.write_paths = [this](const PathTable& table) {
      written.push_back(table);
      return absl::OkStatus();
    };
    io.sync_peers = [this](const std::set<IpAddress>& peers) {
      synced_peers = peers;
      return absl::OkStatus();
    };
    io.find_interface = [this](const std::string& name) -> std::optional<InterfaceInfo> {
      auto it = interfaces.find(name);
      if (it == interfaces.end()) return std::nullopt;
      return it->second;
    };
    io.interface_name = [](int) { return std::nullopt; };
    io.attach_uplink = [this](int ifindex) {
      attached.push_back(ifindex);
      return absl::OkStatus();
    };
    io.fill_next_hop_macs = [](PathTable&) {};
    io.send_probe = [this](const ProbeMessage& request) {
      probes.push_back(request);
      return absl::OkStatus();
    };
    io.read_learned = [this](uint32_t) -> absl::StatusOr<mb_learned_source> {
      learned_read = true;
      return learned;
    };
    io.on_transition = [this](const PathTransition& t) { transitions.push_back(t); };
    io.update_config = [this](const std::function<void(mb_config&)>& change) {
      change(config);
      return absl::OkStatus();
    };
    return io;
  }

  std::map<std::string, InterfaceInfo> interfaces;
  std::vector<PathTable> written;
  std::set<IpAddress> synced_peers;
  std::vector<ProbeMessage> probes;
  std::vector<PathTransition> transitions;
  mb_config config{};  // as update_config left it
  std::vector<int> attached;  // attach_uplink's ifindexes
  mb_learned_source learned{};
  bool learned_read = false;
};

class PathSupervisorTest : public ::testing::Test {
 protected:
  void Start(bool probed, bool floor_guard = false, bool loss_repair = false) {
    settings_ = TwoPaths(probed);
    settings_.floor_guard = floor_guard;
    settings_.loss_repair = loss_repair;
    system_ = std::make_unique<FakeSystem>(settings_);
    paths_ = std::make_unique<PathSupervisor>(settings_, system_->Io(), StatusSources{}, now_);
    if (probed) paths_->StartProbing();
  }

  // The "failover" reply as the agent sends it.
  nlohmann::json Failover(const FailoverRequest& request) {
    return ReplyToJson(ReplyOrError(paths_->Failover(request)));
  }
  nlohmann::json Failover(const std::string& from, const std::string& to) {
    return Failover(FailoverRequest{.from = from, .to = to});
  }

  void SetLink(const std::string& interface, bool up) {
    system_->interfaces[interface].running = up;
    paths_->OnLinksChanged(now_);
  }

  // One monitoring interval; the peer answers the probes of the paths in
  // `answered` a millisecond later.
  void Tick(std::set<size_t> answered) {
    now_ += kTickNs;
    const CounterTable counters{};
    system_->probes.clear();
    paths_->OnTick(now_, &counters);
    bool changed = false;
    for (const ProbeMessage& request : system_->probes) {
      if (!answered.count(request.path_id)) continue;
      // A size probe is the encapsulation (40), its IPv4 and UDP (28) and its datagram.
      if (request.size_probe && carries_.count(request.path_id) &&
          request.datagram_bytes + 68 > carries_[request.path_id]) {
        continue;
      }
      ProbeMessage reply = request;
      reply.type = ProbeMessage::Type::kReply;
      const uint64_t extra_ns = extra_rtt_ns_[request.path_id];
      reply.reflected_ns = now_ + 500'000 + extra_ns / 2;
      reply.repairs = peer_repairs_;
      changed |= paths_->OnProbeReply(reply, now_ + 1'000'000 + extra_ns);
    }
    if (changed) {
      ASSERT_TRUE(paths_->WriteTable().ok());
    }
  }

  uint8_t State(size_t i) const { return paths_->table()[i].state; }

  // Path 1 learns its far end; the data path has seen a probe from 203.0.113.5:40000.
  void LearnPathOne() {
    settings_.paths[1].endpoint = PathEndpoint::kLearned;
    settings_.paths[1].endpoint_known = false;
    system_->learned = {.saddr = Addr("203.0.113.5").s_addr,
                        .daddr = Addr("10.1.0.2").s_addr,
                        .sport = 40000,
                        .ifindex = 3,
                        .seen_ns = now_};
  }

  // What the peer's replies say of its loss repair.
  bool peer_repairs_ = true;
  // Round-trip time a path's probes take beyond 1 ms.
  std::map<size_t, uint64_t> extra_rtt_ns_;
  // The largest packet a path carries (outer bytes); default: any.
  std::map<size_t, uint32_t> carries_;
  NodeSettings settings_;
  std::unique_ptr<FakeSystem> system_;
  std::unique_ptr<PathSupervisor> paths_;
  uint64_t now_ = 1'000'000'000;
};

TEST_F(PathSupervisorTest, LinkDownTakesThePathOutOfTheTableAtOnce) {
  Start(/*probed=*/false);
  EXPECT_EQ(State(0), MB_PATH_ACTIVE);
  SetLink("eth0", false);
  ASSERT_EQ(system_->written.size(), 1u) << "written at the event, not at the next tick";
  EXPECT_EQ(system_->written.back()[0].state, MB_PATH_DISABLED);
  EXPECT_EQ(system_->written.back()[1].state, MB_PATH_ACTIVE);
  EXPECT_EQ(paths_->health(0).state(), PathState::kDown);
  SetLink("eth0", true);
  EXPECT_EQ(State(0), MB_PATH_ACTIVE) << "unprobed: back with its link";
}

TEST_F(PathSupervisorTest, APathFollowsItsUplinkCreatedAgainAndItsNewAddress) {
  Start(/*probed=*/false);
  settings_.paths[0].source_from_interface = true;
  const InterfaceInfo eth0 = system_->interfaces["eth0"];
  system_->interfaces.erase("eth0");
  paths_->OnLinksChanged(now_);
  EXPECT_EQ(State(0), MB_PATH_DISABLED) << "device gone";
  EXPECT_THAT(system_->transitions.back().reason, HasSubstr("eth0 is gone"));

  // Back under its name with a new ifindex, as a PPP or modem device comes.
  system_->interfaces["eth0"] = eth0;
  system_->interfaces["eth0"].ifindex = 12;
  paths_->OnLinksChanged(now_);
  EXPECT_EQ(system_->attached, std::vector<int>{12}) << "the programs went with the old device";
  EXPECT_EQ(State(0), MB_PATH_ACTIVE);
  EXPECT_EQ(system_->written.back()[0].ifindex, 12u);

  // A new address (DHCP), noticed by the tick without any event.
  system_->interfaces["eth0"].ipv4 = Addr("10.0.0.99");
  Tick({});
  EXPECT_EQ(State(0), MB_PATH_ACTIVE);
  EXPECT_EQ(system_->written.back()[0].src_ip, Addr("10.0.0.99").s_addr);
  EXPECT_EQ(system_->attached.size(), 1u) << "same device: nothing to attach";
}

TEST_F(PathSupervisorTest, APathStaysDownWhileItsProgramsCannotBeAttached) {
  Start(/*probed=*/false);
  system_->interfaces["eth0"].ifindex = 12;
  PathIo io = system_->Io();
  io.attach_uplink = [](int) { return absl::InternalError("no such device"); };
  paths_ = std::make_unique<PathSupervisor>(settings_, std::move(io), StatusSources{}, now_);
  paths_->OnLinksChanged(now_);
  EXPECT_EQ(State(0), MB_PATH_DISABLED);
  EXPECT_EQ(settings_.paths[0].ifindex, 2) << "kept, so the next tick tries again";
}

TEST_F(PathSupervisorTest, LostProbesTakeAPathDownAndAnsweredOnesBringItBack) {
  Start(/*probed=*/true);
  ASSERT_TRUE(paths_->probing());
  for (int i = 0; i < 20; ++i) Tick({1});
  EXPECT_EQ(paths_->health(0).state(), PathState::kDown);
  EXPECT_EQ(State(0), MB_PATH_DISABLED);
  EXPECT_EQ(paths_->health(1).state(), PathState::kUp);
  EXPECT_EQ(State(1), MB_PATH_ACTIVE);
  for (int i = 0; i < 20; ++i) Tick({0, 1});
  EXPECT_EQ(paths_->health(0).state(), PathState::kUp);
  EXPECT_EQ(State(0), MB_PATH_ACTIVE);
  EXPECT_TRUE(paths_->latest_delivery(0).has_value()) << "answers carry delivery marks";
}

TEST_F(PathSupervisorTest, ProbesSkipPathsWithoutTheirFarEnd) {
  Start(/*probed=*/true);
  settings_.paths[1].endpoint = PathEndpoint::kRelay;
  paths_->OnRelayedPath(1, std::nullopt, now_);
  Tick({0, 1});
  ASSERT_EQ(system_->probes.size(), 1u);
  EXPECT_EQ(system_->probes[0].path_id, 0);
  EXPECT_EQ(system_->synced_peers.size(), 1u) << "the withdrawn far end is no peer any more";
  EXPECT_EQ(State(1), MB_PATH_DISABLED);
}

TEST_F(PathSupervisorTest, ALearnedPathAdoptsTheFarEndOfAnAuthenticatedProbe) {
  Start(/*probed=*/false);
  LearnPathOne();
  paths_->OnProbeRequest(0, now_);
  EXPECT_FALSE(system_->learned_read) << "wan0's far end is configured";
  paths_->OnProbeRequest(1, now_);
  EXPECT_TRUE(settings_.paths[1].endpoint_known);
  EXPECT_EQ(ToJson(paths_->Status())["paths"][1]["learned_endpoint"], "203.0.113.5:40000");
  EXPECT_EQ(system_->synced_peers.count(IpOf("203.0.113.5")), 1u);
  EXPECT_EQ(State(1), MB_PATH_ACTIVE) << "unprobed: in service with its far end";
}

// With authentication mb_decap records only packets that verified, so the
// agent follows them without waiting for a probe; without it, it must not.
TEST_F(PathSupervisorTest, WithAuthenticationALearnedPathFollowsItsVerifiedPackets) {
  Start(/*probed=*/false);
  LearnPathOne();
  paths_->FollowLearnedEndpoints(now_);
  EXPECT_FALSE(system_->learned_read) << "without authentication, unverified probes are recorded";
  EXPECT_FALSE(settings_.paths[1].endpoint_known);
  settings_.authentication.emplace();
  paths_->FollowLearnedEndpoints(now_);
  EXPECT_EQ(ToJson(paths_->Status())["paths"][1]["learned_endpoint"], "203.0.113.5:40000");
  // A record older than kLearnedFreshNs is not adopted: the endpoint stays.
  system_->learned.sport = 40001;
  now_ += kLearnedFreshNs + 1;
  paths_->FollowLearnedEndpoints(now_);
  EXPECT_EQ(paths_->table()[1].dst_port, 40000);
  system_->learned.seen_ns = now_;
  paths_->FollowLearnedEndpoints(now_);
  EXPECT_EQ(paths_->table()[1].dst_port, 40001);
}

// A NAT's new mapping moves only the port: the path keeps its health and
// carries traffic at once; another address is another far end, probed anew.
TEST_F(PathSupervisorTest, ALearnedFarEndWhosePortMovesKeepsItsHealth) {
  Start(/*probed=*/true);
  LearnPathOne();
  paths_->OnProbeRequest(1, now_);
  for (int i = 0; i < 20; ++i) Tick({0, 1});
  ASSERT_EQ(paths_->health(1).state(), PathState::kUp);
  system_->learned.sport = 40001;
  system_->learned.seen_ns = now_;
  paths_->OnProbeRequest(1, now_);
  EXPECT_EQ(ToJson(paths_->Status())["paths"][1]["learned_endpoint"], "203.0.113.5:40001");
  EXPECT_EQ(paths_->health(1).state(), PathState::kUp);
  EXPECT_EQ(State(1), MB_PATH_ACTIVE);
  EXPECT_EQ(paths_->table()[1].dst_port, 40001);
  system_->learned.saddr = Addr("203.0.113.9").s_addr;
  system_->learned.seen_ns = now_;
  paths_->OnProbeRequest(1, now_);
  EXPECT_NE(paths_->health(1).state(), PathState::kUp) << "another address: probed before use";
}

TEST_F(PathSupervisorTest, ManualFailoverMovesTrafficAndAutoClearsIt) {
  Start(/*probed=*/false);
  nlohmann::json reply = Failover("wan0", "eth1");
  ASSERT_FALSE(reply.contains("error")) << reply.dump();
  EXPECT_EQ(State(0), MB_PATH_DISABLED);
  EXPECT_EQ(State(1), MB_PATH_ACTIVE);
  EXPECT_TRUE(reply["paths"][0]["held_out"]);
  EXPECT_TRUE(reply["paths"][1]["moved_in"]);
  reply = Failover(FailoverRequest{.automatic = true});
  EXPECT_EQ(State(0), MB_PATH_ACTIVE);
  EXPECT_EQ(State(1), MB_PATH_ACTIVE);
  EXPECT_FALSE(reply["paths"][0]["held_out"]);
}

TEST_F(PathSupervisorTest, ManualFailoverRefusesUnknownNamesAndDownTargets) {
  Start(/*probed=*/false);
  EXPECT_EQ(Failover("nope", "wan1"),
            nlohmann::json({{"error", "unknown path or interface \"nope\" (paths: wan0, wan1)"}}));
  EXPECT_EQ(Failover("wan0", "nope"),
            nlohmann::json({{"error", "unknown path or interface \"nope\" (paths: wan0, wan1)"}}));
  EXPECT_EQ(Failover("wan0", "eth0"),
            nlohmann::json({{"error", "\"wan0\" and \"eth0\" are the same path"}}));
  SetLink("eth1", false);
  EXPECT_EQ(Failover("wan0", "wan1"),
            nlohmann::json({{"error", "path wan1 is down; not moving traffic onto it"}}));
  EXPECT_EQ(State(0), MB_PATH_ACTIVE) << "a refused failover changes nothing";
}

TEST_F(PathSupervisorTest, AHoldYieldsWhenNothingElseIsUsable) {
  Start(/*probed=*/false);
  ASSERT_FALSE(Failover("wan0", "wan1").contains("error"));
  EXPECT_EQ(State(0), MB_PATH_DISABLED);
  SetLink("eth1", false);
  EXPECT_EQ(State(0), MB_PATH_ACTIVE) << "moving traffic must not cut it";
  SetLink("eth1", true);
  EXPECT_EQ(State(0), MB_PATH_DISABLED) << "the hold applies again";
}

TEST_F(PathSupervisorTest, TransitionsAreLoggedAndBounded) {
  Start(/*probed=*/false);
  SetLink("eth0", false);
  nlohmann::json status = ToJson(paths_->Status());
  ASSERT_EQ(status["transitions"].size(), 1u);
  EXPECT_EQ(status["transitions"][0]["path"], "wan0");
  EXPECT_EQ(status["transitions"][0]["from"], "up");
  EXPECT_EQ(status["transitions"][0]["to"], "down");
  EXPECT_THAT(status["transitions"][0]["reason"].get<std::string>(),
              HasSubstr("eth0 has no carrier"));
  for (int i = 0; i < 100; ++i) {
    SetLink("eth0", true);
    SetLink("eth0", false);
  }
  EXPECT_EQ(system_->transitions.size(), 201u) << "every one goes to the history";
  status = ToJson(paths_->Status());
  ASSERT_EQ(status["transitions"].size(), PathSupervisor::kTransitionsKept);
  EXPECT_EQ(status["transitions"].back()["to"], "down");
}

TEST_F(PathSupervisorTest, TheTableIsWrittenOnlyWhenItChanged) {
  Start(/*probed=*/false);
  for (int i = 0; i < 5; ++i) Tick({});
  EXPECT_TRUE(system_->written.empty()) << "the table the maps were configured with stands";
  SetLink("eth0", false);
  SetLink("eth0", false);
  Tick({});
  EXPECT_EQ(system_->written.size(), 1u);
}

TEST_F(PathSupervisorTest, AReloadKeepsUnchangedPathsAndStartsTheOthersAfresh) {
  Start(/*probed=*/true);
  for (int i = 0; i < 20; ++i) Tick({0, 1});
  ASSERT_EQ(paths_->health(0).state(), PathState::kUp);
  ASSERT_TRUE(paths_->health(0).rtt().has_sample());
  const nlohmann::json held = Failover("wan0", "wan1");
  ASSERT_FALSE(held.contains("error")) << held.dump();
  // wan1 (id 1) is replaced by wan2; wan3 is added as id 2.
  NodeSettings next = TwoPaths(/*probed=*/true);
  next.paths[1] = Path("wan2", "eth2", 4, "10.2.0.2");
  next.paths.push_back(Path("wan3", "eth3", 5, "10.3.0.2"));
  next.paths.back().remote = IpOf("198.51.100.9");
  for (const PathSettings& p : {next.paths[1], next.paths[2]}) {
    system_->interfaces[p.interface] = {.ifindex = p.ifindex, .mtu = 1500, .ipv4 = p.source.v4(),
                                        .up = true, .running = true};
  }
  const ConfigReload reload = DiffConfig(settings_, next);
  settings_ = next;
  paths_->ApplyReload(reload, now_);

  EXPECT_EQ(paths_->health(0).state(), PathState::kUp) << "wan0 unchanged: its health stays";
  EXPECT_TRUE(paths_->health(0).rtt().has_sample()) << "and its measurements";
  EXPECT_EQ(paths_->table()[0].state, MB_PATH_DISABLED) << "wan0 is still held out";
  EXPECT_EQ(paths_->table()[1].ifindex, 4u) << "id 1 is wan2 now";
  EXPECT_FALSE(paths_->health(1).rtt().has_sample()) << "wan2 starts afresh";
  EXPECT_EQ(paths_->table()[2].ifindex, 5u);
  EXPECT_EQ(system_->synced_peers.count(IpOf("198.51.100.9")), 1u)
      << "wan3's far end is a peer now";
  EXPECT_EQ(paths_->Status().paths.size(), 3u);
  for (int i = 0; i < 20; ++i) Tick({0, 1, 2});
  EXPECT_EQ(paths_->health(2).state(), PathState::kUp) << "the added path is probed";
  EXPECT_EQ(State(2), MB_PATH_ACTIVE);

  // Back to wan0 alone: ids 1 and 2 leave the table.
  NodeSettings one = settings_;
  one.paths.resize(1);
  const ConfigReload shrink = DiffConfig(settings_, one);
  settings_ = one;
  paths_->ApplyReload(shrink, now_);
  EXPECT_EQ(paths_->table()[1].ifindex, 0u);
  EXPECT_EQ(paths_->table()[2].ifindex, 0u);
  EXPECT_EQ(paths_->table()[0].state, MB_PATH_ACTIVE)
      << "the hold named wan1, which is gone: wan0 carries traffic again";
}

TEST_F(PathSupervisorTest, StatusShowsEveryPath) {
  Start(/*probed=*/false);
  const nlohmann::json status = ToJson(paths_->Status());
  EXPECT_EQ(status["mode"], "load_balance");
  EXPECT_EQ(status["probing"], false);
  EXPECT_EQ(status["nodes"], nullptr) << "discovery off";
  EXPECT_EQ(status["caps"], nlohmann::json::array());
  ASSERT_EQ(status["paths"].size(), 2u);
  EXPECT_EQ(status["paths"][1]["name"], "wan1");
  EXPECT_EQ(status["paths"][1]["configured_mbit"], 40);
  EXPECT_EQ(status["paths"][1]["data_path_state"], "active");
  EXPECT_EQ(status["paths"][1]["remote"], "198.51.100.7:7201");
}

TEST_F(PathSupervisorTest, FloorGuardTakesAJitteryPathOutOfBulkAndLetsItBack) {
  Start(/*probed=*/true, /*floor_guard=*/true);
  ASSERT_TRUE(FloorGuardRuns(settings_));
  // wan1's probes take 0 or 120 ms more by turns: jitter near 60 ms, its
  // packets spread beyond the 100 ms the far end's resequencer waits. The
  // jitter estimate needs ~30 probes to get there, then 3 intervals confirm.
  for (int i = 0; i < 100 && (paths_->table()[1].flags & MB_PATH_F_NO_BULK) == 0; ++i) {
    extra_rtt_ns_[1] = i % 2 ? 120'000'000 : 0;
    Tick({0, 1});
  }
  EXPECT_EQ(State(1), MB_PATH_ACTIVE) << "still there for failover";
  EXPECT_EQ(paths_->table()[1].flags & MB_PATH_F_NO_BULK, MB_PATH_F_NO_BULK);
  EXPECT_EQ(paths_->table()[0].flags & MB_PATH_F_NO_BULK, 0);
  nlohmann::json status = ToJson(paths_->Status());
  EXPECT_EQ(status["paths"][1]["bulk_excluded"], true);
  EXPECT_THAT(status["paths"][1]["guard_reason"].get<std::string>(), HasSubstr("jitter"));
  EXPECT_EQ(status["paths"][0]["guard_reason"], nullptr);
  ASSERT_EQ(status["guard_decisions"].size(), 1u);
  EXPECT_EQ(status["guard_decisions"][0]["path"], "wan1");
  EXPECT_EQ(status["guard_decisions"][0]["reason"], "jitter");
  EXPECT_EQ(status["guard_decisions"][0]["excluded"], true);
  std::vector<PathView> views = paths_->PathViews();
  EXPECT_TRUE(views[1].bulk_excluded);
  ASSERT_EQ(views[1].guard_decisions.size(), 1u);
  EXPECT_EQ(views[1].guard_decisions[0].reason, "jitter");

  // It calms down: back in once the 10 s back-off is over.
  extra_rtt_ns_[1] = 0;
  for (int i = 0; i < 20; ++i) Tick({0, 1});
  EXPECT_EQ(paths_->table()[1].flags & MB_PATH_F_NO_BULK, MB_PATH_F_NO_BULK) << "back-off";
  for (int i = 0; i < 50; ++i) Tick({0, 1});
  EXPECT_EQ(paths_->table()[1].flags & MB_PATH_F_NO_BULK, 0);
  status = ToJson(paths_->Status());
  EXPECT_EQ(status["paths"][1]["bulk_excluded"], false);
  ASSERT_EQ(status["guard_decisions"].size(), 2u);
  EXPECT_EQ(status["guard_decisions"][1]["reason"], "readmitted");
}

TEST_F(PathSupervisorTest, FloorGuardOffLeavesJitteryPathsInBulk) {
  settings_ = TwoPaths(/*probed=*/true);
  settings_.floor_guard = false;
  EXPECT_FALSE(FloorGuardRuns(settings_));
  settings_.floor_guard = true;
  settings_.mode = BondMode::kRedundant;
  EXPECT_FALSE(FloorGuardRuns(settings_));
  settings_.mode = BondMode::kLoadBalance;
  EXPECT_FALSE(FloorGuardRuns(TwoPaths(/*probed=*/false))) << "nothing measured";
  settings_.floor_guard = false;
  system_ = std::make_unique<FakeSystem>(settings_);
  paths_ = std::make_unique<PathSupervisor>(settings_, system_->Io(), StatusSources{}, now_);
  paths_->StartProbing();
  for (int i = 0; i < 100; ++i) {
    extra_rtt_ns_[1] = i % 2 ? 120'000'000 : 0;
    Tick({0, 1});
  }
  EXPECT_EQ(paths_->table()[1].flags & MB_PATH_F_NO_BULK, 0);
  EXPECT_EQ(ToJson(paths_->Status())["guard_decisions"].size(), 0u);
}

TEST_F(PathSupervisorTest, AHopSmallerThanTheUplinkLowersItsPathMtuAndTheMssClamp) {
  Start(/*probed=*/true);
  carries_[1] = 1400;  // a 1400-byte hop somewhere behind eth1's 1500
  bool sized_probe_sent = false;
  for (int i = 0; i < 40; ++i) {
    Tick({0, 1});
    for (const ProbeMessage& p : system_->probes) {
      if (!p.size_probe) continue;
      sized_probe_sent = true;
      EXPECT_LE(p.datagram_bytes + 68, 1500u);
    }
  }
  EXPECT_TRUE(sized_probe_sent);
  EXPECT_EQ(paths_->table()[1].mtu, 1400u);
  EXPECT_EQ(paths_->table()[0].mtu, 1500u);
  EXPECT_EQ(system_->config.bond_mtu, 1360) << "inner packets every path carries";
  EXPECT_EQ(paths_->health(1).state(), PathState::kUp) << "lost size probes are not path loss";
  EXPECT_EQ(State(1), MB_PATH_ACTIVE);
  // The small hop goes away: the next check (a minute on) finds 1500 again.
  carries_.erase(1);
  for (int i = 0; i < 320; ++i) Tick({0, 1});
  EXPECT_EQ(paths_->table()[1].mtu, 1500u);
  EXPECT_EQ(system_->config.bond_mtu, 1460);
}

TEST_F(PathSupervisorTest, LostPacketsWaitForRepairsOnlyWhileThePeerSaysItRepairs) {
  Start(/*probed=*/true, /*floor_guard=*/false, /*loss_repair=*/true);
  auto wait_after_rebalance = [&] {
    for (int i = 0; i < 40; ++i) Tick({0, 1});  // past a rebalance interval
    return system_->config.repair_wait_us;
  };
  EXPECT_GT(wait_after_rebalance(), 0u);
  EXPECT_TRUE(paths_->peer_repairs());
  peer_repairs_ = false;  // the peer restarted with loss_repair off
  EXPECT_EQ(wait_after_rebalance(), 0u) << "waiting would only delay every loss";
  EXPECT_FALSE(paths_->peer_repairs());
  peer_repairs_ = true;
  EXPECT_GT(wait_after_rebalance(), 0u);
}

TEST_F(PathSupervisorTest, SentPacketsAreKeptForRepairOnlyWhileThePeerAsks) {
  Start(/*probed=*/true, /*floor_guard=*/false, /*loss_repair=*/true);
  Tick({0, 1});
  EXPECT_EQ(system_->config.keep_copies, 0) << "clean paths: no copies, no cost";
  paths_->OnRepairRequested(now_, 1);
  Tick({0, 1});
  paths_->OnRepairRequested(now_, 2);
  EXPECT_EQ(system_->config.keep_copies, 0) << "3 losses in a second: a gap now and then";
  for (int i = 0; i < 5; ++i) Tick({0, 1});
  paths_->OnRepairRequested(now_, 3);
  EXPECT_EQ(system_->config.keep_copies, 0) << "the window starts again";
  paths_->OnRepairRequested(now_, 1);
  EXPECT_EQ(system_->config.keep_copies, 1) << "at once, not at the next tick";
  EXPECT_TRUE(paths_->keep_copies());
  const uint64_t asked_ns = now_;
  while (now_ - asked_ns < PathSupervisor::kKeepCopiesNs - kTickNs) Tick({0, 1});
  EXPECT_EQ(system_->config.keep_copies, 1);
  Tick({0, 1});
  Tick({0, 1});
  EXPECT_EQ(system_->config.keep_copies, 0) << "no repair asked for in a minute";
  EXPECT_FALSE(paths_->keep_copies());
  paths_->OnRepairRequested(now_, 64);
  EXPECT_EQ(system_->config.keep_copies, 1);
}

// A relayed path nobody fills says why when discovery knows (a neighbour
// offering it heard only over IPv6); a filled one does not ask.
TEST_F(PathSupervisorTest, AnEmptyRelayedPathSaysWhyInStatus) {
  settings_ = TwoPaths(/*probed=*/false);
  settings_.paths[1].endpoint = PathEndpoint::kRelay;
  settings_.paths[1].endpoint_known = false;
  system_ = std::make_unique<FakeSystem>(settings_);
  std::optional<RelayAssignment> filled;
  StatusSources sources;
  sources.relayed_path = [&](size_t) { return filled ? &*filled : nullptr; };
  sources.relay_unavailable = [](size_t path) -> std::optional<std::string> {
    if (path != 1) return std::nullopt;
    return "a relayed path takes the bonding peer's family (IPv4): node2 (fe80::2%lan0): not heard over IPv4";
  };
  paths_ = std::make_unique<PathSupervisor>(settings_, system_->Io(), sources, now_);
  nlohmann::json status = ToJson(paths_->Status());
  EXPECT_FALSE(status["paths"][0].contains("relay_unavailable")) << "not a relayed path";
  EXPECT_TRUE(status["paths"][1]["relay"].is_null());
  EXPECT_EQ(status["paths"][1]["relay_unavailable"],
            "a relayed path takes the bonding peer's family (IPv4): node2 (fe80::2%lan0): not heard over IPv4");
  filled = RelayAssignment{"n2", "node2", "wan0", {}, 7211};
  status = ToJson(paths_->Status());
  EXPECT_EQ(status["paths"][1]["relay"]["node"], "node2");
  EXPECT_TRUE(status["paths"][1]["relay_unavailable"].is_null());
}

}  // namespace
}  // namespace meshbpf
