#include "agent/sys/clock.h"
#include "agent/daemon/tunnel_auth.h"

#include <arpa/inet.h>

#include <random>

#include "absl/strings/str_cat.h"
#include "agent/core/net_format.h"
#include "agent/sys/key_file.h"
#include "agent/sys/log.h"

namespace meshbpf {
namespace {

uint32_t RandomEpoch() {
  // Epochs need to differ, not to be secret: the keys are.
  static std::mt19937 engine{std::random_device{}()};
  return static_cast<uint32_t>(engine());
}

}  // namespace

absl::StatusOr<std::unique_ptr<TunnelAuth>> TunnelAuth::Start(const NodeSettings& settings,
                                                              TunnelAuthIo io, uint64_t now_ns) {
  absl::StatusOr<X25519KeyPair> local = ReadPrivateKeyFile(settings.authentication->private_key_file);
  if (!local.ok()) return local.status();
  absl::StatusOr<std::unique_ptr<HandshakeSocket>> socket = HandshakeSocket::Open(settings.port);
  if (!socket.ok()) return socket.status();
  // A previous run's sessions may come from other keys (the config changed):
  // none outlives the agent that made it.
  if (absl::Status s = io.maps->Clear(); !s.ok()) return s;
  TunnelSessions::Sources sources;
  sources.random32 = RandomEpoch;
  sources.wall_ns = WallNs;
  Log(LogLevel::kInfo, absl::StrCat("authentication: this node's public key ",
                                    KeyToBase64(local->public_key), ", the peer's ",
                                    KeyToBase64(settings.authentication->peer_public_key)));
  std::unique_ptr<TunnelAuth> auth(new TunnelAuth(
      TunnelSessions(Handshake(*local, settings.authentication->peer_public_key), SessionTiming{},
                     std::move(sources)),
      std::move(*socket), std::move(io)));
  auth->Apply(auth->sessions_.Start(now_ns, auth->ReadSlots()), nullptr);
  return auth;
}

ReceiveSlots TunnelAuth::ReadSlots() {
  ReceiveSlots slots{};
  for (uint32_t i = 0; i < slots.size(); ++i) {
    absl::StatusOr<mb_auth_rx> rx = io_.maps->ReadReceive(i);
    if (!rx.ok()) {
      Warn("read", std::string(rx.status().message()));
      continue;
    }
    slots[i] = {rx->epoch, rx->verified};
  }
  return slots;
}

void TunnelAuth::Warn(const std::string& key, const std::string& line) {
  WarnThrottled(throttle_, key, absl::StrCat("authentication: ", line));
}

void TunnelAuth::OnReadable(uint64_t now_ns) {
  socket_->Drain([&](const uint8_t* data, size_t size, const HandshakeSender& from) {
    const uint64_t refused_before = sessions_.Report(now_ns).handshake_errors;
    SessionActions actions = sessions_.OnMessage(data, size, now_ns, ReadSlots());
    // Refusals name the sender: they are what an operator needs to see. One
    // throttle for all, so a flood of varied junk stays a line per 10 s.
    if (sessions_.Report(now_ns).handshake_errors != refused_before) {
      for (const std::string& line : actions.log) {
        Warn("refused", absl::StrCat(line, " (from ", IpPortText(from.address, from.port), ")"));
      }
      actions.log.clear();
    }
    Apply(actions, &from);
  });
}

void TunnelAuth::OnTick(uint64_t now_ns) {
  absl::StatusOr<mb_auth_tx> tx = io_.maps->ReadSend();
  Apply(sessions_.OnTick(now_ns, ReadSlots(), tx.ok() ? tx->next_counter : 0), nullptr);
}

void TunnelAuth::Apply(const SessionActions& actions, const HandshakeSender* from) {
  for (const std::string& line : actions.log) Log(LogLevel::kInfo, absl::StrCat("authentication: ", line));
  if (actions.install_receive) {
    const ReceiveInstall& r = *actions.install_receive;
    if (absl::Status s = io_.maps->WriteReceive(r.slot, r.key, r.epoch); !s.ok()) {
      Log(LogLevel::kError, absl::StrCat("authentication: ", s.message()));
    }
  }
  if (actions.install_send) {
    if (absl::Status s = io_.maps->WriteSend(actions.install_send->key, actions.install_send->epoch);
        !s.ok()) {
      Log(LogLevel::kError, absl::StrCat("authentication: ", s.message()));
    }
  }
  if (actions.initiate) SendToPeer(actions.initiate->data(), actions.initiate->size());
  if (actions.reply && from) {
    // Back on the path whose far end sent it, as its tunnel packets go.
    for (const mb_path& p : io_.table()) {
      if (p.ifindex && OuterAddress(p, p.dst_ip, p.dst_ip6) == from->address &&
          p.dst_port == from->port &&
          socket_->SendOnPath(p, actions.reply->data(), actions.reply->size()).ok()) {
        return;
      }
    }
    if (absl::Status s = socket_->SendTo(*from, actions.reply->data(), actions.reply->size()); !s.ok()) {
      Warn("reply", std::string(s.message()));
    }
  }
}

void TunnelAuth::SendToPeer(const uint8_t* data, size_t size) {
  // On every path: one that works is enough, and the peer answers each copy alike.
  for (const mb_path& p : io_.table()) {
    if (!p.ifindex || OuterAddress(p, p.dst_ip, p.dst_ip6).IsUnspecified()) continue;
    absl::Status s = socket_->SendOnPath(p, data, size);
    if (absl::IsUnavailable(s)) io_.resolve_next_hop(p);
  }
}

}  // namespace meshbpf
