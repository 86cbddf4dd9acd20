// Agent log lines: "<UTC time> <level>: <message>" on stderr.
#pragma once

#include <string_view>

namespace meshbpf {

enum class LogLevel { kDebug, kInfo, kWarning, kError };

void SetVerbose(bool verbose);
void Log(LogLevel level, std::string_view message);

}  // namespace meshbpf
