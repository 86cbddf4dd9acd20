// The agent's opt-in Prometheus endpoint (monitoring.metrics_listen): a tiny
// HTTP/1.0 server answering GET /metrics with FormatPrometheus's text. One
// request per connection, served from the agent's loop by a StreamServer: a
// scraper gets a deadline for its whole request head and one for reading the
// whole reply, so a stuck one is dropped and never stalls the agent. Listening beyond loopback needs
// monitoring.metrics_allow_remote: the metrics name uplinks and rates, and
// the endpoint has no authentication.
#pragma once

#include <netinet/in.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "agent/core/listen_address.h"
#include "agent/sys/stream_server.h"

namespace meshbpf {

struct HttpRequest {
  std::string method;
  std::string path;  // without the query string
};

// The request line of an HTTP/1.x request head ("GET /metrics HTTP/1.1").
absl::StatusOr<HttpRequest> ParseHttpRequest(std::string_view head);

struct HttpResponse {
  int code = 200;
  std::string content_type;
  std::string body;
};

// The reply to `request`: GET (or HEAD) /metrics gets `metrics()`, other
// paths 404, other methods 405.
HttpResponse Respond(const HttpRequest& request, const std::function<std::string()>& metrics);
// Status line, Content-Type, Content-Length, Connection: close, body (none for HEAD).
std::string SerializeResponse(const HttpResponse& response, bool head_only);

class MetricsServer {
 public:
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Open(const ListenAddress& address);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // What the loop watches.
  int fd() const { return clients_->fd(); }
  // Serves the scrapers as far as one wakeup's share goes.
  void Serve(const std::function<std::string()>& metrics);

 private:
  MetricsServer(int fd, std::unique_ptr<StreamServer> clients)
      : fd_(fd), clients_(std::move(clients)) {}
  int fd_;
  std::unique_ptr<StreamServer> clients_;
};

}  // namespace meshbpf
