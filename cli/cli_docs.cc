#include "cli/cli_docs.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace meshbpf {
namespace {

// Text as roff shows it literally: backslashes and hyphens escaped, and no
// line starting with a control character.
std::string Roff(absl::string_view text) {
  std::string out = absl::StrReplaceAll(text, {{"\\", "\\e"}, {"-", "\\-"}});
  if (!out.empty() && (out[0] == '.' || out[0] == '\'')) out.insert(0, "\\&");
  return out;
}

// A command's --help option lines ("  --name ARG   what it does", with
// continuation lines indented further) as .TP entries.
std::string OptionEntries(absl::string_view usage) {
  std::string out;
  for (absl::string_view line : absl::StrSplit(usage, '\n', absl::SkipEmpty())) {
    const absl::string_view text = absl::StripLeadingAsciiWhitespace(line);
    const size_t indent = line.size() - text.size();
    const size_t gap = text.find("  ");
    if (indent <= 2 && gap != absl::string_view::npos) {
      absl::StrAppend(&out, ".TP\n.B ", Roff(text.substr(0, gap)), "\n",
                      Roff(absl::StripLeadingAsciiWhitespace(text.substr(gap))), "\n");
    } else {
      absl::StrAppend(&out, Roff(text), "\n");
    }
  }
  return out;
}

// Options after which a file or directory name comes.
constexpr absl::string_view kFileOptions[] = {"--config", "--check", "--output", "--plot",
                                              "--history"};
constexpr absl::string_view kDirectoryOptions[] = {"--pin-root", "--run-dir"};

}  // namespace

std::string ManualPage(const CommandTable& commands) {
  std::string out = R"(.TH MESHBPF 1 "" "meshbpf" "User Commands"
.SH NAME
meshbpf \- bond several uplinks into one connection in the Linux kernel
.SH SYNOPSIS
.B meshbpf
.I COMMAND
.RI [ OPTIONS ]
.SH DESCRIPTION
meshbpf stripes traffic over several uplinks (Ethernet, Wi\-Fi, cellular)
toward a bonding peer with TC BPF programs, probes every path, fails over
when one dies and resequences what arrives. The agent
.RB ( "meshbpf start" ,
or
.BR meshbpf\-agent )
runs as root; the other commands read its pinned maps or ask it over its
control socket. Every command exits 2 on a usage error and 1 with a one\-line
reason otherwise.
.SH COMMANDS
)";
  for (const auto& [name, command] : commands) {
    absl::StrAppend(&out, ".SS ", Roff(name),
                    command.arguments.empty() ? "" : " ",
                    Roff(absl::StrJoin(command.arguments, " ")), "\n", Roff(command.summary),
                    ".\n", OptionEntries(command.usage));
  }
  absl::StrAppend(&out, R"(.SH FILES
.TP
.I /etc/meshbpf/config.json
the configuration (JSON; see
.B meshbpf config \-\-output
and /usr/share/doc/meshbpf)
.TP
.I /run/meshbpf/<instance>.sock
the agent's control socket
.TP
.I /var/lib/meshbpf/<instance>.db
metric history and data cap usage
.SH SEE ALSO
.BR tc (8),
.BR ip (8)
)");
  return out;
}

std::string BashCompletion(const CommandTable& commands) {
  std::vector<std::string> names;
  std::string cases;
  for (const auto& [name, command] : commands) {
    names.push_back(name);
    std::vector<std::string> options(command.value_options.begin(), command.value_options.end());
    options.insert(options.end(), command.flag_options.begin(), command.flag_options.end());
    options.push_back("--help");
    absl::StrAppend(&cases, "    ", name, ") options=\"", absl::StrJoin(options, " "), "\" ;;\n");
  }
  return absl::StrCat(R"(# bash completion for meshbpf; written by `meshbpf completion`.
_meshbpf() {
  local cur prev words cword options
  _init_completion || return
  if ((cword == 1)); then
    mapfile -t COMPREPLY < <(compgen -W ")",
                      absl::StrJoin(names, " "), R"(" -- "$cur")
    return
  fi
  case "$prev" in
    )",
                      absl::StrJoin(kFileOptions, "|"), R"() _filedir; return ;;
    )",
                      absl::StrJoin(kDirectoryOptions, "|"), R"() _filedir -d; return ;;
  esac
  case "${words[1]}" in
)",
                      cases, R"(    *) return ;;
  esac
  mapfile -t COMPREPLY < <(compgen -W "$options" -- "$cur")
}
complete -F _meshbpf meshbpf
)");
}

}  // namespace meshbpf
