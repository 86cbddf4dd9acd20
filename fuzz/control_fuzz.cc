// libFuzzer target for the control protocol, both sides: the agent's
// DispatchControl on any JSON (whatever the request, an answer and never an
// exception out) and the CLI's FromJson for every reply type (a status or a
// value, never an exception). What is accepted must survive a round trip:
// written out and read back, it writes out the same.
#include <cstdlib>
#include <utility>

#include "agent/core/control_protocol.h"
#include "fuzz/fuzz_inputs.h"

namespace meshbpf::fuzz {
namespace {

using nlohmann::json;

// The replies' JSON as the agent sends it: invalid UTF-8 replaced, never thrown.
std::string Dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

ControlReply CheckRequestRoundTrip(const ControlRequest& request) {
  const json written = RequestToJson(request);
  absl::StatusOr<ControlRequest> again = RequestFromJson(written);
  if (!again.ok() || RequestToJson(*again) != written) abort();
  return PingReply{};
}

void CheckDispatch(const json& request) {
  const json reply = DispatchControl(request, CheckRequestRoundTrip);
  if (!reply.is_object()) abort();
  Dump(reply);
  // Whatever was refused is refused with a message.
  if (!RequestFromJson(request).ok() && !RefusalIn(reply).has_value()) abort();
}

template <typename Reply>
void CheckReply(const json& j) {
  absl::StatusOr<Reply> reply = FromJson<Reply>(j, "reply");
  if (!reply.ok()) return;
  const json written = ToJson(*reply);
  Dump(written);
  absl::StatusOr<Reply> again = FromJson<Reply>(written, "reply");
  if (!again.ok() || ToJson(*again) != written) abort();
}

template <size_t... I>
void CheckReplyAlternative(size_t index, const json& j, std::index_sequence<I...>) {
  ((index == I ? CheckReply<std::variant_alternative_t<I, ControlReply>>(j) : void()), ...);
}

}  // namespace
}  // namespace meshbpf::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace meshbpf;
  using namespace meshbpf::fuzz;
  if (size == 0) return 0;
  // As the control socket reads it: anything that is not JSON is refused there.
  const nlohmann::json j = nlohmann::json::parse(data + 1, data + size, nullptr,
                                                 /*allow_exceptions=*/false);
  if (j.is_discarded()) return 0;
  constexpr size_t kReplyTypes = std::variant_size_v<ControlReply>;
  const size_t selector = data[0] % (1 + kReplyTypes);
  if (selector == kControlRequest) {
    CheckDispatch(j);
  } else {
    RefusalIn(j);
    CheckReplyAlternative(selector - 1, j, std::make_index_sequence<kReplyTypes>());
  }
  return 0;
}
