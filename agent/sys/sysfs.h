// Reading small sysfs attributes.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

namespace meshbpf {

// Where the network devices of the agent's network namespace are.
inline constexpr char kSysfsNet[] = "/sys/class/net";

// First line of a small sysfs attribute, whitespace stripped, or nullopt if
// it cannot be read.
std::optional<std::string> ReadSysfsAttribute(const std::filesystem::path& path);

}  // namespace meshbpf
