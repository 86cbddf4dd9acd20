#include "agent/daemon/uplink_test_runner.h"

#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "agent/sys/clock.h"
#include "agent/sys/log.h"

namespace meshbpf {
namespace {

// How long past the load a test waits for each path's end mark: a probe
// sent after the load's last packet, and answered. The first such probe
// may meet a queue the overload filled, or be dropped by it; the next
// ones come every probe interval.
constexpr uint64_t kEndMarkWaitNs = 3'000'000'000;

}  // namespace

UplinkTestRunner::UplinkTestRunner(const NodeSettings& settings, const PathSupervisor& paths)
    : settings_(settings),
      paths_(paths),
      timer_(timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)) {}

UplinkTestRunner::~UplinkTestRunner() {
  if (timer_ >= 0) close(timer_);
}

absl::StatusOr<UplinkTestReply> UplinkTestRunner::Start(const TestRequest& request) {
  if (run_ && !run_->finished) return absl::FailedPreconditionError("a test is already running");
  if (!paths_.probing()) {
    return absl::FailedPreconditionError(
        "testing needs probes to the peer "
        "(link_aggregation.peer_bond_address and "
        "bond_address)");
  }
  const std::string& name = request.interface;
  const std::vector<size_t> paths = PathsNamed(settings_, name);
  if (paths.empty()) return absl::NotFoundError(UnknownPathError(settings_, name));
  const double seconds = request.duration;
  if (!(seconds >= kMinTestSeconds && seconds <= kMaxTestSeconds)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "duration %g s is not within %g..%g s", seconds, kMinTestSeconds, kMaxTestSeconds));
  }
  Run run;
  const uint64_t now_ns = MonotonicNs();
  for (size_t i : paths) {
    absl::StatusOr<std::unique_ptr<LoadSender>> sender = LoadSender::Open(
        settings_.bond_address->address.v4(), *settings_.peer_bond_address, static_cast<uint8_t>(i));
    if (!sender.ok()) return sender.status();
    run.senders.push_back(std::move(*sender));
    run.pacers.emplace_back(settings_.paths[i].rate_bps * kTestLoadFactor, kTestPayloadBytes,
                            now_ns, /*max_burst=*/8);
  }
  run.paths = paths;
  run.start_ns = now_ns;
  run.load_end_ns = now_ns + static_cast<uint64_t>(seconds * 1e9);
  run.end_ns = run.load_end_ns + kEndMarkWaitNs;
  run_ = std::move(run);
  itimerspec spec{};
  spec.it_interval.tv_nsec = 2'000'000;  // 2 ms: small bursts, like a real sender
  spec.it_value = spec.it_interval;
  timerfd_settime(timer_, 0, &spec, nullptr);
  Log(LogLevel::kInfo, absl::StrFormat("test of %s for %g s started", name, seconds));
  return Reply();
}

void UplinkTestRunner::OnTimer() {
  uint64_t expirations = 0;
  if (read(timer_, &expirations, sizeof(expirations)) <= 0) return;
  const uint64_t now_ns = MonotonicNs();
  if (!run_ || run_->finished) return;
  Run& run = *run_;
  if (run.start.empty()) {
    for (size_t i : run.paths) run.start.push_back(paths_.latest_delivery(i));
  }
  if (now_ns < run.load_end_ns) {
    for (size_t k = 0; k < run.paths.size(); ++k) run.senders[k]->Send(run.pacers[k].Due(now_ns));
    return;
  }
  if (now_ns >= run.end_ns || EndMarksArrived()) Finish(now_ns);
}

bool UplinkTestRunner::EndMarksArrived() const {
  const Run& run = *run_;
  for (size_t k = 0; k < run.paths.size(); ++k) {
    if (!MarksBracketLoad(run.start[k], paths_.latest_delivery(run.paths[k]), run.start_ns,
                          run.load_end_ns)) {
      return false;
    }
  }
  return true;
}

void UplinkTestRunner::Finish(uint64_t now_ns) {
  Run& run = *run_;
  run.end_ns = now_ns;
  run.results.clear();
  for (size_t k = 0; k < run.paths.size(); ++k) {
    const size_t i = run.paths[k];
    PathTestResult r = CompareMarks(settings_.paths[i].name, run.start[k],
                                    paths_.latest_delivery(i), run.start_ns, run.load_end_ns);
    const PathHealth& h = paths_.health(i);
    if (h.rtt().has_sample()) {
      r.rtt_ms = h.rtt().srtt_ns() / 1e6;
      r.jitter_ms = h.jitter().jitter_ns() / 1e6;
    }
    r.probe_loss = h.probe_loss();
    run.results.push_back(std::move(r));
  }
  run.senders.clear();
  run.finished = true;
  itimerspec off{};
  timerfd_settime(timer_, 0, &off, nullptr);
  Log(LogLevel::kInfo, absl::StrCat("test finished: ", ToJson(run.results).dump()));
}

absl::StatusOr<UplinkTestReply> UplinkTestRunner::Reply() const {
  if (!run_) return absl::FailedPreconditionError("no test has run");
  const uint64_t now_ns = MonotonicNs();
  // While running, the load's length: the wait for end marks is short and
  // has no known length.
  const uint64_t end_ns = run_->finished ? run_->end_ns : run_->load_end_ns;
  const double total = static_cast<double>(end_ns - run_->start_ns) / 1e9;
  const double elapsed = std::min(total, static_cast<double>(now_ns - run_->start_ns) / 1e9);
  UplinkTestReply reply{!run_->finished, run_->finished ? total : elapsed, total, std::nullopt};
  if (run_->finished) reply.results = run_->results;
  return reply;
}

}  // namespace meshbpf
