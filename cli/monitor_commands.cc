#include "cli/monitor_commands.h"

#include <ifaddrs.h>
#include <net/if.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "agent/sys/agent_log.h"
#include "agent/core/alerts.h"
#include "agent/core/config.h"
#include "agent/sys/control.h"
#include "agent/core/default_config.h"
#include "agent/sys/history_store.h"
#include "cli/stats_view.h"
#include "agent/daemon/uplink_test.h"
#include "cli/agent_views.h"

namespace meshbpf {

const char kStatsUsage[] =
    "  (no option)      live per-path rates, share, RTT, jitter, loss, state, weight\n"
    "  --json           the same as JSON (with --since: the summaries)\n"
    "  --watch          redraw every --interval seconds until Ctrl-C\n"
    "  --interval S     seconds between redraws, 0.2..3600 (default 1)\n"
    "  --since WINDOW   history of the last WINDOW (90s, 30m, 24h, 7d): averages, RTT\n"
    "                   percentiles, loss, availability, failovers, trend, alerts;\n"
    "                   reads the history file, the agent need not run\n"
    "  --plot FILE.png  chart of throughput and RTT per uplink over --since (default 1h)\n"
    "  --history FILE   history file (default: the agent's, or /var/lib/meshbpf/<instance>.db)\n";
const char kTestUsage[] =
    "  IFACE            uplink interface or path name to test\n"
    "  --duration S     seconds of load, 1..60 (default 5)\n"
    "  --json           the results as JSON\n";
const char kLogsUsage[] =
    "  --follow         keep printing new lines; stops when the agent stops\n"
    "  --json           the log's JSON lines as they are\n";

namespace {

// A number of seconds within [lo, hi]; the error names the option.
absl::StatusOr<double> ParseSeconds(const std::string& option, const std::string& text, double lo,
                                    double hi) {
  double value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() ||
      !(value >= lo && value <= hi)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s: \"%s\" is not a number of seconds within %g..%g", option, text, lo, hi));
  }
  return value;
}

std::string HistoryFile(const Options& options) {
  if (options.Has("--history")) return options.Get("--history", "");
  absl::StatusOr<StatsReply> stats = AskAgentFor<StatsReply>(options, StatsRequest{});
  if (stats.ok() && !stats->history_file.empty()) return stats->history_file;
  absl::StatusOr<std::string> pin_dir = ResolvePinDir(options);
  const std::string instance =
      pin_dir.ok() ? pin_dir->substr(pin_dir->rfind('/') + 1) : options.Get("--instance", kDefaultInstance);
  return DefaultHistoryFile(instance);
}

int ShowHistory(const std::string& program, const Options& options, absl::Duration window) {
  absl::StatusOr<std::unique_ptr<HistoryStore>> store =
      HistoryStore::Open(HistoryFile(options), HistoryStore::Mode::kReadOnly);
  if (!store.ok()) return Error(program, std::string(store.status().message()));
  absl::StatusOr<std::vector<PathSummary>> summaries = (*store)->Summaries(window);
  if (!summaries.ok()) return Error(program, std::string(summaries.status().message()));
  const AlertThresholds thresholds;
  absl::StatusOr<std::map<std::string, std::vector<HistoryRow>>> minutes =
      (*store)->Series(thresholds.loss_for + absl::Minutes(1), absl::Minutes(1));
  if (!minutes.ok()) return Error(program, std::string(minutes.status().message()));
  std::vector<Alert> alerts;
  for (const PathSummary& s : *summaries) {
    PathAlertInputs inputs{s, (*minutes)[s.path], std::nullopt};
    for (Alert& a : EvaluateAlerts(inputs, absl::Now(), thresholds)) alerts.push_back(a);
  }
  if (options.Has("--json")) {
    nlohmann::json out = {{"window", FormatWindow(window)}, {"paths", nlohmann::json::array()},
                          {"alerts", nlohmann::json::array()}};
    auto opt = [](const std::optional<double>& v) {
      return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
    };
    for (const PathSummary& s : *summaries) {
      out["paths"].push_back({{"path", s.path},
                              {"samples", s.samples},
                              {"avg_tx_bytes_per_s", s.avg_tx_bytes_per_s},
                              {"avg_rx_bytes_per_s", s.avg_rx_bytes_per_s},
                              {"rtt_p50_ms", opt(s.rtt_p50_ms)},
                              {"rtt_p95_ms", opt(s.rtt_p95_ms)},
                              {"rtt_p99_ms", opt(s.rtt_p99_ms)},
                              {"loss", s.loss},
                              {"availability", s.availability},
                              {"failovers", s.failovers},
                              {"rtt_worse", s.trend.rtt_worse},
                              {"loss_worse", s.trend.loss_worse}});
    }
    for (const Alert& a : alerts) out["alerts"].push_back(AlertMessage(a, false));
    std::printf("%s\n", out.dump(2).c_str());
  } else {
    std::fputs(FormatHistoryReport(*summaries, alerts, window).c_str(), stdout);
  }
  return 0;
}

int Plot(const std::string& program, const Options& options, absl::Duration window) {
  const std::string png = options.Get("--plot", "");
  absl::StatusOr<std::unique_ptr<HistoryStore>> store =
      HistoryStore::Open(HistoryFile(options), HistoryStore::Mode::kReadOnly);
  if (!store.ok()) return Error(program, std::string(store.status().message()));
  // About 600 points per line: enough detail, a readable chart.
  const absl::Duration bucket = std::max(absl::Seconds(1), absl::Trunc(window / 600, absl::Seconds(1)));
  absl::StatusOr<std::map<std::string, std::vector<HistoryRow>>> series =
      (*store)->Series(window, bucket);
  if (!series.ok()) return Error(program, std::string(series.status().message()));
  if (series->empty()) {
    return Error(program, absl::StrCat("no samples in the last ", FormatWindow(window),
                                       ": nothing to plot"));
  }
  char dir_template[] = "/tmp/meshbpf-plot-XXXXXX";
  if (mkdtemp(dir_template) == nullptr) {
    return Error(program, absl::StrCat("temporary directory: ", std::strerror(errno)));
  }
  const std::string dir = dir_template, data = dir + "/data", script = dir + "/plot.gp";
  std::ofstream(data) << PlotData(*series);
  std::ofstream(script) << PlotScript(*series, data, png, window);
  std::remove(png.c_str());
  const std::string command = absl::StrCat("gnuplot '", script, "' 2>&1");
  const int status = std::system(command.c_str());
  std::remove(data.c_str());
  std::remove(script.c_str());
  rmdir(dir.c_str());
  struct stat st {};
  if (status != 0 || stat(png.c_str(), &st) != 0 || st.st_size == 0) {
    return Error(program, absl::StrCat("gnuplot could not write ", png,
                                       " (is gnuplot installed? apt-get install gnuplot-nox)"));
  }
  std::printf("wrote %s (%zu paths, last %s)\n", png.c_str(), series->size(),
              FormatWindow(window).c_str());
  return 0;
}

int ShowLive(const std::string& program, const Options& options) {
  double interval = 1;
  if (options.Has("--interval")) {
    absl::StatusOr<double> parsed =
        ParseSeconds("--interval", options.Get("--interval", ""), 0.2, 3600);
    if (!parsed.ok()) return Error(program, std::string(parsed.status().message()), kExitUsage);
    interval = *parsed;
  }
  const bool watch = options.Has("--watch");
  while (true) {
    absl::StatusOr<StatsReply> stats = AskAgentFor<StatsReply>(options, StatsRequest{});
    if (!stats.ok()) return Error(program, std::string(stats.status().message()));
    if (options.Has("--json")) {
      std::printf("%s\n", ToJson(*stats).dump(watch ? -1 : 2).c_str());
    } else {
      // Home and clear, like top: the table redraws in place.
      if (watch) std::fputs("\033[H\033[2J", stdout);
      std::fputs(FormatStatsTable(stats->snapshot).c_str(), stdout);
      if (watch) {
        std::printf("\n%s, every %g s; Ctrl-C to stop\n",
                    absl::FormatTime("%H:%M:%S", absl::Now(), absl::LocalTimeZone()).c_str(),
                    interval);
      }
    }
    std::fflush(stdout);
    if (!watch) return 0;
    std::this_thread::sleep_for(std::chrono::duration<double>(interval));
  }
}

}  // namespace

int RunStats(const std::string& program, const Options& options) {
  std::optional<absl::Duration> window;
  if (options.Has("--since")) {
    absl::StatusOr<absl::Duration> parsed = ParseWindow(options.Get("--since", ""));
    if (!parsed.ok()) {
      return Error(program, absl::StrCat("--since: ", parsed.status().message()), kExitUsage);
    }
    window = *parsed;
  }
  if (options.Has("--watch") && (window || options.Has("--plot"))) {
    return Error(program, "stats: --watch shows live values; not with --since or --plot",
                 kExitUsage);
  }
  if (options.Has("--plot")) return Plot(program, options, window.value_or(absl::Hours(1)));
  if (window) return ShowHistory(program, options, *window);
  return ShowLive(program, options);
}

int RunUplinkTest(const std::string& program, const Options& options) {
  if (options.arguments.size() != 1) {
    return Error(program, "test: needs the uplink to test (IFACE)", kExitUsage);
  }
  absl::StatusOr<double> duration = ParseSeconds(
      "--duration", options.Get("--duration", "5"), kMinTestSeconds, kMaxTestSeconds);
  if (!duration.ok()) return Error(program, std::string(duration.status().message()), kExitUsage);
  absl::StatusOr<UplinkTestReply> reply =
      AskAgentFor<UplinkTestReply>(options, TestRequest{options.arguments[0], *duration});
  if (!reply.ok()) return Error(program, absl::StrCat("test: ", reply.status().message()));
  // A progress bar for people; scripts and logs get only the summary.
  const bool bar = !options.Has("--json") && isatty(STDERR_FILENO);
  while (reply->running) {
    if (bar) {
      const double total = reply->total, elapsed = reply->elapsed;
      const int width = 30, done = static_cast<int>(width * std::min(1.0, elapsed / total));
      std::fprintf(stderr, "\rtesting %s [%s%s] %4.1f/%.1f s", options.arguments[0].c_str(),
                   std::string(done, '#').c_str(), std::string(width - done, ' ').c_str(), elapsed,
                   total);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    reply = AskAgentFor<UplinkTestReply>(options, TestStatusRequest{});
    if (!reply.ok()) {
      if (bar) std::fputc('\n', stderr);
      return Error(program, absl::StrCat("test: ", reply.status().message()));
    }
  }
  if (bar) std::fputc('\n', stderr);
  const std::vector<PathTestResult> results =
      reply->results.value_or(std::vector<PathTestResult>{});
  if (options.Has("--json")) {
    std::printf("%s\n", ToJson(results).dump(2).c_str());
  } else {
    std::fputs(FormatTestSummary(results).c_str(), stdout);
  }
  return 0;
}

namespace {

// Prints the complete lines of `file` from `offset` on; returns the new offset.
uint64_t PrintLines(const std::string& file, uint64_t offset, bool json) {
  std::ifstream in(file);
  if (!in) return offset;
  in.seekg(static_cast<std::streamoff>(offset));
  std::string line;
  while (std::getline(in, line)) {
    if (in.eof()) break;  // a line still being written: read it next time
    offset += line.size() + 1;
    if (json) {
      std::printf("%s\n", line.c_str());
    } else if (absl::StatusOr<LogRecord> record = ParseLogJson(line); record.ok()) {
      std::printf("%s\n", FormatLogText(*record).c_str());
    } else {
      std::printf("(unreadable log line: %s)\n", line.c_str());
    }
  }
  std::fflush(stdout);
  return offset;
}

uint64_t FileSize(const std::string& file) {
  struct stat st {};
  return stat(file.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

}  // namespace

int RunLogs(const std::string& program, const Options& options) {
  absl::StatusOr<std::string> pin_dir = ResolvePinDir(options);
  if (!pin_dir.ok()) return Error(program, std::string(pin_dir.status().message()));
  const std::string instance = pin_dir->substr(pin_dir->rfind('/') + 1);
  const std::string file = AgentLogPath(options.Get("--run-dir", kDefaultRunDir), instance);
  if (access(file.c_str(), R_OK) != 0) {
    return Error(program, absl::StrCat("no agent log at ", file, ": ", std::strerror(errno)));
  }
  const bool json = options.Has("--json");
  PrintLines(file + ".1", 0, json);
  uint64_t offset = PrintLines(file, 0, json);
  if (!options.Has("--follow")) return 0;
  const std::string socket = ControlPath(options, *pin_dir);
  auto alive = [&] { return CallAgent(socket, RequestToJson(PingRequest{}), 1000).ok(); };
  if (!alive()) return Error(program, "--follow: the agent is not running");
  for (int tick = 1;; ++tick) {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    if (FileSize(file) < offset) offset = 0;  // rotated: the new file from its start
    offset = PrintLines(file, offset, json);
    if (tick % 5 == 0 && !alive()) {
      PrintLines(file, offset, json);
      std::fprintf(stderr, "%s: the agent stopped\n", program.c_str());
      return 0;
    }
  }
}

int RunConfigOutput(const std::string& program, const Options& options) {
  const std::string shape_name = options.Get("--shape", "sections");
  const std::optional<ConfigShape> shape =
      shape_name == "sections"       ? std::optional(ConfigShape::kSections)
      : shape_name == "mesh_network" ? std::optional(ConfigShape::kMeshNetwork)
                                     : std::nullopt;
  if (!shape) {
    return Error(program,
                 absl::StrCat("config: --shape ", shape_name,
                              ": unknown shape (valid: sections, mesh_network)"),
                 kExitUsage);
  }
  // This machine's IPv4 uplink candidates: up, not loopback, not a meshbpf bond.
  std::vector<DefaultUplink> uplinks;
  std::set<std::string> seen;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) == 0) {
    for (ifaddrs* a = list; a != nullptr; a = a->ifa_next) {
      if (a->ifa_addr == nullptr || a->ifa_addr->sa_family != AF_INET) continue;
      if ((a->ifa_flags & IFF_LOOPBACK) || !(a->ifa_flags & IFF_UP)) continue;
      const std::string name = a->ifa_name;
      if (name == "mb0" || name.ends_with("-tx") || !seen.insert(name).second) continue;
      uplinks.push_back({name, ""});
    }
    freeifaddrs(list);
  }
  const std::string file = options.Get("--output", "");
  std::ofstream out(file);
  out << DefaultConfigText(uplinks, *shape);
  out.close();
  if (!out) return Error(program, absl::StrCat("cannot write ", file, ": ", std::strerror(errno)));
  std::printf("wrote %s (%zu uplinks found here; set rate_mbit and the peer's addresses)\n",
              file.c_str(), std::max<size_t>(1, uplinks.size()));
  return 0;
}

}  // namespace meshbpf
