#include "agent/sys/stream_server.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "agent/sys/clock.h"
#include "agent/sys/credentials.h"
#include "agent/sys/log.h"

namespace meshbpf {
namespace {

// One wakeup's share: the rest waits for the next round of the loop, after
// the other event sources had theirs.
constexpr int kMaxEventsPerWakeup = 64;
constexpr int kMaxAcceptsPerWakeup = 16;
constexpr size_t kReadChunk = 16 * 1024;
constexpr auto kLogInterval = std::chrono::seconds(10);

bool Watch(int epoll, int op, int fd, uint32_t events) {
  epoll_event e{};
  e.events = events;
  e.data.fd = fd;
  return epoll_ctl(epoll, op, fd, &e) == 0;
}

std::string Caller(const std::optional<PeerCredentials>& peer) {
  return peer ? absl::StrCat(" (uid ", peer->uid, ", pid ", peer->pid, ")") : "";
}

}  // namespace

absl::StatusOr<std::unique_ptr<StreamServer>> StreamServer::Create(int listener,
                                                                   Options options) {
  const int epoll = epoll_create1(EPOLL_CLOEXEC);
  if (epoll < 0) return absl::InternalError(absl::StrCat("epoll_create1: ", std::strerror(errno)));
  const int timer = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (timer < 0 || !Watch(epoll, EPOLL_CTL_ADD, listener, EPOLLIN) ||
      !Watch(epoll, EPOLL_CTL_ADD, timer, EPOLLIN)) {
    const int err = errno;
    if (timer >= 0) close(timer);
    close(epoll);
    return absl::InternalError(
        absl::StrCat(options.name, ": setting up its clients' deadlines: ", std::strerror(err)));
  }
  return std::unique_ptr<StreamServer>(new StreamServer(listener, epoll, timer, std::move(options)));
}

StreamServer::StreamServer(int listener, int epoll, int timer, Options options)
    : listener_(listener),
      epoll_(epoll),
      timer_(timer),
      options_(std::move(options)),
      log_throttle_(kLogInterval) {}

StreamServer::~StreamServer() {
  for (const auto& client : clients_) close(client->fd);
  close(timer_);
  close(epoll_);
}

void StreamServer::LogThrottled(const std::string& kind, const std::string& what) {
  std::optional<uint64_t> held_back = log_throttle_.Admit(kind, LogThrottle::Clock::now());
  if (!held_back) return;
  Log(LogLevel::kWarning, absl::StrCat(options_.name, ": ", what,
                                       LogThrottle::HeldBackNote(*held_back, "such clients")));
}

void StreamServer::Accept(uint64_t now_ns) {
  for (int i = 0; i < kMaxAcceptsPerWakeup; ++i) {
    const int fd = accept4(listener_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;  // EAGAIN: none pending (other errors: retried next wakeup)
    if (clients_.size() >= options_.max_clients) {
      close(fd);
      LogThrottled("full", absl::StrCat("refused a client: ", options_.max_clients,
                                        " clients are connected already"));
      continue;
    }
    std::optional<PeerCredentials> peer;
    if (options_.peer_credentials) {
      absl::StatusOr<PeerCredentials> read = ReadPeerCredentials(fd);
      if (!read.ok()) {
        close(fd);
        LogThrottled("credentials", absl::StrCat("refused a client: ", read.status().message()));
        continue;
      }
      peer = *read;
    }
    if (!Watch(epoll_, EPOLL_CTL_ADD, fd, EPOLLIN)) {
      close(fd);
      continue;
    }
    clients_.push_back(
        std::make_unique<Client>(Client{fd, ClientSession(options_.limits, now_ns), peer}));
  }
}

bool StreamServer::ReadFrom(Client& client, const Responder& respond, uint64_t now_ns) {
  char buffer[kReadChunk];
  const ssize_t n = recv(client.fd, buffer, sizeof(buffer), 0);
  if (n < 0) return errno == EAGAIN || errno == EINTR;
  std::optional<absl::StatusOr<std::string>> request =
      client.session.Received(std::string_view(buffer, static_cast<size_t>(n)), n == 0);
  if (!request) return true;
  if (!request->ok()) {
    LogThrottled("too large", absl::StrCat("refused a request", Caller(client.peer), ": ",
                                           request->status().message()));
  }
  client.session.Reply(respond(*request, client.peer), now_ns);
  if (!SendTo(client)) return false;
  // The rest when the socket takes it; nothing more is read.
  return Watch(epoll_, EPOLL_CTL_MOD, client.fd, EPOLLOUT);
}

bool StreamServer::SendTo(Client& client) {
  const std::string_view unsent = client.session.unsent();
  const ssize_t n = send(client.fd, unsent.data(), unsent.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  if (n < 0) return errno == EAGAIN || errno == EINTR;
  client.session.Sent(static_cast<size_t>(n));
  return !client.session.done();
}

void StreamServer::Drop(size_t index) {
  close(clients_[index]->fd);  // also leaves the epoll set
  clients_.erase(clients_.begin() + static_cast<std::ptrdiff_t>(index));
}

void StreamServer::ArmTimer() {
  itimerspec spec{};  // zero: disarmed
  if (!clients_.empty()) {
    uint64_t next = UINT64_MAX;
    for (const auto& client : clients_) next = std::min(next, client->session.deadline_ns());
    spec.it_value.tv_sec = static_cast<time_t>(next / 1'000'000'000);
    spec.it_value.tv_nsec = static_cast<long>(next % 1'000'000'000);
    if (next == 0) spec.it_value.tv_nsec = 1;  // zero would disarm it
  }
  timerfd_settime(timer_, TFD_TIMER_ABSTIME, &spec, nullptr);
}

void StreamServer::OnReadable(const Responder& respond) {
  epoll_event events[kMaxEventsPerWakeup];
  const int ready = epoll_wait(epoll_, events, kMaxEventsPerWakeup, 0);
  const uint64_t now_ns = MonotonicNs();
  for (int i = 0; i < ready; ++i) {
    const int fd = events[i].data.fd;
    if (fd == listener_) {
      Accept(now_ns);
      continue;
    }
    if (fd == timer_) {
      uint64_t expirations;
      [[maybe_unused]] ssize_t ignored = read(timer_, &expirations, sizeof(expirations));
      continue;
    }
    auto it = std::find_if(clients_.begin(), clients_.end(),
                           [fd](const auto& client) { return client->fd == fd; });
    if (it == clients_.end()) continue;  // dropped earlier in this round
    Client& client = **it;
    const bool open = client.session.reading() ? ReadFrom(client, respond, now_ns) : SendTo(client);
    if (!open) Drop(static_cast<size_t>(it - clients_.begin()));
  }
  // Whatever woke us, nobody stays past their time.
  for (size_t i = clients_.size(); i-- > 0;) {
    if (std::optional<std::string> why = clients_[i]->session.Overdue(now_ns)) {
      LogThrottled(clients_[i]->session.reading() ? "slow request" : "slow reader",
                   absl::StrCat("dropped a client", Caller(clients_[i]->peer), ": it ", *why));
      Drop(i);
    }
  }
  ArmTimer();
}

}  // namespace meshbpf
