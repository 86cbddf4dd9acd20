// The agent's local control socket: one JSON request per connection, one
// JSON reply. The CLI talks to a running agent through it (status with
// health, manual failover). A Unix stream socket, mode 0660 in a 0750
// directory: only root (or the socket's group) can steer the agent.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"

namespace meshbpf {

// Where the control socket and the log of each instance live, and the
// instance the agent and every command use without --instance.
inline constexpr char kDefaultRunDir[] = "/run/meshbpf";
inline constexpr char kDefaultInstance[] = "default";

// <run_dir>/<instance>.sock
std::string ControlSocketPath(const std::string& run_dir, const std::string& instance);

class ControlServer {
 public:
  using Handler = std::function<nlohmann::json(const nlohmann::json& request)>;
  // Binds `path`, replacing a stale socket file left by a dead agent but
  // refusing to take over one a live agent still answers on.
  static absl::StatusOr<std::unique_ptr<ControlServer>> Open(const std::string& path);
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  int fd() const { return fd_; }
  // Serves every pending connection. A client gets a short time to send
  // its request, so a stuck client cannot stall the agent's loop for long.
  void Serve(const Handler& handler);

 private:
  ControlServer(int fd, std::string path) : fd_(fd), path_(std::move(path)) {}
  int fd_;
  std::string path_;
};

// Sends `request` to the agent at `path` and returns its reply; the error
// says when no agent listens there. Never waits longer than `timeout_ms`.
absl::StatusOr<nlohmann::json> CallAgent(const std::string& path, const nlohmann::json& request,
                                         int timeout_ms = 3000);

}  // namespace meshbpf
