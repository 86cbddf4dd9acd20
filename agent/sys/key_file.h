// The node's static private key for tunnel authentication
// (link_aggregation.private_key_file): read once at start, refused unless
// only its owner, root or the agent's user, can read it.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "agent/core/handshake.h"

namespace meshbpf {

absl::StatusOr<X25519KeyPair> ReadPrivateKeyFile(const std::string& path);

}  // namespace meshbpf
