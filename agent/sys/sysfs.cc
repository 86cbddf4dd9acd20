#include "agent/sys/sysfs.h"

#include <fstream>

#include "absl/strings/ascii.h"

namespace meshbpf {

std::optional<std::string> ReadSysfsAttribute(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) return std::nullopt;
  return std::string(absl::StripAsciiWhitespace(line));
}

}  // namespace meshbpf
