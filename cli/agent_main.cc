// meshbpf-agent: the root daemon; the same as `meshbpf start`.
#include <string>
#include <vector>

#include "cli/cli.h"

int main(int argc, char** argv) {
  std::vector<std::string> args = {"start"};
  args.insert(args.end(), argv + 1, argv + argc);
  return meshbpf::RunCli("meshbpf-agent", args);
}
