#include "cli/cli.h"

#include <dirent.h>

#include <cstdio>
#include <functional>
#include <map>
#include <optional>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/agent.h"
#include "agent/config.h"
#include "agent/control.h"
#include "agent/map_io.h"
#include "agent/netdev.h"
#include "agent/report.h"

namespace meshbpf {
namespace {

constexpr int kExitUsage = 2;

// Parsed "--name value" / "--flag" options of one command.
struct Options {
  std::map<std::string, std::string> values;
  std::set<std::string> flags;
  std::vector<std::string> arguments;  // positional

  std::string Get(const std::string& name, const std::string& fallback) const {
    auto it = values.find(name);
    return it == values.end() ? fallback : it->second;
  }
  bool Has(const std::string& name) const { return flags.count(name) || values.count(name); }
};

struct Command {
  std::string summary;
  std::string usage;                     // options, shown by --help
  std::set<std::string> value_options;   // take a value
  std::set<std::string> flag_options;    // take none
  std::function<int(const std::string& program, const Options&)> run;
  std::vector<std::string> arguments;    // names of the positional arguments, for --help
};

constexpr char kPinOptions[] =
    "  --pin-root DIR   bpffs directory of the pinned maps (default /sys/fs/bpf/meshbpf)\n"
    "  --instance NAME  which agent instance (default: the only one under --pin-root)\n"
    "  --run-dir DIR    where the agent's control socket is (default /run/meshbpf)\n";

int Error(const std::string& program, const std::string& message, int code = 1) {
  std::fprintf(stderr, "%s: %s\n", program.c_str(), message.c_str());
  return code;
}

// The instance to read: --instance, or the only directory under the pin root.
absl::StatusOr<std::string> ResolvePinDir(const Options& options) {
  const std::string root = options.Get("--pin-root", kDefaultPinRoot);
  if (options.Has("--instance")) return InstancePinDir(root, options.Get("--instance", ""));
  std::vector<std::string> instances;
  if (DIR* dir = opendir(root.c_str())) {
    while (dirent* e = readdir(dir)) {
      if (e->d_type == DT_DIR && e->d_name[0] != '.') instances.emplace_back(e->d_name);
    }
    closedir(dir);
  }
  if (instances.empty()) {
    return absl::NotFoundError(
        absl::StrCat("no meshbpf instance under ", root, ": is the agent running?"));
  }
  if (instances.size() > 1) {
    return absl::InvalidArgumentError(absl::StrCat("several instances under ", root, " (",
                                                   absl::StrJoin(instances, ", "),
                                                   "): choose one with --instance"));
  }
  return InstancePinDir(root, instances.front());
}

std::string ControlPath(const Options& options, const std::string& pin_dir) {
  return ControlSocketPath(options.Get("--run-dir", kDefaultRunDir),
                           pin_dir.substr(pin_dir.rfind('/') + 1));
}

// Reads one instance's maps and prints them as JSON or as text.
int ShowSnapshot(const std::string& program, const Options& options,
                 const std::function<nlohmann::json(const InstanceSnapshot&)>& as_json,
                 const std::function<std::string(const InstanceSnapshot&)>& as_text) {
  absl::StatusOr<std::string> pin_dir = ResolvePinDir(options);
  if (!pin_dir.ok()) return Error(program, std::string(pin_dir.status().message()));
  absl::StatusOr<MapSet> maps = MapSet::OpenPinned(*pin_dir);
  if (!maps.ok()) return Error(program, std::string(maps.status().message()));
  absl::StatusOr<InstanceSnapshot> snapshot = TakeSnapshot(*maps, *pin_dir);
  if (!snapshot.ok()) return Error(program, std::string(snapshot.status().message()));
  if (snapshot->agent_alive) {
    // The maps say what the data path does; the agent adds why (health).
    absl::StatusOr<nlohmann::json> health =
        CallAgent(ControlPath(options, *pin_dir), {{"command", "status"}});
    if (health.ok() && !health->contains("error")) snapshot->health = *health;
  }
  if (options.Has("--json")) {
    std::printf("%s\n", as_json(*snapshot).dump(2).c_str());
  } else {
    std::fputs(as_text(*snapshot).c_str(), stdout);
  }
  return 0;
}

int RunStart(const std::string&, const Options& options) {
  AgentOptions agent;
  agent.config_path = options.Get("--config", "/etc/meshbpf/config.json");
  agent.pin_root = options.Get("--pin-root", kDefaultPinRoot);
  agent.instance = options.Get("--instance", "default");
  agent.run_dir = options.Get("--run-dir", kDefaultRunDir);
  agent.verbose = options.Has("--verbose");
  return RunAgent(agent);
}

// meshbpf failover FROM TO | --auto: asks the running agent to move traffic.
int RunFailover(const std::string& program, const Options& options) {
  nlohmann::json request = {{"command", "failover"}};
  if (options.Has("--auto")) {
    if (!options.arguments.empty()) {
      return Error(program, "failover: --auto takes no FROM/TO", kExitUsage);
    }
    request["auto"] = true;
  } else if (options.arguments.size() != 2) {
    return Error(program, "failover: needs FROM and TO (or --auto)", kExitUsage);
  } else {
    request["from"] = options.arguments[0];
    request["to"] = options.arguments[1];
  }
  absl::StatusOr<std::string> pin_dir = ResolvePinDir(options);
  if (!pin_dir.ok()) return Error(program, std::string(pin_dir.status().message()));
  absl::StatusOr<nlohmann::json> reply = CallAgent(ControlPath(options, *pin_dir), request);
  if (!reply.ok()) return Error(program, std::string(reply.status().message()));
  if (reply->contains("error")) {
    return Error(program, absl::StrCat("failover: ", reply->value("error", "")));
  }
  if (options.Has("--json")) {
    std::printf("%s\n", reply->dump(2).c_str());
  } else if (options.Has("--auto")) {
    std::printf("manual failover cleared: paths follow their health again\n");
  } else {
    std::printf("traffic moved from %s to %s (undo with: %s failover --auto)\n",
                options.arguments[0].c_str(), options.arguments[1].c_str(), program.c_str());
  }
  return 0;
}

int RunConfigCheck(const std::string& program, const Options& options) {
  if (!options.Has("--check")) {
    return Error(program, "config: nothing to do (use --check FILE)", kExitUsage);
  }
  SystemInterfaceLookup lookup;
  absl::StatusOr<NodeSettings> settings = LoadConfigFile(options.Get("--check", ""), lookup);
  if (!settings.ok()) return Error(program, std::string(settings.status().message()));
  std::printf("%s: valid (%zu uplinks, mode %s)\n", options.Get("--check", "").c_str(),
              settings->paths.size(), std::string(BondModeName(settings->mode)).c_str());
  return 0;
}

const std::map<std::string, Command>& Commands() {
  static const auto* commands = new std::map<std::string, Command>{
      {"start",
       {"run the agent in the foreground",
        "  --config FILE    JSON config (default /etc/meshbpf/config.json)\n"
        "  --pin-root DIR   bpffs directory for pinned maps (default /sys/fs/bpf/meshbpf)\n"
        "  --instance NAME  instance name; maps go to DIR/NAME (default \"default\")\n"
        "  --run-dir DIR    directory for the control socket (default /run/meshbpf)\n"
        "  --verbose        debug logging\n",
        {"--config", "--pin-root", "--instance", "--run-dir"},
        {"--verbose"},
        RunStart}},
      {"failover",
       {"move traffic off one path onto another by hand",
        "  FROM TO          path or interface names: FROM is held out of service, TO carries\n"
        "                   traffic (even a backup); kept until --auto or an agent restart\n"
        "  --auto           clear the manual setting: paths follow their health again\n" +
            std::string(kPinOptions) + "  --json           the agent's status after the change\n",
        {"--pin-root", "--instance", "--run-dir"},
        {"--auto", "--json"},
        RunFailover,
        {"FROM", "TO"}}},
      {"status",
       {"paths, their state and counters",
        std::string(kPinOptions) + "  --json           machine-readable output\n",
        {"--pin-root", "--instance", "--run-dir"},
        {"--json"},
        [](const std::string& program, const Options& o) {
          return ShowSnapshot(program, o, StatusJson, StatusTable);
        }}},
      {"maps",
       {"raw content of every data-path map",
        std::string(kPinOptions) + "  --json           machine-readable output\n",
        {"--pin-root", "--instance", "--run-dir"},
        {"--json"},
        [](const std::string& program, const Options& o) {
          return ShowSnapshot(program, o, MapsJson, MapsText);
        }}},
      {"config",
       {"validate a config file",
        "  --check FILE     parse and validate FILE against this machine's interfaces\n",
        {"--check"},
        {},
        RunConfigCheck}},
  };
  return *commands;
}

std::string Usage(const std::string& program) {
  std::string out = absl::StrCat("usage: ", program, " COMMAND [OPTIONS]\n\ncommands:\n");
  for (const auto& [name, command] : Commands()) {
    absl::StrAppend(&out, "  ", name, std::string(10 - std::min<size_t>(name.size(), 9), ' '),
                    command.summary, "\n");
  }
  absl::StrAppend(&out, "\n", program, " COMMAND --help shows a command's options.\n");
  return out;
}

}  // namespace

int RunCli(const std::string& program, const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    std::fputs(Usage(program).c_str(), args.empty() ? stderr : stdout);
    return args.empty() ? kExitUsage : 0;
  }
  auto it = Commands().find(args[0]);
  if (it == Commands().end()) {
    return Error(program, absl::StrCat("unknown command \"", args[0], "\"\n", Usage(program)),
                 kExitUsage);
  }
  const Command& command = it->second;
  const std::string usage =
      absl::StrCat("usage: ", program, " ", args[0], " [OPTIONS]",
                   command.arguments.empty() ? "" : " ", absl::StrJoin(command.arguments, " "),
                   "\n", command.usage);
  Options options;
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(usage.c_str(), stdout);
      return 0;
    }
    if (!arg.starts_with("-") && options.arguments.size() < command.arguments.size()) {
      options.arguments.push_back(arg);
    } else if (command.flag_options.count(arg)) {
      options.flags.insert(arg);
    } else if (command.value_options.count(arg)) {
      if (i + 1 >= args.size()) {
        return Error(program, absl::StrCat(args[0], ": ", arg, " needs a value\n", usage),
                     kExitUsage);
      }
      options.values[arg] = args[++i];
    } else {
      return Error(program,
                   absl::StrCat(args[0], ": unknown option \"", arg, "\"\n", usage), kExitUsage);
    }
  }
  return command.run(program, options);
}

}  // namespace meshbpf
