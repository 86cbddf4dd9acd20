// Installs and removes link_aggregation.routing's plan (routing_plan.h)
// through rtnetlink: the routes into the bond in the agent's table and the
// rules that send the selected traffic there. Everything in that table and
// every rule at the plan's priority that looks it up counts as the agent's:
// what a crashed run left is replaced, never added to.
#pragma once

#include "absl/status/status.h"
#include "agent/core/routing_plan.h"

namespace meshbpf {

// Removes what an earlier run left, then adds the plan's routes (via the
// device `bond_ifindex`) and rules. The error names the route or rule.
absl::Status InstallRouting(const RoutingPlan& plan, int bond_ifindex);
// Removes the plan's rules and flushes its table.
absl::Status RemoveRouting(const RoutingPlan& plan);

}  // namespace meshbpf
