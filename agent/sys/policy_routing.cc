#include "agent/sys/policy_routing.h"

#include <linux/fib_rules.h>
#include <linux/rtnetlink.h>
#include <netlink/netlink.h>
#include <netlink/route/route.h>
#include <netlink/route/rule.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <sstream>
#include <sys/stat.h>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "agent/sys/rtnetlink.h"

namespace meshbpf {
namespace {

struct CacheFree {
  void operator()(nl_cache* c) const { nl_cache_free(c); }
};
struct AddrPut {
  void operator()(nl_addr* a) const { nl_addr_put(a); }
};
struct RulePut {
  void operator()(rtnl_rule* r) const { rtnl_rule_put(r); }
};
struct RoutePut {
  void operator()(rtnl_route* r) const { rtnl_route_put(r); }
};
std::unique_ptr<nl_addr, AddrPut> Prefix(const InnerPrefix& prefix) {
  const size_t size = prefix.family == AF_INET6 ? 16 : 4;
  std::unique_ptr<nl_addr, AddrPut> addr(nl_addr_build(prefix.family, prefix.address.data(), size));
  if (addr) nl_addr_set_prefixlen(addr.get(), prefix.prefix_len);
  return addr;
}

absl::Status Failed(const std::string& what, int err) { return NlError(absl::StrCat("routing: ", what), err); }

// Calls `on_rule` for every rule at the plan's priority that looks up its
// table and `on_route` for every route in that table. Both families,
// whatever the plan's are: what a run with another config left is the
// agent's too. A host without IPv6 (ipv6.disable=1) has none, and an
// IPv4-only plan must not fail there.
using RuleVisit = std::function<absl::Status(rtnl_rule*, const char* family_name)>;
using RouteVisit = std::function<absl::Status(rtnl_route*, const char* family_name)>;
absl::Status VisitOurs(nl_sock* sock, const RoutingPlan& plan, const RuleVisit& on_rule,
                       const RouteVisit& on_route) {
  const bool plan_has_ipv6 = std::any_of(plan.routes.begin(), plan.routes.end(),
                                         [](const InnerPrefix& p) { return p.family == AF_INET6; });
  for (const int family : {AF_INET, AF_INET6}) {
    const char* name = family == AF_INET6 ? "IPv6 " : "IPv4 ";
    nl_cache* raw = nullptr;
    if (int err = rtnl_rule_alloc_cache(sock, family, &raw); err < 0) {
      if (family == AF_INET6 && err == -NLE_AF_NOSUPPORT && !plan_has_ipv6) continue;
      return Failed(absl::StrCat("reading the ", name, "rules"), err);
    }
    std::unique_ptr<nl_cache, CacheFree> rules(raw);
    for (nl_object* o = nl_cache_get_first(rules.get()); o; o = nl_cache_get_next(o)) {
      auto* rule = reinterpret_cast<rtnl_rule*>(o);
      if (rtnl_rule_get_table(rule) != plan.table || rtnl_rule_get_prio(rule) != plan.priority) continue;
      if (absl::Status s = on_rule(rule, name); !s.ok()) return s;
    }
    raw = nullptr;
    if (int err = rtnl_route_alloc_cache(sock, family, 0, &raw); err < 0) {
      return Failed(absl::StrCat("reading the ", name, "routes"), err);
    }
    std::unique_ptr<nl_cache, CacheFree> routes(raw);
    for (nl_object* o = nl_cache_get_first(routes.get()); o; o = nl_cache_get_next(o)) {
      auto* route = reinterpret_cast<rtnl_route*>(o);
      if (rtnl_route_get_table(route) != plan.table) continue;
      if (absl::Status s = on_route(route, name); !s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

absl::Status RemoveWith(nl_sock* sock, const RoutingPlan& plan) {
  return VisitOurs(
      sock, plan,
      [&](rtnl_rule* rule, const char* name) {
        if (int err = rtnl_rule_delete(sock, rule, 0); err < 0) {
          return Failed(absl::StrCat("removing an ", name, "rule"), err);
        }
        return absl::OkStatus();
      },
      [&](rtnl_route* route, const char* name) {
        if (int err = rtnl_route_delete(sock, route, 0); err < 0) {
          return Failed(absl::StrCat("flushing ", name, "table ", plan.table), err);
        }
        return absl::OkStatus();
      });
}

// A route's destination or a rule's source or destination as the plan has
// it; a missing one (a default route) is the whole family, prefix 0.
InnerPrefix PrefixFrom(nl_addr* addr, int family) {
  InnerPrefix prefix{.family = family};
  if (addr == nullptr) return prefix;
  const size_t len = std::min<size_t>(nl_addr_get_len(addr), prefix.address.size());
  std::memcpy(prefix.address.data(), nl_addr_get_binary_addr(addr), len);
  prefix.prefix_len = static_cast<int>(nl_addr_get_prefixlen(addr));
  return prefix;
}

}  // namespace

absl::Status InstallRouting(const RoutingPlan& plan, int bond_ifindex) {
  absl::StatusOr<NlSocket> sock = ConnectRtnetlink();
  if (!sock.ok()) return sock.status();
  if (absl::Status s = RemoveWith(sock->get(), plan); !s.ok()) return s;
  for (const InnerPrefix& to : plan.routes) {
    std::unique_ptr<rtnl_route, RoutePut> route(rtnl_route_alloc());
    rtnl_route_set_family(route.get(), to.family);
    rtnl_route_set_table(route.get(), plan.table);
    // IPv6 routes have no scope of their own (the kernel shows "global").
    rtnl_route_set_scope(route.get(), to.family == AF_INET6 ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK);
    rtnl_route_set_protocol(route.get(), RTPROT_STATIC);
    rtnl_route_set_dst(route.get(), Prefix(to).get());
    rtnl_nexthop* hop = rtnl_route_nh_alloc();
    rtnl_route_nh_set_ifindex(hop, bond_ifindex);
    rtnl_route_add_nexthop(route.get(), hop);  // the route owns it now
    if (int err = rtnl_route_add(sock->get(), route.get(), NLM_F_CREATE | NLM_F_REPLACE); err < 0) {
      return Failed(absl::StrCat("adding route ", to.family == AF_INET6 ? "-6 " : "", PrefixText(to),
                                 " to table ", plan.table),
                    err);
    }
  }
  for (const PolicyRule& r : plan.rules) {
    std::unique_ptr<rtnl_rule, RulePut> rule(rtnl_rule_alloc());
    rtnl_rule_set_family(rule.get(), r.family);
    rtnl_rule_set_prio(rule.get(), plan.priority);
    rtnl_rule_set_table(rule.get(), plan.table);
    rtnl_rule_set_action(rule.get(), FR_ACT_TO_TBL);
    if (r.from) rtnl_rule_set_src(rule.get(), Prefix(*r.from).get());
    if (r.to) rtnl_rule_set_dst(rule.get(), Prefix(*r.to).get());
    if (r.fwmark) {
      rtnl_rule_set_mark(rule.get(), r.fwmark->mark);
      rtnl_rule_set_mask(rule.get(), r.fwmark->mask);
    }
    if (int err = rtnl_rule_add(sock->get(), rule.get(), NLM_F_CREATE); err < 0) {
      return Failed(absl::StrCat("adding rule ", RuleText(r, plan)), err);
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> SelectedCgroupDir(const std::string& cgroup) {
  // mountinfo: "ID PARENT MAJ:MIN ROOT MOUNT_POINT OPTIONS [TAGS] - FSTYPE SOURCE ..."
  std::ifstream mounts("/proc/self/mountinfo");
  std::string line, root;
  while (root.empty() && std::getline(mounts, line)) {
    const size_t dash = line.find(" - ");
    if (dash == std::string::npos || !absl::StartsWith(line.substr(dash + 3), "cgroup2 ")) continue;
    std::istringstream fields(line.substr(0, dash));
    std::string id, parent, device, mount_root;
    fields >> id >> parent >> device >> mount_root >> root;
  }
  if (root.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("routing.cgroups: no cgroup2 file system is mounted (cgroup ", cgroup, ")"));
  }
  const std::string dir = absl::StrCat(root, "/", cgroup);
  struct stat st {};
  if (stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::NotFoundError(absl::StrCat("routing.cgroups: no cgroup ", cgroup, " (", dir, ")"));
  }
  // "0::/system.slice/meshbpf.service": the agent's own cgroup v2.
  std::ifstream own_file("/proc/self/cgroup");
  while (std::getline(own_file, line)) {
    if (!absl::StartsWith(line, "0::")) continue;
    const std::string own = absl::StrCat(line.substr(3), "/");
    if (absl::StartsWith(own, absl::StrCat("/", cgroup, "/"))) {
      return absl::FailedPreconditionError(absl::StrCat(
          "routing.cgroups: the agent itself runs in ", line.substr(3), ", inside ", cgroup,
          ": its probes would enter the bond; select a cgroup the agent is not in"));
    }
  }
  return dir;
}

absl::StatusOr<KernelRouting> ReadRouting(const RoutingPlan& plan, int bond_ifindex) {
  absl::StatusOr<NlSocket> sock = ConnectRtnetlink();
  if (!sock.ok()) return sock.status();
  KernelRouting kernel;
  absl::Status s = VisitOurs(
      sock->get(), plan,
      [&](rtnl_rule* rule, const char*) {
        const int family = rtnl_rule_get_family(rule);
        PolicyRule& r = kernel.rules.emplace_back(PolicyRule{.family = family});
        if (nl_addr* src = rtnl_rule_get_src(rule)) r.from = PrefixFrom(src, family);
        if (nl_addr* dst = rtnl_rule_get_dst(rule)) r.to = PrefixFrom(dst, family);
        // The kernel matches no mark with a mask of 0 (libnl then reads mark
        // 0 too), and leaves out a mask of all ones (libnl reads all ones).
        if (const uint32_t mask = rtnl_rule_get_mask(rule); mask != 0) {
          r.fwmark = FwMark{rtnl_rule_get_mark(rule), mask};
        }
        return absl::OkStatus();
      },
      [&](rtnl_route* route, const char*) {
        rtnl_nexthop* hop = rtnl_route_nexthop_n(route, 0);
        if (hop != nullptr && rtnl_route_nh_get_ifindex(hop) == bond_ifindex) {
          kernel.routes.push_back(PrefixFrom(rtnl_route_get_dst(route), rtnl_route_get_family(route)));
        }
        return absl::OkStatus();
      });
  if (!s.ok()) return s;
  return kernel;
}

absl::Status RemoveRouting(const RoutingPlan& plan) {
  absl::StatusOr<NlSocket> sock = ConnectRtnetlink();
  if (!sock.ok()) return sock.status();
  return RemoveWith(sock->get(), plan);
}

}  // namespace meshbpf
