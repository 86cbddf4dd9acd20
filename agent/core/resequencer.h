// The receive-side resequencer (docs/design/resequencing.md) as people and
// scripts see it: agent/sys reads it from the data path's maps, `meshbpf
// status`, `stats` and the Prometheus endpoint show it. Plain numbers, so
// the control protocol and the formatters need no BPF header.
#pragma once

#include <cstdint>

namespace meshbpf {

struct ResequencerStats {
  uint32_t deadline_us = 0;  // mb_config.reseq_deadline_us in force; 0: resequencing off
  uint32_t occupancy = 0;    // packets held in slots now (mb_reseq.held)
  uint32_t window = 0;       // packets held at most: the slots, or max_queue_size if fewer
  // mb_reseq_counters summed over CPUs, since the maps were pinned.
  uint64_t held = 0, released_in_order = 0, released_deadline = 0, released_full = 0;
  uint64_t released_lost = 0;
  uint64_t gaps_skipped = 0, late = 0, duplicates = 0, passed = 0, resyncs = 0;
  // Loss repair: lost sequence numbers reported to the sender, and repairs
  // that arrived in time to fill their gap.
  uint64_t repairs_requested = 0, repaired = 0;

  bool enabled() const { return deadline_us != 0; }
  bool operator==(const ResequencerStats&) const = default;
};

}  // namespace meshbpf
