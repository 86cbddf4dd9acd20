// `meshbpf test` in the running agent: starts the active test of a path or
// interface (agent/daemon/uplink_test.h has the load and the arithmetic),
// paces the load from its own timer, and reports progress and results.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "agent/core/config.h"
#include "agent/core/control_protocol.h"
#include "agent/daemon/path_supervisor.h"
#include "agent/daemon/uplink_test.h"

namespace meshbpf {

class UplinkTestRunner {
 public:
  // The probes' delivery marks and health come from `paths`.
  UplinkTestRunner(const NodeSettings& settings, const PathSupervisor& paths);
  ~UplinkTestRunner();
  UplinkTestRunner(const UplinkTestRunner&) = delete;
  UplinkTestRunner& operator=(const UplinkTestRunner&) = delete;

  // The pacing timer, disarmed while no test runs; call OnTimer when readable.
  int fd() const { return timer_; }
  void OnTimer();
  // "test": starts a test of a path or interface; the error says why not.
  absl::StatusOr<UplinkTestReply> Start(const TestRequest& request);
  // "test_status": the running (or last) test.
  absl::StatusOr<UplinkTestReply> Reply() const;
  // Whether a test is under way (it holds path ids: a reload waits for it).
  bool running() const { return run_ && !run_->finished; }

 private:
  struct Run {
    std::vector<size_t> paths;
    std::vector<std::unique_ptr<LoadSender>> senders;
    std::vector<Pacer> pacers;
    std::vector<std::optional<DeliveryMark>> start;
    uint64_t start_ns = 0, load_end_ns = 0, end_ns = 0;
    bool finished = false;
    std::vector<PathTestResult> results;
  };
  // Whether every path's latest probe answer closes the load.
  bool EndMarksArrived() const;
  void Finish(uint64_t now_ns);

  const NodeSettings& settings_;
  const PathSupervisor& paths_;
  int timer_;
  std::optional<Run> run_;
};

}  // namespace meshbpf
