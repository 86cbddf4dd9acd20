#include "agent/sys/uplink_type.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "agent/sys/sysfs.h"

namespace meshbpf {

absl::StatusOr<UplinkType> DetectUplinkType(const std::string& sysfs_net,
                                            const std::string& ifname) {
  if (ifname.empty() || ifname.find('/') != std::string::npos || ifname == "." || ifname == "..") {
    return absl::InvalidArgumentError(absl::StrCat("\"", ifname, "\" is not an interface name"));
  }
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(sysfs_net) / ifname;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return absl::NotFoundError(absl::StrCat("no interface ", ifname, " under ", sysfs_net));
  }
  if (fs::exists(dir / "wireless", ec) || fs::exists(dir / "phy80211", ec)) {
    return UplinkType::kWifi;
  }
  std::ifstream uevent(dir / "uevent");
  for (std::string line; std::getline(uevent, line);) {
    if (line == "DEVTYPE=wlan") return UplinkType::kWifi;
    if (line == "DEVTYPE=wwan") return UplinkType::kCellular;
  }
  // USB modems (and phone tethering) show up as ethernet-like devices; the
  // driver gives them away.
  static constexpr absl::string_view kModemDrivers[] = {"qmi_wwan", "cdc_mbim", "rndis_host",
                                                        "cdc_ether", "ipheth"};
  const fs::path driver = fs::read_symlink(dir / "device" / "driver", ec);
  if (!ec) {
    const std::string name = driver.filename().string();
    if (std::find(std::begin(kModemDrivers), std::end(kModemDrivers), name) !=
        std::end(kModemDrivers)) {
      return UplinkType::kCellular;
    }
  }
  if (ReadSysfsAttribute(dir / "type") == "1") return UplinkType::kEthernet;  // ARPHRD_ETHER
  return UplinkType::kOther;
}

}  // namespace meshbpf
