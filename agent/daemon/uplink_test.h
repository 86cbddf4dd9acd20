// `meshbpf test IFACE`: an active test of one uplink's paths. The agent
// sends a paced UDP load on each path (marked MB_PROBE_MARK | path id, so
// the data path keeps it on that path even if the path is held out) to the
// peer's bond address, discard port, for the test's duration. Capacity is
// what the peer's rx counters say arrived, read from the probe replies that
// follow the load on the same path (the same delivery marks the agent's
// capacity estimate uses); RTT, jitter and loss come from the probes, which
// keep running meanwhile. The pacing and the arithmetic are here, pure; the
// agent does the sending.
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/core/control_protocol.h"
#include "agent/core/health.h"

namespace meshbpf {

inline constexpr double kMinTestSeconds = 1;
inline constexpr double kMaxTestSeconds = 60;
// The load offers this much more than the path's configured rate, so a path
// faster than configured shows it (up to this factor).
inline constexpr double kTestLoadFactor = 1.25;
inline constexpr size_t kTestPayloadBytes = 1200;

// How many packets a pacer owes at `now_ns`: rate-limited, never a burst of
// more than `max_burst` (a late tick does not flood the uplink's queue).
class Pacer {
 public:
  Pacer(double bits_per_s, size_t packet_bytes, uint64_t start_ns, uint32_t max_burst)
      : ns_per_packet_(static_cast<double>(packet_bytes) * 8e9 / bits_per_s),
        next_ns_(static_cast<double>(start_ns)),
        max_burst_(max_burst) {}
  uint32_t Due(uint64_t now_ns);

 private:
  double ns_per_packet_;
  double next_ns_;
  uint32_t max_burst_;
};

// Whether the marks of two probe answers bracket the load [load_start_ns,
// load_end_ns): one sent before it, one after, and no counter reset between.
bool MarksBracketLoad(const std::optional<DeliveryMark>& start,
                      const std::optional<DeliveryMark>& end, uint64_t load_start_ns,
                      uint64_t load_end_ns);

// Delivered/sent rates over the load and the loss, from marks that bracket
// it (ours at send time, the peer's at reflect time; so everything the load
// sent lies between them); empty fields when they do not.
PathTestResult CompareMarks(const std::string& path, const std::optional<DeliveryMark>& start,
                            const std::optional<DeliveryMark>& end, uint64_t load_start_ns,
                            uint64_t load_end_ns);


// A UDP socket on the bond address that sends the load on one path.
class LoadSender {
 public:
  static absl::StatusOr<std::unique_ptr<LoadSender>> Open(in_addr bond_address, in_addr peer,
                                                           uint8_t path_id);
  ~LoadSender();
  LoadSender(const LoadSender&) = delete;
  LoadSender& operator=(const LoadSender&) = delete;
  // Sends `count` datagrams; a full socket buffer drops the rest (the
  // test measures what arrives).
  void Send(uint32_t count);

 private:
  explicit LoadSender(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace meshbpf
