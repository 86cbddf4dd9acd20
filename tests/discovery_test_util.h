// What the discovery tests share: a mesh key, a fixed wall-clock time and a
// sample announcement (agent/core/discovery.h).
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "agent/core/discovery.h"
#include "tests/test_common.h"

namespace meshbpf::testing_discovery {

inline const std::string kKey = "a mesh key of 16+ characters";
inline constexpr uint64_t kNowMs = 1'700'000'000'000;  // the fake wall clock

inline in_addr Ip(const char* text) {
  in_addr a{};
  inet_pton(AF_INET, text, &a);
  return a;
}

// Where a datagram came from: the address, heard on interface `ifindex`.
inline ScopedAddress From(const char* text, int ifindex = 2) { return {IpOf(text), ifindex}; }

inline Announcement Sample(std::string node_id = "node-a") {
  Announcement a;
  a.node_id = std::move(node_id);
  a.name = "gateway.lan";
  a.version = "0.3.1+dev";
  a.epoch = 1'699'999'000'000;
  a.seq = 7;
  a.timestamp_ms = kNowMs;
  // eth0 relays both families, wwan0 IPv4 only.
  a.uplinks = {
      {"eth0", UplinkType::kEthernet, 40'000, 12'000, 100, std::nullopt, true, 7211, true, true},
      {"wwan0", UplinkType::kCellular, 10'000, 60'000, 20'000, 5'000'000'000ULL, true, 7212, true},
      {"wlan0", UplinkType::kWifi, 0, 0, 0, std::nullopt, false},
  };
  a.relay = RelayCapability{7211, 50'000, 2'000'000'000};
  a.bond = BondEndpoint{IpOf("10.200.0.2"), 7201, 7301};
  return a;
}

inline std::vector<uint8_t> Encode(const Announcement& a, const std::string& key = kKey) {
  absl::StatusOr<std::vector<uint8_t>> frame = EncodeAnnouncement(a, key);
  EXPECT_TRUE(frame.ok()) << frame.status();
  return frame.ok() ? *frame : std::vector<uint8_t>{};
}

}  // namespace meshbpf::testing_discovery
