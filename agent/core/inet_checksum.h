// The Internet checksum (RFC 1071) of a frame's IP and transport headers,
// recomputed in full. Loss repair re-sends a kept copy of a frame through a
// packet socket, which offloads nothing, while the copy may still carry the
// partial checksum (pseudo-header only) that checksum offload left for the
// device to finish.
#pragma once

#include <cstdint>
#include <span>

namespace meshbpf {

// `frame` is an Ethernet frame (14-byte header, no VLAN tag). For TCP or
// UDP in an IPv4 packet that is not a fragment (options are fine) or in an
// IPv6 packet without extension headers: recomputes the TCP or UDP checksum
// over pseudo-header and segment (a UDP result of 0 is sent as 0xffff; an
// IPv4 UDP checksum of 0, "none", stays 0) and the IPv4 header checksum, and
// returns true. Anything else (other protocols, fragments, lengths that do
// not fit the frame) is left untouched: false.
bool FixTransportChecksum(std::span<uint8_t> frame);

}  // namespace meshbpf
