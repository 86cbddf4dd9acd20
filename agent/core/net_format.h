// IPv4 addresses as people read them, for logs, errors and the CLI's tables:
// the one place that calls inet_ntop.
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <string>

namespace meshbpf {

// "192.168.1.10".
std::string Ipv4Text(in_addr address);
// The same for an address in network order (as the BPF maps keep it).
std::string Ipv4Text(in_addr_t address);
// "192.168.1.10:7201"; `port` in host order.
std::string Ipv4PortText(in_addr address, uint16_t port);
std::string Ipv4PortText(in_addr_t address, uint16_t port);

}  // namespace meshbpf
