#include "agent/core/tunnel_sessions.h"

#include <gtest/gtest.h>

#include <optional>

#include "tests/test_common.h"

namespace meshbpf {
namespace {

// One end: its policy and what its data path would hold.
struct End {
  End(const X25519KeyPair& local, const X25519Key& peer, uint32_t first_epoch)
      : next_epoch(first_epoch),
        sessions(Handshake(local, peer), SessionTiming{},
                 TunnelSessions::Sources{GenerateKeyPair, [this] { return next_epoch++; },
                                         [this] { return wall_ns; }}) {}
  // Installs what `a` says; returns what it sends.
  SessionActions Apply(SessionActions a) {
    if (a.install_receive) {
      slots[a.install_receive->slot] = {a.install_receive->epoch, 0};
      receive_keys[a.install_receive->slot] = a.install_receive->key;
    }
    if (a.install_send) send = *a.install_send;
    return a;
  }
  // A packet from this end arrives at `to`: verified if a slot has its epoch and key.
  bool SendPacketTo(End& to) const {
    if (!send) return false;
    for (size_t i = 0; i < to.slots.size(); ++i) {
      if (to.slots[i].epoch == send->epoch && to.receive_keys[i] == send->key) {
        ++to.slots[i].verified;
        return true;
      }
    }
    return false;
  }
  uint32_t next_epoch;
  uint64_t wall_ns = 1'000'000;  // initiations' order
  TunnelSessions sessions;
  ReceiveSlots slots{};
  std::array<DirectionKey, MB_AUTH_RX_SESSIONS> receive_keys{};
  std::optional<SendInstall> send;
};

class TunnelSessionsTest : public ::testing::Test {
 protected:
  TunnelSessionsTest() {
    first_keys_ = GenerateKeyPair();
    second_keys_ = GenerateKeyPair();
    // `first` wins crossings: the smaller public key.
    if (!Handshake(first_keys_, second_keys_.public_key).WinsCrossing()) std::swap(first_keys_, second_keys_);
    first_.emplace(first_keys_, second_keys_.public_key, 100);
    second_.emplace(second_keys_, first_keys_.public_key, 200);
  }
  SessionActions Deliver(const InitiationBytes& m, End& to, uint64_t now) {
    return to.Apply(to.sessions.OnMessage(m.data(), m.size(), now, to.slots));
  }
  SessionActions Deliver(const ResponseBytes& m, End& to, uint64_t now) {
    return to.Apply(to.sessions.OnMessage(m.data(), m.size(), now, to.slots));
  }
  SessionActions Tick(End& e, uint64_t now) {
    return e.Apply(e.sessions.OnTick(now, e.slots, 0));
  }
  // Both start at once; their initiations cross; the winner's goes on.
  void Establish() {
    SessionActions a = first_->Apply(first_->sessions.Start(0, first_->slots));
    SessionActions b = second_->Apply(second_->sessions.Start(0, second_->slots));
    ASSERT_TRUE(a.initiate && b.initiate);
    recorded_ = *a.initiate;
    SessionActions at_first = Deliver(*b.initiate, *first_, 1);
    EXPECT_FALSE(at_first.reply) << "the winner answers the loser's initiation";
    SessionActions at_second = Deliver(*a.initiate, *second_, 1);
    ASSERT_TRUE(at_second.reply);
    EXPECT_TRUE(at_second.install_receive);
    EXPECT_FALSE(at_second.install_send) << "the responder waits for key confirmation";
    SessionActions done = Deliver(*at_second.reply, *first_, 2);
    EXPECT_TRUE(done.install_receive && done.install_send);
    // The initiator's first packet confirms; the responder then sends too.
    ASSERT_TRUE(first_->SendPacketTo(*second_));
    SessionActions confirmed = Tick(*second_, 3);
    ASSERT_TRUE(confirmed.install_send);
    ASSERT_TRUE(second_->SendPacketTo(*first_));
    Tick(*first_, 4);
  }
  X25519KeyPair first_keys_, second_keys_;
  std::optional<End> first_, second_;
  InitiationBytes recorded_{};  // the winner's first initiation, as an attacker would record it
};

TEST_F(TunnelSessionsTest, CrossingInitiationsMakeOneSessionBothEndsUse) {
  Establish();
  EXPECT_TRUE(first_->sessions.Report(5).established);
  EXPECT_TRUE(second_->sessions.Report(5).established);
  EXPECT_EQ(first_->sessions.Report(5).handshakes, 1u);
  EXPECT_EQ(second_->sessions.Report(5).handshakes, 1u);
}

// The winner of crossings cannot reach the other end (it is behind a NAT
// the winner has no mapping in yet): once its own initiation went
// unanswered, it answers the other's rather than wait forever.
TEST_F(TunnelSessionsTest, AWinnerWhoseInitiationsGetNowhereAnswersTheOthers) {
  first_->Apply(first_->sessions.Start(0, first_->slots));
  SessionActions b = second_->Apply(second_->sessions.Start(0, second_->slots));
  EXPECT_FALSE(Deliver(*b.initiate, *first_, kSecond / 10).reply) << "a young crossing: ours goes on";
  SessionActions retry = Tick(*second_, kSecond);
  ASSERT_TRUE(retry.initiate);
  SessionActions answer = Deliver(*retry.initiate, *first_, kSecond);
  ASSERT_TRUE(answer.reply) << "ours went unanswered: answer theirs";
  EXPECT_TRUE(Deliver(*answer.reply, *second_, kSecond).install_send);
  // While its answer waits for confirmation, it starts no handshake of its own.
  EXPECT_FALSE(Tick(*first_, kSecond + kSecond / 10).initiate);
  ASSERT_TRUE(second_->SendPacketTo(*first_));
  EXPECT_TRUE(Tick(*first_, kSecond + kSecond / 5).install_send);
}

TEST_F(TunnelSessionsTest, ACopyOfTheInitiationGetsTheSameAnswerAndChangesNothing) {
  SessionActions a = first_->Apply(first_->sessions.Start(0, first_->slots));
  SessionActions r1 = Deliver(*a.initiate, *second_, 1);
  SessionActions r2 = Deliver(*a.initiate, *second_, 1);  // the copy from the other path
  ASSERT_TRUE(r1.reply && r2.reply);
  EXPECT_EQ(*r1.reply, *r2.reply);
  EXPECT_FALSE(r2.install_receive);
  SessionActions done = Deliver(*r1.reply, *first_, 2);
  EXPECT_TRUE(done.install_send);
  EXPECT_FALSE(Deliver(*r2.reply, *first_, 2).install_send) << "a second copy of the answer is ignored";
}

TEST_F(TunnelSessionsTest, AReplayedInitiationNeverMovesTheSessionInUse) {
  Establish();
  const uint32_t in_use = second_->send->epoch;
  // Later genuine initiations push the recorded one out of the answer cache...
  for (int i = 0; i < 9; ++i) {
    const Handshake::Initiation fresh =
        Handshake(first_keys_, second_keys_.public_key).Initiate(GenerateKeyPair(), 900 + i, 2'000'000 + i);
    Deliver(fresh.message, *second_, 10);
  }
  // ...and an attacker replays it: older than those answered, it is refused
  // unread; sending and the slot in use stay as they were.
  SessionActions replayed = Deliver(recorded_, *second_, 20);
  EXPECT_FALSE(replayed.reply);
  EXPECT_FALSE(replayed.install_receive || replayed.install_send);
  Tick(*second_, 21);
  EXPECT_EQ(second_->send->epoch, in_use);
  EXPECT_TRUE(first_->SendPacketTo(*second_)) << "the genuine session still verifies";
  EXPECT_TRUE(second_->SendPacketTo(*first_));
}

TEST_F(TunnelSessionsTest, UnansweredInitiationsAreRetriedLessAndLessOften) {
  first_->Apply(first_->sessions.Start(0, first_->slots));
  std::vector<double> sent_at;
  for (uint64_t t = 0; t <= 30 * kSecond; t += kSecond / 10) {
    if (Tick(*first_, t).initiate) sent_at.push_back(static_cast<double>(t) / kSecond);
  }
  ASSERT_GE(sent_at.size(), 6u);
  EXPECT_NEAR(sent_at[0], 0.5, 0.11);
  EXPECT_NEAR(sent_at[1], 1.5, 0.11);
  EXPECT_NEAR(sent_at[2], 3.5, 0.11);
  // Capped at 5 s apart.
  EXPECT_NEAR(sent_at.back() - sent_at[sent_at.size() - 2], 5.0, 0.11);
  EXPECT_TRUE(first_->sessions.Report(30 * kSecond).handshake_pending);
}

TEST_F(TunnelSessionsTest, RekeysAfterTwoMinutesIntoTheOtherSlot) {
  Establish();
  const SendInstall old_send = *first_->send;
  uint64_t t = 5;
  std::optional<InitiationBytes> rekey;
  End* initiator = nullptr;
  for (; t < 200 * kSecond && !rekey; t += kSecond / 10) {
    // Traffic both ways keeps the session from looking silent.
    first_->SendPacketTo(*second_);
    second_->SendPacketTo(*first_);
    for (End* e : {&*first_, &*second_}) {
      SessionActions a = Tick(*e, t);
      if (a.initiate) {
        rekey = a.initiate;
        initiator = e;
        break;
      }
    }
  }
  ASSERT_TRUE(rekey);
  EXPECT_GE(t, 120 * kSecond);
  End& responder = initiator == &*first_ ? *second_ : *first_;
  SessionActions answer = Deliver(*rekey, responder, t);
  ASSERT_TRUE(answer.reply && answer.install_receive);
  // The responder's new slot is not the one its peer still sends in.
  EXPECT_TRUE(initiator->SendPacketTo(responder)) << "old session still verifies after the answer";
  SessionActions done = Deliver(*answer.reply, *initiator, t + 1);
  ASSERT_TRUE(done.install_send);
  // The responder keeps receiving the old session's packets in flight...
  EXPECT_TRUE(responder.SendPacketTo(*initiator));
  // ...and the new one, then confirms and moves its own sending over.
  EXPECT_TRUE(initiator->SendPacketTo(responder));
  SessionActions confirmed = Tick(responder, t + 2);
  ASSERT_TRUE(confirmed.install_send);
  EXPECT_NE(first_->send->epoch, old_send.epoch);
  EXPECT_TRUE(responder.SendPacketTo(*initiator));
}

TEST_F(TunnelSessionsTest, ASilentSessionStartsAHandshake) {
  Establish();
  bool initiated = false;
  for (uint64_t t = 5; t < 20 * kSecond && !initiated; t += kSecond / 10) initiated = Tick(*first_, t).initiate.has_value();
  EXPECT_TRUE(initiated) << "nothing verified for 15 s: the peer may have lost its keys";
}

// A flood from a spoofed peer address, of initiations as perfect as a
// stranger's keys make them: each is refused by the vouch check alone and
// never takes from the budget, so the genuine initiation in the middle of
// the flood is answered at once.
TEST_F(TunnelSessionsTest, AStrangersFloodDoesNotDelayTheGenuineInitiation) {
  const Handshake stranger(GenerateKeyPair(), second_keys_.public_key);
  std::optional<InitiationBytes> genuine;
  bool answered = false;
  for (int i = 0; i < 400; ++i) {  // within 0.2 s
    const uint64_t now = static_cast<uint64_t>(i) * kSecond / 2000;
    if (i == 300) {
      genuine = first_->Apply(first_->sessions.Start(now, first_->slots)).initiate;
      ASSERT_TRUE(genuine);
      answered = Deliver(*genuine, *second_, now).reply.has_value();
      continue;
    }
    const Handshake::Initiation junk = stranger.Initiate(GenerateKeyPair(), 1 + i, 1 + i);
    SessionActions a = second_->sessions.OnMessage(junk.message.data(), junk.message.size(), now,
                                                   second_->slots);
    EXPECT_FALSE(a.reply);
    EXPECT_NE(second_->sessions.Report(now).last_error.find("vouch"), std::string::npos);
  }
  EXPECT_TRUE(answered) << "after 300 forged initiations in 0.15 s";
  EXPECT_EQ(second_->sessions.Report(kSecond).handshake_errors, 399u);
}

// An on-path attacker replaying genuine initiations it recorded (each
// vouched for): at most kHandshakesCheckedPerSecond get the X25519 work;
// the rest are refused unread.
TEST_F(TunnelSessionsTest, AFloodOfVouchedInitiationsIsCheckedAtABoundedRate) {
  const Handshake genuine_end(first_keys_, second_keys_.public_key);
  int checked = 0;
  for (int i = 0; i < 200; ++i) {  // within 0.2 s
    const Handshake::Initiation replay = genuine_end.Initiate(GenerateKeyPair(), 1 + i, 1 + i);
    checked += second_->sessions
                   .OnMessage(replay.message.data(), replay.message.size(),
                              static_cast<uint64_t>(i) * kSecond / 1000, second_->slots)
                   .reply.has_value();
  }
  EXPECT_GE(checked, 20) << "the burst";
  EXPECT_LE(checked, 30) << "the burst and 0.2 s of the rate";
  EXPECT_EQ(second_->sessions.Report(kSecond).handshake_errors, static_cast<uint64_t>(200 - checked));
}

// While a session works, recorded initiations older than one answered are
// refused before the rate budget: a flood of them, however fast, leaves a
// genuine rekey its budget.
TEST_F(TunnelSessionsTest, OlderInitiationsAreRefusedUnreadWhileASessionWorks) {
  Establish();
  const uint64_t errors_before = second_->sessions.Report(5).handshake_errors;
  const Handshake genuine_end(first_keys_, second_keys_.public_key);
  for (int i = 0; i < 300; ++i) {  // within 0.3 s, far above the budget
    // Recorded before the session now in use: orders below its initiation's.
    const Handshake::Initiation older = genuine_end.Initiate(GenerateKeyPair(), 5 + i, 1 + i);
    SessionActions a = Deliver(older.message, *second_, 5 + static_cast<uint64_t>(i) * kSecond / 1000);
    ASSERT_FALSE(a.reply) << i;
  }
  const SessionReport r = second_->sessions.Report(kSecond / 2);
  EXPECT_EQ(r.handshake_errors - errors_before, 300u);
  EXPECT_NE(r.last_error.find("older than one answered"), std::string::npos) << r.last_error;
  // The genuine end rekeys (its clock went on): answered at once.
  first_->wall_ns += 1'000'000'000;
  SessionActions rekey = first_->Apply(first_->sessions.OnTick(130 * kSecond, first_->slots, 0));
  ASSERT_TRUE(rekey.initiate);
  EXPECT_TRUE(Deliver(*rekey.initiate, *second_, 130 * kSecond).reply);
}

// A peer restarted with its clock behind: while our session still works its
// initiations are refused, but once it has gone silent they are answered.
TEST_F(TunnelSessionsTest, APeerWhoseClockWentBackIsAnsweredOnceTheSessionIsGone) {
  Establish();
  End restarted(first_keys_, second_keys_.public_key, 700);
  restarted.wall_ns = 1;  // behind every order answered before
  SessionActions a = restarted.Apply(restarted.sessions.Start(10, restarted.slots));
  ASSERT_TRUE(a.initiate);
  EXPECT_FALSE(Deliver(*a.initiate, *second_, 10).reply) << "the session still works";
  // Nothing verifies any more: the responder's session goes silent and it
  // starts a handshake of its own, which the restarted end answers.
  SessionActions own = Tick(*second_, 20 * kSecond);
  ASSERT_TRUE(own.initiate);
  EXPECT_TRUE(Deliver(*own.initiate, restarted, 20 * kSecond).reply);
}

TEST_F(TunnelSessionsTest, RefusedMessagesAreCountedAndNamed) {
  first_->Apply(first_->sessions.Start(0, first_->slots));
  const uint8_t junk[10] = {MB_WIRE_VERSION_HANDSHAKE, 9};
  SessionActions a = first_->sessions.OnMessage(junk, sizeof(junk), 1, first_->slots);
  EXPECT_FALSE(a.install_receive || a.install_send || a.reply);
  ASSERT_EQ(a.log.size(), 1u);
  const SessionReport r = first_->sessions.Report(1);
  EXPECT_EQ(r.handshake_errors, 1u);
  EXPECT_NE(r.last_error.find("handshake"), std::string::npos);
}

}  // namespace
}  // namespace meshbpf
