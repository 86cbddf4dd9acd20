// Receive steering on the bond, against a fake sysfs tree (agent/sys/netdev.h).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "agent/sys/netdev.h"
#include "agent/sys/sysfs.h"
#include "tests/scratch_dir.h"

namespace meshbpf {
namespace {

using ::testing::HasSubstr;

TEST(CpuMaskText, GroupsOf32BitsMostSignificantFirst) {
  EXPECT_EQ(CpuMaskText(1), "1");
  EXPECT_EQ(CpuMaskText(2), "3");
  EXPECT_EQ(CpuMaskText(12), "fff");
  EXPECT_EQ(CpuMaskText(32), "ffffffff");
  EXPECT_EQ(CpuMaskText(33), "1,ffffffff");
  EXPECT_EQ(CpuMaskText(64), "ffffffff,ffffffff");
  EXPECT_EQ(CpuMaskText(72), "ff,ffffffff,ffffffff");
  EXPECT_EQ(CpuMaskText(0), "0");  // nothing to steer to: RPS stays off
}

class BondSteeringTest : public ::testing::Test {
 protected:
  // A receive queue of mb0 whose rps_cpus reads `mask`.
  std::filesystem::path Queue(const std::string& queue, const std::string& mask) {
    const std::filesystem::path dir = root_ / "mb0" / "queues" / queue;
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "rps_cpus") << mask << "\n";
    return dir / "rps_cpus";
  }
  ScratchDir dir_;
  const std::filesystem::path root_ = dir_.path();
};

TEST_F(BondSteeringTest, SetsEveryCpuOnUnsteeredReceiveQueues) {
  const auto rx0 = Queue("rx-0", "0");
  const auto rx1 = Queue("rx-1", "00000000,00000000");
  absl::StatusOr<BondSteering> s = SteerBondFlows(root_.string(), "mb0", 4);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->rps_cpus, "f");
  EXPECT_FALSE(s->kept);
  EXPECT_EQ(ReadSysfsAttribute(rx0), "f");
  EXPECT_EQ(ReadSysfsAttribute(rx1), "f");
}

TEST_F(BondSteeringTest, KeepsAMaskAlreadySet) {
  const auto rx0 = Queue("rx-0", "2");
  const auto rx1 = Queue("rx-1", "0");
  std::filesystem::create_directories(root_ / "mb0" / "queues" / "tx-0");  // not a receive queue
  absl::StatusOr<BondSteering> s = SteerBondFlows(root_.string(), "mb0", 4);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->rps_cpus, "2");
  EXPECT_TRUE(s->kept);
  EXPECT_EQ(ReadSysfsAttribute(rx0), "2");
  EXPECT_EQ(ReadSysfsAttribute(rx1), "f") << "an unset queue gets every CPU, not the kept mask";
}

TEST_F(BondSteeringTest, NoRpsFilesIsUnavailableNamingTheBond) {
  std::filesystem::create_directories(root_ / "mb0" / "queues" / "rx-0");
  absl::StatusOr<BondSteering> s = SteerBondFlows(root_.string(), "mb0", 4);
  ASSERT_EQ(s.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(s.status().message(), HasSubstr("mb0"));
  EXPECT_EQ(SteerBondFlows(root_.string(), "nosuch", 4).status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace meshbpf
