#include "agent/sys/metrics_server.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace meshbpf {
namespace {

using testing::HasSubstr;
using testing::StartsWith;

TEST(ParseHttpRequest, TakesMethodAndPathWithoutQuery) {
  absl::StatusOr<HttpRequest> r =
      ParseHttpRequest("GET /metrics?x=1 HTTP/1.1\r\nHost: localhost\r\n\r\n");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->method, "GET");
  EXPECT_EQ(r->path, "/metrics");
}

TEST(ParseHttpRequest, RejectsMalformedRequestLines) {
  EXPECT_FALSE(ParseHttpRequest("").ok());
  EXPECT_FALSE(ParseHttpRequest("GET /metrics\r\n\r\n").ok());
  EXPECT_THAT(std::string(ParseHttpRequest("GET /metrics SPDY/3\r\n").status().message()),
              HasSubstr("SPDY/3"));
  EXPECT_FALSE(ParseHttpRequest("GET metrics HTTP/1.0\r\n").ok());
  EXPECT_FALSE(ParseHttpRequest("GET /a b HTTP/1.0\r\n").ok());
}

TEST(Respond, MetricsOnlyAtGetMetrics) {
  auto metrics = [] { return std::string("meshbpf_up 1\n"); };
  HttpResponse ok = Respond({"GET", "/metrics"}, metrics);
  EXPECT_EQ(ok.code, 200);
  EXPECT_EQ(ok.body, "meshbpf_up 1\n");
  EXPECT_THAT(ok.content_type, HasSubstr("version=0.0.4"));
  EXPECT_EQ(Respond({"GET", "/"}, metrics).code, 404);
  EXPECT_EQ(Respond({"POST", "/metrics"}, metrics).code, 405);
  const std::string wire = SerializeResponse(ok, false);
  EXPECT_THAT(wire, StartsWith("HTTP/1.0 200 OK\r\n"));
  EXPECT_THAT(wire, HasSubstr("Content-Length: 13\r\n"));
  EXPECT_THAT(wire, testing::EndsWith("\r\n\r\nmeshbpf_up 1\n"));
  EXPECT_THAT(SerializeResponse(ok, true), testing::EndsWith("\r\n\r\n"));
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
