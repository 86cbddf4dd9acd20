#include "agent/core/if_inet6.h"

#include <charconv>
#include <cstdint>

#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace meshbpf {
namespace {

// include/net/ipv6.h and include/uapi/linux/if_addr.h.
constexpr unsigned kScopeGlobal = 0x00;
constexpr unsigned kScopeLink = 0x20;
constexpr uint32_t kTemporary = 0x01;   // IFA_F_TEMPORARY
constexpr uint32_t kDadFailed = 0x08;   // IFA_F_DADFAILED
constexpr uint32_t kDeprecated = 0x20;  // IFA_F_DEPRECATED
constexpr uint32_t kTentative = 0x40;   // IFA_F_TENTATIVE

bool ParseHex(absl::string_view text, uint32_t& out) {
  const auto [end, err] = std::from_chars(text.data(), text.data() + text.size(), out, 16);
  return err == std::errc() && end == text.data() + text.size();
}

bool ParseHexAddress(absl::string_view hex, in6_addr& out) {
  if (hex.size() != 32) return false;
  for (size_t i = 0; i < 16; ++i) {
    uint32_t byte = 0;
    if (!ParseHex(hex.substr(2 * i, 2), byte)) return false;
    out.s6_addr[i] = static_cast<uint8_t>(byte);
  }
  return true;
}

}  // namespace

std::vector<in6_addr> UsableIpv6(std::string_view if_inet6, std::string_view device,
                                 Ipv6Scope scope) {
  const unsigned wanted = scope == Ipv6Scope::kGlobal ? kScopeGlobal : kScopeLink;
  std::vector<in6_addr> stable, temporary;
  for (absl::string_view line :
       absl::StrSplit(absl::string_view(if_inet6.data(), if_inet6.size()), '\n',
                      absl::SkipWhitespace())) {
    const std::vector<absl::string_view> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
    uint32_t scope = 0, flags = 0;
    in6_addr address{};
    if (f.size() != 6 || f[5] != absl::string_view(device.data(), device.size()) ||
        !ParseHexAddress(f[0], address) || !ParseHex(f[3], scope) || !ParseHex(f[4], flags) ||
        scope != wanted || (flags & (kDadFailed | kDeprecated | kTentative))) {
      continue;
    }
    ((flags & kTemporary) ? temporary : stable).push_back(address);
  }
  stable.insert(stable.end(), temporary.begin(), temporary.end());
  return stable;
}

}  // namespace meshbpf
