// Link monitor: turns rtnetlink notifications into link events for the
// agent's main loop (carrier lost/regained, device deleted, IPv4 address
// removed). Non-blocking: the loop polls fd() and calls Drain().
#pragma once

#include <functional>
#include <memory>

#include "absl/status/statusor.h"

struct nl_sock;

namespace meshbpf {

struct LinkEvent {
  enum class Kind { kCarrierDown, kCarrierUp, kDeleted, kAddressRemoved, kAddressAdded };
  Kind kind;
  int ifindex;
};

const char* LinkEventName(LinkEvent::Kind kind);

class LinkMonitor {
 public:
  static absl::StatusOr<std::unique_ptr<LinkMonitor>> Open();
  ~LinkMonitor();
  LinkMonitor(const LinkMonitor&) = delete;
  LinkMonitor& operator=(const LinkMonitor&) = delete;

  int fd() const;
  // Reads pending notifications, up to kMaxReadsPerDrain socket reads (the
  // rest on the next wakeup), and calls `on_event` for each event.
  static constexpr int kMaxReadsPerDrain = 64;
  void Drain(const std::function<void(const LinkEvent&)>& on_event);

 private:
  explicit LinkMonitor(nl_sock* sock) : sock_(sock) {}
  nl_sock* sock_;
};

}  // namespace meshbpf
