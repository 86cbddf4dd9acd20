#include "cli/cli.h"

#include <dirent.h>

#include <cstdio>
#include <functional>
#include <map>
#include <optional>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/daemon/agent.h"
#include "agent/core/config.h"
#include "agent/sys/config_file.h"
#include "agent/sys/key_file.h"
#include "agent/sys/control.h"
#include "agent/sys/map_io.h"
#include "agent/sys/netdev.h"
#include "cli/agent_views.h"
#include "cli/cli_docs.h"
#include "cli/command.h"
#include "cli/report.h"
#include "cli/monitor_commands.h"
#include "cli/options.h"

namespace meshbpf {
namespace {

constexpr char kPinOptions[] =
    "  --pin-root DIR   bpffs directory of the pinned maps (default /sys/fs/bpf/meshbpf)\n"
    "  --instance NAME  which agent instance (default: the only one under --pin-root)\n"
    "  --run-dir DIR    where the agent's control socket is (default /run/meshbpf)\n";

// The agent's "status" reply; an error when none answered or it refused.
absl::StatusOr<StatusReply> AgentStatus(const Options& options, const std::string& pin_dir) {
  absl::StatusOr<nlohmann::json> reply =
      CallAgent(ControlPath(options, pin_dir), RequestToJson(StatusRequest{}));
  if (!reply.ok()) return reply.status();
  return FromJson<StatusReply>(*reply, "status");
}

// Prints `text` or, with --json, `json`.
int Print(const Options& options, const nlohmann::json& json, const std::string& text) {
  if (options.Has("--json")) {
    std::printf("%s\n", json.dump(2).c_str());
  } else {
    std::fputs(text.c_str(), stdout);
  }
  return 0;
}

// Reads one instance's maps and prints them as JSON or as text. Maps only
// root may open: `status` shows what the agent says (`agent_only`), if it
// answers.
int ShowSnapshot(const std::string& program, const Options& options,
                 const std::function<nlohmann::json(const InstanceSnapshot&)>& as_json,
                 const std::function<std::string(const InstanceSnapshot&)>& as_text,
                 bool agent_only_when_denied) {
  absl::StatusOr<std::string> pin_dir = ResolvePinDir(options);
  if (!pin_dir.ok()) return Error(program, std::string(pin_dir.status().message()));
  absl::StatusOr<MapSet> maps = MapSet::OpenPinned(*pin_dir);
  if (!maps.ok() && agent_only_when_denied && absl::IsPermissionDenied(maps.status())) {
    const std::string why(maps.status().message());
    absl::StatusOr<StatusReply> health = AgentStatus(options, *pin_dir);
    if (!health.ok()) {
      return Error(program, absl::StrCat(why, "; and the agent did not answer: ",
                                         health.status().message()));
    }
    return Print(options, AgentStatusJson(*health, why), AgentStatusTable(*health, why));
  }
  if (!maps.ok()) return Error(program, std::string(maps.status().message()));
  absl::StatusOr<InstanceSnapshot> snapshot = TakeSnapshot(*maps, *pin_dir);
  if (!snapshot.ok()) return Error(program, std::string(snapshot.status().message()));
  if (snapshot->agent_alive) {
    // The maps say what the data path does; the agent adds why (health).
    absl::StatusOr<StatusReply> health = AgentStatus(options, *pin_dir);
    if (health.ok()) {
      snapshot->health = *std::move(health);
    } else {
      snapshot->health_error = std::string(health.status().message());
    }
  }
  return Print(options, as_json(*snapshot), as_text(*snapshot));
}

int RunStart(const std::string&, const Options& options) {
  AgentOptions agent;
  agent.config_path = options.Get("--config", "/etc/meshbpf/config.json");
  agent.pin_root = options.Get("--pin-root", kDefaultPinRoot);
  agent.instance = options.Get("--instance", kDefaultInstance);
  agent.run_dir = options.Get("--run-dir", kDefaultRunDir);
  agent.verbose = options.Has("--verbose");
  return RunAgent(agent);
}

// meshbpf failover FROM TO | --auto: asks the running agent to move traffic.
int RunFailover(const std::string& program, const Options& options) {
  FailoverRequest request;
  if (options.Has("--auto")) {
    if (!options.arguments.empty()) {
      return Error(program, "failover: --auto takes no FROM/TO", kExitUsage);
    }
    request.automatic = true;
  } else if (options.arguments.size() != 2) {
    return Error(program, "failover: needs FROM and TO (or --auto)", kExitUsage);
  } else {
    request.from = options.arguments[0];
    request.to = options.arguments[1];
  }
  absl::StatusOr<StatusReply> reply = AskAgentFor<StatusReply>(options, request, "failover: ");
  if (!reply.ok()) return Error(program, std::string(reply.status().message()));
  if (options.Has("--json")) {
    std::printf("%s\n", ToJson(*reply).dump(2).c_str());
  } else if (options.Has("--auto")) {
    std::printf("manual failover cleared: paths follow their health again\n");
  } else {
    std::printf("traffic moved from %s to %s (undo with: %s failover --auto)\n",
                options.arguments[0].c_str(), options.arguments[1].c_str(), program.c_str());
  }
  return 0;
}

// meshbpf cap [--reset PATH]: data cap usage per uplink, from the running
// agent (which keeps the periods and the persisted usage).
int RunCap(const std::string& program, const Options& options) {
  CapRequest request;
  if (options.Has("--reset")) request.reset = options.Get("--reset", "");
  absl::StatusOr<CapReply> reply = AskAgentFor<CapReply>(options, request, "cap: ");
  if (!reply.ok()) return Error(program, std::string(reply.status().message()));
  if (options.Has("--json")) {
    std::printf("%s\n", ToJson(*reply).dump(2).c_str());
  } else {
    if (options.Has("--reset")) {
      std::printf("data cap of %s reset\n", options.Get("--reset", "").c_str());
    }
    std::fputs(CapStatusTable(*reply).c_str(), stdout);
  }
  return 0;
}

// meshbpf peers: the mesh nodes the running agent knows.
int RunPeers(const std::string& program, const Options& options) {
  absl::StatusOr<PeersReply> reply = AskAgentFor<PeersReply>(options, PeersRequest{}, "peers: ");
  if (!reply.ok()) return Error(program, std::string(reply.status().message()));
  if (options.Has("--json")) {
    std::printf("%s\n", ToJson(*reply).dump(2).c_str());
  } else {
    std::fputs(PeersTable(*reply).c_str(), stdout);
  }
  return 0;
}

int RunConfigCheck(const std::string& program, const Options& options) {
  if (!options.Has("--check")) {
    return Error(program, "config: nothing to do (use --check FILE or --output FILE)", kExitUsage);
  }
  if (options.Has("--shape")) {
    return Error(program, "config: --shape goes with --output (--check reads either shape)",
                 kExitUsage);
  }
  SystemInterfaceLookup lookup;
  absl::StatusOr<NodeSettings> settings = LoadConfigFile(options.Get("--check", ""), lookup);
  if (!settings.ok()) return Error(program, std::string(settings.status().message()));
  // The agent reads it at start; a key it would refuse fails the check now.
  if (settings->authentication) {
    absl::StatusOr<X25519KeyPair> key = ReadPrivateKeyFile(settings->authentication->private_key_file);
    if (!key.ok()) return Error(program, std::string(key.status().message()));
  }
  std::printf("%s: valid (%zu uplinks, mode %s)\n", options.Get("--check", "").c_str(),
              settings->paths.size(), std::string(BondModeName(settings->mode)).c_str());
  return 0;
}

// `genkey`: a new private key on stdout, for link_aggregation.private_key_file.
int RunGenkey(const std::string&, const Options&) {
  std::printf("%s\n", KeyToBase64(GenerateKeyPair().private_key).c_str());
  return 0;
}

// `pubkey`: the public key of the private key on stdin, for the peer's
// link_aggregation.peer_public_key.
int RunPubkey(const std::string& program, const Options&) {
  char line[128] = {};
  const size_t n = std::fread(line, 1, sizeof(line) - 1, stdin);
  absl::StatusOr<X25519KeyPair> pair =
      KeyPairFromPrivateText(absl::string_view(line, n), "pubkey: standard input");
  if (!pair.ok()) return Error(program, std::string(pair.status().message()));
  std::printf("%s\n", KeyToBase64(pair->public_key).c_str());
  return 0;
}

// Prints what `text` returns for the command table.
int PrintFromTable(std::string (*text)(const CommandTable&));

}  // namespace

const CommandTable& CliCommands() {
  static const auto* commands = new CommandTable{
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
      {"cap",
       {"data cap usage per uplink; reset one",
        "  --reset PATH     start PATH's budget over now (e.g. after buying more data)\n" +
            std::string(kPinOptions) + "  --json           machine-readable output\n",
        {"--reset", "--pin-root", "--instance", "--run-dir"},
        {"--json"},
        RunCap}},
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
          return ShowSnapshot(program, o, StatusJson, StatusTable, /*agent_only_when_denied=*/true);
        }}},
      {"maps",
       {"raw content of every data-path map",
        std::string(kPinOptions) + "  --json           machine-readable output\n",
        {"--pin-root", "--instance", "--run-dir"},
        {"--json"},
        [](const std::string& program, const Options& o) {
          return ShowSnapshot(program, o, MapsJson, MapsText, /*agent_only_when_denied=*/false);
        }}},
      {"peers",
       {"mesh nodes heard on the LAN, the relayed paths they fill, the relays we serve",
        std::string(kPinOptions) + "  --json           machine-readable output\n",
        {"--pin-root", "--instance", "--run-dir"},
        {"--json"},
        RunPeers}},
      {"config",
       {"write a commented default config, or validate one",
        "  --output FILE    write a complete, commented default config (uplinks: this\n"
        "                   machine's interfaces)\n"
        "  --shape SHAPE    with --output: sections (at the top level, the default) or\n"
        "                   mesh_network (inside {\"mesh_network\": ...}, the documented shape)\n"
        "  --check FILE     parse and validate FILE against this machine's interfaces\n"
        "                   (either shape)\n",
        {"--check", "--output", "--shape"},
        {},
        [](const std::string& program, const Options& o) {
          return o.Has("--output") ? RunConfigOutput(program, o) : RunConfigCheck(program, o);
        }}},
      {"genkey",
       {"print a new private key for link_aggregation.private_key_file "
        "(umask 077; meshbpf genkey > FILE)",
        "", {}, {}, RunGenkey}},
      {"pubkey",
       {"print the public key of the private key on standard input, for the peer's "
        "link_aggregation.peer_public_key",
        "", {}, {}, RunPubkey}},
      {"stats",
       {"per-path throughput, share, RTT, jitter, loss, state; history and charts",
        std::string(kStatsUsage) + kPinOptions,
        {"--pin-root", "--instance", "--run-dir", "--interval", "--since", "--plot", "--history"},
        {"--json", "--watch"},
        RunStats}},
      {"test",
       {"active test of one uplink: capacity, RTT, jitter, loss to the peer",
        std::string(kTestUsage) + kPinOptions,
        {"--pin-root", "--instance", "--run-dir", "--duration"},
        {"--json"},
        RunUplinkTest,
        {"IFACE"}}},
      {"logs",
       {"the agent's log (also on its stderr / in journald)",
        std::string(kLogsUsage) + kPinOptions,
        {"--pin-root", "--instance", "--run-dir"},
        {"--follow", "--json"},
        RunLogs}},
      {"manual",
       {"print the manual page, meshbpf(1) (roff: man -l <(meshbpf manual))", "", {}, {},
        [](const std::string&, const Options&) { return PrintFromTable(ManualPage); }}},
      {"completion",
       {"print the bash completion script (source <(meshbpf completion))", "", {}, {},
        [](const std::string&, const Options&) { return PrintFromTable(BashCompletion); }}},
  };
  return *commands;
}

namespace {

int PrintFromTable(std::string (*text)(const CommandTable&)) {
  std::fputs(text(CliCommands()).c_str(), stdout);
  return 0;
}

std::string Usage(const std::string& program) {
  std::string out = absl::StrCat("usage: ", program, " COMMAND [OPTIONS]\n\ncommands:\n");
  for (const auto& [name, command] : CliCommands()) {
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
  auto it = CliCommands().find(args[0]);
  if (it == CliCommands().end()) {
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
