// Path MTU discovery by probing, per path, no I/O. A path's uplink may
// carry 1500-byte packets to its first hop while a hop behind it carries
// fewer (PPPoE's 1492, a cellular or tunnelled backhaul's 1400-odd); every
// tunnel packet has DF set, so larger ones vanish, and an ICMP "fragmentation
// needed" about them reaches the host stack, not the data path. So the agent
// asks: now and then one probe padded to the uplink's MTU; when it is lost,
// a ladder of probes, one of each common size below (RFC 1191's plateaus),
// sent at once, and the largest answered is what the path carries. The
// ordinary probes decide whether the path is up; these only its size.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace meshbpf {

class PathMtuSearch {
 public:
  // A probe to send: `size` bytes of outer IPv4 packet, numbered `seq`.
  struct Probe {
    uint32_t seq;
    uint32_t size;
  };
  // Sizes below 1280 (IPv6's minimum) are not tried: a path that carries
  // less is not usable for the bond.
  static constexpr uint32_t kSmallest = 1280;
  static constexpr uint64_t kCheckIntervalNs = 60'000'000'000ull;
  static constexpr uint64_t kFirstCheckNs = 2'000'000'000ull;  // after the path came up

  PathMtuSearch(uint32_t link_mtu, uint64_t timeout_ns)
      : link_mtu_(link_mtu), mtu_(link_mtu), timeout_ns_(timeout_ns) {}

  // The path is up (again) at now_ns: a check follows kFirstCheckNs later.
  void OnPathUp(uint64_t now_ns);
  // The path is down: nothing is sent, nothing outstanding counts.
  void OnPathDown();
  // The probes to send at now_ns (none, the check, or a ladder that
  // Expire started). Call after Expire.
  std::vector<Probe> Due(uint64_t now_ns);
  void OnAnswered(uint32_t seq);
  // Probe `seq` could not be sent (the bond device refused its size, no
  // route): it says nothing about the path. A check that cannot be sent is
  // called off until the next one; a ladder goes on without that size.
  void OnNotSent(uint32_t seq, uint64_t now_ns);
  // Ends what timed out; returns the new MTU when it changed.
  std::optional<uint32_t> Expire(uint64_t now_ns);

  // What the path carries: the uplink's MTU until probes showed less.
  uint32_t mtu() const { return mtu_; }
  uint32_t link_mtu() const { return link_mtu_; }
  // "probes of 1500 bytes lost, of 1400 answered" for the log.
  const std::string& reason() const { return reason_; }

 private:
  enum class Phase { kDown, kIdle, kCheck, kLadder };
  std::vector<uint32_t> LadderSizes() const;

  uint32_t link_mtu_, mtu_;
  uint64_t timeout_ns_;
  Phase phase_ = Phase::kDown;
  uint64_t next_check_ns_ = 0;
  uint64_t deadline_ns_ = 0;  // kCheck / kLadder: when what is outstanding counts as lost
  uint32_t next_seq_ = 1;
  std::vector<Probe> outstanding_;
  std::vector<Probe> to_send_;
  uint32_t largest_answered_ = 0;
  std::string reason_;
};

}  // namespace meshbpf
