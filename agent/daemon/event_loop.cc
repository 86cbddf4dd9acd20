#include "agent/daemon/event_loop.h"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "agent/sys/clock.h"
#include "agent/sys/log.h"

namespace meshbpf {

int AgentSignalFd() {
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGTERM);
  sigaddset(&mask, SIGHUP);
  sigprocmask(SIG_BLOCK, &mask, nullptr);
  return signalfd(-1, &mask, SFD_CLOEXEC);
}

EventLoop::EventLoop() : slow_log_(std::chrono::seconds(10)) {}

EventLoop::~EventLoop() {
  for (int timer : timers_) close(timer);
}

void EventLoop::Watch(int fd, std::string name, std::function<void()> on_readable) {
  watched_.push_back({fd, std::move(name), std::move(on_readable)});
}

void EventLoop::Every(double interval_s, std::string name, std::function<void()> on_interval) {
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
  Watch(timer, std::move(name), [timer, on_interval = std::move(on_interval)] {
    uint64_t expirations = 0;
    if (read(timer, &expirations, sizeof(expirations)) > 0) on_interval();
  });
}

void EventLoop::Run(int signals, const std::function<void()>& on_reload) {
  bool stop = false;
  auto on_signal = [&] {
    signalfd_siginfo info{};
    if (read(signals, &info, sizeof(info)) != sizeof(info)) {
      Log(LogLevel::kError, "reading the signal fd failed, detaching");
      stop = true;
      return;
    }
    const int signo = static_cast<int>(info.ssi_signo);
    if (signo == SIGHUP) {
      Log(LogLevel::kInfo, "received SIGHUP, reloading the config");
      on_reload();
      return;
    }
    Log(LogLevel::kInfo, absl::StrCat("received ", strsignal(signo), ", detaching"));
    stop = true;
  };
  // First: a shutdown stops the loop before the other events of its round.
  watched_.insert(watched_.begin(), WatchedFd{signals, "signal", on_signal});
  std::vector<pollfd> fds;
  for (const WatchedFd& w : watched_) fds.push_back({w.fd, POLLIN, 0});
  while (!stop) {
    if (poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      Log(LogLevel::kError, absl::StrCat("poll: ", std::strerror(errno)));
      break;
    }
    const uint64_t round_start_ns = MonotonicNs();
    uint64_t handler_start_ns = round_start_ns;
    for (size_t i = 0; i < fds.size() && !stop; ++i) {
      if (!fds[i].revents) continue;
      watched_[i].on_readable();
      const uint64_t end_ns = MonotonicNs();
      if (end_ns - handler_start_ns > kSlowHandlerNs) {
        ReportSlow(watched_[i].name, end_ns - handler_start_ns);
      }
      handler_start_ns = end_ns;
    }
    // Each handler quick, but too many of them ready at once.
    if (handler_start_ns - round_start_ns > kSlowHandlerNs) {
      ReportSlow("one round of the loop", handler_start_ns - round_start_ns);
    }
  }
  watched_.clear();
}

void EventLoop::ReportSlow(const std::string& what, uint64_t took_ns) {
  std::optional<uint64_t> held_back = slow_log_.Admit(what, LogThrottle::Clock::now());
  if (!held_back) return;
  Log(LogLevel::kWarning,
      absl::StrFormat("event loop: %s took %.0f ms (over %.0f ms, probes and failover wait)%s",
                      what, static_cast<double>(took_ns) / 1e6,
                      static_cast<double>(kSlowHandlerNs) / 1e6,
                      LogThrottle::HeldBackNote(*held_back, "slow runs")));
}

}  // namespace meshbpf
