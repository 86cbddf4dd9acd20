// Installs and removes link_aggregation.routing's plan (routing_plan.h)
// through rtnetlink: the routes into the bond in the agent's table and the
// rules that send the selected traffic there, IPv4 and IPv6. Everything in
// that table and every rule at the plan's priority that looks it up, in
// either family, counts as the agent's: what a crashed run left is
// replaced, never added to.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "agent/core/routing_plan.h"

namespace meshbpf {

// Removes what an earlier run left, then adds the plan's routes (via the
// device `bond_ifindex`) and rules. The error names the route or rule.
absl::Status InstallRouting(const RoutingPlan& plan, int bond_ifindex);
// Removes the plan's rules and flushes its table, in both families.
absl::Status RemoveRouting(const RoutingPlan& plan);
// What the kernel holds of the plan now: routes through `bond_ifindex` in
// its table, rules at its priority looking that table up.
absl::StatusOr<KernelRouting> ReadRouting(const RoutingPlan& plan, int bond_ifindex);

// The directory of `cgroup` (routing.cgroups: below the cgroup2 mount).
// Fails, naming it, when there is no cgroup2 mount, no such cgroup, or the
// agent itself runs in it or below: its probes would enter the bond.
absl::StatusOr<std::string> SelectedCgroupDir(const std::string& cgroup);

}  // namespace meshbpf
