// The agent's single-threaded event loop: every event source (sockets,
// timers, netlink, signals) is a file descriptor whose handler runs when it
// becomes readable. Handlers do a bounded share of work per wakeup and
// return; a watchdog logs (rate-limited) any handler or round that takes
// longer than kSlowHandlerNs, naming the source, since probes and failover
// wait for it.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "agent/core/log_throttle.h"

namespace meshbpf {

// Blocks SIGINT/SIGTERM (shutdown) and SIGHUP (reload) and returns a
// signalfd that reports them (-1 on failure), so both are handled in the
// loop, not in a signal handler.
int AgentSignalFd();

class EventLoop {
 public:
  // Longer than this, a handler or a round of the loop is logged: probes
  // run every 200 ms by default.
  static constexpr uint64_t kSlowHandlerNs = 100'000'000;

  EventLoop();
  ~EventLoop();  // closes the timers it made
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Calls `on_readable` whenever `fd` is readable; `name` (e.g. "probe
  // socket") names it in the watchdog's lines.
  void Watch(int fd, std::string name, std::function<void()> on_readable);
  // Calls `on_interval` every `interval_s` seconds.
  void Every(double interval_s, std::string name, std::function<void()> on_interval);
  // Serves every watched fd until `signals` (an AgentSignalFd) reports
  // SIGINT or SIGTERM, or poll fails; calls `on_reload` on SIGHUP.
  void Run(int signals, const std::function<void()>& on_reload);

 private:
  struct WatchedFd {
    int fd;
    std::string name;
    std::function<void()> on_readable;
  };
  // Logs, rate-limited per source, that `what` took `took_ns`.
  void ReportSlow(const std::string& what, uint64_t took_ns);

  std::vector<WatchedFd> watched_;
  std::vector<int> timers_;
  LogThrottle slow_log_;
};

}  // namespace meshbpf
