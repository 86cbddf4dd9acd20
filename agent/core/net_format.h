// IP addresses as people read them, for logs, errors and the CLI's tables:
// the one place that calls inet_ntop.
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <string>

#include "agent/core/ip_address.h"

namespace meshbpf {

// "192.168.1.10".
std::string Ipv4Text(in_addr address);
// The same for an address in network order (as the BPF maps keep it).
std::string Ipv4Text(in_addr_t address);
// "192.168.1.10:7201"; `port` in host order.
std::string Ipv4PortText(in_addr address, uint16_t port);
std::string Ipv4PortText(in_addr_t address, uint16_t port);
// "192.168.1.10" or "2001:db8::1".
std::string IpText(const IpAddress& address);
// "192.168.1.10:7201" or "[2001:db8::1]:7201".
std::string IpPortText(const IpAddress& address, uint16_t port);
// The same from an address already in text (a control reply's), which may
// carry a zone: "[fe80::2%lan0]:7211".
std::string AddressPortText(const std::string& address, uint16_t port);

}  // namespace meshbpf
