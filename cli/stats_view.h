// What `meshbpf stats` prints, as pure functions of the data: the live
// table, the history report (--since) and the gnuplot input of --plot.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "agent/core/alerts.h"
#include "agent/core/history_summary.h"
#include "agent/core/metrics.h"
#include "agent/core/resequencer.h"

namespace meshbpf {

// One line per path (state, weight, traffic share, Mbit/s out and in, RTT,
// jitter, loss, cap), a bond total and the resequencer. Unmeasured values
// show as "-".
std::string FormatStatsTable(const MetricsSnapshot& snapshot);

// The resequencer: "off" or its deadline and occupancy, then what it did
// with the packets it saw (left out while it is off and has done nothing).
std::string FormatResequencer(const ResequencerStats& stats);

// Per-path summary of `window` (averages, RTT percentiles, loss,
// availability, failovers), the trend, and the alerts with their reasons.
std::string FormatHistoryReport(const std::vector<PathSummary>& summaries,
                                const std::vector<Alert>& alerts, absl::Duration window);

// gnuplot data: one block per path (in map order, separated by two blank
// lines so gnuplot's `index` picks them): unix time, Mbit/s out, Mbit/s in,
// RTT ms ("NaN" when unmeasured, which gnuplot skips).
std::string PlotData(const std::map<std::string, std::vector<HistoryRow>>& series);
// A gnuplot script drawing throughput and RTT per path from `data_file`
// into the PNG `png_file`.
std::string PlotScript(const std::map<std::string, std::vector<HistoryRow>>& series,
                       const std::string& data_file, const std::string& png_file,
                       absl::Duration window);

}  // namespace meshbpf
