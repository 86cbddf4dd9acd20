// What the parts of config loading share (config.cc: the node's sections,
// config_uplinks.cc: interfaces and uplinks, config_json.cc: the JSON text):
// user text in messages, field errors, name tables, range checks, address
// and interface-name parsing. Internal to them; the API is config.h.
#pragma once

#include <net/if.h>
#include <netinet/in.h>

#include <array>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "agent/core/config.h"

namespace meshbpf::config_internal {

// Debian's abseil has its own string_view type, distinct from std's (and
// protobuf 3.21 its own StringPiece); the public API speaks std::string_view,
// everything in here absl::string_view.
inline absl::string_view ToAbsl(std::string_view s) { return {s.data(), s.size()}; }

// User text goes into messages escaped, so a stray NUL or newline in a config
// value cannot garble the log line that reports it.
std::string Quote(absl::string_view text);

// "<path>: <problem>" as InvalidArgument.
absl::Status InvalidField(absl::string_view path, absl::string_view problem);

template <typename E>
struct Named {
  E value;
  absl::string_view name;
};

// Looks `name` up in a name table; the error lists every valid name so the
// user does not have to go looking for them.
template <typename E, size_t N>
absl::StatusOr<E> ParseNamed(const std::array<Named<E>, N>& table, absl::string_view path,
                             absl::string_view what, absl::string_view name) {
  for (const Named<E>& entry : table) {
    if (entry.name == name) return entry.value;
  }
  return InvalidField(path, absl::StrCat("unknown ", what, " ", Quote(name), " (valid: ",
                                       absl::StrJoin(table, ", ",
                                                     [](std::string* out, const Named<E>& e) {
                                                       out->append(e.name.data(), e.name.size());
                                                     }),
                                       ")"));
}

// A numeric interval. Contains() is false for NaN, so NaN is always rejected.
struct Range {
  double lo;
  double hi;
  bool lo_open;  // lo itself is excluded

  bool Contains(double v) const { return (lo_open ? v > lo : v >= lo) && v <= hi; }
  std::string Describe() const {
    return lo_open ? absl::StrCat("greater than ", lo, " and at most ", hi)
                   : absl::StrCat("between ", lo, " and ", hi);
  }
};

constexpr Range Closed(double lo, double hi) { return {lo, hi, false}; }
constexpr Range AboveUpTo(double lo, double hi) { return {lo, hi, true}; }

constexpr Range kPortRange = Closed(1, 65535);
constexpr Range kProbeCount = Closed(1, 100);
constexpr Range kRateMbit = AboveUpTo(0, 100000);
constexpr Range kLossPercent = AboveUpTo(0, 100);
constexpr size_t kMaxIfnameLen = IFNAMSIZ - 1;
constexpr absl::string_view kTxSuffix = "-tx";  // see BondTxName() in netdev.cc

// An optional numeric field. `out` holds the documented default and keeps it
// when the field is absent; an explicit value must lie in `range` and is
// stored as written, never clamped or replaced.
template <typename Out, typename In>
absl::Status Checked(absl::string_view path, bool present, In value, Range range, Out& out) {
  if (!present) return absl::OkStatus();
  if (!range.Contains(static_cast<double>(value))) {
    return InvalidField(path, absl::StrCat("must be ", range.Describe(), ", got ", value));
  }
  out = static_cast<Out>(value);
  return absl::OkStatus();
}

absl::StatusOr<in_addr> ParseIpv4(absl::string_view path, const std::string& text);
// An IPv4 or IPv6 address (a path's outer addresses).
absl::StatusOr<IpAddress> ParseIpAddress(absl::string_view path, const std::string& text);

// An optional IPv4-or-IPv6 address field; `out` (IpAddress or
// std::optional<IpAddress>) is left alone when the field is absent.
template <typename Out>
absl::Status OptionalIpAddress(absl::string_view path, bool present, const std::string& text,
                               Out& out) {
  if (!present) return absl::OkStatus();
  absl::StatusOr<IpAddress> addr = ParseIpAddress(path, text);
  if (!addr.ok()) return addr.status();
  out = *addr;
  return absl::OkStatus();
}

// An optional address field; `out` (in_addr or std::optional<in_addr>) is
// left alone when the field is absent.
template <typename Out>
absl::Status OptionalIpv4(absl::string_view path, bool present, const std::string& text, Out& out) {
  if (!present) return absl::OkStatus();
  absl::StatusOr<in_addr> addr = ParseIpv4(path, text);
  if (!addr.ok()) return addr.status();
  out = *addr;
  return absl::OkStatus();
}

// An address of `family` with its prefix length: "10.203.0.2/24" (AF_INET,
// link_aggregation.bond_address) or "fd00:203::2/64" (AF_INET6,
// bond_address_ipv6). An address of the other family is refused.
absl::StatusOr<BondAddress> ParseBondAddress(absl::string_view path, const std::string& text,
                                             int family);

// Why `name` is not a valid Linux interface name (the kernel's
// dev_valid_name()), or nullopt if it is.
std::optional<std::string> IfnameProblem(absl::string_view name);
// InvalidField at `path` when `name` (with `note` after it) is not a valid
// interface name.
absl::Status CheckIfname(absl::string_view path, absl::string_view name, absl::string_view note);

// A byte budget written like data_cap at `field` (interfaces.uplinks[i].data_cap,
// node_discovery.share_cap). The period math and its checks live in
// data_cap.h; their errors name "data_cap.<x>", which becomes "<field>.<x>".
absl::StatusOr<CapPlan> ResolveCap(const config::DataCap& c, absl::string_view field);

// --- config_uplinks.cc: interfaces.*, then what refers to the uplinks ----------

// interfaces: every uplink (looked up in `interfaces`), primary and backups.
absl::Status ResolveInterfaces(const config::Interfaces& in, const InterfaceLookup& interfaces,
                               NodeSettings& out);
absl::Status ResolveSharedUplinks(const config::NodeDiscovery& d, NodeSettings& out);
absl::Status ResolveRelayPorts(const config::NodeDiscovery& d, const NodeSettings& node);

}  // namespace meshbpf::config_internal
