// Agent log lines: "<UTC time> <level>: <message>" on stderr, and as JSON
// lines in the agent's log file once one is set (agent/sys/agent_log.h).
#pragma once

#include <string_view>

#include "agent/core/log_record.h"

namespace meshbpf {

void SetVerbose(bool verbose);
void Log(LogLevel level, std::string_view message);

}  // namespace meshbpf
