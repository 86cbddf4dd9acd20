// The discovery socket (agent/sys/discovery_socket.h).
#include "agent/sys/discovery_socket.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <functional>

#include "agent/core/net_format.h"
#include "tests/discovery_test_util.h"

namespace meshbpf {
namespace {

using namespace testing_discovery;

TEST(DiscoverySocket, SubnetBroadcast) {
  EXPECT_EQ(Ipv4Text(SubnetBroadcast(Ip("192.168.1.10"), 24)), "192.168.1.255");
  EXPECT_EQ(Ipv4Text(SubnetBroadcast(Ip("10.1.2.3"), 8)), "10.255.255.255");
  EXPECT_EQ(Ipv4Text(SubnetBroadcast(Ip("10.1.2.3"), 31)), "10.1.2.3");
  EXPECT_EQ(Ipv4Text(SubnetBroadcast(Ip("10.1.2.3"), 32)), "10.1.2.3");
  EXPECT_EQ(Ipv4Text(SubnetBroadcast(Ip("10.1.2.3"), 0)), "255.255.255.255");
}

// Runs `body` in a child process inside a fresh network namespace, so the
// test owns its interfaces and port and touches nothing of the host's.
// Returns the child's exit code: 0, or the step that failed (the body's
// return codes say which).
int InPrivateNetns(const std::function<int()>& body) {
  const pid_t child = fork();
  if (child < 0) return -1;
  if (child == 0) _exit(unshare(CLONE_NEWNET) != 0 ? 10 : body());
  int status = 0;
  if (waitpid(child, &status, 0) != child || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

TEST(DiscoverySocket, BroadcastsAndReceivesInAPrivateNetns) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root for a private network namespace";
  EXPECT_EQ(InPrivateNetns([] {
              const int ctl = socket(AF_INET, SOCK_DGRAM, 0);
              ifreq ifr{};
              std::strcpy(ifr.ifr_name, "lo");
              if (ioctl(ctl, SIOCGIFFLAGS, &ifr) != 0) return 11;
              ifr.ifr_flags |= IFF_UP;
              if (ioctl(ctl, SIOCSIFFLAGS, &ifr) != 0) return 12;
              absl::StatusOr<std::unique_ptr<DiscoverySocket>> s =
                  DiscoverySocket::Open("lo", 9999);
              if (!s.ok()) return 13;
              absl::StatusOr<in_addr> broadcast = InterfaceBroadcast("lo");
              if (!broadcast.ok() || broadcast->s_addr != Ip("127.255.255.255").s_addr) return 14;
              const std::vector<uint8_t> frame = Encode(Sample());
              if (!(*s)->Send(*broadcast, frame).ok()) return 15;
              if (!(*s)->Send(*broadcast, std::vector<uint8_t>(1500, 'M')).ok()) return 16;
              std::vector<ReceivedDatagram> got;
              for (int tries = 0; tries < 1000 && got.size() < 2; ++tries) {
                std::vector<ReceivedDatagram> more = (*s)->Receive();
                got.insert(got.end(), more.begin(), more.end());
                if (got.size() < 2) usleep(1000);
              }
              if (got.size() != 2) return 17;
              if (got[0].bytes != frame || got[0].wire_size != frame.size()) return 18;
              if (got[1].wire_size != 1500 || got[1].bytes.size() != kMaxAnnouncementSize + 1) {
                return 19;
              }
              if (got[0].from.address != IpAddress::V4(Ip("127.0.0.1"))) return 20;
              if (got[0].from.ifindex != static_cast<int>(if_nametoindex("lo"))) return 21;
              return 0;
            }),
            0)
      << "step that failed: see the return codes in the test";
}

// Two ends of a veth pair with link-local addresses and nothing else: one
// announces to the IPv6 group, the other hears it with the sender's scope
// and hop limit.
TEST(DiscoverySocket, AnnouncesAndHearsOverIpv6LinkLocalInAPrivateNetns) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root for a private network namespace";
  EXPECT_EQ(InPrivateNetns([] {
              if (std::system("ip link add a0 type veth peer name b0 && "
                              "ip link set a0 addrgenmode none && "
                              "ip link set b0 addrgenmode none && "
                              "ip addr add fe80::1/64 dev a0 nodad && "
                              "ip addr add fe80::2/64 dev b0 nodad && "
                              "ip link set a0 up && ip link set b0 up") != 0) {
                return 11;
              }
              absl::StatusOr<std::unique_ptr<DiscoverySocket>> a =
                  DiscoverySocket::OpenIpv6("a0", 9999);
              absl::StatusOr<std::unique_ptr<DiscoverySocket>> b =
                  DiscoverySocket::OpenIpv6("b0", 9999);
              if (!a.ok() || !b.ok()) return 12;
              if (!(*b)->JoinGroup().ok() || (*b)->family() != AF_INET6) return 13;
              absl::StatusOr<InterfaceFamilies> families = AnnounceableFamilies("b0");
              if (!families.ok() || !families->ipv6 || families->ipv4_broadcast) return 14;
              const std::vector<uint8_t> frame = Encode(Sample());
              std::vector<ReceivedDatagram> got;
              // The veth's carrier may take a moment: send until one arrives.
              for (int tries = 0; tries < 1000 && got.empty(); ++tries) {
                (*a)->SendToGroup(frame).IgnoreError();
                usleep(1000);
                got = (*b)->Receive();
              }
              if (got.empty()) return 15;
              if (got[0].bytes != frame) return 16;
              if (got[0].from != From("fe80::1", static_cast<int>(if_nametoindex("b0")))) {
                return 17;
              }
              if (got[0].hop_limit != kDiscoveryHopLimit) return 18;
              return 0;
            }),
            0)
      << "step that failed: see the return codes in the test";
}

}  // namespace
}  // namespace meshbpf
