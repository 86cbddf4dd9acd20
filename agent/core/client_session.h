// One client of a request/reply stream server (the control socket, the
// metrics endpoint), without the socket: what it sent so far, whether that
// is a whole request, and when its time is up. A client gets one deadline
// for its whole request and another for reading the whole reply, so one
// that sends or reads a byte at a time cannot hold the agent's loop.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace meshbpf {

struct ClientLimits {
  std::string_view request_end;  // what ends a request ("\n"; "\r\n\r\n" ends an HTTP head)
  size_t max_request_bytes = 0;  // including request_end
  uint64_t request_timeout_ns = 0;
  uint64_t reply_timeout_ns = 0;
};

class ClientSession {
 public:
  ClientSession(const ClientLimits& limits, uint64_t accepted_ns)
      : limits_(limits), accepted_ns_(accepted_ns) {}

  // Takes bytes the client sent; `closed`: it will send no more. Returns,
  // once, the request (up to and including request_end, or all it sent
  // before closing) or why there is none (too large); nullopt while more
  // is needed. Bytes after the request are ignored.
  std::optional<absl::StatusOr<std::string>> Received(std::string_view bytes, bool closed);
  bool reading() const { return !replying_; }

  // Starts sending `reply` at `now_ns`; the reply deadline runs from here.
  void Reply(std::string reply, uint64_t now_ns);
  std::string_view unsent() const { return std::string_view(reply_).substr(sent_); }
  void Sent(size_t bytes) { sent_ += bytes; }
  bool done() const { return replying_ && sent_ >= reply_.size(); }

  // When the current phase's time is up.
  uint64_t deadline_ns() const;
  // Why the client is dropped at `now_ns`, if its time is up, e.g. "sent no
  // whole request within 2 s".
  std::optional<std::string> Overdue(uint64_t now_ns) const;

 private:
  ClientLimits limits_;
  uint64_t accepted_ns_;
  std::string request_;
  bool answered_ = false;  // Received returned its result
  bool replying_ = false;
  uint64_t reply_started_ns_ = 0;
  std::string reply_;
  size_t sent_ = 0;
};

}  // namespace meshbpf
