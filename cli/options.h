// What every meshbpf command shares: its parsed options, the one-line error
// convention, and how it finds the agent instance it talks to.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "agent/core/control_protocol.h"

namespace meshbpf {

inline constexpr int kExitUsage = 2;

// Parsed "--name value" / "--flag" options of one command.
struct Options {
  std::map<std::string, std::string> values;
  std::set<std::string> flags;
  std::vector<std::string> arguments;  // positional

  std::string Get(const std::string& name, const std::string& fallback) const {
    auto it = values.find(name);
    return it == values.end() ? fallback : it->second;
  }
  bool Has(const std::string& name) const { return flags.count(name) || values.count(name); }
};

// Prints "<program>: <message>" on stderr and returns `code`.
int Error(const std::string& program, const std::string& message, int code = 1);

// The instance to read: --instance, or the only directory under the pin root.
absl::StatusOr<std::string> ResolvePinDir(const Options& options);

// The control socket of the instance pinned at `pin_dir`.
std::string ControlPath(const Options& options, const std::string& pin_dir);

// Sends `request` to the running agent of the instance `options` name. An
// error when the instance or the agent cannot be reached, or when the agent
// refuses (its message, after `refusal_prefix`).
absl::StatusOr<nlohmann::json> AskAgent(const Options& options, const nlohmann::json& request,
                                        const std::string& refusal_prefix = "");

// The same, with the reply read as a `Reply` (an error names a field it lacks).
template <typename Reply>
absl::StatusOr<Reply> AskAgentFor(const Options& options, const ControlRequest& request,
                                  const std::string& refusal_prefix = "") {
  absl::StatusOr<nlohmann::json> reply = AskAgent(options, RequestToJson(request), refusal_prefix);
  if (!reply.ok()) return reply.status();
  return FromJson<Reply>(*reply, refusal_prefix + "the agent's " + CommandName(request) + " reply");
}

}  // namespace meshbpf
