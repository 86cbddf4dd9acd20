// A request/reply server on a listening stream socket (the control socket,
// the metrics endpoint), served from the agent's single loop without ever
// blocking it: every client is non-blocking, with one deadline for its whole
// request and one for reading the whole reply (ClientSession), a bounded
// request size, a bounded number of clients, and a bounded amount of work
// per wakeup. fd() is an epoll set holding the listening socket, the clients
// and a deadline timer: the loop watches it and calls OnReadable().
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/core/client_session.h"
#include "agent/core/control_access.h"
#include "agent/core/log_throttle.h"

namespace meshbpf {

class StreamServer {
 public:
  struct Options {
    std::string name;  // starts its log lines: "control socket", "metrics endpoint"
    ClientLimits limits;
    size_t max_clients = 32;
    bool peer_credentials = false;  // read SO_PEERCRED (Unix sockets)
  };
  // The reply to a whole request, or to why there is none (too large). The
  // credentials are there when Options::peer_credentials asked for them.
  using Responder = std::function<std::string(const absl::StatusOr<std::string>& request,
                                              const std::optional<PeerCredentials>& peer)>;

  // Serves `listener` (bound, listening, non-blocking; the caller keeps it).
  static absl::StatusOr<std::unique_ptr<StreamServer>> Create(int listener, Options options);
  ~StreamServer();  // drops the clients
  StreamServer(const StreamServer&) = delete;
  StreamServer& operator=(const StreamServer&) = delete;

  int fd() const { return epoll_; }
  // Accepts, reads, answers, sends and drops overdue clients, as far as one
  // wakeup's share goes; what is left makes fd() readable again.
  void OnReadable(const Responder& respond);

 private:
  struct Client {
    int fd;
    ClientSession session;
    std::optional<PeerCredentials> peer;
  };
  StreamServer(int listener, int epoll, int timer, Options options);
  void Accept(uint64_t now_ns);
  // Reads and, once the request is whole, answers; false: the client is gone.
  bool ReadFrom(Client& client, const Responder& respond, uint64_t now_ns);
  // Sends what the socket takes; false: the client is gone or done.
  bool SendTo(Client& client);
  void Drop(size_t index);
  // Logs `what` at most once per kind per interval.
  void LogThrottled(const std::string& kind, const std::string& what);
  void ArmTimer();

  const int listener_, epoll_, timer_;
  const Options options_;
  std::vector<std::unique_ptr<Client>> clients_;
  LogThrottle log_throttle_;
};

}  // namespace meshbpf
