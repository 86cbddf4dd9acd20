#include "agent/daemon/path_supervisor.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace meshbpf {
namespace {

using ::testing::HasSubstr;

constexpr uint64_t kTickNs = 200'000'000;  // failover.monitoring_interval

in_addr Addr(const char* text) {
  in_addr a{};
  inet_pton(AF_INET, text, &a);
  return a;
}

PathSettings Path(const std::string& name, const std::string& interface, int ifindex,
                  const char* source) {
  PathSettings p;
  p.name = name;
  p.interface = interface;
  p.ifindex = ifindex;
  p.mtu = 1500;
  p.source = Addr(source);
  p.remote = Addr("198.51.100.7");
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
    s.bond_address = BondAddress{Addr("10.99.0.1"), 30};
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
      info.ipv4 = p.source;
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
    io.sync_peers = [this](const std::set<in_addr_t>& peers) {
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
    return io;
  }

  std::map<std::string, InterfaceInfo> interfaces;
  std::vector<PathTable> written;
  std::set<in_addr_t> synced_peers;
  std::vector<ProbeMessage> probes;
  std::vector<PathTransition> transitions;
  std::vector<int> attached;  // attach_uplink's ifindexes
  mb_learned_source learned{};
  bool learned_read = false;
};

class PathSupervisorTest : public ::testing::Test {
 protected:
  void Start(bool probed) {
    settings_ = TwoPaths(probed);
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
      ProbeMessage reply = request;
      reply.type = ProbeMessage::Type::kReply;
      reply.reflected_ns = now_ + 500'000;
      changed |= paths_->OnProbeReply(reply, now_ + 1'000'000);
    }
    if (changed) {
      ASSERT_TRUE(paths_->WriteTable().ok());
    }
  }

  uint8_t State(size_t i) const { return paths_->table()[i].state; }

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
  settings_.paths[1].endpoint = PathEndpoint::kLearned;
  settings_.paths[1].endpoint_known = false;
  system_->learned = {.saddr = Addr("203.0.113.5").s_addr,
                      .daddr = Addr("10.1.0.2").s_addr,
                      .sport = 40000,
                      .ifindex = 3,
                      .seen_ns = now_};
  paths_->OnProbeRequest(0, now_);
  EXPECT_FALSE(system_->learned_read) << "wan0's far end is configured";
  paths_->OnProbeRequest(1, now_);
  EXPECT_TRUE(settings_.paths[1].endpoint_known);
  EXPECT_EQ(ToJson(paths_->Status())["paths"][1]["learned_endpoint"], "203.0.113.5:40000");
  EXPECT_EQ(system_->synced_peers.count(Addr("203.0.113.5").s_addr), 1u);
  EXPECT_EQ(State(1), MB_PATH_ACTIVE) << "unprobed: in service with its far end";
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

}  // namespace
}  // namespace meshbpf
