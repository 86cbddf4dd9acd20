#include "agent/core/tunnel_sessions.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace meshbpf {
namespace {

constexpr double kNsPerS = 1e9;
constexpr size_t kAnsweredKept = 8;

double SecondsBetween(uint64_t from_ns, uint64_t to_ns) {
  return to_ns > from_ns ? static_cast<double>(to_ns - from_ns) / kNsPerS : 0.0;
}

uint64_t VerifiedTotal(const ReceiveSlots& slots) {
  uint64_t total = 0;
  for (const ReceiveSlot& s : slots) total += s.verified;
  return total;
}

}  // namespace

TunnelSessions::TunnelSessions(Handshake handshake, SessionTiming timing, Sources sources)
    : handshake_(std::move(handshake)), timing_(timing), sources_(std::move(sources)) {}

SessionActions TunnelSessions::Start(uint64_t now_ns, const ReceiveSlots& slots) {
  verified_total_ = VerifiedTotal(slots);
  progress_ns_ = now_ns;
  return Initiate(now_ns, slots, "start");
}

uint32_t TunnelSessions::SlotForNewSession() const {
  return active_slot_ ? (*active_slot_ + 1) % MB_AUTH_RX_SESSIONS : 0;
}

uint32_t TunnelSessions::NewEpoch(const ReceiveSlots& slots) {
  for (;;) {
    const uint32_t epoch = sources_.random32();
    if (epoch == 0) continue;
    if (std::none_of(slots.begin(), slots.end(),
                     [epoch](const ReceiveSlot& s) { return s.epoch == epoch; })) {
      return epoch;
    }
  }
}

double TunnelSessions::RetryDelayS(uint32_t attempts) const {
  return std::min(timing_.max_retry_s,
                  timing_.first_retry_s * std::pow(2.0, std::max<uint32_t>(attempts, 1) - 1));
}

SessionActions TunnelSessions::Initiate(uint64_t now_ns, const ReceiveSlots& slots,
                                        const std::string& why) {
  SessionActions actions;
  const uint32_t attempts = pending_ ? pending_->attempts + 1 : 1;
  // Never repeated nor lowered, whatever the wall clock does meanwhile.
  last_order_sent_ = std::max(sources_.wall_ns(), last_order_sent_ + 1);
  Pending next{handshake_.Initiate(sources_.ephemeral(), NewEpoch(slots), last_order_sent_),
               now_ns, attempts};
  actions.initiate = next.sent.message;
  if (attempts == 1) actions.log.push_back(absl::StrCat("handshake: initiating (", why, ")"));
  pending_ = std::move(next);
  return actions;
}

bool TunnelSessions::MayCheck(SessionActions& actions, uint64_t now_ns) {
  if (!check_budget_.Take(now_ns)) {
    Refused(actions, absl::ResourceExhaustedError(absl::StrFormat(
                         "handshake: more than %.0f messages a second: not checked",
                         kHandshakesCheckedPerSecond)));
    return false;
  }
  return true;
}

void TunnelSessions::Refused(SessionActions& actions, const absl::Status& why) {
  ++errors_;
  last_error_ = std::string(why.message());
  actions.log.push_back(last_error_);
}

SessionActions TunnelSessions::OnTick(uint64_t now_ns, const ReceiveSlots& slots,
                                      uint64_t send_counter) {
  SessionActions actions;
  if (unconfirmed_) {
    const ReceiveSlot& slot = slots[unconfirmed_->slot];
    if (slot.epoch == unconfirmed_->keys.receive_epoch && slot.verified > 0) {
      active_slot_ = unconfirmed_->slot;
      if (unconfirmed_->role == Role::kResponder) {
        // The initiator holds the keys: only now send in them.
        SendInstall send{unconfirmed_->keys.send_key, unconfirmed_->keys.send_epoch};
        actions.install_send = send;
        sending_ = true;
        send_epoch_ = send.epoch;
        session_ns_ = now_ns;
        ++handshakes_;
      }
      actions.log.push_back(absl::StrFormat("handshake: session %08x confirmed by the peer's "
                                            "first packet; now sending in %08x",
                                            slot.epoch, send_epoch_));
      unconfirmed_.reset();
    }
  }
  const uint64_t verified = VerifiedTotal(slots);
  if (verified != verified_total_) progress_ns_ = now_ns;
  verified_total_ = verified;

  if (pending_) {
    if (SecondsBetween(pending_->sent_ns, now_ns) >= RetryDelayS(pending_->attempts)) {
      SessionActions again = Initiate(now_ns, slots, "retry");
      actions.initiate = again.initiate;
    }
    return actions;
  }
  // An answer of ours waits for the initiator's first packet: give it time
  // before starting a handshake of our own.
  const bool answer_waiting = unconfirmed_ && unconfirmed_->role == Role::kResponder &&
                              SecondsBetween(unconfirmed_->since_ns, now_ns) < timing_.max_retry_s;
  std::string why;
  if (!sending_) {
    if (!answer_waiting) why = "no session yet";
  } else if (SecondsBetween(session_ns_, now_ns) >= timing_.rekey_after_s) {
    why = absl::StrFormat("rekey: session %.0f s old", SecondsBetween(session_ns_, now_ns));
  } else if (send_counter >= kRekeyAfterPackets) {
    why = "rekey: packet counter";
  } else if (SecondsBetween(progress_ns_, now_ns) >= timing_.silent_after_s) {
    why = absl::StrFormat("nothing verified for %.0f s", SecondsBetween(progress_ns_, now_ns));
    progress_ns_ = now_ns;  // once per silent period, not every tick
  }
  if (why.empty()) return actions;
  SessionActions start = Initiate(now_ns, slots, why);
  actions.initiate = start.initiate;
  for (std::string& line : start.log) actions.log.push_back(std::move(line));
  return actions;
}

SessionActions TunnelSessions::OnMessage(const uint8_t* data, size_t size, uint64_t now_ns,
                                         const ReceiveSlots& slots) {
  SessionActions actions;
  // Before the rate budget: what the peer did not vouch for never takes
  // from what its genuine messages need.
  if (absl::Status vouched = handshake_.Vouched(data, size); !vouched.ok()) {
    Refused(actions, vouched);
    return actions;
  }
  if (data[1] == kHandshakeInitiation) {
    X25519Key ephemeral{};
    std::copy(data + 8, data + 8 + kX25519KeySize, ephemeral.begin());
    for (const auto& [key, response] : answered_) {
      if (key == ephemeral) {
        actions.reply = response;
        return actions;
      }
    }
    const uint64_t order = Handshake::OrderOf(data);
    if (sending_ && active_slot_ && order <= last_order_answered_) {
      Refused(actions, absl::PermissionDeniedError(
                           "handshake: an initiation older than one answered (a replay): "
                           "refused unread"));
      return actions;
    }
    const bool ours_is_young = pending_ && pending_->attempts == 1 &&
                               SecondsBetween(pending_->sent_ns, now_ns) < timing_.first_retry_s;
    if (ours_is_young && handshake_.WinsCrossing()) {
      actions.log.push_back("handshake: initiations crossed; ours goes on");
      return actions;
    }
    if (!MayCheck(actions, now_ns)) return actions;
    const uint32_t slot = SlotForNewSession();
    absl::StatusOr<Handshake::Response> response =
        handshake_.Respond(data, size, sources_.ephemeral(), NewEpoch(slots));
    if (!response.ok()) {
      Refused(actions, response.status());
      return actions;
    }
    pending_.reset();
    actions.install_receive =
        ReceiveInstall{slot, response->keys.receive_key, response->keys.receive_epoch};
    actions.reply = response->message;
    unconfirmed_ = Unconfirmed{slot, response->keys, Role::kResponder, now_ns};
    answered_.emplace_back(response->initiator_ephemeral, response->message);
    last_order_answered_ = std::max(last_order_answered_, order);
    if (answered_.size() > kAnsweredKept) answered_.pop_front();
    actions.log.push_back(absl::StrFormat(
        "handshake: answered an initiation; receiving in %08x, sending once it is confirmed",
        response->keys.receive_epoch));
    return actions;
  }
  // A response: only to the initiation outstanding. Copies of an answered
  // one (it came on every path) find none.
  if (!pending_) return actions;
  if (!MayCheck(actions, now_ns)) return actions;
  absl::StatusOr<SessionKeys> keys = handshake_.Complete(pending_->sent, data, size);
  if (!keys.ok()) {
    Refused(actions, keys.status());
    return actions;
  }
  const uint32_t slot = SlotForNewSession();
  actions.install_receive = ReceiveInstall{slot, keys->receive_key, keys->receive_epoch};
  actions.install_send = SendInstall{keys->send_key, keys->send_epoch};
  unconfirmed_ = Unconfirmed{slot, *keys, Role::kInitiator, now_ns};
  pending_.reset();
  sending_ = true;
  send_epoch_ = keys->send_epoch;
  session_ns_ = now_ns;
  ++handshakes_;
  actions.log.push_back(absl::StrFormat(
      "handshake: complete; sending in %08x, receiving in %08x", keys->send_epoch,
      keys->receive_epoch));
  return actions;
}

SessionReport TunnelSessions::Report(uint64_t now_ns) const {
  SessionReport r;
  r.established = sending_ && active_slot_.has_value();
  r.send_epoch = send_epoch_;
  r.session_age_s = sending_ ? SecondsBetween(session_ns_, now_ns) : 0;
  r.handshake_pending = pending_.has_value();
  r.handshakes = handshakes_;
  r.handshake_errors = errors_;
  r.last_error = last_error_;
  return r;
}

}  // namespace meshbpf
