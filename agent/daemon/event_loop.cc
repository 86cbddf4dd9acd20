#include "agent/daemon/event_loop.h"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "agent/sys/log.h"

namespace meshbpf {

int ShutdownSignalFd() {
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGTERM);
  sigprocmask(SIG_BLOCK, &mask, nullptr);
  return signalfd(-1, &mask, SFD_CLOEXEC);
}

EventLoop::~EventLoop() {
  for (int timer : timers_) close(timer);
}

void EventLoop::Watch(int fd, std::function<void()> on_readable) {
  watched_.push_back({fd, std::move(on_readable)});
}

void EventLoop::Every(double interval_s, std::function<void()> on_interval) {
  const int timer = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
  if (timer < 0) {
    Log(LogLevel::kError, absl::StrCat("timerfd_create: ", std::strerror(errno)));
    return;
  }
  itimerspec spec{};
  const auto ns = static_cast<long long>(interval_s * 1e9);
  spec.it_interval.tv_sec = ns / 1000000000;
  spec.it_interval.tv_nsec = ns % 1000000000;
  spec.it_value = spec.it_interval;
  timerfd_settime(timer, 0, &spec, nullptr);
  timers_.push_back(timer);
  Watch(timer, [timer, on_interval = std::move(on_interval)] {
    uint64_t expirations = 0;
    if (read(timer, &expirations, sizeof(expirations)) > 0) on_interval();
  });
}

void EventLoop::Run(int signals) {
  bool stop = false;
  auto on_signal = [&] {
    signalfd_siginfo info{};
    if (read(signals, &info, sizeof(info)) == sizeof(info)) {
      Log(LogLevel::kInfo,
          absl::StrCat("received ", strsignal(static_cast<int>(info.ssi_signo)), ", detaching"));
    }
    stop = true;
  };
  // First: a shutdown stops the loop before the other events of its round.
  watched_.insert(watched_.begin(), WatchedFd{signals, on_signal});
  std::vector<pollfd> fds;
  for (const WatchedFd& w : watched_) fds.push_back({w.fd, POLLIN, 0});
  while (!stop) {
    if (poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      Log(LogLevel::kError, absl::StrCat("poll: ", std::strerror(errno)));
      break;
    }
    for (size_t i = 0; i < fds.size() && !stop; ++i) {
      if (fds[i].revents) watched_[i].on_readable();
    }
  }
  watched_.clear();
}

}  // namespace meshbpf
