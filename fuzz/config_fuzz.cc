// libFuzzer target for config loading: the JSON text (with `//` comments)
// through ParseConfigJson and ResolveConfig, against an interface table in
// which every device exists so that resolving goes as far as the text
// allows. Contract: a status or settings, never an exception or a crash, and
// accepted settings within what the data path can hold.
#include <cstdlib>

#include "agent/core/config.h"
#include "bpf/meshbpf.h"
#include "tests/config_test_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace meshbpf;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<config::Config> config = ParseConfigJson(text);
  if (!config.ok()) return 0;
  static const testing_config::AnyInterface interfaces;
  absl::StatusOr<NodeSettings> settings = ResolveConfig(*config, interfaces, "fuzz-host");
  if (!settings.ok()) return 0;
  if (settings->paths.empty() || settings->paths.size() > MB_MAX_PATHS) abort();
  return 0;
}
