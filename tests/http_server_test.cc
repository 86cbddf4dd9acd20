#include "agent/sys/http_server.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>

namespace meshbpf {
namespace {

using testing::HasSubstr;
using testing::StartsWith;

// A server on a free loopback port with two routes.
std::unique_ptr<HttpServer> OpenTestServer() {
  ListenAddress address{};
  address.address.s_addr = htonl(INADDR_LOOPBACK);
  address.port = 0;
  HttpRoutes routes;
  routes["/metrics"] = [] { return HttpResponse{200, "text/plain", "meshbpf_up 1\n"}; };
  routes["/api/status"] = [] { return HttpResponse{200, "application/json", R"({"mode":"x"})"}; };
  absl::StatusOr<std::unique_ptr<HttpServer>> server = HttpServer::Open(address, std::move(routes));
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? std::move(*server) : nullptr;
}

int Connect(uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = htons(port);
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
  return fd;
}

// Sends `request` on a new connection and serves until the server closes
// it (it answers HTTP/1.0 and "Connection: close" requests so): the whole
// reply, or what came within 5 s.
std::string Fetch(HttpServer& server, const std::string& request) {
  const int fd = Connect(server.port());
  EXPECT_EQ(send(fd, request.data(), request.size(), 0), static_cast<ssize_t>(request.size()));
  std::string reply;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < give_up) {
    server.Serve();
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 10) <= 0) continue;
    char buffer[4096];
    const ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
    if (n <= 0) break;
    reply.append(buffer, n);
  }
  close(fd);
  return reply;
}

TEST(HttpServer, ServesRoutesWithTheirContentType) {
  std::unique_ptr<HttpServer> server = OpenTestServer();
  ASSERT_TRUE(server);
  EXPECT_NE(server->port(), 0);
  const std::string reply = Fetch(*server, "GET /metrics?x=1 HTTP/1.0\r\nHost: localhost\r\n\r\n");
  EXPECT_THAT(reply, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(reply, HasSubstr("Content-Type: text/plain\r\n"));
  EXPECT_THAT(reply, HasSubstr("Cache-Control: no-store\r\n"));
  EXPECT_THAT(reply, HasSubstr("Content-Security-Policy: default-src 'none'"));
  EXPECT_THAT(reply, testing::EndsWith("\r\n\r\nmeshbpf_up 1\n"));
  EXPECT_THAT(Fetch(*server, "GET /api/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
              testing::EndsWith(R"({"mode":"x"})"));
}

TEST(HttpServer, HeadHasNoBody) {
  std::unique_ptr<HttpServer> server = OpenTestServer();
  ASSERT_TRUE(server);
  const std::string reply = Fetch(*server, "HEAD /metrics HTTP/1.0\r\n\r\n");
  EXPECT_THAT(reply, StartsWith("HTTP/1.1 200 OK\r\n"));
  EXPECT_THAT(reply, testing::EndsWith("\r\n\r\n"));
}

TEST(HttpServer, OnlyReadsKnownPaths) {
  std::unique_ptr<HttpServer> server = OpenTestServer();
  ASSERT_TRUE(server);
  const std::string missing = Fetch(*server, "GET /admin HTTP/1.0\r\n\r\n");
  EXPECT_THAT(missing, StartsWith("HTTP/1.1 404"));
  EXPECT_THAT(missing, HasSubstr("served here: /api/status /metrics"));
  const std::string post =
      Fetch(*server, "POST /metrics HTTP/1.0\r\nContent-Length: 3\r\n\r\nabc");
  EXPECT_THAT(post, StartsWith("HTTP/1.1 405"));
  EXPECT_THAT(post, HasSubstr("Allow: GET, HEAD\r\n"));
  // Not HTTP: the connection is closed without an answer, or with an error.
  EXPECT_THAT(Fetch(*server, "NONSENSE\r\n\r\n"), testing::Not(HasSubstr("200 OK")));
}

// A client that sends half a request and waits does not hold Serve() nor
// keep others from being answered.
TEST(HttpServer, ASlowClientHoldsNothingElse) {
  std::unique_ptr<HttpServer> server = OpenTestServer();
  ASSERT_TRUE(server);
  const int slow = Connect(server->port());
  ASSERT_EQ(send(slow, "GET /met", 8, 0), 8);
  const auto before = std::chrono::steady_clock::now();
  for (int i = 0; i < 20; ++i) server->Serve();
  EXPECT_LT(std::chrono::steady_clock::now() - before, std::chrono::seconds(1));
  EXPECT_THAT(Fetch(*server, "GET /metrics HTTP/1.0\r\n\r\n"), StartsWith("HTTP/1.1 200"));
  close(slow);
}

TEST(HttpServer, NamesTheAddressItCannotBind) {
  std::unique_ptr<HttpServer> first = OpenTestServer();
  ASSERT_TRUE(first);
  ListenAddress taken{};
  taken.address.s_addr = htonl(INADDR_LOOPBACK);
  taken.port = first->port();
  absl::StatusOr<std::unique_ptr<HttpServer>> second = HttpServer::Open(taken, {});
  ASSERT_FALSE(second.ok());
  EXPECT_THAT(std::string(second.status().message()),
              AllOf(HasSubstr("monitoring.metrics_listen"),
                    HasSubstr("127.0.0.1:" + std::to_string(first->port())), HasSubstr("in use")));
}

TEST(ParseListenAddress, AddressAndPort) {
  absl::StatusOr<ListenAddress> a = ParseListenAddress("127.0.0.1:9464");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->port, 9464);
  EXPECT_TRUE(IsLoopback(*a));
  absl::StatusOr<ListenAddress> any = ParseListenAddress("0.0.0.0:9464");
  ASSERT_TRUE(any.ok());
  EXPECT_FALSE(IsLoopback(*any));
  EXPECT_THAT(std::string(ParseListenAddress("localhost:9464").status().message()),
              HasSubstr("localhost"));
  EXPECT_THAT(std::string(ParseListenAddress("127.0.0.1").status().message()),
              HasSubstr("ADDRESS:PORT"));
  EXPECT_THAT(std::string(ParseListenAddress("127.0.0.1:0").status().message()),
              HasSubstr("1..65535"));
  EXPECT_FALSE(ParseListenAddress("127.0.0.1:70000").ok());
  EXPECT_FALSE(ParseListenAddress("127.0.0.1:94x").ok());
}

}  // namespace
}  // namespace meshbpf
