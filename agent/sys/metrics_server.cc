#include "agent/sys/metrics_server.h"

#include <arpa/inet.h>
#include <poll.h>
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

// How long a client may take to send its request head, and its largest size.
constexpr int kRequestTimeoutMs = 200;
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
  return std::unique_ptr<MetricsServer>(new MetricsServer(fd));
}

MetricsServer::~MetricsServer() { close(fd_); }

void MetricsServer::Serve(const std::function<std::string()>& metrics) {
  while (true) {
    const int client = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) return;  // EAGAIN: nothing more pending
    const timeval send_timeout{0, kRequestTimeoutMs * 1000};
    setsockopt(client, SOL_SOCKET, SO_SNDTIMEO, &send_timeout, sizeof(send_timeout));
    std::string head;
    char buffer[2048];
    while (head.find("\r\n\r\n") == std::string::npos && head.size() < kMaxRequestHead) {
      pollfd p{client, POLLIN, 0};
      if (poll(&p, 1, kRequestTimeoutMs) <= 0) break;
      const ssize_t n = read(client, buffer, sizeof(buffer));
      if (n <= 0) break;
      head.append(buffer, static_cast<size_t>(n));
    }
    absl::StatusOr<HttpRequest> request = ParseHttpRequest(head);
    const HttpResponse response =
        request.ok() ? Respond(*request, metrics)
                     : HttpResponse{400, "text/plain; charset=utf-8",
                                    absl::StrCat(request.status().message(), "\n")};
    const std::string reply = SerializeResponse(response, request.ok() && request->method == "HEAD");
    // Blocking with a send timeout: a scraper that does not read is dropped.
    size_t sent = 0;
    while (sent < reply.size()) {
      const ssize_t n = send(client, reply.data() + sent, reply.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) break;
      sent += static_cast<size_t>(n);
    }
    close(client);
  }
}

}  // namespace meshbpf
