// Tunnel authentication at run time (link_aggregation.authentication): the
// session handshake with the bonding peer (policy: agent/core/tunnel_sessions.h)
// and the keys it installs in the data path's maps.
#pragma once

#include <netinet/in.h>

#include <chrono>
#include <functional>
#include <memory>

#include "absl/status/statusor.h"
#include "agent/core/config.h"
#include "agent/core/log_throttle.h"
#include "agent/core/tunnel_sessions.h"
#include "agent/sys/handshake_socket.h"
#include "agent/sys/map_io.h"

namespace meshbpf {

struct TunnelAuthIo {
  const AuthMaps* maps = nullptr;
  // The path table in force: where initiations go.
  std::function<const PathTable&()> table;
  // Asks the kernel to resolve a path's next hop (its MAC is not known yet).
  std::function<void(const mb_path&)> resolve_next_hop;
};

class TunnelAuth {
 public:
  // Reads the private key file, opens the socket and sends the first
  // initiation. Before the agent drops privileges.
  static absl::StatusOr<std::unique_ptr<TunnelAuth>> Start(const NodeSettings& settings,
                                                           TunnelAuthIo io, uint64_t now_ns);
  int fd() const { return socket_->fd(); }
  void OnReadable(uint64_t now_ns);
  // Every kTick: key confirmation, retries, rekeys.
  void OnTick(uint64_t now_ns);
  static constexpr double kTickS = 0.1;
  SessionReport Report(uint64_t now_ns) const { return sessions_.Report(now_ns); }

 private:
  TunnelAuth(TunnelSessions sessions, std::unique_ptr<HandshakeSocket> socket, TunnelAuthIo io)
      : sessions_(std::move(sessions)), socket_(std::move(socket)), io_(std::move(io)) {}
  ReceiveSlots ReadSlots();
  // Installs keys, sends what `actions` says; replies go to `from`.
  void Apply(const SessionActions& actions, const HandshakeSender* from);
  void SendToPeer(const uint8_t* data, size_t size);
  void Warn(const std::string& key, const std::string& line);

  TunnelSessions sessions_;
  std::unique_ptr<HandshakeSocket> socket_;
  TunnelAuthIo io_;
  LogThrottle throttle_{std::chrono::seconds(10)};
};

}  // namespace meshbpf
