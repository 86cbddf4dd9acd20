// The agent: loads the data path for a config, keeps it configured, and
// takes it down cleanly on SIGINT/SIGTERM.
#pragma once

#include <string>

#include "agent/sys/control.h"  // kDefaultInstance, kDefaultRunDir

namespace meshbpf {

struct AgentOptions {
  std::string config_path;
  std::string pin_root;
  std::string instance = kDefaultInstance;
  std::string run_dir = kDefaultRunDir;  // where the control socket lives
  bool verbose = false;
};

// Exit codes of RunAgent (and so of `meshbpf start`).
inline constexpr int kExitOk = 0;
inline constexpr int kExitRuntimeError = 1;
inline constexpr int kExitConfigError = 2;

int RunAgent(const AgentOptions& options);

}  // namespace meshbpf
