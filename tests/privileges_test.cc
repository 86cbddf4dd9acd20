// KeepRuntimeCapabilities, in a child process (capabilities are the
// process's): the sets /proc shows afterwards, and an action that needs a
// dropped capability refused. Skipped where the test runs without them.
#include "agent/sys/privileges.h"

#include <linux/capability.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <fstream>
#include <string>

#include "gtest/gtest.h"

namespace meshbpf {
namespace {

// The hex mask /proc/self/status prints after `field` ("CapEff:").
uint64_t ProcMask(const std::string& field) {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind(field, 0) == 0) return std::stoull(line.substr(field.size()), nullptr, 16);
  }
  return ~uint64_t{0};
}

TEST(PrivilegesTest, RuntimeMaskHoldsExactlyTheRuntimeCapabilities) {
  EXPECT_EQ(RuntimeCapabilityMask(), (uint64_t{1} << CAP_NET_ADMIN) | (uint64_t{1} << CAP_NET_RAW) |
                                         (uint64_t{1} << CAP_NET_BIND_SERVICE) |
                                         (uint64_t{1} << CAP_BPF));
}

TEST(PrivilegesTest, KeepsOnlyTheRuntimeCapabilities) {
  const uint64_t full = ProcMask("CapEff:");
  if ((full & RuntimeCapabilityMask()) != RuntimeCapabilityMask() ||
      !(full & (uint64_t{1} << CAP_SETPCAP)) || !(full & (uint64_t{1} << CAP_SYS_ADMIN))) {
    GTEST_SKIP() << "needs root's capabilities (CapEff " << std::hex << full << ")";
  }
  int report[2];
  ASSERT_EQ(pipe(report), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // Each line: what is wrong. Nothing written: all as expected.
    auto say = [&](const std::string& s) { (void)!write(report[1], s.data(), s.size()); };
    absl::StatusOr<PrivilegeDrop> drop = KeepRuntimeCapabilities();
    if (!drop.ok()) say(std::string(drop.status().message()) + "\n");
    else if (!drop->bounding_set_reduced || drop->kept.size() != 4) say("not all kept, or bounding set kept\n");
    char line[96];
    for (const char* field : {"CapEff:", "CapPrm:", "CapBnd:"}) {
      if (ProcMask(field) != RuntimeCapabilityMask()) {
        std::snprintf(line, sizeof(line), "%s %llx\n", field, static_cast<unsigned long long>(ProcMask(field)));
        say(line);
      }
    }
    if (ProcMask("CapAmb:") != 0) say("ambient set not empty\n");
    // A new UTS namespace takes CAP_SYS_ADMIN, which is gone.
    if (unshare(CLONE_NEWUTS) == 0 || errno != EPERM) say("unshare(CLONE_NEWUTS) was not refused\n");
    _exit(0);
  }
  close(report[1]);
  std::string problems;
  char buf[256];
  for (ssize_t n; (n = read(report[0], buf, sizeof(buf))) > 0;) problems.append(buf, static_cast<size_t>(n));
  close(report[0]);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(problems, "");
}

}  // namespace
}  // namespace meshbpf
