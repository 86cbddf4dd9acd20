// link_aggregation.routing as the kernel takes it: routes in the agent's
// own table (each destination into the bond) and the rules that send the
// selected traffic to that table, each also in `ip` syntax for the log and
// `status`. IPv4 and IPv6 each have their own tables and rules in the
// kernel; the plan uses the same table number and priority in both.
// Installing them is agent/sys/policy_routing.h.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "agent/core/config.h"

namespace meshbpf {

struct PolicyRule {
  int family = AF_INET;  // AF_INET: an `ip rule`; AF_INET6: an `ip -6 rule`
  std::optional<InnerPrefix> from, to;  // of `family`
  std::optional<FwMark> fwmark;
  bool operator==(const PolicyRule&) const = default;
};

struct RoutingPlan {
  uint32_t table = 0, priority = 0;
  std::vector<InnerPrefix> routes;  // each "PREFIX dev <bond>" in `table` of its family
  std::vector<PolicyRule> rules;    // each "... lookup <table> pref <priority>"
  std::vector<std::string> cgroups;  // whose sockets get cgroup_mark
  uint32_t cgroup_mark = 0;
};

// With selectors, a rule per source (in its family) and per mark, and one
// for the cgroups' mark, the marks' in each family the table has routes of
// (the destinations are the table's routes, so other destinations fall
// through to the main table); without, a rule per destination.
RoutingPlan PlanRouting(const RoutingSettings& routing);

// "10.204.0.0/24", "fd00:204::/64", "default".
std::string PrefixText(const InnerPrefix& prefix);
// "from 10.204.0.0/24 lookup 7201 pref 7201", as `ip rule` prints it; an
// IPv6 rule starts with "-6 " (`ip -6 rule`).
std::string RuleText(const PolicyRule& rule, const RoutingPlan& plan);
// What the kernel holds of a plan (agent/sys/policy_routing.h reads it):
// the routes through the bond in its table, the rules at its priority that
// look that table up.
struct KernelRouting {
  std::vector<InnerPrefix> routes;
  std::vector<PolicyRule> rules;
};

// One route ("route default dev mb0 table 7201", "route -6 default dev mb0
// table 7201"), rule ("rule from ...", "rule -6 from ...") or marked cgroup
// ("cgroup system.slice/x.service marked 0x4d42") of a plan, and whether
// the kernel holds it: another program (a network manager applying its
// own rules) may have removed it. A cgroup mark is the data path's, held
// while it runs.
struct RoutingEntry {
  std::string what;
  bool in_kernel = true;
  bool operator==(const RoutingEntry&) const = default;
};
// Every entry of the plan; with `kernel`, each checked against it.
std::vector<RoutingEntry> RoutingEntries(const RoutingPlan& plan, const std::string& bond_interface,
                                         const KernelRouting* kernel);
// Whether the kernel lacks any of the plan's routes or rules.
bool KernelLacksSome(const std::vector<RoutingEntry>& entries);
// The entries' texts: what the log shows when the plan is installed.
std::vector<std::string> DescribeRouting(const RoutingPlan& plan, const std::string& bond_interface);

}  // namespace meshbpf
