// What the config tests share: a fake interface table, the host name, sample
// configs and the ConfigTest fixture that resolves JSON against them.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>

#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "agent/core/config.h"
#include "tests/test_common.h"

namespace meshbpf::testing_config {

class FakeInterfaces : public InterfaceLookup {
 public:
  // Up, without carrier unless the caller sets `running` on what it returns.
  InterfaceInfo& Add(const std::string& name, int ifindex, uint32_t mtu, const char* ipv4) {
    InterfaceInfo& info = devices_[name] = InterfaceInfo{};
    info.ifindex = ifindex;
    info.mtu = mtu;
    if (ipv4 != nullptr) info.ipv4 = Addr(ipv4);
    info.up = true;
    return info;
  }
  std::optional<InterfaceInfo> Find(std::string_view name) const override {
    auto it = devices_.find(std::string(name));
    if (it == devices_.end()) return std::nullopt;
    return it->second;
  }

 private:
  std::map<std::string, InterfaceInfo> devices_;
};

// Every device exists, up, with an address: lets a config resolve as far
// as its own content allows (the default config's tests, the config fuzzer).
class AnyInterface : public InterfaceLookup {
 public:
  std::optional<InterfaceInfo> Find(std::string_view) const override {
    InterfaceInfo info;
    info.ifindex = 2;
    info.mtu = 1500;
    info.ipv4 = in_addr{htonl(0xc0a8010a)};  // 192.168.1.10
    info.up = info.running = true;
    return info;
  }
};

// What the tests' host is called: node_discovery.node_name's default.
constexpr char kHostName[] = "test-host";

// The README's bonding client: three uplinks, one of them a backup.

constexpr const char* kClientConfig = R"({
  "node_discovery": {"enabled": false, "port": 9999, "broadcast_interval": 5, "node_timeout": 30},
  "link_aggregation": {
    "mode": "load_balance",
    "bond_interface": "mb0",
    "bond_address": "10.203.0.2/24",
    "peer_address": "198.51.100.7",
    "port": 7201
  },
  "failover": {"monitoring_interval": 0.2, "threshold": 3, "recovery_threshold": 5},
  "interfaces": {
    "primary": "eth0",
    "backups": ["wwan0"],
    "uplinks": [
      {"name": "eth0", "gateway": "192.168.1.1", "rate_mbit": 40},
      {"name": "wlan0", "gateway": "192.168.8.1", "rate_mbit": 20},
      {"name": "wwan0", "rate_mbit": 10}
    ]
  }
})";

// Smallest accepted config: one uplink and where to send its traffic.
constexpr const char* kMinimalConfig =
    R"({"interfaces": {"uplinks": [{"interface": "eth0", "remote_address": "203.0.113.1", "rate_mbit": 100}]}})";

// A config with one uplink (and no link_aggregation) plus `extra` top-level
// members, e.g. R"("failover": {"threshold": 0})".
inline std::string WithOneUplink(const std::string& extra) {
  return absl::StrCat(
      R"({"interfaces": {"uplinks": [
             {"name": "eth0", "remote_address": "198.51.100.7", "rate_mbit": 40}]})",
      extra.empty() ? "" : ", ", extra, "}");
}

// A config whose interfaces section is `interfaces`, with a peer address set.
inline std::string WithInterfaces(const std::string& interfaces) {
  return absl::StrCat(R"({"link_aggregation": {"peer_address": "198.51.100.7"}, "interfaces": )",
                      interfaces, "}");
}

class ConfigTest : public ::testing::Test {
 protected:
  ConfigTest() {
    fake_.Add("eth0", 2, 1500, "192.168.1.10");
    fake_.Add("wlan0", 3, 1500, "192.168.8.20");
    fake_.Add("wwan0", 4, 1400, "10.64.0.5");
    fake_.Add("noaddr0", 5, 9000, nullptr);
    fake_.Add("lan0", 6, 1400, "10.210.0.1");
    fake_.Add("lan1", 7, 1500, "10.220.0.1");
  }

  absl::StatusOr<NodeSettings> Resolve(const std::string& json) const {
    absl::StatusOr<config::Config> config = ParseConfigJson(json);
    if (!config.ok()) return config.status();
    return ResolveConfig(*config, fake_, kHostName);
  }

  NodeSettings MustResolve(const std::string& json) const {
    absl::StatusOr<NodeSettings> settings = Resolve(json);
    EXPECT_TRUE(settings.ok()) << settings.status() << "\n" << json;
    return settings.ok() ? *settings : NodeSettings{};
  }

  // The message of the InvalidArgument error `json` must produce.
  std::string ErrorOf(const std::string& json) const {
    absl::StatusOr<NodeSettings> settings = Resolve(json);
    EXPECT_FALSE(settings.ok()) << "accepted:\n" << json;
    if (settings.ok()) return "";
    EXPECT_EQ(settings.status().code(), absl::StatusCode::kInvalidArgument);
    return std::string(settings.status().message());
  }

  FakeInterfaces fake_;
};

// Two uplinks in flow mode with everything flow mode needs, plus `la_extra`
// members in link_aggregation and `uplink_extra` members in the first uplink.
inline std::string FlowConfig(const std::string& la_extra = "", const std::string& uplink_extra = "") {
  return absl::StrCat(R"({"link_aggregation": {"mode": "flow", "bond_address": "10.203.0.2/24")",
                      la_extra.empty() ? "" : ", ", la_extra, R"(},
    "interfaces": {"uplinks": [
      {"name": "eth0", "gateway": "192.168.1.1", "rate_mbit": 40)",
                      uplink_extra.empty() ? "" : ", ", uplink_extra, R"(},
      {"name": "wlan0", "gateway": "192.168.8.1", "rate_mbit": 20}]}})");
}

}  // namespace meshbpf::testing_config
