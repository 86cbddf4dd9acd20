// The agent's side of relaying: RelayMaps over the maps of a loaded data
// path, pinned in a private bpffs mounted on a temporary directory and
// unmounted again. Needs root (BPF load, mount); skipped without it.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>

#include <arpa/inet.h>

#include <cstring>
#include <map>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "agent/core/net_format.h"
#include "agent/sys/map_io.h"
#include "bpf/meshbpf.h"
#include "tests/bpf_relay_fixture.h"
#include "tests/packet_builder.h"

namespace meshbpf::testing {
namespace {

// The agent's side: RelayMaps over the pinned maps of a loaded data path.
class RelayMapsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const std::string why = BpfUnavailable(); !why.empty()) GTEST_SKIP() << why;
    bpffs_ = std::make_unique<ScratchBpffs>();
    ASSERT_TRUE(bpffs_->mounted());
    dir_ = bpffs_->dir();
    skel_ = LoadPinnedDatapath(dir_);
    ASSERT_NE(skel_, nullptr);
    absl::StatusOr<std::unique_ptr<meshbpf::RelayMaps>> maps =
        meshbpf::RelayMaps::OpenPinned(dir_);
    ASSERT_TRUE(maps.ok()) << maps.status();
    maps_ = std::move(*maps);
  }
  void TearDown() override {
    maps_.reset();
    if (skel_) meshbpf_bpf__destroy(skel_);
    bpffs_.reset();
  }

  // A relay of the family of `origin`'s text.
  static mb_relay Relay(const char* origin, uint16_t relay_port, uint16_t return_port) {
    const bool v6 = std::strchr(origin, ':') != nullptr;
    mb_relay r{};
    r.flags = v6 ? MB_RELAY_F_IPV6 : 0;
    r.origin_ip = RelayAddr(origin);
    r.lan_ip = RelayAddr(v6 ? kRelayLan6 : kRelayLan);
    r.peer_ip = RelayAddr(v6 ? kBondPeer6 : kBondPeer);
    r.lan_ifindex = 1;
    r.uplink_path = kUplinkPath;
    r.origin_port = r.peer_port = kTunnelPort;
    r.relay_port = relay_port;
    r.return_port = return_port;
    r.in_use = 1;
    return r;
  }

  // An index map's content as {address:port -> slot} (IpPortText).
  std::map<std::string, uint32_t> Index(bpf_map* map) {
    std::map<std::string, uint32_t> out;
    mb_relay_key key{}, next{};
    const int fd = bpf_map__fd(map);
    for (const void* prev = nullptr; bpf_map_get_next_key(fd, prev, &next) == 0; prev = &key) {
      key = next;
      uint32_t slot = 0;
      EXPECT_EQ(bpf_map_lookup_elem(fd, &key, &slot), 0);
      out[meshbpf::IpPortText(meshbpf::FromMbAddr(key.addr, key.ipv6), key.port)] = slot;
    }
    return out;
  }

  std::unique_ptr<ScratchBpffs> bpffs_;
  std::string dir_;
  meshbpf_bpf* skel_ = nullptr;
  std::unique_ptr<meshbpf::RelayMaps> maps_;
};

TEST_F(RelayMapsTest, SyncWritesSlotsAndBothIndexes) {
  ASSERT_TRUE(maps_->Sync({{3, Relay(kOrigin, kRelayPort, kReturnPort)},
                           {5, Relay("10.210.0.7", kRelayPort + 1, kRelayPort + 37)}})
                  .ok());
  using Map = std::map<std::string, uint32_t>;
  EXPECT_EQ(Index(skel_->maps.mb_relay_fwd),
            (Map{{"10.210.0.1:7211", 3}, {"10.210.0.7:7212", 5}}));
  EXPECT_EQ(Index(skel_->maps.mb_relay_ret),
            (Map{{"10.200.0.2:7246", 3}, {"10.200.0.2:7248", 5}}));
  absl::StatusOr<std::map<uint32_t, mb_relay>> read = maps_->Read();
  ASSERT_TRUE(read.ok()) << read.status();
  ASSERT_EQ(read->size(), 2u);
  EXPECT_EQ(meshbpf::IpText(meshbpf::RelayAddressOf(read->at(5), read->at(5).origin_ip)),
            "10.210.0.7");

  // Slot 3 goes, slot 5 gets another origin: no index entry of either old relay stays.
  ASSERT_TRUE(maps_->Sync({{5, Relay("10.210.0.8", kRelayPort + 1, kRelayPort + 37)}}).ok());
  EXPECT_EQ(Index(skel_->maps.mb_relay_fwd), (Map{{"10.210.0.8:7212", 5}}));
  EXPECT_EQ(Index(skel_->maps.mb_relay_ret), (Map{{"10.200.0.2:7248", 5}}));
  read = maps_->Read();
  ASSERT_TRUE(read.ok()) << read.status();
  ASSERT_EQ(read->size(), 1u);
  mb_relay slot3{};
  ASSERT_EQ(bpf_map_lookup_elem(bpf_map__fd(skel_->maps.mb_relays), &kSlot, &slot3), 0);
  EXPECT_EQ(slot3.in_use, 0u) << "a dropped relay's slot is cleared";

  ASSERT_TRUE(maps_->Sync({}).ok());
  EXPECT_TRUE(Index(skel_->maps.mb_relay_fwd).empty());
  EXPECT_TRUE(maps_->Read()->empty());
}

TEST_F(RelayMapsTest, IndexKeysAreOfTheRelaysFamily) {
  // The same port and the same bytes in the first word: IPv4 and IPv6 keys never meet.
  ASSERT_TRUE(maps_->Sync({{3, Relay(kOrigin, kRelayPort, kReturnPort)},
                           {4, Relay(kOrigin6, kRelayPort, kReturnPort + 1)}})
                  .ok());
  using Map = std::map<std::string, uint32_t>;
  EXPECT_EQ(Index(skel_->maps.mb_relay_fwd),
            (Map{{"10.210.0.1:7211", 3}, {absl::StrCat("[", kOrigin6, "]:7211"), 4}}));
  EXPECT_EQ(Index(skel_->maps.mb_relay_ret),
            (Map{{"10.200.0.2:7246", 3}, {absl::StrCat("[", kBondPeer6, "]:7247"), 4}}));
  absl::StatusOr<std::map<uint32_t, mb_relay>> read = maps_->Read();
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(meshbpf::IpText(meshbpf::RelayAddressOf(read->at(4), read->at(4).lan_ip)), kRelayLan6);
}

TEST_F(RelayMapsTest, SyncRefusesBadRelaysWithAReason) {
  mb_relay not_in_use = Relay(kOrigin, kRelayPort, kReturnPort);
  not_in_use.in_use = 0;
  mb_relay bad_path = Relay(kOrigin, kRelayPort, kReturnPort);
  bad_path.uplink_path = MB_MAX_PATHS;
  const struct {
    std::map<uint32_t, mb_relay> relays;
    const char* reason;
  } cases[] = {
      {{{MB_MAX_RELAYS, Relay(kOrigin, kRelayPort, kReturnPort)}}, "past the table"},
      {{{0, not_in_use}}, "not marked in use"},
      {{{0, bad_path}}, "uplink path"},
      {{{0, Relay(kOrigin, kRelayPort, kReturnPort)},
        {1, Relay(kOrigin, kRelayPort, kReturnPort + 1)}},
       "same mb_relay_fwd key 10.210.0.1:7211"},
  };
  for (const auto& c : cases) {
    absl::Status s = maps_->Sync(c.relays);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.reason;
    EXPECT_NE(std::string(s.message()).find(c.reason), std::string::npos) << s;
  }
  EXPECT_TRUE(Index(skel_->maps.mb_relay_fwd).empty()) << "nothing written on bad input";
}

TEST_F(RelayMapsTest, CountersAndLearnedSourcesAreReadBack) {
  const int cpus = libbpf_num_possible_cpus();
  ASSERT_GT(cpus, 0);
  std::vector<mb_relay_counters> per_cpu(static_cast<size_t>(cpus));
  per_cpu[0].fwd_packets = 2;
  per_cpu[0].drops[MB_RELAY_DROP_RATE] = 1;
  per_cpu.back().fwd_packets += 3;
  per_cpu.back().ret_bytes = 700;
  ASSERT_EQ(bpf_map_update_elem(bpf_map__fd(skel_->maps.mb_relay_counters), &kSlot,
                                per_cpu.data(), BPF_ANY),
            0);
  absl::StatusOr<meshbpf::RelayCounterTable> counters = maps_->ReadCounters();
  ASSERT_TRUE(counters.ok()) << counters.status();
  EXPECT_EQ((*counters)[kSlot].fwd_packets, 5u) << "summed over CPUs";
  EXPECT_EQ((*counters)[kSlot].ret_bytes, 700u);
  EXPECT_EQ((*counters)[kSlot].drops[MB_RELAY_DROP_RATE], 1u);
  EXPECT_EQ((*counters)[0].fwd_packets, 0u);

  mb_learned_source seen{};
  seen.saddr = Ip(kRelayUplink);
  seen.sport = kReturnPort;
  const uint32_t path = 2;
  ASSERT_EQ(bpf_map_update_elem(bpf_map__fd(skel_->maps.mb_learned), &path, &seen, BPF_ANY), 0);
  absl::StatusOr<mb_learned_source> learned = maps_->ReadLearned(path);
  ASSERT_TRUE(learned.ok()) << learned.status();
  EXPECT_EQ(learned->saddr, Ip(kRelayUplink));
  EXPECT_EQ(learned->sport, kReturnPort);
  EXPECT_EQ(maps_->ReadLearned(MB_MAX_PATHS).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(RelayMapsTest, OpeningWithoutPinsSaysWhatIsMissing) {
  absl::StatusOr<std::unique_ptr<meshbpf::RelayMaps>> maps =
      meshbpf::RelayMaps::OpenPinned(dir_ + "/nothing-here");
  ASSERT_FALSE(maps.ok());
  EXPECT_EQ(maps.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(std::string(maps.status().message()).find("mb_relays is not pinned"),
            std::string::npos)
      << maps.status();
}

}  // namespace
}  // namespace meshbpf::testing
