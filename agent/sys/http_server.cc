#include "agent/sys/http_server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/core/net_format.h"
#include "agent/sys/log.h"

namespace meshbpf {
namespace {

constexpr char kText[] = "text/plain; charset=utf-8";
// Every answer is live data, and the page loads nothing from elsewhere: the
// policy forbids any other origin, frames, forms and plugins.
constexpr char kSecurityPolicy[] =
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "connect-src 'self'; img-src data:; frame-ancestors 'none'; form-action 'none'";

void LogFromLibrary(void*, const char* format, va_list args) {
  char line[512];
  std::vsnprintf(line, sizeof(line), format, args);
  std::string text(line);
  while (!text.empty() && text.back() == '\n') text.pop_back();
  Log(LogLevel::kWarning, absl::StrCat("http endpoint: ", text));
}

MHD_Result OnRequest(void* self, MHD_Connection* connection, const char* url, const char* method,
                     const char*, const char*, size_t* upload_size, void** request_state) {
  // The first call only announces the request; a body (none is expected) is
  // read and discarded before the answer.
  static int started;
  if (*request_state == nullptr) {
    *request_state = &started;
    return MHD_YES;
  }
  if (*upload_size != 0) {
    *upload_size = 0;
    return MHD_YES;
  }
  const HttpResponse answer = static_cast<const HttpServer*>(self)->Answer(method, url);
  MHD_Response* response = MHD_create_response_from_buffer(
      answer.body.size(), const_cast<char*>(answer.body.data()), MHD_RESPMEM_MUST_COPY);
  if (response == nullptr) return MHD_NO;
  MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, answer.content_type.c_str());
  MHD_add_response_header(response, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
  MHD_add_response_header(response, "X-Content-Type-Options", "nosniff");
  MHD_add_response_header(response, "Content-Security-Policy", kSecurityPolicy);
  if (answer.code == MHD_HTTP_METHOD_NOT_ALLOWED) {
    MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
  }
  const MHD_Result queued = MHD_queue_response(connection, answer.code, response);
  MHD_destroy_response(response);
  return queued;
}

}  // namespace

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Open(const ListenAddress& address,
                                                             HttpRoutes routes) {
  // The socket is ours, so a bind error says what went wrong (the library
  // would only fail to start).
  const int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (listener < 0) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  const int one = 1;
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr = address.address;
  sa.sin_port = htons(address.port);
  socklen_t len = sizeof(sa);
  if (bind(listener, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0 ||
      listen(listener, 16) != 0 ||
      getsockname(listener, reinterpret_cast<sockaddr*>(&sa), &len) != 0) {
    const int err = errno;
    close(listener);
    return absl::UnavailableError(absl::StrCat("monitoring.metrics_listen: cannot listen on ",
                                               Ipv4PortText(address.address, address.port), ": ",
                                               std::strerror(err)));
  }
  std::unique_ptr<HttpServer> server(new HttpServer(std::move(routes)));
  server->port_ = ntohs(sa.sin_port);
  server->daemon_ = MHD_start_daemon(
      MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, nullptr, nullptr, &OnRequest, server.get(),
      MHD_OPTION_EXTERNAL_LOGGER, &LogFromLibrary, nullptr,  // first, or it misses messages
      MHD_OPTION_LISTEN_SOCKET, listener, MHD_OPTION_CONNECTION_TIMEOUT, kIdleTimeoutS,
      MHD_OPTION_CONNECTION_LIMIT, kMaxConnections, MHD_OPTION_END);
  if (server->daemon_ == nullptr) {
    close(listener);
    return absl::InternalError("monitoring.metrics_listen: the HTTP library did not start");
  }
  const MHD_DaemonInfo* info = MHD_get_daemon_info(server->daemon_, MHD_DAEMON_INFO_EPOLL_FD);
  server->fd_ = info ? info->epoll_fd : -1;
  if (server->fd_ < 0) return absl::InternalError("the HTTP library has no epoll fd");
  return server;
}

HttpServer::~HttpServer() {
  // Closes the listening socket and every client's.
  if (daemon_) MHD_stop_daemon(daemon_);
}

void HttpServer::Serve() { MHD_run(daemon_); }

HttpResponse HttpServer::Answer(const std::string& method, const std::string& path) const {
  if (method != "GET" && method != "HEAD") {
    return {MHD_HTTP_METHOD_NOT_ALLOWED, kText, "read-only: only GET and HEAD are served\n"};
  }
  const auto route = routes_.find(path);
  if (route == routes_.end()) {
    std::vector<std::string> paths;
    for (const auto& [served, _] : routes_) paths.push_back(served);
    return {MHD_HTTP_NOT_FOUND, kText, absl::StrCat("served here: ", absl::StrJoin(paths, " "), "\n")};
  }
  return route->second();
}

}  // namespace meshbpf
