// The meshbpf command line: a thin shell over the agent library.
#pragma once

#include <string>
#include <vector>

#include "cli/command.h"

namespace meshbpf {

// Runs one command (args[0] is the command name); returns the exit code.
int RunCli(const std::string& program, const std::vector<std::string>& args);

// Every command RunCli knows.
const CommandTable& CliCommands();

}  // namespace meshbpf
