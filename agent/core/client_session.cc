#include "agent/core/client_session.h"

#include "absl/strings/str_cat.h"

namespace meshbpf {
namespace {

// "2 s", "0.5 s"
std::string Seconds(uint64_t ns) { return absl::StrCat(static_cast<double>(ns) / 1e9, " s"); }

}  // namespace

std::optional<absl::StatusOr<std::string>> ClientSession::Received(std::string_view bytes,
                                                                   bool closed) {
  if (answered_) return std::nullopt;
  // Only the new bytes (and the end marker's length before them) can hold its end.
  const size_t search_from = request_.size() >= limits_.request_end.size()
                                 ? request_.size() - (limits_.request_end.size() - 1)
                                 : 0;
  // Kept to one byte over the limit: enough to tell it is too large.
  request_.append(bytes.substr(0, limits_.max_request_bytes + 1 - request_.size()));
  const size_t end = request_.find(limits_.request_end, search_from);
  if (end != std::string::npos && end + limits_.request_end.size() <= limits_.max_request_bytes) {
    answered_ = true;
    request_.resize(end + limits_.request_end.size());
    return std::move(request_);
  }
  if (end != std::string::npos || request_.size() > limits_.max_request_bytes) {
    answered_ = true;
    return absl::ResourceExhaustedError(
        absl::StrCat("the request is larger than the ", limits_.max_request_bytes,
                     " bytes allowed"));
  }
  if (closed) {
    answered_ = true;
    return std::move(request_);
  }
  return std::nullopt;
}

void ClientSession::Reply(std::string reply, uint64_t now_ns) {
  answered_ = true;
  replying_ = true;
  reply_started_ns_ = now_ns;
  reply_ = std::move(reply);
  sent_ = 0;
}

uint64_t ClientSession::deadline_ns() const {
  return replying_ ? reply_started_ns_ + limits_.reply_timeout_ns
                   : accepted_ns_ + limits_.request_timeout_ns;
}

std::optional<std::string> ClientSession::Overdue(uint64_t now_ns) const {
  if (now_ns < deadline_ns()) return std::nullopt;
  if (replying_) {
    return absl::StrCat("read ", sent_, " of the ", reply_.size(), " reply bytes within ",
                        Seconds(limits_.reply_timeout_ns));
  }
  return absl::StrCat("sent no whole request within ", Seconds(limits_.request_timeout_ns), " (",
                      request_.size(), " bytes)");
}

}  // namespace meshbpf
