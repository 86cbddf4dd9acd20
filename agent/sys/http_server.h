// The agent's opt-in HTTP endpoint (monitoring.metrics_listen): Prometheus
// metrics and, with monitoring.status_page, a status page and its JSON.
// libmicrohttpd does the protocol, in its external epoll mode: the agent's
// loop watches one fd and calls Serve(), which never blocks. A client that
// sends or reads slowly only holds its own connection, until it has been idle
// for kIdleTimeoutS; the number of connections is bounded, so clients can
// deny each other the endpoint but never stall probes or failover.
// Read-only: GET and HEAD of the registered paths, nothing else.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "agent/core/listen_address.h"

struct MHD_Daemon;

namespace meshbpf {

struct HttpResponse {
  int code = 200;
  std::string content_type;
  std::string body;
};

// Exact request paths (no query string) and what answers them.
using HttpRoutes = std::map<std::string, std::function<HttpResponse()>>;

class HttpServer {
 public:
  static constexpr unsigned kIdleTimeoutS = 5;
  static constexpr unsigned kMaxConnections = 32;

  // Listens on `address` (port 0: any free port, see port()). The error
  // names the address when it cannot be bound.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Open(const ListenAddress& address,
                                                          HttpRoutes routes);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // What the loop watches (libmicrohttpd's epoll fd).
  int fd() const { return fd_; }
  uint16_t port() const { return port_; }
  // Serves whatever is ready and drops idle clients; call it when fd() is
  // readable and about once a second besides, so idle clients time out.
  void Serve();

  // The answer to METHOD PATH: the route's, 404 for other paths, 405 for
  // methods other than GET and HEAD.
  HttpResponse Answer(const std::string& method, const std::string& path) const;

 private:
  explicit HttpServer(HttpRoutes routes) : routes_(std::move(routes)) {}

  HttpRoutes routes_;
  MHD_Daemon* daemon_ = nullptr;
  int fd_ = -1;
  uint16_t port_ = 0;
};

}  // namespace meshbpf
