// The probe socket: sends path probes (agent/core/probe.h) through the bond
// on a chosen path and reflects the peer's.
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "agent/core/probe.h"

namespace meshbpf {

// The agent's probe socket, bound to the bond address: sends requests on a
// chosen path, answers requests from the peer on the path they came on, and
// hands replies to the caller.
class ProbeSocket {
 public:
  static absl::StatusOr<std::unique_ptr<ProbeSocket>> Open(in_addr bond_address, uint16_t port,
                                                           std::string key);
  ~ProbeSocket();
  ProbeSocket(const ProbeSocket&) = delete;
  ProbeSocket& operator=(const ProbeSocket&) = delete;

  int fd() const { return fd_; }
  absl::Status SendRequest(in_addr peer, uint16_t port, const ProbeMessage& request);
  // At most this many datagrams per Drain: a flood waits for the next
  // wakeup, after the loop's other sources had their turn.
  static constexpr size_t kMaxDatagramsPerDrain = 256;
  // What Drain hands on.
  struct Handlers {
    // A valid request, before it is reflected (a learned path adopts the
    // endpoint it came from here, so the reply already goes back that way).
    std::function<void(const ProbeMessage&)> on_request;
    // The rx counters a reflected request carries back.
    std::function<PathRx(uint8_t path)> rx_of;
    // A reply, with the local receive time.
    std::function<void(const ProbeMessage&, uint64_t)> on_reply;
    // The peer's request for repairs (loss repair): never reflected.
    std::function<void(const ProbeMessage&)> on_repair_request;
    // Whether this node answers repair requests: said in every reply.
    bool repairs = false;
    // Anything invalid, and why.
    std::function<void(const std::string&)> on_invalid;
  };
  // Reads pending datagrams (up to kMaxDatagramsPerDrain) into `handlers`.
  void Drain(uint64_t now_ns, const Handlers& handlers);

 private:
  ProbeSocket(int fd, std::string key) : fd_(fd), key_(std::move(key)) {}
  absl::Status SendOnPath(const sockaddr_in& to, uint8_t path_id, const ProbeMessage& message);
  int fd_;
  std::string key_;
};

}  // namespace meshbpf
