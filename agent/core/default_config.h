// `meshbpf config --output FILE`: a complete default config in which every
// field appears with a comment saying what it does and its default (the
// loader accepts `//` line comments). Fields with no sensible default for
// every machine (a gateway, a data cap) are written commented out.
#pragma once

#include <string>
#include <vector>

namespace meshbpf {

// An uplink to put in the default config, e.g. one found on this machine.
struct DefaultUplink {
  std::string interface;
  std::string gateway;  // empty: written commented out
};

// The file's two shapes: its sections at the top level, or inside
// {"mesh_network": ...} as the documented format has them.
enum class ConfigShape { kSections, kMeshNetwork };

// The config text; with no uplinks it names a placeholder "eth0".
std::string DefaultConfigText(const std::vector<DefaultUplink>& uplinks,
                              ConfigShape shape = ConfigShape::kSections);

}  // namespace meshbpf
