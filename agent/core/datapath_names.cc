#include "agent/core/datapath_names.h"

#include <iterator>

#include "bpf/meshbpf.h"

namespace meshbpf {
namespace {

constexpr std::string_view kDropReasonNames[] = {
    "no_config",      "no_path",      "unsupported_l3", "too_big",      "encap_failed",
    "unknown_source", "truncated",    "bad_header",     "decap_failed", "duplicate",
    "too_old",        "clone_failed", "wrong_endpoint", "auth_missing", "auth_no_session",
    "auth_epoch",     "auth_bad_tag", "auth_replay",    "auth_too_old", "auth_gso",
    "ce_not_ect",     "inner_source", "repair_stale",   "auth_plaintext", "other_family",
    "link_scope",
};
static_assert(std::size(kDropReasonNames) == MB_DROP_REASONS,
              "every enum mb_drop_reason needs a name");

constexpr std::string_view kRelayDropReasonNames[] = {
    "share_spent",  "cap_spent", "rate", "uplink_gone",     "wrong_source",
    "too_big",      "ttl",       "rewrite_failed", "wrong_interface", "wrong_destination",
    "not_meshbpf",  "uplink_family",
};
static_assert(std::size(kRelayDropReasonNames) == MB_RELAY_DROP_REASONS,
              "every enum mb_relay_drop_reason needs a name");

}  // namespace

std::string_view DropReasonName(int reason) {
  return reason >= 0 && reason < MB_DROP_REASONS ? kDropReasonNames[reason] : "unknown";
}

std::string_view RelayDropReasonName(int reason) {
  return reason >= 0 && reason < MB_RELAY_DROP_REASONS ? kRelayDropReasonNames[reason] : "unknown";
}

std::string_view PathStateName(uint8_t state) {
  switch (state) {
    case MB_PATH_ACTIVE:
      return "active";
    case MB_PATH_BACKUP:
      return "backup";
    default:
      return "disabled";
  }
}

}  // namespace meshbpf
