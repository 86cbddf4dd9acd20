// The manual page and the bash completion are written from the CLI's
// command table: every command and option in them, in a form their
// readers (man, bash) accept.
#include "cli/cli_docs.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdio.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "cli/cli.h"
#include "tests/scratch_dir.h"

namespace meshbpf {
namespace {

using ::testing::HasSubstr;

TEST(ManualPage, DocumentsEveryCommandAndOption) {
  const std::string page = ManualPage(CliCommands());
  EXPECT_THAT(page, HasSubstr(".TH MESHBPF 1"));
  for (const auto& [name, command] : CliCommands()) {
    EXPECT_THAT(page, HasSubstr(absl::StrCat(".SS ", name))) << name;
    for (const auto& options : {command.value_options, command.flag_options}) {
      for (const std::string& option : options) {
        // roff escapes hyphens.
        EXPECT_THAT(page, HasSubstr(absl::StrReplaceAll(option, {{"-", "\\-"}})))
            << name << " " << option;
      }
    }
  }
}

TEST(ManualPage, NoLineStartsWithAStrayControlCharacter) {
  Command odd{.summary = "a summary", .usage = ".starts with a dot\n  --x  'quoted\n"};
  const std::string page = ManualPage({{"odd", odd}});
  EXPECT_THAT(page, HasSubstr("\n\\&.starts with a dot\n"));
}

TEST(BashCompletion, OffersEveryCommandAndItsOptions) {
  const std::string script = BashCompletion(CliCommands());
  for (const auto& [name, command] : CliCommands()) {
    EXPECT_THAT(script, HasSubstr(" " + name)) << name;
    for (const std::string& option : command.value_options) {
      EXPECT_THAT(script, HasSubstr(option)) << name;
    }
  }
  EXPECT_THAT(script, HasSubstr("complete -F _meshbpf meshbpf"));
}

// bash itself parses the script, and completing "meshbpf st" offers the
// commands starting with "st" (bash-completion's _init_completion stubbed:
// it fills the function's cur, cword and words).
TEST(BashCompletion, BashParsesItAndCompletesACommand) {
  if (access("/bin/bash", X_OK) != 0) GTEST_SKIP() << "no /bin/bash";
  ScratchDir dir;
  const std::string path = dir.path() + "/meshbpf.bash";
  std::ofstream(path) << BashCompletion(CliCommands());
  const std::string probe = absl::StrCat(
      "bash -c '_init_completion() { cur=st; cword=1; words=(meshbpf st); }; source ", path,
      "; _meshbpf; echo \"${COMPREPLY[*]}\"'");
  FILE* out = popen(probe.c_str(), "r");
  ASSERT_NE(out, nullptr);
  char line[256] = {};
  const bool read = fgets(line, sizeof(line), out) != nullptr;
  EXPECT_EQ(pclose(out), 0);
  ASSERT_TRUE(read);
  EXPECT_EQ(std::string(line), "start stats status\n");
}

}  // namespace
}  // namespace meshbpf
