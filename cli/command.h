// One CLI command as the dispatcher, --help, the manual page and the bash
// completion all see it: the command table (cli.cc) is their one source.
#pragma once

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "cli/options.h"

namespace meshbpf {

struct Command {
  std::string summary;
  std::string usage;                     // options, shown by --help
  std::set<std::string> value_options;   // take a value
  std::set<std::string> flag_options;    // take none
  std::function<int(const std::string& program, const Options&)> run;
  std::vector<std::string> arguments;    // names of the positional arguments, for --help
};

using CommandTable = std::map<std::string, Command>;

}  // namespace meshbpf
