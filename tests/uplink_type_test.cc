// Uplink types read from a fake sysfs tree (agent/sys/uplink_type.h).
#include "agent/sys/uplink_type.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tests/scratch_dir.h"

namespace meshbpf {
namespace {

using ::testing::HasSubstr;

class FakeSysfs : public ::testing::Test {
 protected:
  ScratchDir dir_;
  std::filesystem::path Interface(const std::string& name, const std::string& type,
                                  const std::string& uevent = "") {
    const std::filesystem::path dir = root_ / name;
    std::filesystem::create_directories(dir);
    std::ofstream(dir / "type") << type << "\n";
    std::ofstream(dir / "uevent") << "INTERFACE=" << name << "\n" << uevent;
    return dir;
  }
  void Driver(const std::filesystem::path& dir, const std::string& driver) {
    std::filesystem::create_directories(root_ / "drivers" / driver);
    std::filesystem::create_directories(dir / "device");
    std::filesystem::create_directory_symlink(root_ / "drivers" / driver, dir / "device" / "driver");
  }
  UplinkType Detect(const std::string& name) {
    absl::StatusOr<UplinkType> t = DetectUplinkType(root_.string(), name);
    EXPECT_TRUE(t.ok()) << t.status();
    return t.value_or(UplinkType::kOther);
  }
  const std::filesystem::path root_ = dir_.path();
};

TEST_F(FakeSysfs, DetectsUplinkTypes) {
  std::filesystem::create_directories(Interface("wlan0", "1") / "wireless");
  std::filesystem::create_directories(Interface("wlp2s0", "1") / "phy80211");
  Interface("wlan1", "1", "DEVTYPE=wlan\n");
  Interface("wwan0", "65534", "DEVTYPE=wwan\n");
  Driver(Interface("usb0", "1"), "qmi_wwan");
  Driver(Interface("usb1", "1"), "ipheth");
  Driver(Interface("eth0", "1"), "e1000e");
  Interface("eth1", "1");
  Interface("tun0", "65534");
  Interface("lo", "772");
  EXPECT_EQ(Detect("wlan0"), UplinkType::kWifi);
  EXPECT_EQ(Detect("wlp2s0"), UplinkType::kWifi);
  EXPECT_EQ(Detect("wlan1"), UplinkType::kWifi);
  EXPECT_EQ(Detect("wwan0"), UplinkType::kCellular);
  EXPECT_EQ(Detect("usb0"), UplinkType::kCellular);
  EXPECT_EQ(Detect("usb1"), UplinkType::kCellular);
  EXPECT_EQ(Detect("eth0"), UplinkType::kEthernet);
  EXPECT_EQ(Detect("eth1"), UplinkType::kEthernet);
  EXPECT_EQ(Detect("tun0"), UplinkType::kOther);
  EXPECT_EQ(Detect("lo"), UplinkType::kOther);
}

TEST_F(FakeSysfs, RejectsMissingAndPathLikeNames) {
  EXPECT_EQ(DetectUplinkType(root_.string(), "eth9").status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(DetectUplinkType(root_.string(), "eth9").status().message()),
              HasSubstr("eth9"));
  EXPECT_EQ(DetectUplinkType(root_.string(), "../etc").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DetectUplinkType(root_.string(), "").status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace meshbpf
