// meshbpf stats, test, logs and config --output: the monitoring side of
// the command line (registered in cli.cc's command table).
#pragma once

#include <string>

#include "cli/options.h"

namespace meshbpf {

// Options of `stats`, for --help.
extern const char kStatsUsage[];
extern const char kTestUsage[];
extern const char kLogsUsage[];

int RunStats(const std::string& program, const Options& options);
int RunUplinkTest(const std::string& program, const Options& options);
int RunLogs(const std::string& program, const Options& options);
// Writes the commented default config to --output FILE.
int RunConfigOutput(const std::string& program, const Options& options);

}  // namespace meshbpf
