#include "agent/core/uplink_watch.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/core/net_format.h"

namespace meshbpf {

std::optional<std::string> UplinkProblem(const PathSettings& path,
                                         const std::optional<InterfaceInfo>& device) {
  const std::string& name = path.interface;
  if (!device) return absl::StrCat(name, " is gone");
  if (device->ifindex != path.ifindex) {
    return absl::StrCat(name, " was created again (ifindex ", path.ifindex, " -> ",
                        device->ifindex, ")");
  }
  if (!device->up) return absl::StrCat(name, " is down");
  if (!device->running) return absl::StrCat(name, " has no carrier");
  const std::optional<IpAddress> has = DeviceAddressLike(*device, path.source);
  if (!has) {
    return absl::StrCat(name, " has no ",
                        path.source.IsLinkLocal() ? "link-local IPv6"
                        : path.source.is_v6()     ? "global IPv6"
                                                  : "IPv4",
                        " address");
  }
  if (!DeviceHasAddress(*device, path.source)) {
    return absl::StrCat(name, " no longer has ", IpText(path.source), " (it has ", IpText(*has),
                        ")");
  }
  return std::nullopt;
}

std::vector<UplinkChange> UplinkChanges(const std::vector<PathSettings>& paths,
                                        const InterfaceLookup& devices) {
  std::vector<UplinkChange> changes;
  for (size_t i = 0; i < paths.size(); ++i) {
    const PathSettings& p = paths[i];
    const std::optional<InterfaceInfo> device = devices.Find(p.interface);
    if (!device) continue;
    UplinkChange c{i, device->ifindex, device->mtu, p.source, false, ""};
    std::vector<std::string> what;
    if (device->ifindex != p.ifindex) {
      c.reattach = true;
      what.push_back(absl::StrCat(p.interface, " re-created (ifindex ", p.ifindex, " -> ",
                                  device->ifindex, ")"));
    }
    if (device->mtu != p.mtu) {
      what.push_back(absl::StrCat(p.interface, " MTU ", p.mtu, " -> ", device->mtu));
    }
    const std::optional<IpAddress> now = DeviceAddressLike(*device, p.source);
    if (p.source_from_interface && now && !DeviceHasAddress(*device, p.source)) {
      c.source = *now;
      what.push_back(absl::StrCat(p.interface, " address ", IpText(p.source), " -> ",
                                  IpText(*now)));
    }
    if (what.empty()) continue;
    c.what = absl::StrJoin(what, ", ");
    changes.push_back(std::move(c));
  }
  return changes;
}

void ApplyUplinkChange(const UplinkChange& change, std::vector<PathSettings>& paths) {
  PathSettings& p = paths[change.path];
  p.ifindex = change.ifindex;
  p.mtu = change.mtu;
  p.source = change.source;
}

}  // namespace meshbpf
