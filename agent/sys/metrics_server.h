// The agent's opt-in Prometheus endpoint (monitoring.metrics_listen): a tiny
// HTTP/1.0 server answering GET /metrics with FormatPrometheus's text. One
// request per connection, served from the agent's loop; a client gets a
// short time to send its request head, so a stuck scraper cannot stall the
// agent for long. Listening beyond loopback needs
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

  int fd() const { return fd_; }
  // Serves every pending connection.
  void Serve(const std::function<std::string()>& metrics);

 private:
  explicit MetricsServer(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace meshbpf
