#include "agent/sys/netdev.h"

#include <arpa/inet.h>
#include <linux/ethtool.h>
#include <linux/if_addr.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <netlink/netlink.h>
#include <linux/pkt_sched.h>
#include <netlink/route/addr.h>
#include <netlink/route/classifier.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "agent/core/if_inet6.h"
#include "agent/core/net_format.h"
#include "agent/sys/rtnetlink.h"
#include "agent/sys/sysfs.h"

namespace meshbpf {
namespace {

struct LinkPut {
  void operator()(rtnl_link* l) const { rtnl_link_put(l); }
};
using Link = std::unique_ptr<rtnl_link, LinkPut>;

// A small datagram socket for the interface ioctls.
class IoctlSocket {
 public:
  IoctlSocket() : fd_(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) {}
  ~IoctlSocket() {
    if (fd_ >= 0) close(fd_);
  }
  bool Get(unsigned long request, const std::string& name, ifreq& req) const {
    std::memset(&req, 0, sizeof(req));
    std::strncpy(req.ifr_name, name.c_str(), IFNAMSIZ - 1);
    return fd_ >= 0 && ioctl(fd_, request, &req) == 0;
  }
  // ethtool set operation: cmd is e.g. ETHTOOL_STSO.
  bool Ethtool(const std::string& name, uint32_t cmd, uint32_t value) const {
    ethtool_value ev{};
    ev.cmd = cmd;
    ev.data = value;
    ifreq req{};
    std::strncpy(req.ifr_name, name.c_str(), IFNAMSIZ - 1);
    req.ifr_data = reinterpret_cast<char*>(&ev);
    return fd_ >= 0 && ioctl(fd_, SIOCETHTOOL, &req) == 0;
  }

 private:
  int fd_;
};

absl::StatusOr<Link> GetLink(nl_sock* sock, const std::string& name) {
  rtnl_link* link = nullptr;
  if (int err = rtnl_link_get_kernel(sock, 0, name.c_str(), &link); err < 0) {
    return NlError(absl::StrCat("looking up ", name), err);
  }
  return Link(link);
}

// Sets `name` up with `mtu`; with `alias`, marks it with that alias too.
absl::Status SetUp(nl_sock* sock, const std::string& name, uint32_t mtu, bool noarp,
                   const char* alias) {
  absl::StatusOr<Link> link = GetLink(sock, name);
  if (!link.ok()) return link.status();
  Link change(rtnl_link_alloc());
  rtnl_link_set_mtu(change.get(), mtu);
  rtnl_link_set_flags(change.get(), IFF_UP);
  if (noarp) rtnl_link_set_flags(change.get(), IFF_NOARP);
  if (alias) rtnl_link_set_ifalias(change.get(), alias);
  if (int err = rtnl_link_change(sock, link->get(), change.get(), 0); err < 0) {
    return NlError(absl::StrCat("setting ", name, " up with MTU ", mtu), err);
  }
  return absl::OkStatus();
}

// An IPv6 address goes on without duplicate address detection: the bond
// has no neighbours to ask, and a tentative address could not be used
// (bound to, sent from) for the second DAD would take.
absl::Status AddAddress(nl_sock* sock, const std::string& name, const IpAddress& address,
                        int prefix_len) {
  int ifindex = static_cast<int>(if_nametoindex(name.c_str()));
  if (ifindex == 0) return absl::NotFoundError(absl::StrCat("bond device ", name, " vanished"));
  nl_addr* local = nl_addr_build(address.family, address.bytes.data(), address.is_v6() ? 16 : 4);
  nl_addr_set_prefixlen(local, prefix_len);
  rtnl_addr* addr = rtnl_addr_alloc();
  rtnl_addr_set_ifindex(addr, ifindex);
  rtnl_addr_set_local(addr, local);
  if (address.is_v6()) rtnl_addr_set_flags(addr, IFA_F_NODAD);
  int err = rtnl_addr_add(sock, addr, 0);
  rtnl_addr_put(addr);
  nl_addr_put(local);
  if (err < 0 && err != -NLE_EXIST) {
    return NlError(absl::StrCat("adding ", IpText(address), "/", prefix_len, " to ", name), err);
  }
  return absl::OkStatus();
}

// Without TSO/GSO the stack hands the bond MTU-sized packets, so the data
// path chooses a path per packet rather than per 64 KB super-packet; with
// transmit checksum offload off, inner checksums are complete before
// encapsulation (no CHECKSUM_PARTIAL state to carry through the tunnel).
absl::Status DisableOffloads(const std::string& name) {
  IoctlSocket sock;
  for (uint32_t cmd : {ETHTOOL_STSO, ETHTOOL_SGSO, ETHTOOL_STXCSUM}) {
    if (!sock.Ethtool(name, cmd, 0)) {
      return absl::InternalError(
          absl::StrCat("turning off offload (ethtool cmd ", cmd, ") on ", name, ": ",
                       std::strerror(errno)));
    }
  }
  return absl::OkStatus();
}

}  // namespace

std::optional<InterfaceInfo> SystemInterfaceLookup::Find(std::string_view name) const {
  const std::string n(name);
  if (n.empty() || n.size() >= IFNAMSIZ) return std::nullopt;
  InterfaceInfo info;
  info.ifindex = static_cast<int>(if_nametoindex(n.c_str()));
  if (info.ifindex == 0) return std::nullopt;
  IoctlSocket sock;
  ifreq req{};
  if (sock.Get(SIOCGIFMTU, n, req)) info.mtu = static_cast<uint32_t>(req.ifr_mtu);
  if (sock.Get(SIOCGIFFLAGS, n, req)) {
    info.up = (req.ifr_flags & IFF_UP) != 0;
    info.running = (req.ifr_flags & IFF_RUNNING) != 0;
  }
  // IFF_RUNNING follows the carrier through the kernel's linkwatch work,
  // which batches changes for up to a second while other devices change
  // (namespaces or containers coming and going): a pulled cable kept its
  // path in use ~530 ms that way. The carrier bit itself changes at once;
  // SIOCGIFFLAGS cannot carry it (IFF_LOWER_UP is beyond its 16 bits).
  if (info.running &&
      ReadSysfsAttribute(std::filesystem::path(kSysfsNet) / n / "carrier") == "0") {
    info.running = false;
  }
  if (sock.Get(SIOCGIFHWADDR, n, req)) {
    std::memcpy(info.mac.data(), req.ifr_hwaddr.sa_data, info.mac.size());
  }
  if (sock.Get(SIOCGIFADDR, n, req) && req.ifr_addr.sa_family == AF_INET) {
    info.ipv4 = reinterpret_cast<sockaddr_in*>(&req.ifr_addr)->sin_addr;
  }
  // No ioctl gives IPv6 addresses; this file lists them all (empty without IPv6).
  std::ifstream if_inet6("/proc/net/if_inet6");
  const std::string addresses((std::istreambuf_iterator<char>(if_inet6)),
                              std::istreambuf_iterator<char>());
  info.ipv6 = UsableIpv6(addresses, n, Ipv6Scope::kGlobal);
  const std::vector<in6_addr> link_local = UsableIpv6(addresses, n, Ipv6Scope::kLink);
  if (!link_local.empty()) info.ipv6_link_local = link_local.front();
  return info;
}

std::optional<int> InterfacePrefixLength(const std::string& name) {
  ifreq req{};
  if (name.empty() || name.size() >= IFNAMSIZ || !IoctlSocket().Get(SIOCGIFNETMASK, name, req) ||
      req.ifr_netmask.sa_family != AF_INET) {
    return std::nullopt;
  }
  return __builtin_popcount(reinterpret_cast<sockaddr_in*>(&req.ifr_netmask)->sin_addr.s_addr);
}

std::string BondTxName(const std::string& bond_interface) { return bond_interface + "-tx"; }

absl::StatusOr<bool> EnsureBondDevice(const NodeSettings& settings, uint32_t mtu,
                                      bool disable_offloads) {
  absl::StatusOr<NlSocket> sock = ConnectRtnetlink();
  if (!sock.ok()) return sock.status();
  const std::string& bond = settings.bond_interface;
  const std::string tx = BondTxName(bond);
  bool created = false;
  if (if_nametoindex(bond.c_str()) == 0) {
    if (int err = rtnl_link_veth_add(sock->get(), bond.c_str(), tx.c_str(), getpid()); err < 0) {
      return NlError(absl::StrCat("creating the bond veth pair ", bond, "/", tx), err);
    }
    created = true;
  } else if (if_nametoindex(tx.c_str()) == 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        bond, " exists but its far end ", tx, " does not: ", bond,
        " must be a veth pair made by meshbpf; delete it or choose another bond_interface"));
  } else {
    // Adopted, with the routes on it. No alias: made by a meshbpf that did
    // not mark its bond yet; it is marked below.
    absl::StatusOr<Link> link = GetLink(sock->get(), bond);
    if (!link.ok()) return link.status();
    const char* alias = rtnl_link_get_ifalias(link->get());
    if (alias != nullptr && *alias != '\0' && std::strcmp(alias, kBondAlias) != 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          bond, " exists with alias \"", alias, "\", not \"", kBondAlias,
          "\": it was not made by meshbpf; delete it or choose another bond_interface"));
    }
  }
  // The bond owns the inner address; its far end owns none and answers no
  // ARP, so the bond resolves no neighbours (the data path rewrites L2).
  if (absl::Status s = SetUp(sock->get(), bond, mtu, true, kBondAlias); !s.ok()) return s;
  if (absl::Status s = SetUp(sock->get(), tx, mtu, false, nullptr); !s.ok()) return s;
  if (disable_offloads) {
    if (absl::Status s = DisableOffloads(bond); !s.ok()) return s;
  }
  for (const std::optional<BondAddress>& a : {settings.bond_address, settings.bond_address_ipv6}) {
    if (!a) continue;
    if (absl::Status s = AddAddress(sock->get(), bond, a->address, a->prefix_len); !s.ok()) return s;
  }
  return created;
}

std::string CpuMaskText(int cpus) {
  std::string text;
  for (int group = (std::max(cpus, 1) - 1) / 32; group >= 0; --group) {
    const int bits = std::clamp(cpus - group * 32, 0, 32);
    const uint32_t word = bits == 32 ? 0xffffffffu : (1u << bits) - 1;
    absl::StrAppend(&text, text.empty() ? absl::StrFormat("%x", word) : absl::StrFormat(",%08x", word));
  }
  return text;
}

absl::StatusOr<BondSteering> SteerBondFlows(const std::string& sysfs_net, const std::string& bond,
                                            int cpus) {
  namespace fs = std::filesystem;
  const fs::path queues = fs::path(sysfs_net) / bond / "queues";
  std::error_code ec;
  const std::string every_cpu = CpuMaskText(cpus);
  BondSteering steering{.rps_cpus = every_cpu};
  int queues_seen = 0;
  for (const fs::directory_entry& queue : fs::directory_iterator(queues, ec)) {
    if (!queue.path().filename().string().starts_with("rx-")) continue;
    const fs::path file = queue.path() / "rps_cpus";
    const std::optional<std::string> current = ReadSysfsAttribute(file);
    if (!current) continue;
    ++queues_seen;
    if (current->find_first_not_of("0,") != std::string::npos) {
      steering.rps_cpus = *current;
      steering.kept = true;
      continue;
    }
    std::ofstream out(file);
    out << every_cpu << '\n';
    out.flush();
    if (!out) {
      return absl::InternalError(absl::StrCat("writing ", every_cpu, " to ", file.string(),
                                              ": ", std::strerror(errno)));
    }
  }
  if (queues_seen == 0) {
    return absl::UnavailableError(absl::StrCat("no receive steering on ", bond, ": no ",
                                               queues.string(), "/rx-*/rps_cpus (kernel without RPS?)"));
  }
  return steering;
}

absl::StatusOr<bool> HasTcFilters(int ifindex) {
  absl::StatusOr<NlSocket> sock = ConnectRtnetlink();
  if (!sock.ok()) return sock.status();
  for (const uint32_t parent : {TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_INGRESS),
                                TC_H_MAKE(TC_H_CLSACT, TC_H_MIN_EGRESS)}) {
    nl_cache* cache = nullptr;
    if (int err = rtnl_cls_alloc_cache(sock->get(), ifindex, parent, &cache); err < 0) {
      return NlError(absl::StrCat("listing the TC filters of ifindex ", ifindex), err);
    }
    const int filters = nl_cache_nitems(cache);
    nl_cache_free(cache);
    if (filters > 0) return true;
  }
  return false;
}

}  // namespace meshbpf
