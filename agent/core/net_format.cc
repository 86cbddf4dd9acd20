#include "agent/core/net_format.h"

#include <arpa/inet.h>

#include "absl/strings/str_cat.h"

namespace meshbpf {

std::string Ipv4Text(in_addr address) {
  char text[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &address, text, sizeof(text));
  return text;
}

std::string Ipv4Text(in_addr_t address) { return Ipv4Text(in_addr{address}); }

std::string Ipv4PortText(in_addr address, uint16_t port) {
  return absl::StrCat(Ipv4Text(address), ":", port);
}

std::string Ipv4PortText(in_addr_t address, uint16_t port) {
  return Ipv4PortText(in_addr{address}, port);
}

}  // namespace meshbpf
