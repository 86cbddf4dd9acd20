// Agent log lines: "<UTC time> <level>: <message>" on stderr, and as JSON
// lines in the agent's log file once one is set (agent/sys/agent_log.h).
#pragma once

#include <string>
#include <string_view>

#include "agent/core/log_record.h"
#include "agent/core/log_throttle.h"

namespace meshbpf {

void SetVerbose(bool verbose);
void Log(LogLevel level, std::string_view message);
// A warning `line` under `key`, at most once per `throttle`'s interval; the
// line that gets through says how many were held back.
void WarnThrottled(LogThrottle& throttle, const std::string& key, std::string_view line);

}  // namespace meshbpf
