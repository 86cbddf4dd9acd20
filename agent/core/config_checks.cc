#include "agent/core/config_checks.h"

#include <arpa/inet.h>

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/strip.h"

namespace meshbpf::config_internal {

std::string Quote(absl::string_view text) {
  return absl::StrCat("\"", absl::CHexEscape(text), "\"");
}

absl::Status InvalidField(absl::string_view path, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", problem));
}

absl::StatusOr<in_addr> ParseIpv4(absl::string_view path, const std::string& text) {
  in_addr addr{};
  // inet_pton stops at a NUL, which would accept "1.2.3.4\0junk".
  if (text.find('\0') != std::string::npos || inet_pton(AF_INET, text.c_str(), &addr) != 1) {
    return InvalidField(
        path, absl::StrCat(Quote(text), " is not an IPv4 address (expected e.g. 192.0.2.1)"));
  }
  return addr;
}

absl::StatusOr<IpAddress> ParseIpAddress(absl::string_view path, const std::string& text) {
  if (text.find('\0') == std::string::npos) {
    in_addr v4{};
    if (inet_pton(AF_INET, text.c_str(), &v4) == 1) return IpAddress::V4(v4);
    in6_addr v6{};
    if (inet_pton(AF_INET6, text.c_str(), &v6) == 1) {
      if (IN6_IS_ADDR_V4MAPPED(&v6)) {
        return InvalidField(path, absl::StrCat(Quote(text), " is an IPv4-mapped IPv6 address: "
                                                            "write the IPv4 address itself"));
      }
      return IpAddress::V6(v6);
    }
  }
  return InvalidField(path, absl::StrCat(Quote(text), " is not an IP address (expected e.g. "
                                                      "192.0.2.1 or 2001:db8::1)"));
}

absl::StatusOr<BondAddress> ParseBondAddress(absl::string_view path, const std::string& text,
                                             int family) {
  struct Rules {
    const char* name;
    const char* example;
    size_t max_digits;
    int min_len;  // IPv6: /0 would put every destination on-link behind the bond
    int max_len;
  };
  const bool v6 = family == AF_INET6;
  const Rules rules = v6 ? Rules{"IPv6", "fd00:203::2/64", 3, 1, 128}
                         : Rules{"IPv4", "10.203.0.2/24", 2, 0, 32};
  const size_t slash = text.find('/');
  const std::string length = slash == std::string::npos ? "" : text.substr(slash + 1);
  absl::StatusOr<IpAddress> address = ParseIpAddress(path, text.substr(0, slash));
  // An IPv4 field says this of any address it cannot take; an IPv6 one
  // names an IPv4 or IPv4-mapped address as such below.
  if (length.empty() || length.size() > rules.max_digits ||
      !std::all_of(length.begin(), length.end(), absl::ascii_isdigit) ||
      (!v6 && (!address.ok() || address->is_v6()))) {
    return InvalidField(path, absl::StrCat(Quote(text), " is not an ", rules.name,
                                         " address with a prefix length (expected e.g. ",
                                         rules.example, ")"));
  }
  if (!address.ok()) return address.status();
  if (v6 && !address->is_v6()) {
    return InvalidField(path, absl::StrCat(Quote(text), " is IPv4: this field takes the bond's IPv6 "
                                                      "address (the IPv4 one is bond_address)"));
  }
  const int prefix_len = std::stoi(length);
  if (prefix_len < rules.min_len || prefix_len > rules.max_len) {
    return InvalidField(path, absl::StrCat("prefix length ", prefix_len, " in ", Quote(text),
                                         " is out of range (", rules.min_len, "..", rules.max_len,
                                         ")"));
  }
  if (v6) {
    const in6_addr a = address->v6();
    if (IN6_IS_ADDR_UNSPECIFIED(&a) || IN6_IS_ADDR_LOOPBACK(&a) || IN6_IS_ADDR_MULTICAST(&a)) {
      return InvalidField(path, absl::StrCat(Quote(text), " is not a unicast address a device can have"));
    }
  }
  return BondAddress{*address, prefix_len};
}

std::optional<std::string> IfnameProblem(absl::string_view name) {
  if (name.empty()) return "must not be empty";
  if (name.size() > kMaxIfnameLen) {
    return absl::StrCat("longer than ", kMaxIfnameLen, " characters");
  }
  if (name == "." || name == "..") return "\".\" and \"..\" are not allowed";
  for (char c : name) {
    if (c == '/' || c == ':' || c == '\0' || absl::ascii_isspace(c)) {
      return "must not contain '/', ':', whitespace or NUL";
    }
  }
  return std::nullopt;
}

absl::Status CheckIfname(absl::string_view path, absl::string_view name, absl::string_view note) {
  if (std::optional<std::string> problem = IfnameProblem(name)) {
    return InvalidField(
        path, absl::StrCat(Quote(name), note, " is not a valid interface name: ", *problem));
  }
  return absl::OkStatus();
}

absl::StatusOr<CapPlan> ResolveCap(const config::DataCap& c, absl::string_view field) {
  if (!c.has_limit_bytes()) {
    return InvalidField(absl::StrCat(field, ".limit_bytes"), "required (the budget in bytes, > 0)");
  }
  CapSettings settings;
  settings.limit_bytes = c.limit_bytes();
  if (c.has_period()) settings.period = c.period();
  if (c.has_reset_day()) {
    // 0 means "default" to MakeCapPlan; written by the user it is no day.
    if (c.reset_day() < 1 || c.reset_day() > 31) {
      return InvalidField(absl::StrCat(field, ".reset_day"),
                        absl::StrCat("must be a day of the month (1..31), got ", c.reset_day()));
    }
    settings.reset_day = static_cast<int>(c.reset_day());
  }
  if (c.has_timezone()) settings.timezone = c.timezone();
  // A repeated field cannot tell [] from absent: both mean the default levels.
  if (c.warn_at_percent_size() > 0) {
    settings.warn_at_percent.assign(c.warn_at_percent().begin(), c.warn_at_percent().end());
  }
  if (c.has_when_exhausted()) settings.when_exhausted = c.when_exhausted();
  absl::StatusOr<CapPlan> plan = MakeCapPlan(settings);
  if (!plan.ok()) {
    absl::string_view problem = plan.status().message();
    absl::ConsumePrefix(&problem, "data_cap");
    return absl::InvalidArgumentError(absl::StrCat(field, problem));
  }
  return plan;
}

}  // namespace meshbpf::config_internal
