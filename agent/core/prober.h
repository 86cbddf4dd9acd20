// Probe bookkeeping, no I/O: numbers each path's probes, matches replies to
// what is outstanding (late, duplicated or unknown replies are ignored, so a
// replayed reply cannot make a dead path look alive) and reports probes that
// timed out as lost.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "agent/core/probe.h"

namespace meshbpf {

// A reply matched to its request.
struct ProbeAnswer {
  uint64_t rtt_ns = 0;
  uint64_t sent_ns = 0;   // our clock
  PathTx tx_at_send;      // our tx counters for the path when it left
};

class PathProber {
 public:
  PathProber(size_t paths, uint64_t timeout_ns)
      : initial_timeout_ns_(timeout_ns), paths_(paths, PathState{timeout_ns}) {}

  // A reloaded config: `paths` paths from now on, those added with the
  // initial timeout; the ones kept keep their outstanding probes.
  void Resize(size_t paths);
  // Path `path` is another path now (reloaded config): what was outstanding
  // on it neither answers nor counts as lost.
  void Forget(uint8_t path);

  // How long a probe on `path` may take before it counts as lost (paths
  // with long RTTs need longer).
  void SetTimeout(uint8_t path, uint64_t timeout_ns);
  // The next request for `path`, recorded as outstanding with `tx_at_send`.
  ProbeMessage NextRequest(uint8_t path, uint64_t now_ns, PathTx tx_at_send = {});
  // The outstanding probe this reply answers, if any.
  std::optional<ProbeAnswer> OnReply(const ProbeMessage& reply, uint64_t now_ns);
  // Paths whose oldest outstanding probes have timed out, one entry per lost probe.
  std::vector<uint8_t> Expire(uint64_t now_ns);

 private:
  struct Outstanding {
    uint32_t seq;
    uint64_t sent_ns;
    PathTx tx;
  };
  struct PathState {
    uint64_t timeout_ns;
    uint32_t next_seq = 1;
    std::deque<Outstanding> outstanding;  // in send order
  };
  uint64_t initial_timeout_ns_;
  std::vector<PathState> paths_;
};

}  // namespace meshbpf
