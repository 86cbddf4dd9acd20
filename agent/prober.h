// Probe bookkeeping, no I/O: numbers each path's probes, matches replies to
// what is outstanding (late, duplicated or unknown replies are ignored, so a
// replayed reply cannot make a dead path look alive) and reports probes that
// timed out as lost.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "agent/probe.h"

namespace meshbpf {

class PathProber {
 public:
  PathProber(size_t paths, uint64_t timeout_ns) : paths_(paths), timeout_ns_(timeout_ns) {}

  // The next request for `path`, recorded as outstanding.
  ProbeMessage NextRequest(uint8_t path, uint64_t now_ns);
  // Round-trip time of the outstanding probe this reply answers, if any.
  std::optional<uint64_t> OnReply(const ProbeMessage& reply, uint64_t now_ns);
  // Paths whose oldest outstanding probes have timed out, one entry per lost probe.
  std::vector<uint8_t> Expire(uint64_t now_ns);

 private:
  struct Outstanding {
    uint32_t seq;
    uint64_t sent_ns;
  };
  struct PathState {
    uint32_t next_seq = 1;
    std::deque<Outstanding> outstanding;  // in send order
  };
  std::vector<PathState> paths_;
  uint64_t timeout_ns_;
};

}  // namespace meshbpf
