// Dotted-quad text of an IPv4 address, for the agent's logs and replies.
#pragma once

#include <arpa/inet.h>

#include <string>

namespace meshbpf {

inline std::string Ip(in_addr addr) {
  char text[INET_ADDRSTRLEN];
  inet_ntop(AF_INET, &addr, text, sizeof(text));
  return text;
}

}  // namespace meshbpf
