// An IPv4 address and port to listen on (monitoring.metrics_listen), parsed
// from "ADDRESS:PORT" with errors that say what is wrong.
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <string_view>

#include "absl/status/statusor.h"

namespace meshbpf {

struct ListenAddress {
  in_addr address{};
  uint16_t port = 0;
};

// "127.0.0.1:9464" (IPv4 address and a port 1..65535), errors say what is wrong.
absl::StatusOr<ListenAddress> ParseListenAddress(std::string_view text);
bool IsLoopback(const ListenAddress& address);

}  // namespace meshbpf
