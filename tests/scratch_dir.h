// A private directory for one test's files: made under gtest's temporary
// directory (TEST_TMPDIR, else /tmp) with a unique name, and removed with
// everything in it when the test ends, so concurrent runs share nothing.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

namespace meshbpf {

class ScratchDir {
 public:
  ScratchDir() {
    std::string name = ::testing::TempDir() + "meshbpf-test-XXXXXX";
    if (mkdtemp(name.data()) == nullptr) ADD_FAILURE() << "mkdtemp " << name << " failed";
    path_ = name;
  }
  ~ScratchDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;

  const std::string& path() const { return path_; }
  // `name` inside the directory.
  std::string File(std::string_view name) const { return path_ + "/" + std::string(name); }

 private:
  std::string path_;
};

}  // namespace meshbpf
