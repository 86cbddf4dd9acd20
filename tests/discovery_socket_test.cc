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

#include <cstring>

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

// Runs in a child process inside a fresh network namespace (root only), so
// the test owns its loopback and port and touches nothing of the host's.
TEST(DiscoverySocket, BroadcastsAndReceivesInAPrivateNetns) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root for a private network namespace";
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // Exit codes say which step failed.
    if (unshare(CLONE_NEWNET) != 0) _exit(10);
    const int ctl = socket(AF_INET, SOCK_DGRAM, 0);
    ifreq ifr{};
    std::strcpy(ifr.ifr_name, "lo");
    if (ioctl(ctl, SIOCGIFFLAGS, &ifr) != 0) _exit(11);
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(ctl, SIOCSIFFLAGS, &ifr) != 0) _exit(12);
    absl::StatusOr<std::unique_ptr<DiscoverySocket>> s = DiscoverySocket::Open("lo", 9999);
    if (!s.ok()) _exit(13);
    absl::StatusOr<in_addr> broadcast = InterfaceBroadcast("lo");
    if (!broadcast.ok() || broadcast->s_addr != Ip("127.255.255.255").s_addr) _exit(14);
    const std::vector<uint8_t> frame = Encode(Sample());
    if (!(*s)->Send(*broadcast, frame).ok()) _exit(15);
    if (!(*s)->Send(*broadcast, std::vector<uint8_t>(1500, 'M')).ok()) _exit(16);
    std::vector<ReceivedDatagram> got;
    for (int tries = 0; tries < 1000 && got.size() < 2; ++tries) {
      std::vector<ReceivedDatagram> more = (*s)->Receive();
      got.insert(got.end(), more.begin(), more.end());
      if (got.size() < 2) usleep(1000);
    }
    if (got.size() != 2) _exit(17);
    if (got[0].bytes != frame || got[0].wire_size != frame.size()) _exit(18);
    if (got[1].wire_size != 1500 || got[1].bytes.size() != kMaxAnnouncementSize + 1) _exit(19);
    if (got[0].from.s_addr != Ip("127.0.0.1").s_addr) _exit(20);
    _exit(0);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "step that failed: see the exit codes in the test";
}

}  // namespace
}  // namespace meshbpf
