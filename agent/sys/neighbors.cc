#include "agent/sys/neighbors.h"

#include <netlink/netlink.h>
#include <netlink/route/neighbour.h>

#include <cstring>
#include <memory>

#include "agent/sys/netdev.h"
#include "agent/sys/rtnetlink.h"

namespace meshbpf {

absl::StatusOr<std::optional<Mac>> ResolvedNeighbor(int ifindex, const IpAddress& address) {
  absl::StatusOr<NlSocket> sock = ConnectRtnetlink();
  if (!sock.ok()) return sock.status();
  nl_cache* cache = nullptr;
  if (int err = rtnl_neigh_alloc_cache(sock->get(), &cache); err < 0) {
    return NlError("reading neighbours", err);
  }
  std::unique_ptr<nl_cache, void (*)(nl_cache*)> owned(cache, nl_cache_free);
  nl_addr* dst = nl_addr_build(address.family, address.bytes.data(), address.is_v6() ? 16 : 4);
  rtnl_neigh* neigh = rtnl_neigh_get(cache, ifindex, dst);
  nl_addr_put(dst);
  if (!neigh) return std::optional<Mac>();
  std::optional<Mac> mac;
  const int state = rtnl_neigh_get_state(neigh);
  nl_addr* ll = rtnl_neigh_get_lladdr(neigh);
  if (ll && nl_addr_get_len(ll) == 6 && !(state & (NUD_INCOMPLETE | NUD_FAILED))) {
    mac.emplace();
    std::memcpy(mac->data(), nl_addr_get_binary_addr(ll), 6);
  }
  rtnl_neigh_put(neigh);
  return mac;
}

absl::Status RequestNeighborResolution(int ifindex, const IpAddress& address) {
  absl::StatusOr<NlSocket> sock = ConnectRtnetlink();
  if (!sock.ok()) return sock.status();
  std::unique_ptr<rtnl_neigh, void (*)(rtnl_neigh*)> neigh(rtnl_neigh_alloc(), rtnl_neigh_put);
  nl_addr* dst = nl_addr_build(address.family, address.bytes.data(), address.is_v6() ? 16 : 4);
  rtnl_neigh_set_ifindex(neigh.get(), ifindex);
  rtnl_neigh_set_dst(neigh.get(), dst);
  nl_addr_put(dst);
  rtnl_neigh_set_flags(neigh.get(), NTF_USE);
  if (int err = rtnl_neigh_add(sock->get(), neigh.get(), NLM_F_CREATE); err < 0) {
    return NlError("requesting neighbour resolution", err);
  }
  return absl::OkStatus();
}

bool FillNextHopMacs(const NodeSettings& settings, PathTable& table) {
  bool changed = false;
  SystemInterfaceLookup lookup;
  for (size_t i = 0; i < settings.paths.size() && i < table.size(); ++i) {
    const PathSettings& p = settings.paths[i];
    absl::StatusOr<std::optional<Mac>> next = ResolvedNeighbor(p.ifindex, p.gateway.value_or(p.remote));
    std::optional<InterfaceInfo> uplink = lookup.Find(p.interface);
    if (!next.ok() || !next->has_value() || !uplink) continue;
    mb_path& out = table[i];
    if (std::memcmp(out.next_hop_mac, (*next)->data(), 6) != 0 ||
        std::memcmp(out.uplink_mac, uplink->mac.data(), 6) != 0) {
      std::memcpy(out.next_hop_mac, (*next)->data(), 6);
      std::memcpy(out.uplink_mac, uplink->mac.data(), 6);
      changed = true;
    }
  }
  return changed;
}

}  // namespace meshbpf
