#include "agent/sys/metrics_server.h"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "agent/core/net_format.h"
#include "agent/core/prometheus.h"

namespace meshbpf {
namespace {

// How long a scraper may take to send its whole request head and to read
// the whole reply, and the head's largest size.
constexpr uint64_t kClientTimeoutNs = 2'000'000'000;
constexpr size_t kMaxRequestHead = 8192;

std::string_view Reason(int code) {
  switch (code) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
  }
  return "Error";
}

}  // namespace

absl::StatusOr<HttpRequest> ParseHttpRequest(std::string_view head) {
  const size_t eol = head.find("\r\n");
  const std::string_view line = head.substr(0, eol);
  const size_t sp1 = line.find(' ');
  const size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    return absl::InvalidArgumentError("request line is not METHOD TARGET VERSION");
  }
  const std::string_view version = line.substr(sp2 + 1);
  if (!version.starts_with("HTTP/1.")) {
    return absl::InvalidArgumentError(absl::StrCat("unsupported version \"", std::string(version), "\""));
  }
  HttpRequest request{std::string(line.substr(0, sp1)),
                      std::string(line.substr(sp1 + 1, sp2 - sp1 - 1))};
  if (request.method.empty() || request.path.empty() || request.path[0] != '/') {
    return absl::InvalidArgumentError("request target is not an absolute path");
  }
  request.path = request.path.substr(0, request.path.find('?'));
  return request;
}

HttpResponse Respond(const HttpRequest& request, const std::function<std::string()>& metrics) {
  if (request.method != "GET" && request.method != "HEAD") {
    return {405, "text/plain; charset=utf-8", "only GET /metrics is served\n"};
  }
  if (request.path != "/metrics") {
    return {404, "text/plain; charset=utf-8", "metrics are at /metrics\n"};
  }
  return {200, kPrometheusContentType, metrics()};
}

std::string SerializeResponse(const HttpResponse& response, bool head_only) {
  return absl::StrCat("HTTP/1.0 ", response.code, " ", std::string(Reason(response.code)),
                      "\r\nContent-Type: ", response.content_type,
                      "\r\nContent-Length: ", response.body.size(),
                      "\r\nConnection: close\r\n\r\n", head_only ? "" : response.body);
}

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Open(const ListenAddress& address) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr = address.address;
  sa.sin_port = htons(address.port);
  if (bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0 || listen(fd, 16) != 0) {
    const int err = errno;
    close(fd);
    return absl::UnavailableError(absl::StrCat("monitoring.metrics_listen: cannot listen on ",
                                               Ipv4PortText(address.address, address.port), ": ",
                                               std::strerror(err)));
  }
  absl::StatusOr<std::unique_ptr<StreamServer>> clients = StreamServer::Create(
      fd, {.name = "metrics endpoint",
           .limits = {.request_end = "\r\n\r\n",
                      .max_request_bytes = kMaxRequestHead,
                      .request_timeout_ns = kClientTimeoutNs,
                      .reply_timeout_ns = kClientTimeoutNs}});
  if (!clients.ok()) {
    close(fd);
    return clients.status();
  }
  return std::unique_ptr<MetricsServer>(new MetricsServer(fd, std::move(*clients)));
}

MetricsServer::~MetricsServer() { close(fd_); }

void MetricsServer::Serve(const std::function<std::string()>& metrics) {
  clients_->OnReadable([&metrics](const absl::StatusOr<std::string>& head,
                                  const std::optional<PeerCredentials>&) {
    absl::StatusOr<HttpRequest> request =
        head.ok() ? ParseHttpRequest(*head) : absl::StatusOr<HttpRequest>(head.status());
    const HttpResponse response =
        request.ok() ? Respond(*request, metrics)
                     : HttpResponse{400, "text/plain; charset=utf-8",
                                    absl::StrCat(request.status().message(), "\n")};
    return SerializeResponse(response, request.ok() && request->method == "HEAD");
  });
}

}  // namespace meshbpf
