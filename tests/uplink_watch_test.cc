#include "agent/core/uplink_watch.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "tests/config_test_util.h"

namespace meshbpf {
namespace {

using ::testing::HasSubstr;
using testing_config::FakeInterfaces;

// A device that carries traffic: up, with carrier and an address.
InterfaceInfo& AddUsable(FakeInterfaces& devices, const std::string& name, int ifindex,
                         const char* ipv4) {
  InterfaceInfo& info = devices.Add(name, ifindex, 1500, ipv4);
  info.running = true;
  return info;
}

PathSettings Path(const std::string& interface, int ifindex, const char* source,
                  bool source_from_interface) {
  PathSettings p;
  p.name = interface;
  p.interface = interface;
  p.ifindex = ifindex;
  p.mtu = 1500;
  p.source = IpOf(source);
  p.source_from_interface = source_from_interface;
  return p;
}

TEST(UplinkWatchTest, NothingChangesWhileTheDevicesMatch) {
  FakeInterfaces devices;
  AddUsable(devices, "wan1", 4, "10.1.0.2");
  AddUsable(devices, "wan2", 5, "10.2.0.2");
  const std::vector<PathSettings> paths = {Path("wan1", 4, "10.1.0.2", true),
                                           Path("wan2", 5, "10.2.0.2", false)};
  EXPECT_TRUE(UplinkChanges(paths, devices).empty());
  EXPECT_EQ(UplinkProblem(paths[0], devices.Find("wan1")), std::nullopt);
}

TEST(UplinkWatchTest, ADeviceCreatedAgainIsFollowedByNameAndNeedsTheProgramsAgain) {
  FakeInterfaces devices;
  AddUsable(devices, "wan2", 9, "10.2.0.2").mtu = 1492;
  std::vector<PathSettings> paths = {Path("wan2", 5, "10.2.0.2", true)};
  EXPECT_THAT(*UplinkProblem(paths[0], devices.Find("wan2")), HasSubstr("created again"))
      << "down until the programs are on the new device";
  const std::vector<UplinkChange> changes = UplinkChanges(paths, devices);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_TRUE(changes[0].reattach);
  EXPECT_EQ(changes[0].ifindex, 9);
  EXPECT_THAT(changes[0].what, HasSubstr("wan2 re-created (ifindex 5 -> 9)"));
  EXPECT_THAT(changes[0].what, HasSubstr("MTU 1500 -> 1492"));
  ApplyUplinkChange(changes[0], paths);
  EXPECT_EQ(paths[0].ifindex, 9);
  EXPECT_EQ(paths[0].mtu, 1492u);
  EXPECT_EQ(UplinkProblem(paths[0], devices.Find("wan2")), std::nullopt);
  EXPECT_TRUE(UplinkChanges(paths, devices).empty());
}

TEST(UplinkWatchTest, ANewAddressBecomesTheSourceUnlessOneWasConfigured) {
  FakeInterfaces devices;
  AddUsable(devices, "wan1", 4, "10.1.0.77");
  AddUsable(devices, "wan2", 5, "10.2.0.77");
  std::vector<PathSettings> paths = {Path("wan1", 4, "10.1.0.2", true),
                                     Path("wan2", 5, "10.2.0.2", false)};
  const std::vector<UplinkChange> changes = UplinkChanges(paths, devices);
  ASSERT_EQ(changes.size(), 1u) << "wan2's source_address is configured: kept";
  EXPECT_EQ(changes[0].path, 0u);
  EXPECT_FALSE(changes[0].reattach);
  EXPECT_EQ(changes[0].what, "wan1 address 10.1.0.2 -> 10.1.0.77");
  ApplyUplinkChange(changes[0], paths);
  EXPECT_EQ(paths[0].source, IpOf("10.1.0.77"));
  EXPECT_EQ(UplinkProblem(paths[0], devices.Find("wan1")), std::nullopt);
  EXPECT_EQ(*UplinkProblem(paths[1], devices.Find("wan2")),
            "wan2 no longer has 10.2.0.2 (it has 10.2.0.77)");
}

TEST(UplinkWatchTest, AGoneOrUnusableDeviceChangesNothingAndSaysWhy) {
  FakeInterfaces devices;
  std::vector<PathSettings> paths = {Path("wan1", 4, "10.1.0.2", true)};
  EXPECT_TRUE(UplinkChanges(paths, devices).empty());
  EXPECT_EQ(*UplinkProblem(paths[0], devices.Find("wan1")), "wan1 is gone");
  InterfaceInfo& wan1 = AddUsable(devices, "wan1", 4, "10.1.0.2");
  wan1.running = false;
  EXPECT_EQ(*UplinkProblem(paths[0], devices.Find("wan1")), "wan1 has no carrier");
  wan1.up = false;
  EXPECT_EQ(*UplinkProblem(paths[0], devices.Find("wan1")), "wan1 is down");
  wan1.up = wan1.running = true;
  wan1.ipv4.reset();
  EXPECT_EQ(*UplinkProblem(paths[0], devices.Find("wan1")), "wan1 has no IPv4 address");
  EXPECT_TRUE(UplinkChanges(paths, devices).empty()) << "no address: the old source is kept";
}

// An IPv6 path's source follows the device's stable global address (a new
// prefix after a modem reconnect); another address beside it changes nothing.
TEST(UplinkWatchTest, AnIpv6PathFollowsItsDevicesGlobalAddress) {
  FakeInterfaces devices;
  InterfaceInfo& wwan = AddUsable(devices, "wwan0", 6, nullptr);
  in6_addr old_prefix{}, temporary{}, new_prefix{};
  ASSERT_EQ(inet_pton(AF_INET6, "2001:db8:1::2", &old_prefix), 1);
  ASSERT_EQ(inet_pton(AF_INET6, "2001:db8:1::7e", &temporary), 1);
  ASSERT_EQ(inet_pton(AF_INET6, "2001:db8:9::2", &new_prefix), 1);
  wwan.ipv6 = {old_prefix, temporary};
  std::vector<PathSettings> paths = {Path("wwan0", 6, "2001:db8:1::2", true)};
  EXPECT_TRUE(UplinkChanges(paths, devices).empty());
  EXPECT_EQ(UplinkProblem(paths[0], devices.Find("wwan0")), std::nullopt)
      << "an IPv6 path needs no IPv4 address";
  wwan.ipv6 = {temporary, old_prefix};
  EXPECT_TRUE(UplinkChanges(paths, devices).empty()) << "it still has the source";
  wwan.ipv6 = {new_prefix};
  EXPECT_EQ(*UplinkProblem(paths[0], devices.Find("wwan0")),
            "wwan0 no longer has 2001:db8:1::2 (it has 2001:db8:9::2)");
  const std::vector<UplinkChange> changes = UplinkChanges(paths, devices);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].what, "wwan0 address 2001:db8:1::2 -> 2001:db8:9::2");
  ApplyUplinkChange(changes[0], paths);
  EXPECT_EQ(paths[0].source, IpOf("2001:db8:9::2"));
  wwan.ipv6.clear();
  EXPECT_EQ(*UplinkProblem(paths[0], devices.Find("wwan0")), "wwan0 has no global IPv6 address");
}

// A relayed IPv6 path sends from the LAN's link-local address: that one it
// needs and follows, whatever global addresses the LAN has or lacks.
TEST(UplinkWatchTest, ALinkLocalSourceFollowsTheDevicesLinkLocalAddress) {
  FakeInterfaces devices;
  InterfaceInfo& lan = AddUsable(devices, "lan0", 3, "10.210.0.1");
  lan.ipv6_link_local = IpOf("fe80::1").v6();
  std::vector<PathSettings> paths = {Path("lan0", 3, "fe80::1", true)};
  EXPECT_EQ(UplinkProblem(paths[0], devices.Find("lan0")), std::nullopt)
      << "no global IPv6 address needed";
  lan.ipv6 = {IpOf("2001:db8:5::1").v6()};
  EXPECT_TRUE(UplinkChanges(paths, devices).empty()) << "a global address is not its kind";
  lan.ipv6_link_local = IpOf("fe80::77").v6();
  const std::vector<UplinkChange> changes = UplinkChanges(paths, devices);
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].what, "lan0 address fe80::1 -> fe80::77");
  lan.ipv6_link_local.reset();
  EXPECT_EQ(*UplinkProblem(paths[0], devices.Find("lan0")), "lan0 has no link-local IPv6 address");
}

}  // namespace
}  // namespace meshbpf
