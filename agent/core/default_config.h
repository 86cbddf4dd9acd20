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

// The config text; with no uplinks it names a placeholder "eth0".
std::string DefaultConfigText(const std::vector<DefaultUplink>& uplinks);

}  // namespace meshbpf
