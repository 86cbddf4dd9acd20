// The agent's single-threaded event loop: every event source (sockets,
// timers, netlink, signals) is a file descriptor whose handler runs when it
// becomes readable.
#pragma once

#include <functional>
#include <vector>

namespace meshbpf {

// Blocks SIGINT/SIGTERM and returns a signalfd that reports them (-1 on
// failure), so shutdown is handled in the loop, not in a signal handler.
int ShutdownSignalFd();

class EventLoop {
 public:
  EventLoop() = default;
  ~EventLoop();  // closes the timers it made
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Calls `on_readable` whenever `fd` is readable.
  void Watch(int fd, std::function<void()> on_readable);
  // Calls `on_interval` every `interval_s` seconds.
  void Every(double interval_s, std::function<void()> on_interval);
  // Serves every watched fd until `signals` (a ShutdownSignalFd) reports
  // SIGINT or SIGTERM, or poll fails.
  void Run(int signals);

 private:
  struct WatchedFd {
    int fd;
    std::function<void()> on_readable;
  };
  std::vector<WatchedFd> watched_;
  std::vector<int> timers_;
};

}  // namespace meshbpf
