#include "agent/core/net_format.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>

namespace meshbpf {
namespace {

TEST(NetFormat, Ipv4InEitherFormAndWithAPort) {
  in_addr a{};
  ASSERT_EQ(inet_pton(AF_INET, "192.168.1.10", &a), 1);
  EXPECT_EQ(Ipv4Text(a), "192.168.1.10");
  EXPECT_EQ(Ipv4Text(a.s_addr), "192.168.1.10");
  EXPECT_EQ(Ipv4Text(in_addr{}), "0.0.0.0");
  EXPECT_EQ(Ipv4PortText(a, 7201), "192.168.1.10:7201");
  EXPECT_EQ(Ipv4PortText(a.s_addr, 65535), "192.168.1.10:65535");
}

TEST(NetFormat, AnIpv6AddressWithAPortIsBracketed) {
  in6_addr a{};
  ASSERT_EQ(inet_pton(AF_INET6, "2001:db8::1", &a), 1);
  EXPECT_EQ(IpPortText(IpAddress::V6(a), 7201), "[2001:db8::1]:7201");
  EXPECT_EQ(AddressPortText("fe80::2%lan0", 7211), "[fe80::2%lan0]:7211");
  EXPECT_EQ(AddressPortText("10.210.0.2", 7211), "10.210.0.2:7211");
}

}  // namespace
}  // namespace meshbpf
