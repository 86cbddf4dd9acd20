#include "agent/sys/config_file.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "agent/sys/credentials.h"

namespace meshbpf {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) return absl::InvalidArgumentError(std::strerror(errno));
  std::string data;
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), file)) > 0) data.append(buffer, n);
  const int error = std::ferror(file) ? errno : 0;  // e.g. EISDIR for a directory
  std::fclose(file);
  if (error != 0) return absl::InvalidArgumentError(std::strerror(error));
  return data;
}

// Empty when it cannot be had.
std::string HostName() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0) return "";
  return name;
}

}  // namespace

absl::StatusOr<NodeSettings> LoadConfigFile(const std::string& path,
                                            const InterfaceLookup& interfaces) {
  absl::StatusOr<NodeSettings> settings = [&]() -> absl::StatusOr<NodeSettings> {
    absl::StatusOr<std::string> text = ReadFile(path);
    if (!text.ok()) return text.status();
    absl::StatusOr<config::Config> config = ParseConfigJson(*text);
    if (!config.ok()) return config.status();
    absl::StatusOr<NodeSettings> resolved = ResolveConfig(*config, interfaces, HostName());
    // The group must exist here: checked with the rest, not found missing at start.
    if (resolved.ok() && !resolved->monitoring.control_group.empty()) {
      absl::StatusOr<ControlGroup> group = LookupControlGroup(resolved->monitoring.control_group);
      if (!group.ok()) return group.status();
    }
    return resolved;
  }();
  if (settings.ok()) return settings;
  return absl::Status(settings.status().code(),
                      absl::StrCat("config file \"", path, "\": ", settings.status().message()));
}

}  // namespace meshbpf
