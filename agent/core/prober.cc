#include "agent/core/prober.h"

#include <algorithm>

namespace meshbpf {

void PathProber::Resize(size_t paths) { paths_.resize(paths, PathState{initial_timeout_ns_}); }

void PathProber::Forget(uint8_t path) {
  if (path < paths_.size()) paths_[path] = PathState{initial_timeout_ns_, paths_[path].next_seq};
}

void PathProber::SetTimeout(uint8_t path, uint64_t timeout_ns) {
  if (path < paths_.size()) paths_[path].timeout_ns = timeout_ns;
}

ProbeMessage PathProber::NextRequest(uint8_t path, uint64_t now_ns, PathTx tx_at_send) {
  ProbeMessage m;
  m.type = ProbeMessage::Type::kRequest;
  m.path_id = path;
  m.sent_ns = now_ns;
  if (path < paths_.size()) {
    PathState& p = paths_[path];
    m.seq = p.next_seq++;
    p.outstanding.push_back({m.seq, now_ns, tx_at_send});
  }
  return m;
}

std::optional<ProbeAnswer> PathProber::OnReply(const ProbeMessage& reply, uint64_t now_ns) {
  if (reply.path_id >= paths_.size()) return std::nullopt;
  auto& outstanding = paths_[reply.path_id].outstanding;
  auto it = std::find_if(outstanding.begin(), outstanding.end(),
                         [&](const Outstanding& o) { return o.seq == reply.seq; });
  // Our own send time, not the one in the reply: a reply cannot shorten its RTT.
  if (it == outstanding.end() || it->sent_ns != reply.sent_ns || now_ns < it->sent_ns) {
    return std::nullopt;
  }
  const ProbeAnswer answer{now_ns - it->sent_ns, it->sent_ns, it->tx};
  outstanding.erase(it);
  return answer;
}

std::vector<uint8_t> PathProber::Expire(uint64_t now_ns) {
  std::vector<uint8_t> lost;
  for (size_t i = 0; i < paths_.size(); ++i) {
    auto& outstanding = paths_[i].outstanding;
    while (!outstanding.empty() && now_ns - outstanding.front().sent_ns >= paths_[i].timeout_ns) {
      lost.push_back(static_cast<uint8_t>(i));
      outstanding.pop_front();
    }
  }
  return lost;
}

}  // namespace meshbpf
