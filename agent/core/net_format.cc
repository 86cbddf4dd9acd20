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

std::string IpText(const IpAddress& address) {
  if (!address.is_v6()) return Ipv4Text(address.v4());
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(AF_INET6, address.bytes.data(), text, sizeof(text));
  return text;
}

std::string IpPortText(const IpAddress& address, uint16_t port) {
  return address.is_v6() ? AddressPortText(IpText(address), port)
                         : Ipv4PortText(address.v4(), port);
}

std::string AddressPortText(const std::string& address, uint16_t port) {
  if (address.find(':') == std::string::npos) return absl::StrCat(address, ":", port);
  return absl::StrCat("[", address, "]:", port);
}

}  // namespace meshbpf
