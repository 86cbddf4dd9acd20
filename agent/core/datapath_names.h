// Names of the data path's enums (bpf/meshbpf.h) as the CLI, the logs and
// the control protocol print them.
#pragma once

#include <cstdint>
#include <string_view>

namespace meshbpf {

// enum mb_drop_reason, e.g. "no_path"; "unknown" outside it.
std::string_view DropReasonName(int reason);
// enum mb_relay_drop_reason, e.g. "share_spent"; "unknown" outside it.
std::string_view RelayDropReasonName(int reason);
std::string_view PathStateName(uint8_t state);

}  // namespace meshbpf
