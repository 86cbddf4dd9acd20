// libFuzzer target for the metrics server's request parsing: ParseHttpRequest
// on any request head, and the response to what it accepts. An accepted
// request has a method and an absolute path without a query, and its request
// line, written again, parses to the same.
#include <cstdlib>

#include "agent/sys/metrics_server.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace meshbpf;
  const std::string_view head(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<HttpRequest> request = ParseHttpRequest(head);
  if (!request.ok()) return 0;
  if (request->method.empty() || request->path.empty() || request->path[0] != '/' ||
      request->path.find('?') != std::string::npos) {
    abort();
  }
  absl::StatusOr<HttpRequest> again =
      ParseHttpRequest(request->method + " " + request->path + " HTTP/1.1\r\n\r\n");
  if (!again.ok() || again->method != request->method || again->path != request->path) abort();
  const HttpResponse response = Respond(*request, [] { return std::string("mb_up 1\n"); });
  if (response.code != 200 && response.code != 404 && response.code != 405) abort();
  SerializeResponse(response, request->method == "HEAD");
  return 0;
}
