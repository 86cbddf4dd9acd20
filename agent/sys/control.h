// The agent's local control socket: one JSON request per connection, one
// JSON reply. The CLI talks to a running agent through it (status with
// health, manual failover). A Unix stream socket anyone may connect to
// (mode 0666, in a 0755 directory); the agent reads each caller's
// credentials and lets only root or monitoring.control_group change its
// state (agent/core/control_access.h). With a control group the socket
// belongs to that group.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "agent/core/control_access.h"
#include "agent/sys/stream_server.h"

namespace meshbpf {

// Where the control socket and the log of each instance live, and the
// instance the agent and every command use without --instance.
inline constexpr char kDefaultRunDir[] = "/run/meshbpf";
inline constexpr char kDefaultInstance[] = "default";

// <run_dir>/<instance>.sock
std::string ControlSocketPath(const std::string& run_dir, const std::string& instance);

class ControlServer {
 public:
  using Handler =
      std::function<nlohmann::json(const nlohmann::json& request, const PeerCredentials& peer)>;
  // Binds `path`, replacing a stale socket file left by a dead agent but
  // refusing to take over one a live agent still answers on; the socket
  // file belongs to `group` when there is one.
  static absl::StatusOr<std::unique_ptr<ControlServer>> Open(
      const std::string& path, const std::optional<ControlGroup>& group);
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // What the loop watches.
  int fd() const { return clients_->fd(); }
  // Serves the clients as far as one wakeup's share goes (StreamServer):
  // a client that is slow to send its request or to read the reply is
  // dropped, and never holds the loop.
  void Serve(const Handler& handler);

 private:
  ControlServer(int fd, std::string path, std::unique_ptr<StreamServer> clients)
      : fd_(fd), path_(std::move(path)), clients_(std::move(clients)) {}
  int fd_;
  std::string path_;
  std::unique_ptr<StreamServer> clients_;
};

// Sends `request` to the agent at `path` and returns its reply; the error
// says when no agent listens there. Never waits longer than `timeout_ms`.
absl::StatusOr<nlohmann::json> CallAgent(const std::string& path, const nlohmann::json& request,
                                         int timeout_ms = 3000);

}  // namespace meshbpf
