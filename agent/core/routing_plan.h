// link_aggregation.routing as the kernel takes it: routes in the agent's
// own table (each destination into the bond) and the rules that send the
// selected traffic to that table, each also in `ip` syntax for the log and
// `status`. Installing them is agent/sys/policy_routing.h.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "agent/core/config.h"

namespace meshbpf {

struct PolicyRule {
  std::optional<BondAddress> from, to;
  std::optional<FwMark> fwmark;
};

struct RoutingPlan {
  uint32_t table = 0, priority = 0;
  std::vector<BondAddress> routes;  // each "PREFIX dev <bond>" in `table`
  std::vector<PolicyRule> rules;    // each "... lookup <table> pref <priority>"
  std::vector<std::string> cgroups;  // whose sockets get cgroup_mark
  uint32_t cgroup_mark = 0;
};

// With selectors, a rule per source and per mark, and one for the cgroups'
// mark (the destinations are the
// table's routes, so other destinations fall through to the main table);
// without, a rule per destination.
RoutingPlan PlanRouting(const RoutingSettings& routing);

std::string PrefixText(const BondAddress& prefix);  // "10.204.0.0/24", "default"
// "from 10.204.0.0/24 lookup 7201 pref 7201", as `ip rule` prints it.
std::string RuleText(const PolicyRule& rule, const RoutingPlan& plan);
// Every route ("route default dev mb0 table 7201"), rule ("rule from ...")
// and marked cgroup ("cgroup system.slice/x.service marked 0x4d42"): what
// the log shows.
std::vector<std::string> DescribeRouting(const RoutingPlan& plan, const std::string& bond_interface);

}  // namespace meshbpf
