// When to run the session handshake (agent/core/handshake.h) and what to
// install after it: the agent's tunnel-authentication policy, pure code fed
// with the time and what the data path's session slots report, so every
// rule is testable without root.
//
// The rules (docs/design/tunnel-auth.md, "Key exchange"):
//  - Either end initiates: at start, when its session is older than
//    rekey_after_s or has sent kRekeyAfterPackets, and when nothing has
//    verified for silent_after_s (the far end lost its keys). An initiation
//    unanswered is sent again, with a new ephemeral key, after a growing wait.
//  - Two initiations crossing: the end whose public key is smaller goes on,
//    the other answers (Handshake::WinsCrossing). The smaller one answers
//    too once its own initiation went unanswered (retried, or older than
//    first_retry_s): the other end may be unable to receive it (a NAT it
//    has not crossed yet), so waiting for it would never end.
//  - Every new session goes into the receive slot the peer is not sending
//    in, so packets of the old session in flight still verify.
//  - The initiator sends in the new session as soon as the response checks
//    out. The responder waits until the initiator's first packet verifies
//    in that slot: a replayed initiation then costs nothing but a slot.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "agent/core/handshake.h"
#include "agent/core/rate_budget.h"
#include "bpf/meshbpf.h"

namespace meshbpf {

// What one receive slot (mb_auth_rx) holds, as the data path reports it.
struct ReceiveSlot {
  uint32_t epoch = 0;  // 0: empty
  uint64_t verified = 0;
};
using ReceiveSlots = std::array<ReceiveSlot, MB_AUTH_RX_SESSIONS>;

// A new key and epoch in receive slot `slot`.
struct ReceiveInstall {
  uint32_t slot = 0;
  DirectionKey key;
  uint32_t epoch = 0;
};

struct SendInstall {
  DirectionKey key;
  uint32_t epoch = 0;
};

// What the caller does after an event, in this order: receive before send,
// so the peer's answer to our first new packet always finds its key.
struct SessionActions {
  std::optional<ReceiveInstall> install_receive;
  std::optional<SendInstall> install_send;
  // An initiation, to the peer on every path.
  std::optional<InitiationBytes> initiate;
  // A response, back to where the initiation came from.
  std::optional<ResponseBytes> reply;
  std::vector<std::string> log;
};

struct SessionTiming {
  double rekey_after_s = 120;
  double silent_after_s = 15;
  double first_retry_s = 0.5;
  double max_retry_s = 5;
};

// Handshake messages checked (up to four X25519 operations each) per second
// at most, with a burst of as many; the excess is refused unread. Only
// messages the peer vouched for (Handshake::Vouched) count: a flood of
// replayed genuine ones costs bounded CPU. One genuine exchange needs one.
inline constexpr double kHandshakesCheckedPerSecond = 20;

// Rekey long before the 64-bit counter could wrap, and before an attacker
// has seen enough tags under one key to matter (docs/design/tunnel-auth.md).
inline constexpr uint64_t kRekeyAfterPackets = uint64_t{1} << 40;

// For `status`: the session as the agent sees it.
struct SessionReport {
  bool established = false;      // a session sends and receives
  bool encrypted = false;        // link_aggregation.encryption
  uint32_t send_epoch = 0;
  double session_age_s = 0;      // since the current session was made
  bool handshake_pending = false;
  uint64_t handshakes = 0;       // completed, as either end
  uint64_t handshake_errors = 0; // messages refused
  std::string last_error;
};

class TunnelSessions {
 public:
  struct Sources {
    std::function<X25519KeyPair()> ephemeral = GenerateKeyPair;
    std::function<uint32_t()> random32;  // epochs; 0 and the slots' epochs are skipped
    std::function<uint64_t()> wall_ns;   // initiations' order (Handshake, "Order"); required
  };
  TunnelSessions(Handshake handshake, SessionTiming timing, Sources sources);

  // The first call, with no session in the maps: an initiation.
  SessionActions Start(uint64_t now_ns, const ReceiveSlots& slots);
  // Periodically (every ~100 ms): key confirmation, retries and rekeys.
  // `send_counter`: mb_auth_tx.next_counter.
  SessionActions OnTick(uint64_t now_ns, const ReceiveSlots& slots, uint64_t send_counter);
  // A handshake message from the network. An error says why it was refused
  // (the caller logs it, rate-limited); nothing changed then.
  SessionActions OnMessage(const uint8_t* data, size_t size, uint64_t now_ns,
                           const ReceiveSlots& slots);

  SessionReport Report(uint64_t now_ns) const;

 private:
  enum class Role { kInitiator, kResponder };
  struct Unconfirmed {
    uint32_t slot = 0;
    SessionKeys keys;
    Role role = Role::kInitiator;
    uint64_t since_ns = 0;
  };
  struct Pending {
    Handshake::Initiation sent;
    uint64_t sent_ns = 0;
    uint32_t attempts = 0;
  };
  SessionActions Initiate(uint64_t now_ns, const ReceiveSlots& slots, const std::string& why);
  uint32_t NewEpoch(const ReceiveSlots& slots);
  uint32_t SlotForNewSession() const;
  double RetryDelayS(uint32_t attempts) const;
  void Refused(SessionActions& actions, const absl::Status& why);
  // Takes one message's worth of the kHandshakesCheckedPerSecond budget,
  // or refuses the message in `actions`.
  bool MayCheck(SessionActions& actions, uint64_t now_ns);

  Handshake handshake_;
  SessionTiming timing_;
  Sources sources_;
  std::optional<uint32_t> active_slot_;  // where the peer sends now
  std::optional<Unconfirmed> unconfirmed_;
  std::optional<Pending> pending_;
  bool sending_ = false;                  // a send key is installed
  uint32_t send_epoch_ = 0;
  uint64_t session_ns_ = 0;               // when the current session was made
  uint64_t verified_total_ = 0;
  uint64_t progress_ns_ = 0;              // the last time a packet verified
  uint64_t handshakes_ = 0;
  uint64_t errors_ = 0;
  std::string last_error_;
  RateBudget check_budget_{kHandshakesCheckedPerSecond};
  // Responses already sent, by the initiator's ephemeral key: a copy of the
  // same initiation (it comes on every path) gets the same answer.
  std::deque<std::pair<X25519Key, ResponseBytes>> answered_;
  uint64_t last_order_sent_ = 0;
  // The highest order of an initiation answered: while a session works, an
  // older one is a replay and refused before the rate budget, so a flood of
  // recorded initiations cannot delay a genuine rekey. Without a working
  // session every vouched one is checked: a restarted peer whose clock went
  // back is answered (and its session then rekeys from our side too).
  uint64_t last_order_answered_ = 0;
};

}  // namespace meshbpf
