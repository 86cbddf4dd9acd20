// IPv6 paths in the agent: the config's IPv4-or-IPv6 addresses and the
// rules that keep a path's family consistent (agent/core/config_uplinks.cc;
// in flow mode the gateway gives the family),
// the path table and bond MTU they give (agent/core/policy.cc), and the
// device addresses read from /proc/net/if_inet6 (agent/core/if_inet6.cc).
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "agent/core/config.h"
#include "agent/core/if_inet6.h"
#include "agent/core/map_shapes.h"
#include "agent/core/net_format.h"
#include "agent/core/policy.h"
#include "bpf/meshbpf.h"
#include "tests/config_test_util.h"
#include "tests/test_common.h"

namespace meshbpf {
namespace {

using namespace testing_config;
using ::testing::AllOf;
using ::testing::HasSubstr;

in6_addr Ip6(const char* text) {
  in6_addr a{};
  EXPECT_EQ(inet_pton(AF_INET6, text, &a), 1) << text;
  return a;
}

// A cellular modem with an IPv6-only uplink beside the IPv4 ones.
class Ipv6ConfigTest : public ConfigTest {
 protected:
  Ipv6ConfigTest() {
    fake_.Add("wwan6", 8, 1500, nullptr).ipv6 = {Ip6("2001:db8:1::2"), Ip6("2001:db8:1::99")};
  }
};

constexpr const char* kMixedUplinks = R"({"uplinks": [
    {"name": "eth0", "rate_mbit": 40},
    {"name": "wwan6", "remote_address": "2001:db8:ff::2", "rate_mbit": 20}]})";

TEST_F(Ipv6ConfigTest, AnIpv6FarEndTakesTheInterfacesIpv6Address) {
  const NodeSettings s = MustResolve(WithInterfaces(kMixedUplinks));
  ASSERT_EQ(s.paths.size(), 2u);
  EXPECT_FALSE(s.paths[0].source.is_v6());
  EXPECT_EQ(IpText(s.paths[1].source), "2001:db8:1::2") << "the first usable global address";
  EXPECT_TRUE(s.paths[1].source_from_interface);
  EXPECT_EQ(IpPortText(s.paths[1].remote, s.paths[1].remote_port), "[2001:db8:ff::2]:7201");
  EXPECT_EQ(BondMtu(s), 1500u - MB_ENCAP_OVERHEAD - 20) << "the IPv6 path's header is longer";
}

TEST_F(Ipv6ConfigTest, ExplicitIpv6SourceAndGateway) {
  const NodeSettings s = MustResolve(WithInterfaces(R"({"uplinks": [
      {"name": "wwan6", "remote_address": "2001:db8:ff::2", "source_address": "2001:db8:1::99",
       "gateway": "fe80::1", "rate_mbit": 20}]})"));
  EXPECT_EQ(IpText(s.paths[0].source), "2001:db8:1::99");
  EXPECT_FALSE(s.paths[0].source_from_interface);
  ASSERT_TRUE(s.paths[0].gateway.has_value());
  EXPECT_EQ(IpText(*s.paths[0].gateway), "fe80::1");
}

TEST_F(Ipv6ConfigTest, APathsAddressesAreOfOneFamily) {
  EXPECT_THAT(ErrorOf(WithInterfaces(R"({"uplinks": [
                  {"name": "eth0", "remote_address": "2001:db8:ff::2", "rate_mbit": 1}]})")),
              AllOf(HasSubstr("interfaces.uplinks[0].source_address"),
                    HasSubstr("no global IPv6 address"), HasSubstr("far end is IPv6")));
  EXPECT_THAT(ErrorOf(WithInterfaces(R"({"uplinks": [
                  {"name": "wwan6", "remote_address": "2001:db8:ff::2",
                   "source_address": "192.0.2.9", "rate_mbit": 1}]})")),
              AllOf(HasSubstr("interfaces.uplinks[0].source_address"), HasSubstr("one family")));
  EXPECT_THAT(ErrorOf(WithInterfaces(R"({"uplinks": [
                  {"name": "wwan6", "remote_address": "2001:db8:ff::2", "gateway": "192.0.2.1",
                   "rate_mbit": 1}]})")),
              AllOf(HasSubstr("interfaces.uplinks[0].gateway"), HasSubstr("2001:db8:1::2")));
}

TEST_F(Ipv6ConfigTest, AddressesThatAreNoPeers) {
  EXPECT_THAT(ErrorOf(WithInterfaces(R"({"uplinks": [
                  {"name": "wwan6", "remote_address": "::ffff:192.0.2.1", "rate_mbit": 1}]})")),
              AllOf(HasSubstr("interfaces.uplinks[0].remote_address"), HasSubstr("IPv4-mapped")));
  EXPECT_THAT(ErrorOf(WithInterfaces(R"({"uplinks": [
                  {"name": "wwan6", "remote_address": "::", "rate_mbit": 1}]})")),
              AllOf(HasSubstr("interfaces.uplinks[0].remote_address"), HasSubstr("no peer")));
  EXPECT_THAT(ErrorOf(WithInterfaces(R"({"uplinks": [
                  {"name": "wwan6", "remote_address": "2001:db8::zz", "rate_mbit": 1}]})")),
              AllOf(HasSubstr("interfaces.uplinks[0].remote_address"),
                    HasSubstr("not an IP address")));
}

TEST_F(Ipv6ConfigTest, RedundantModeOverBothFamiliesSendsPacketsNotSuperPackets) {
  const std::string mixed_redundant = absl::StrCat(
      R"({"link_aggregation": {"peer_address": "198.51.100.7", "mode": "redundant"%s}, )",
      R"("interfaces": )", kMixedUplinks, "}");
  const NodeSettings s = MustResolve(absl::StrReplaceAll(mixed_redundant, {{"%s", ""}}));
  EXPECT_TRUE(MixesFamilies(s));
  EXPECT_TRUE(ShouldDisableOffloads(s)) << "a super-packet would get copies of one family only";
  EXPECT_THAT(ErrorOf(absl::StrReplaceAll(mixed_redundant,
                                          {{"%s", R"(, "segmentation_offload": "on")"}})),
              AllOf(HasSubstr("link_aggregation.segmentation_offload"),
                    HasSubstr("IPv4 and IPv6 uplinks")));
}

TEST_F(Ipv6ConfigTest, AuthenticationAndSharingWorkOverIpv6Paths) {
  const std::string peer_key = "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=";
  const NodeSettings s = MustResolve(absl::StrCat(
      R"({"link_aggregation": {"peer_address": "198.51.100.7", "authentication": true, )",
      R"("private_key_file": "/k", "peer_public_key": ")", peer_key, R"("}, )",
      R"("interfaces": )", kMixedUplinks, "}"));
  EXPECT_TRUE(s.authentication.has_value());
  EXPECT_EQ(BondMtu(s), 1500u - MB_AUTH_OVERHEAD - 20);
  const NodeSettings sharing = MustResolve(absl::StrCat(
      R"({"link_aggregation": {"peer_address": "198.51.100.7"}, )",
      R"("node_discovery": {"interfaces": ["lan0"], "share_uplinks": ["wwan6"]}, )",
      R"("interfaces": )", kMixedUplinks, "}"));
  EXPECT_EQ(sharing.discovery.share_uplinks, std::vector<std::string>{"wwan6"})
      << "it relays for origins with an IPv6 bonding peer";
}

// Flow mode has no far end: each uplink's family is its gateway's. A
// dual-stack uplink is listed once per family, as OpenWrt's wan and wan6.
TEST_F(Ipv6ConfigTest, FlowModeTakesEachUplinksFamilyFromItsGateway) {
  fake_.Add("wan0", 9, 1500, "203.0.113.2").ipv6 = {Ip6("2001:db8:9::2")};
  const NodeSettings s = MustResolve(R"({"link_aggregation": {"mode": "flow"},
      "interfaces": {"uplinks": [
        {"name": "wan", "interface": "wan0", "gateway": "203.0.113.1", "rate_mbit": 50},
        {"name": "wan6", "interface": "wan0", "gateway": "fe80::1", "rate_mbit": 50},
        {"name": "wwan6", "gateway": "fe80::2", "rate_mbit": 20}]}})");
  ASSERT_EQ(s.paths.size(), 3u);
  EXPECT_EQ(IpText(s.paths[0].source), "203.0.113.2");
  EXPECT_EQ(IpText(s.paths[1].source), "2001:db8:9::2") << "the same device's IPv6 address";
  EXPECT_TRUE(s.paths[1].source_from_interface) << "followed when the prefix changes";
  EXPECT_EQ(IpText(s.paths[2].source), "2001:db8:1::2");
  EXPECT_EQ(BondMtu(s), 1500u) << "flow mode adds no header, in either family";
  const PathTable t = BuildPathTable(s);
  EXPECT_EQ(t[0].flags & MB_PATH_F_IPV6, 0);
  EXPECT_EQ(t[1].flags & MB_PATH_F_IPV6, MB_PATH_F_IPV6);
  EXPECT_EQ(OuterAddress(t[1], t[1].src_ip, t[1].src_ip6), IpOf("2001:db8:9::2"))
      << "the address IPv6 flows are NATed to";
  EXPECT_EQ(NextHop(t[1]), IpOf("fe80::1"));
}

TEST_F(Ipv6ConfigTest, FlowModeIpv6UplinkNeedsAnIpv6Source) {
  EXPECT_THAT(ErrorOf(R"({"link_aggregation": {"mode": "flow"}, "interfaces": {"uplinks": [
                  {"name": "eth0", "gateway": "fe80::1", "rate_mbit": 40}]}})"),
              AllOf(HasSubstr("interfaces.uplinks[0].source_address"),
                    HasSubstr("no global IPv6 address (the gateway is IPv6)")));
  EXPECT_THAT(ErrorOf(R"({"link_aggregation": {"mode": "flow"}, "interfaces": {"uplinks": [
                  {"name": "wwan6", "gateway": "fe80::1", "source_address": "192.0.2.9",
                   "rate_mbit": 40}]}})"),
              AllOf(HasSubstr("interfaces.uplinks[0].source_address"),
                    HasSubstr("the gateway fe80::1 is IPv6"), HasSubstr("one family")));
}

TEST(Ipv6PathTable, AnIpv6PathIsFlaggedWithItsAddresses) {
  NodeSettings s;
  s.port = 7201;
  PathSettings p;
  p.name = p.interface = "wwan6";
  p.ifindex = 8;
  p.mtu = 1500;
  p.source = IpOf("2001:db8:1::2");
  p.remote = IpOf("2001:db8:ff::2");
  p.remote_port = 7201;
  p.rate_bps = 20e6;
  s.paths = {p};
  PathTable t = BuildPathTable(s);
  EXPECT_EQ(t[0].flags & MB_PATH_F_IPV6, MB_PATH_F_IPV6);
  EXPECT_EQ(OuterAddress(t[0], t[0].src_ip, t[0].src_ip6), IpOf("2001:db8:1::2"));
  EXPECT_EQ(OuterAddress(t[0], t[0].dst_ip, t[0].dst_ip6), IpOf("2001:db8:ff::2"));
  EXPECT_EQ(t[0].src_ip, 0u);
  EXPECT_EQ(NextHop(t[0]), IpOf("2001:db8:ff::2")) << "no gateway: the far end is on-link";
  s.paths[0].gateway = IpOf("fe80::1");
  EXPECT_EQ(NextHop(BuildPathTable(s)[0]), IpOf("fe80::1"));
  EXPECT_EQ(TunnelPayloadMtu(t, MB_ENCAP_OVERHEAD), 1500u - MB_ENCAP_OVERHEAD - 20);
}

TEST(IfInet6, UsableGlobalAddressesStableFirst) {
  // Address, ifindex, prefix length, scope, flags, device.
  const std::string file =
      "fe80000000000000000000000000000a 08 40 20 80    wwan6\n"   // link-local
      "20010db8000100000000000000000077 08 40 00 01    wwan6\n"   // temporary
      "20010db8000100000000000000000002 08 40 00 80    wwan6\n"   // permanent
      "20010db8000100000000000000000003 08 40 00 c0    wwan6\n"   // tentative
      "20010db8000100000000000000000004 08 40 00 20    wwan6\n"   // deprecated
      "20010db8000100000000000000000005 08 40 00 08    wwan6\n"   // DAD failed
      "20010db8000200000000000000000002 02 40 00 80     eth0\n"   // another device
      "garbage line\n";
  const std::vector<in6_addr> got = UsableIpv6(file, "wwan6", Ipv6Scope::kGlobal);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(IpText(IpAddress::V6(got[0])), "2001:db8:1::2");
  EXPECT_EQ(IpText(IpAddress::V6(got[1])), "2001:db8:1::77");
  EXPECT_TRUE(UsableIpv6(file, "wwan", Ipv6Scope::kGlobal).empty()) << "names match whole";
  EXPECT_TRUE(UsableIpv6("", "wwan6", Ipv6Scope::kGlobal).empty()) << "a kernel without IPv6";
  const std::vector<in6_addr> link = UsableIpv6(file, "wwan6", Ipv6Scope::kLink);
  ASSERT_EQ(link.size(), 1u) << "a relayed path's source: the link-local one only";
  EXPECT_EQ(IpText(IpAddress::V6(link[0])), "fe80::a");
}

}  // namespace
}  // namespace meshbpf
