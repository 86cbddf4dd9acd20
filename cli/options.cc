#include "cli/options.h"

#include <dirent.h>

#include <cstdio>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/sys/control.h"
#include "agent/sys/map_io.h"

namespace meshbpf {

int Error(const std::string& program, const std::string& message, int code) {
  std::fprintf(stderr, "%s: %s\n", program.c_str(), message.c_str());
  return code;
}

absl::StatusOr<std::string> ResolvePinDir(const Options& options) {
  const std::string root = options.Get("--pin-root", kDefaultPinRoot);
  if (options.Has("--instance")) return InstancePinDir(root, options.Get("--instance", ""));
  std::vector<std::string> instances;
  if (DIR* dir = opendir(root.c_str())) {
    while (dirent* e = readdir(dir)) {
      if (e->d_type == DT_DIR && e->d_name[0] != '.') instances.emplace_back(e->d_name);
    }
    closedir(dir);
  }
  if (instances.empty()) {
    return absl::NotFoundError(
        absl::StrCat("no meshbpf instance under ", root, ": is the agent running?"));
  }
  if (instances.size() > 1) {
    return absl::InvalidArgumentError(absl::StrCat("several instances under ", root, " (",
                                                   absl::StrJoin(instances, ", "),
                                                   "): choose one with --instance"));
  }
  return InstancePinDir(root, instances.front());
}

std::string ControlPath(const Options& options, const std::string& pin_dir) {
  return ControlSocketPath(options.Get("--run-dir", kDefaultRunDir),
                           pin_dir.substr(pin_dir.rfind('/') + 1));
}

absl::StatusOr<nlohmann::json> AskAgent(const Options& options, const nlohmann::json& request,
                                        const std::string& refusal_prefix) {
  absl::StatusOr<std::string> pin_dir = ResolvePinDir(options);
  if (!pin_dir.ok()) return pin_dir.status();
  absl::StatusOr<nlohmann::json> reply = CallAgent(ControlPath(options, *pin_dir), request);
  if (!reply.ok()) return reply.status();
  if (std::optional<ErrorReply> refusal = RefusalIn(*reply)) {
    // Some refusals name their command already ("failover: refused for uid ...").
    const bool named = absl::StartsWith(refusal->error, refusal_prefix);
    return absl::FailedPreconditionError(
        absl::StrCat(named ? "" : refusal_prefix, refusal->error));
  }
  return reply;
}

}  // namespace meshbpf
