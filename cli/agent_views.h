// What `meshbpf cap`, `peers` and `test` print of the agent's control
// replies (agent/core/control_protocol.h), for people.
#pragma once

#include <string>
#include <vector>

#include "agent/core/control_protocol.h"

namespace meshbpf {

// One line per capped uplink: used, limit, percent, period, reset, policy, state.
std::string CapStatusTable(const CapReply& reply);

// This node, the nodes heard with their uplinks, the relayed paths they
// offer, the relays we serve and the dropped announcements.
std::string PeersTable(const PeersReply& peers);

// One line per path: "wan2: capacity 19.1 Mbit/s delivered of 25.0 sent, loss under load 0.3%,
// ...".
std::string FormatTestSummary(const std::vector<PathTestResult>& results);

}  // namespace meshbpf
