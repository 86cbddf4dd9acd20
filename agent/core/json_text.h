// JSON as one line of text, for the log, the control socket and the HTTP
// endpoint. Strings from configs, peers and the kernel (an interface name)
// may hold bytes that are not UTF-8: they are replaced, never a reason to
// throw or to lose the line.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace meshbpf {

inline std::string JsonLine(const nlohmann::json& json) {
  return json.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace meshbpf
