// What the package installs beside the binary, written from the command
// table so it cannot drift from what the CLI accepts: the manual page
// (meshbpf manual) and the bash completion (meshbpf completion).
#pragma once

#include <string>

#include "cli/command.h"

namespace meshbpf {

// meshbpf(1) in man(7) roff.
std::string ManualPage(const CommandTable& commands);

// A bash completion script: commands, each command's options, file and
// directory names after the options that take them.
std::string BashCompletion(const CommandTable& commands);

}  // namespace meshbpf
