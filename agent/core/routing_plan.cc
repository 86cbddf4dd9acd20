#include "agent/core/routing_plan.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "agent/core/net_format.h"

namespace meshbpf {
namespace {

// What `ip` takes before an IPv6 route or rule.
const char* FamilyFlag(int family) { return family == AF_INET6 ? "-6 " : ""; }

}  // namespace

RoutingPlan PlanRouting(const RoutingSettings& routing) {
  RoutingPlan plan{routing.table, routing.priority, routing.destinations, {}, routing.cgroups,
                   routing.cgroup_mark};
  if (!routing.has_selector()) {
    for (const InnerPrefix& to : routing.destinations) plan.rules.push_back({.family = to.family, .to = to});
    return plan;
  }
  for (const InnerPrefix& from : routing.sources) plan.rules.push_back({.family = from.family, .from = from});
  // A mark says nothing of the family: a rule in each the table routes
  // (one in a family without routes would select nothing).
  for (const int family : {AF_INET, AF_INET6}) {
    if (std::none_of(plan.routes.begin(), plan.routes.end(),
                     [&](const InnerPrefix& p) { return p.family == family; })) {
      continue;
    }
    for (const FwMark& mark : routing.fwmarks) plan.rules.push_back({.family = family, .fwmark = mark});
    if (!routing.cgroups.empty()) {
      plan.rules.push_back({.family = family, .fwmark = FwMark{routing.cgroup_mark}});
    }
  }
  return plan;
}

std::string PrefixText(const InnerPrefix& prefix) {
  if (prefix.prefix_len == 0) return "default";
  return absl::StrCat(IpText(IpAddress{.family = prefix.family, .bytes = prefix.address}), "/",
                      prefix.prefix_len);
}

std::string RuleText(const PolicyRule& rule, const RoutingPlan& plan) {
  std::string text =
      absl::StrCat(FamilyFlag(rule.family), "from ", rule.from ? PrefixText(*rule.from) : "all");
  if (rule.to) absl::StrAppend(&text, " to ", PrefixText(*rule.to));
  if (rule.fwmark) {
    absl::StrAppend(&text, absl::StrFormat(" fwmark 0x%x", rule.fwmark->mark));
    if (rule.fwmark->mask != 0xffffffff) absl::StrAppend(&text, absl::StrFormat("/0x%x", rule.fwmark->mask));
  }
  absl::StrAppend(&text, " lookup ", plan.table, " pref ", plan.priority);
  return text;
}

std::vector<RoutingEntry> RoutingEntries(const RoutingPlan& plan, const std::string& bond_interface,
                                         const KernelRouting* kernel) {
  auto held = [](const auto& wanted, const auto& seen) {
    return std::find(seen.begin(), seen.end(), wanted) != seen.end();
  };
  std::vector<RoutingEntry> entries;
  for (const InnerPrefix& to : plan.routes) {
    entries.push_back({absl::StrCat("route ", FamilyFlag(to.family), PrefixText(to), " dev ",
                                    bond_interface, " table ", plan.table),
                       !kernel || held(to, kernel->routes)});
  }
  for (const PolicyRule& rule : plan.rules) {
    entries.push_back({absl::StrCat("rule ", RuleText(rule, plan)), !kernel || held(rule, kernel->rules)});
  }
  for (const std::string& cgroup : plan.cgroups) {
    entries.push_back({absl::StrFormat("cgroup %s marked 0x%x", cgroup, plan.cgroup_mark), true});
  }
  return entries;
}

std::vector<std::string> DescribeRouting(const RoutingPlan& plan, const std::string& bond_interface) {
  std::vector<std::string> lines;
  for (RoutingEntry& e : RoutingEntries(plan, bond_interface, nullptr)) lines.push_back(std::move(e.what));
  return lines;
}

bool KernelLacksSome(const std::vector<RoutingEntry>& entries) {
  return std::any_of(entries.begin(), entries.end(), [](const RoutingEntry& e) { return !e.in_kernel; });
}

}  // namespace meshbpf
