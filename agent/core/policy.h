// Weight policy: pure code, no I/O. Turns validated settings and what the
// health module measured into the path table the data path schedules over.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "agent/core/config.h"
#include "agent/core/map_shapes.h"
#include "bpf/meshbpf.h"

namespace meshbpf {

// Bytes the data path adds to every packet on an IPv4 path: the
// encapsulation, or nothing in flow mode (packets leave NATed, not
// tunnelled).
uint32_t BondOverhead(const NodeSettings& settings);
// The same on path `p`: an IPv6 path's outer header is MB_OUTER_IPV6_EXTRA longer.
uint32_t PathOverhead(const NodeSettings& settings, const PathSettings& p);

// The MTU the bond device must have so every (encapsulated) packet still
// fits the smallest uplink.
uint32_t BondMtu(const NodeSettings& settings);

// The resequencer's slots (mb_reseq_slots), fixed when the data path loads:
// full-size packets at the bonded paths' configured rate for the deadline's
// ceiling (reorder_deadline_ms) plus kReseqQueueSlackMs of queueing, and at
// least max_queue_size, rounded up to a power of two from MB_RESEQ_WINDOW
// (1,024: 100 ms at 120 Mbit/s) to MB_RESEQ_SLOTS_MAX (8,192). A faster
// bond's window otherwise covered less than the skew it must hide, and
// packets a window ahead flushed it (released_full).
inline constexpr double kReseqQueueSlackMs = 50;
uint32_t ReseqSlots(const NodeSettings& settings);
// How long `slots` full-size packets last at the bonded paths' configured rate.
double ReseqSlotsMs(const NodeSettings& settings, uint32_t slots);

// Whether segmentation offload should be off on the bond device: per-packet
// path choice needs MTU-sized packets on slow links (a 64 KB GSO packet takes
// 26 ms to serialise at 20 Mbit/s, which reorders TCP badly).
bool ShouldDisableOffloads(const NodeSettings& settings);

// Paths that wait to take over, in the order they should: interfaces.backups
// first, then (active_backup mode) the other uplinks in config order.
std::vector<int> StandbyOrder(const NodeSettings& settings);

// What the agent has learnt about a path beyond its config.
struct PathCondition {
  bool usable = true;    // link up and, when probed, reaching the peer
  bool link_up = true;   // carrier and address, whatever the probes say
  bool degraded = false;  // loss or latency that would hurt the bond
  bool manual = false;    // moved into service by hand (meshbpf failover): bonded
  bool bulk_excluded = false;  // the floor guard took it out of bonded bulk traffic
  std::optional<double> capacity_bps;  // measured; default: configured rate_bps
  std::optional<double> owd_us;        // measured one-way delay; default: delay_ms
  std::optional<uint32_t> mtu;         // measured by size probes; default: the uplink's
  std::optional<double> rtt_us;        // smoothed probe RTT; none before a probe came back
  double rttvar_us = 0;                // its mean deviation (RFC 6298), with rtt_us
  double loss = 0;                     // measured one-way loss, 0..1
};

// The largest inner packet every path of `table` carries: the smallest
// path mtu less the encapsulation `overhead` (an IPv4 path's; IPv6 paths
// less MB_OUTER_IPV6_EXTRA more), mb_config.bond_mtu, which the MSS clamp
// uses; 0 without paths.
uint32_t TunnelPayloadMtu(const PathTable& table, uint32_t overhead);

// Below this, a delay difference is within the paths' jitter: packets from
// the nearer path are not held for it (the in-order fast path stays fast on
// alike links).
inline constexpr uint32_t kMinReseqHoldUs = 1000;

// Resequencing on (the peer's too: both ends share link_aggregation): every
// bulk-carrying path's reseq_hold_us (ACTIVE, not MB_PATH_F_NO_BULK), its
// one-way delay below the farthest such path's, at most the deadline; 0
// elsewhere: nothing waits for a path the guard took out. The bond then delivers every
// bonded packet after about the same delay, and the sender fills paths by
// capacity (see delay_cost_ns in bpf/lib/sched.h).
void SetReseqHolds(const NodeSettings& settings, PathTable& table);

// The margin a resequencing deadline leaves above the paths' delay spread,
// for queueing and jitter. Gaps of lost packets end sooner, once every path
// is past them (bpf/lib/reseq.h); the deadline bounds the wait behind a path
// that fell silent, and a deadline too short shows as late packets (they
// came after their gap was given up, and went up out of order). So the
// margin starts at kMinReseqMarginUs, doubles after a tick with late
// packets, and shrinks by a fifth after each kReseqMarginCalmNs without,
// never below kReseqJitterMargin times the largest jitter of an ACTIVE path.
inline constexpr uint32_t kMinReseqMarginUs = 25'000;
inline constexpr double kReseqJitterMargin = 4;
inline constexpr uint64_t kReseqMarginCalmNs = 10'000'000'000;

class ReseqMargin {
 public:
  // The resequencer's late count (cumulative) at `now_ns`; whether the
  // margin changed.
  bool Update(uint64_t late_total, uint64_t now_ns);
  double margin_us() const { return margin_us_; }

 private:
  double margin_us_ = kMinReseqMarginUs;
  std::optional<uint64_t> late_total_;
  uint64_t calm_since_ns_ = 0;
};

// The longest reseq_hold_us in `table`.
uint32_t LongestReseqHoldUs(const PathTable& table);

// Resequencing on: mb_config.reseq_deadline_us for `table` (holds set): the
// longest hold plus max(margin_us, kReseqJitterMargin x the largest
// jitter), in whole milliseconds, at most reorder_deadline_ms. 0 when off.
uint32_t ReseqDeadlineUs(const NodeSettings& settings, const PathTable& table,
                         double largest_jitter_us, double margin_us = kMinReseqMarginUs);

// Loss repair (link_aggregation.loss_repair): how long the receiver holds
// a gap for its repair (mb_config.repair_wait_us). A request and its repair
// take about one round trip, on paths the two agents each choose (the
// receiver cannot know the sender's choice): the largest retransmission
// timeout of RFC 6298's form, srtt + kRepairRttvarFactor x rttvar, among
// ACTIVE paths, plus kRepairAgentMarginUs for the two agents to wake up.
// A wait too short costs a spurious retransmission by the end host (the
// repair arrives after its gap was given up) and a halved window; one too
// long costs only when the repair never comes. At most `reseq_deadline_us`
// (the gap is given up then anyway), and the deadline itself before any
// ACTIVE path has an RTT. 0 when loss repair or resequencing is off, or in
// a mode without bonded bulk (a reload may switch modes: loss repair then
// rests). `conditions` by path id, as for BuildPathTable.
inline constexpr double kRepairRttvarFactor = 4;
inline constexpr uint32_t kRepairAgentMarginUs = 2000;
uint32_t RepairWaitUs(const NodeSettings& settings, const PathTable& table,
                      const std::vector<PathCondition>& conditions, uint32_t reseq_deadline_us);

// Loss repair is for a link's random loss. It is congestion, not a lossy
// link, when the receiver loses more than kRepairableLossFraction of what
// it receives (over at least kRepairGateMinPackets), or when fewer than
// kMinRepairedFraction of the numbers it asked for (at least
// kRepairGateMinRequests) came back in time: queues full at the
// bottleneck, whose drops the end hosts' TCP must see at once, and which a
// repair, queued behind them, cannot beat. (Measured: 8 BBR flows
// downloading over 40 + 20 Mbit/s lost ~4% to their own queues, and 2% of
// the repairs came in time; or the copies, put into the same queues,
// raised the requests to 38% of the packets, and goodput fell from 93% of
// the sum to 71-80%.) Repair then rests (RepairWaitUs 0: gaps are given
// up at once) for kRepairRestNs, twice as long each time it must rest
// again within two intervals of resuming (up to kMaxRepairRestNs), and
// resumes after an interval that lost less. Lost: the numbers asked for,
// or, while it rests, the gaps given up, whichever is more.
inline constexpr double kRepairableLossFraction = 0.05;
inline constexpr double kMinRepairedFraction = 0.5;
inline constexpr uint64_t kRepairGateMinPackets = 500;
inline constexpr uint64_t kRepairGateMinRequests = 20;
inline constexpr uint64_t kRepairRestNs = 5'000'000'000;
inline constexpr uint64_t kMaxRepairRestNs = 80'000'000'000;

class RepairGate {
 public:
  // The resequencer's cumulative counts, and the packets received on every
  // path.
  struct Totals {
    uint64_t requested = 0, repaired = 0, skipped = 0, received = 0;
  };
  // Every rebalance interval; whether the gate opened or closed.
  bool Update(const Totals& totals, uint64_t now_ns);
  bool open() const { return open_; }
  // What made it close or open: the last interval judged.
  double last_loss() const { return last_loss_; }
  std::optional<double> last_repaired() const { return last_repaired_; }
  uint64_t rest_ns() const { return rest_ns_; }
  uint64_t rests() const { return rests_; }  // times it closed

 private:
  bool open_ = true;
  std::optional<Totals> last_;
  uint64_t closed_ns_ = 0;
  std::optional<uint32_t> judged_since_open_;  // intervals judged since it last resumed
  uint64_t rest_ns_ = kRepairRestNs;
  uint64_t rests_ = 0;
  double last_loss_ = 0;
  std::optional<double> last_repaired_;
};

// The path a repair goes on: among ACTIVE paths the least lossy, where
// losses within kRepairLossTie count as equal and the lower smoothed RTT
// (a measured one before none) decides, then the lower id. nullopt when no
// path is ACTIVE. `conditions` by path id; absent ones count as lossless
// with no RTT measured.
inline constexpr double kRepairLossTie = 0.005;
std::optional<uint8_t> RepairPathId(const PathTable& table,
                                    const std::vector<PathCondition>& conditions);

// Path table for the configured paths; unused slots zeroed.
// - Bonded paths (active_backup: the primary only; plus paths moved in by
//   hand) that are usable and not degraded are ACTIVE. Degraded ones carry traffic only when no healthy
//   bonded path and no healthy standby is left (a lossy path beats none),
//   except in redundant mode, where the copies on other paths make up for
//   their loss.
// - The first usable standby (interfaces.backups order, healthy ones first)
//   is BACKUP: the data path uses it when nothing is ACTIVE.
// - Everything else is DISABLED. Absent conditions count as healthy.
// - When no path at all is usable, the probes' verdict is set aside and
//   every path whose link is up counts as usable: at start before the peer
//   answers, or with probes blocked on the way, sending beats dropping all.
// - ACTIVE paths the floor guard excluded (and not moved in by hand) get
//   MB_PATH_F_NO_BULK, in load_balance and latency modes, unless that would
//   leave no ACTIVE path for bulk.
// - With resequencing on, holds as SetReseqHolds.
PathTable BuildPathTable(const NodeSettings& settings,
                         const std::vector<PathCondition>& conditions = {});

}  // namespace meshbpf
