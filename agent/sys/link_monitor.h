// Link monitor: wakes the agent's main loop when rtnetlink reports a change
// to any link or IPv4 address. It does not say which: the agent then reads
// every uplink again by name (PathSupervisor::OnLinksChanged), which also
// covers the events the kernel drops when the socket overflows (ENOBUFS).
// Non-blocking: the loop polls fd() and calls Drain().
#pragma once

#include <memory>

#include "absl/status/statusor.h"

struct nl_sock;

namespace meshbpf {

class LinkMonitor {
 public:
  static absl::StatusOr<std::unique_ptr<LinkMonitor>> Open();
  ~LinkMonitor();
  LinkMonitor(const LinkMonitor&) = delete;
  LinkMonitor& operator=(const LinkMonitor&) = delete;

  int fd() const;
  // Reads pending notifications, up to kMaxReadsPerDrain socket reads (the
  // rest wake the loop again).
  static constexpr int kMaxReadsPerDrain = 64;
  enum class Drained { kRead, kOverflowed };
  // kOverflowed: the kernel dropped notifications (ENOBUFS); the socket
  // keeps working, but the caller must not rely on what it was told.
  Drained Drain();

 private:
  explicit LinkMonitor(nl_sock* sock) : sock_(sock) {}
  nl_sock* sock_;
};

}  // namespace meshbpf
