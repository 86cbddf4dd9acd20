// Writes the fuzzer's seed corpus into the directory given: valid
// announcements both as whole datagrams and as bodies (see fuzz_inputs.h),
// so mutation starts next to inputs that pass every check.
#include <arpa/inet.h>

#include <filesystem>
#include <fstream>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "agent/core/discovery.h"
#include "fuzz/fuzz_inputs.h"

int main(int argc, char** argv) {
  using namespace meshbpf;
  using namespace meshbpf::fuzz;
  if (argc != 2) {
    std::cerr << "usage: make_seeds DIR\n";
    return 2;
  }
  const std::filesystem::path dir = argv[1];
  std::filesystem::create_directories(dir);

  std::vector<Announcement> seeds;
  Announcement minimal{"n", "x", "1", 1, 1, kFuzzWallClockMs, {}, std::nullopt};
  seeds.push_back(minimal);
  Announcement full = minimal;
  full.node_id = "node-a:01";
  full.name = "gateway.lan";
  full.version = "0.3.1+dev";
  full.epoch = kFuzzWallClockMs - 1000;
  full.seq = 42;
  full.uplinks = {
      {"eth0", UplinkType::kEthernet, 40'000, 12'000, 100, std::nullopt, true, 7211},
      {"wwan0", UplinkType::kCellular, 10'000, 60'000, 20'000, 5'000'000'000ULL, true, 7212},
      {"wlan0", UplinkType::kWifi, 0, 0, 0, std::nullopt, false},
      {"tun0", UplinkType::kOther, 1, 1, 1'000'000, 0, false},
  };
  full.relay = RelayCapability{7211, 50'000, 3'000'000'000ULL};
  seeds.push_back(full);
  // A node that uses relays: where they forward its traffic.
  Announcement bonding = full;
  bonding.uplinks.resize(2);
  bonding.relay.reset();
  in_addr peer{};
  peer.s_addr = htonl(0x0ac80002);  // 10.200.0.2
  bonding.bond = BondEndpoint{peer, 7201, 7301};
  seeds.push_back(bonding);
  Announcement many = full;
  many.uplinks.clear();
  for (size_t i = 0; i < kMaxAnnouncedUplinks; ++i) {
    const bool shared = i % 2 == 0;
    many.uplinks.push_back({absl::StrCat("up", i), UplinkType::kEthernet, i, i, 0, i, shared,
                            static_cast<uint16_t>(shared ? 7211 + i : 0)});
  }
  many.relay->share_remaining_bytes = 0;
  many.bond = bonding.bond;
  seeds.push_back(many);

  int written = 0;
  for (const Announcement& a : seeds) {
    absl::StatusOr<std::vector<uint8_t>> frame = EncodeAnnouncement(a, kFuzzMeshKey);
    if (!frame.ok()) {
      std::cerr << "make_seeds: " << frame.status() << "\n";
      return 1;
    }
    // The whole datagram, and the body alone (header and tag stripped).
    std::ofstream(dir / absl::StrCat("datagram-", written)).put(kRawDatagram).write(
        reinterpret_cast<const char*>(frame->data()), static_cast<std::streamsize>(frame->size()));
    std::ofstream(dir / absl::StrCat("body-", written))
        .put(kAuthenticatedBody)
        .write(reinterpret_cast<const char*>(frame->data() + kAnnouncementHeaderSize),
               static_cast<std::streamsize>(frame->size() - kAnnouncementOverhead));
    ++written;
  }
  return 0;
}
