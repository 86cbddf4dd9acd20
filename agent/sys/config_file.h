// Loading a config file: reads it, takes the host's name as
// node_discovery.node_name's default, and resolves it (agent/core/config.h).
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "agent/core/config.h"

namespace meshbpf {

// Reads, parses and resolves a config file; errors start with the file name.
absl::StatusOr<NodeSettings> LoadConfigFile(const std::string& path,
                                            const InterfaceLookup& interfaces);

}  // namespace meshbpf
