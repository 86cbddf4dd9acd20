#include "agent/core/listen_address.h"

#include <arpa/inet.h>

#include <charconv>
#include <string>

#include "absl/strings/str_cat.h"

namespace meshbpf {

absl::StatusOr<ListenAddress> ParseListenAddress(std::string_view text) {
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", std::string(text), "\" is not ADDRESS:PORT (e.g. 127.0.0.1:9464)"));
  }
  ListenAddress out;
  const std::string host(text.substr(0, colon));
  if (inet_pton(AF_INET, host.c_str(), &out.address) != 1) {
    return absl::InvalidArgumentError(absl::StrCat("\"", host, "\" is not an IPv4 address"));
  }
  const std::string_view port = text.substr(colon + 1);
  unsigned value = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value == 0 ||
      value > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("port \"", std::string(port), "\" is not 1..65535"));
  }
  out.port = static_cast<uint16_t>(value);
  return out;
}

bool IsLoopback(const ListenAddress& address) {
  return (ntohl(address.address.s_addr) >> 24) == 127;
}

}  // namespace meshbpf
