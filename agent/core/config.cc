#include "agent/core/config.h"

#include <arpa/inet.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <net/if.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "agent/core/discovery.h"
#include "bpf/meshbpf.h"

namespace meshbpf {
namespace {

namespace pb = google::protobuf;

// The agent hands BondMode to the data path as an mb_mode.
static_assert(static_cast<int>(BondMode::kLoadBalance) == MB_MODE_LOAD_BALANCE);
static_assert(static_cast<int>(BondMode::kFlow) == MB_MODE_FLOW);
static_assert(static_cast<int>(BondMode::kRedundant) == MB_MODE_REDUNDANT);
static_assert(static_cast<int>(BondMode::kActiveBackup) == MB_MODE_ACTIVE_BACKUP);
static_assert(static_cast<int>(BondMode::kLatency) == MB_MODE_LATENCY);

// ---------------------------------------------------------------------------
// Small helpers shared by the parser and the resolver.

// Debian's abseil has its own string_view type, distinct from std's (and
// protobuf 3.21 its own StringPiece); the public API speaks std::string_view,
// everything in here absl::string_view.
absl::string_view ToAbsl(std::string_view s) { return {s.data(), s.size()}; }
absl::string_view ToAbsl(pb::StringPiece s) { return {s.data(), s.size()}; }

// User text goes into messages escaped, so a stray NUL or newline in a config
// value cannot garble the log line that reports it.
std::string Quote(absl::string_view text) {
  return absl::StrCat("\"", absl::CHexEscape(text), "\"");
}

std::string AddressText(in_addr addr) {
  char text[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &addr, text, sizeof(text));
  return text;
}

absl::Status FieldError(absl::string_view path, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(path, ": ", problem));
}

template <typename E>
struct Named {
  E value;
  absl::string_view name;
};

constexpr std::array<Named<BondMode>, 5> kModes = {{
    {BondMode::kLoadBalance, "load_balance"},
    {BondMode::kFlow, "flow"},
    {BondMode::kRedundant, "redundant"},
    {BondMode::kActiveBackup, "active_backup"},
    {BondMode::kLatency, "latency"},
}};

constexpr std::array<Named<OffloadSetting>, 3> kOffloadSettings = {{
    {OffloadSetting::kAuto, "auto"},
    {OffloadSetting::kOn, "on"},
    {OffloadSetting::kOff, "off"},
}};

// Looks `name` up in a name table; the error lists every valid name so the
// user does not have to go looking for them.
template <typename E, size_t N>
absl::StatusOr<E> ParseNamed(const std::array<Named<E>, N>& table, absl::string_view path,
                             absl::string_view what, absl::string_view name) {
  for (const Named<E>& entry : table) {
    if (entry.name == name) return entry.value;
  }
  return FieldError(path, absl::StrCat("unknown ", what, " ", Quote(name), " (valid: ",
                                       absl::StrJoin(table, ", ",
                                                     [](std::string* out, const Named<E>& e) {
                                                       out->append(e.name.data(), e.name.size());
                                                     }),
                                       ")"));
}

// ---------------------------------------------------------------------------
// JSON parsing.
//
// protobuf's JSON parser does the conversion, but it is lenient in ways that
// matter for a hand-written config file: it takes an object or a scalar where a
// list is expected (as a one-element list), any string for a bool ("yes" is
// true), quoted numbers and "NaN", silently drops null list elements (which
// renumbers the uplinks, and the uplink index is the path id), and merges
// repeated keys. Its syntax errors carry a 40-byte excerpt but no line number
// or field. The code below closes those gaps around it.

// A walk over JSON text that only tracks where it is: the field path at the
// end of `text`, and the first key that repeats within one object. It does not
// validate; it only runs on text protobuf accepted or on the prefix before a
// syntax error. Keys are taken as written (no unescaping).
struct JsonScan {
  std::string path;                      // path at the end of the text
  std::optional<std::string> duplicate;  // path of the first repeated key
};

struct ScanFrame {
  bool is_array = false;
  int index = 0;           // arrays: the current element
  std::string key;         // objects: the current member
  bool expect_key = true;  // objects: the next string is a member name
  std::set<std::string> keys;
};

std::string FramePath(const std::vector<ScanFrame>& frames) {
  std::string path;
  for (const ScanFrame& f : frames) {
    if (f.is_array) {
      absl::StrAppend(&path, "[", f.index, "]");
    } else if (f.key.empty()) {
      break;
    } else {
      absl::StrAppend(&path, path.empty() ? "" : ".", f.key);
    }
  }
  return path;
}

// protobuf's parser also accepts unquoted member names made of these.
bool IsKeyChar(char c) { return absl::ascii_isalnum(c) || c == '_' || c == '$'; }

JsonScan ScanJson(absl::string_view text) {
  JsonScan scan;
  std::vector<ScanFrame> frames;
  auto on_key = [&](absl::string_view key) {
    ScanFrame& top = frames.back();
    top.key = std::string(key);
    top.expect_key = false;
    if (!top.keys.insert(top.key).second && !scan.duplicate) scan.duplicate = FramePath(frames);
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const bool key_next = !frames.empty() && !frames.back().is_array && frames.back().expect_key;
    if (c == '"' || c == '\'') {
      size_t end = i + 1;
      while (end < text.size() && text[end] != c) end += text[end] == '\\' ? 2 : 1;
      end = std::min(end, text.size());
      if (key_next) on_key(text.substr(i + 1, end - i - 1));
      i = end;
    } else if (key_next && IsKeyChar(c)) {
      size_t end = i;
      while (end < text.size() && IsKeyChar(text[end])) ++end;
      on_key(text.substr(i, end - i));
      i = end - 1;
    } else if (c == '{' || c == '[') {
      frames.emplace_back().is_array = c == '[';
    } else if ((c == '}' || c == ']') && !frames.empty()) {
      frames.pop_back();
    } else if (c == ',' && !frames.empty()) {
      ScanFrame& top = frames.back();
      if (top.is_array) {
        ++top.index;
      } else {
        top.expect_key = true;
      }
    }
  }
  scan.path = FramePath(frames);
  return scan;
}

// protobuf reports a syntax error as "<what>\n<excerpt>\n<spaces>^", the
// excerpt being up to 20 bytes either side of the error. The caret counts
// bytes, so it is off when the excerpt spans lines, and there is no line
// number. Finding the excerpt in the input recovers the byte offset; an empty
// excerpt means the input ended early.
std::optional<size_t> SyntaxErrorOffset(absl::string_view json, absl::string_view message) {
  const size_t first = message.find('\n');
  const size_t last = message.rfind('\n');
  if (first == absl::string_view::npos || first == last) return std::nullopt;
  const absl::string_view caret = message.substr(last + 1);
  if (caret.empty() || caret.back() != '^' || caret.find_first_not_of(' ') != caret.size() - 1) {
    return std::nullopt;
  }
  const absl::string_view excerpt = message.substr(first + 1, last - first - 1);
  if (excerpt.empty()) return json.size();
  // The first occurrence: an identical window earlier in the text would have
  // failed there already.
  const size_t start = json.find(excerpt);
  if (start == absl::string_view::npos) return std::nullopt;
  return start + caret.size() - 1;
}

// Spaces up to the caret, keeping tabs so the caret lines up under them.
std::string CaretIndent(absl::string_view text) {
  std::string indent(text.size(), ' ');
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\t') indent[i] = '\t';
  }
  return indent;
}

// "<what>" becomes "line L, column C (near field.path): <what>" followed by the
// offending line and a caret under the column.
std::string DescribeSyntaxError(absl::string_view json, absl::string_view message) {
  const std::optional<size_t> offset = SyntaxErrorOffset(json, message);
  if (!offset) return std::string(message);
  const absl::string_view what = message.substr(0, message.find('\n'));
  const absl::string_view before = json.substr(0, *offset);
  const size_t line_start = before.find_last_of('\n') + 1;  // npos + 1 == 0
  const size_t line_end = std::min(json.find('\n', *offset), json.size());
  const size_t line = std::count(before.begin(), before.end(), '\n') + 1;
  const size_t column = *offset - line_start;
  // Long lines are cut to a window around the column.
  constexpr size_t kWindow = 40;
  const size_t from = column > kWindow ? *offset - kWindow : line_start;
  const size_t to = std::min(line_end, *offset + kWindow);
  const std::string path = ScanJson(before).path;
  return absl::StrCat("line ", line, ", column ", column + 1,
                      path.empty() ? "" : absl::StrCat(" (near ", path, ")"), ": ", what, "\n",
                      json.substr(from, to - from), "\n",
                      CaretIndent(json.substr(from, *offset - from)), "^");
}

absl::string_view KindName(const pb::Value& v) {
  switch (v.kind_case()) {
    case pb::Value::kNullValue:
      return "null";
    case pb::Value::kNumberValue:
      return "a number";
    case pb::Value::kStringValue:
      return "a string";
    case pb::Value::kBoolValue:
      return "true/false";
    case pb::Value::kStructValue:
      return "an object";
    case pb::Value::kListValue:
      return "a list";
    default:
      return "nothing";
  }
}

// The one JSON kind accepted for (an element of) field `f`: numbers must be
// JSON numbers and booleans JSON booleans, although protobuf would take strings.
std::pair<pb::Value::KindCase, absl::string_view> ExpectedKind(const pb::FieldDescriptor& f) {
  switch (f.type()) {
    case pb::FieldDescriptor::TYPE_MESSAGE:
      return {pb::Value::kStructValue, "an object"};
    case pb::FieldDescriptor::TYPE_BOOL:
      return {pb::Value::kBoolValue, "true or false"};
    case pb::FieldDescriptor::TYPE_STRING:
      return {pb::Value::kStringValue, "a string"};
    default:
      return {pb::Value::kNumberValue, "a number"};
  }
}

absl::Status CheckObject(const pb::Struct& object, const pb::Descriptor& type,
                         const std::string& path);

absl::Status CheckElement(const pb::Value& value, const pb::FieldDescriptor& f,
                          const std::string& path) {
  const auto [kind, expected] = ExpectedKind(f);
  if (value.kind_case() != kind) {
    return FieldError(path, absl::StrCat("expected ", expected, ", got ", KindName(value)));
  }
  if (kind == pb::Value::kStructValue)
    return CheckObject(value.struct_value(), *f.message_type(), path);
  return absl::OkStatus();
}

// Checks the JSON kinds in `object` against the message type. Field names are
// known to be valid (protobuf rejected unknown ones); null means "absent".
absl::Status CheckObject(const pb::Struct& object, const pb::Descriptor& type,
                         const std::string& path) {
  for (int i = 0; i < type.field_count(); ++i) {
    const pb::FieldDescriptor& f = *type.field(i);
    auto it = object.fields().find(f.name());
    if (it == object.fields().end()) it = object.fields().find(f.json_name());
    if (it == object.fields().end() || it->second.has_null_value()) continue;
    const std::string field_path = path.empty() ? f.name() : absl::StrCat(path, ".", f.name());
    if (!f.is_repeated()) {
      if (absl::Status s = CheckElement(it->second, f, field_path); !s.ok()) return s;
      continue;
    }
    if (!it->second.has_list_value()) {
      return FieldError(field_path, absl::StrCat("expected a list, got ", KindName(it->second)));
    }
    const pb::ListValue& list = it->second.list_value();
    for (int j = 0; j < list.values_size(); ++j) {
      if (absl::Status s = CheckElement(list.values(j), f, absl::StrCat(field_path, "[", j, "]"));
          !s.ok()) {
        return s;
      }
    }
  }
  return absl::OkStatus();
}

absl::Status InvalidConfig(absl::string_view detail) {
  return absl::InvalidArgumentError(absl::StrCat("invalid config: ", detail));
}

// ---------------------------------------------------------------------------
// Resolving: defaults for absent fields, range checks for explicit ones.

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
    return FieldError(path, absl::StrCat("must be ", range.Describe(), ", got ", value));
  }
  out = static_cast<Out>(value);
  return absl::OkStatus();
}

absl::StatusOr<in_addr> ParseIpv4(absl::string_view path, const std::string& text) {
  in_addr addr{};
  // inet_pton stops at a NUL, which would accept "1.2.3.4\0junk".
  if (text.find('\0') != std::string::npos || inet_pton(AF_INET, text.c_str(), &addr) != 1) {
    return FieldError(
        path, absl::StrCat(Quote(text), " is not an IPv4 address (expected e.g. 192.0.2.1)"));
  }
  return addr;
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

absl::StatusOr<BondAddress> ParseBondAddress(absl::string_view path, const std::string& text) {
  const size_t slash = text.find('/');
  const std::string prefix = slash == std::string::npos ? "" : text.substr(slash + 1);
  absl::StatusOr<in_addr> addr = ParseIpv4(path, text.substr(0, slash));
  if (!addr.ok() || prefix.empty() || prefix.size() > 2 ||
      !std::all_of(prefix.begin(), prefix.end(), absl::ascii_isdigit)) {
    return FieldError(path, absl::StrCat(Quote(text),
                                         " is not an IPv4 address with a prefix length "
                                         "(expected e.g. 10.203.0.2/24)"));
  }
  const int prefix_len = std::stoi(prefix);
  if (prefix_len > 32) {
    return FieldError(path, absl::StrCat("prefix length ", prefix_len, " in ", Quote(text),
                                         " is out of range (0..32)"));
  }
  return BondAddress{*addr, prefix_len};
}

// Why `name` is not a valid Linux interface name (the kernel's
// dev_valid_name()), or nullopt if it is.
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
    return FieldError(
        path, absl::StrCat(Quote(name), note, " is not a valid interface name: ", *problem));
  }
  return absl::OkStatus();
}

std::string HostName() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0) return "";
  return name;
}

// A byte budget written like data_cap at `field` (interfaces.uplinks[i].data_cap,
// node_discovery.share_cap). The period math and its checks live in
// data_cap.h; their errors name "data_cap.<x>", which becomes "<field>.<x>".
absl::StatusOr<CapPlan> ResolveCap(const config::DataCap& c, absl::string_view field) {
  if (!c.has_limit_bytes()) {
    return FieldError(absl::StrCat(field, ".limit_bytes"), "required (the budget in bytes, > 0)");
  }
  CapSettings settings;
  settings.limit_bytes = c.limit_bytes();
  if (c.has_period()) settings.period = c.period();
  if (c.has_reset_day()) {
    // 0 means "default" to MakeCapPlan; written by the user it is no day.
    if (c.reset_day() < 1 || c.reset_day() > 31) {
      return FieldError(absl::StrCat(field, ".reset_day"),
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

absl::Status ResolveDiscovery(const config::NodeDiscovery& d, DiscoverySettings& out) {
  if (d.has_enabled()) out.enabled = d.enabled();
  absl::Status s = Checked("node_discovery.port", d.has_port(), d.port(), kPortRange, out.port);
  s.Update(Checked("node_discovery.broadcast_interval", d.has_broadcast_interval(),
                   d.broadcast_interval(), AboveUpTo(0, 3600), out.broadcast_interval_s));
  s.Update(Checked("node_discovery.node_timeout", d.has_node_timeout(), d.node_timeout(),
                   AboveUpTo(0, 86400), out.node_timeout_s));
  // The whole span of relay ports must fit below 65536 (see ResolveRelayPorts).
  s.Update(Checked("node_discovery.relay_port", d.has_relay_port(), d.relay_port(),
                   Closed(1, 65535 - MB_RELAY_PORT_SPAN), out.relay_port));
  double share_max_mbit = 0;
  s.Update(Checked("node_discovery.share_max_mbit", d.has_share_max_mbit(), d.share_max_mbit(),
                   kRateMbit, share_max_mbit));
  out.share_max_bps = share_max_mbit * 1e6;
  if (!s.ok()) return s;
  if (d.has_share_cap()) {
    absl::StatusOr<CapPlan> plan = ResolveCap(d.share_cap(), kShareCapName);
    if (!plan.ok()) return plan.status();
    // The data path drops relayed packets once the share is spent: there is
    // no last resort for a neighbour's traffic.
    if (plan->when_exhausted != CapExhaustedPolicy::kStop) {
      return FieldError(absl::StrCat(kShareCapName, ".when_exhausted"),
                        absl::StrCat("must be \"stop\" (relaying ends when the share is spent), got ",
                                     Quote(d.share_cap().when_exhausted())));
    }
    out.share_cap = *std::move(plan);
  }
  // A node must be able to miss at least one announcement before it is
  // considered gone.
  if (!(out.node_timeout_s > out.broadcast_interval_s)) {
    return FieldError("node_discovery.node_timeout",
                      absl::StrCat("must be greater than node_discovery.broadcast_interval (",
                                   out.broadcast_interval_s, "), got ", out.node_timeout_s,
                                   d.has_node_timeout() ? "" : " (the default)"));
  }
  out.node_name = d.has_node_name() ? d.node_name() : HostName();
  if (out.node_name.empty() && (d.has_node_name() || out.enabled)) {
    return FieldError("node_discovery.node_name", d.has_node_name()
                                                      ? "must not be empty"
                                                      : "not set and the host name is unknown");
  }
  if (d.has_node_name() || out.enabled) {
    if (std::optional<std::string> problem = NodeNameProblem(out.node_name)) {
      return FieldError("node_discovery.node_name",
                        absl::StrCat(Quote(out.node_name), d.has_node_name() ? "" : " (the host name)",
                                     " ", *problem));
    }
  }
  constexpr size_t kMinKeyLen = 16;
  out.mesh_key = d.mesh_key();
  if (!out.mesh_key.empty() && out.mesh_key.size() < kMinKeyLen) {
    return FieldError(
        "node_discovery.mesh_key",
        absl::StrCat("must be at least ", kMinKeyLen, " characters, got ", out.mesh_key.size()));
  }
  if (out.enabled && out.mesh_key.empty()) {
    return FieldError(
        "node_discovery.mesh_key",
        absl::StrCat("required (at least ", kMinKeyLen, " characters) when discovery is enabled"));
  }
  if (d.has_node_id()) {
    if (std::optional<std::string> problem = NodeIdProblem(d.node_id())) {
      return FieldError("node_discovery.node_id", absl::StrCat(Quote(d.node_id()), " ", *problem));
    }
    out.node_id = d.node_id();
  }
  if (out.enabled && d.interfaces_size() == 0) {
    return FieldError("node_discovery.interfaces",
                      "required when discovery is enabled: the interfaces neighbours share "
                      "(announcements are never sent on interfaces not listed)");
  }
  for (int i = 0; i < d.interfaces_size(); ++i) {
    const std::string path = absl::StrCat("node_discovery.interfaces[", i, "]");
    if (absl::Status bad = CheckIfname(path, d.interfaces(i), ""); !bad.ok()) return bad;
    if (std::find(out.interfaces.begin(), out.interfaces.end(), d.interfaces(i)) !=
        out.interfaces.end()) {
      return FieldError(path, absl::StrCat(Quote(d.interfaces(i)), " is listed twice"));
    }
    out.interfaces.push_back(d.interfaces(i));
  }
  return absl::OkStatus();
}

absl::Status ResolveLinkAggregation(const config::LinkAggregation& l, NodeSettings& out) {
  if (l.has_mode()) {
    absl::StatusOr<BondMode> mode = ParseBondMode(l.mode());
    if (!mode.ok()) return mode.status();
    out.mode = *mode;
  }
  if (l.has_bond_interface()) {
    constexpr absl::string_view kPath = "link_aggregation.bond_interface";
    if (absl::Status s = CheckIfname(kPath, l.bond_interface(), ""); !s.ok()) return s;
    if (l.bond_interface().size() + kTxSuffix.size() > kMaxIfnameLen) {
      return FieldError(kPath,
                        absl::StrCat(Quote(l.bond_interface()), " is longer than ",
                                     kMaxIfnameLen - kTxSuffix.size(),
                                     " characters (the agent also creates \"<name>", kTxSuffix,
                                     "\", which must fit in ", kMaxIfnameLen, ")"));
    }
    out.bond_interface = l.bond_interface();
  }
  if (l.has_bond_address()) {
    absl::StatusOr<BondAddress> bond =
        ParseBondAddress("link_aggregation.bond_address", l.bond_address());
    if (!bond.ok()) return bond.status();
    out.bond_address = *bond;
  }
  // Flow mode sends every flow straight to its destination: a peer, its
  // bond address (probe target) or a tunnel port would be ignored.
  if (out.mode == BondMode::kFlow) {
    for (const auto& [present, field] : {std::pair{l.has_peer_address(), "peer_address"},
                                         std::pair{l.has_peer_bond_address(), "peer_bond_address"},
                                         std::pair{l.has_port(), "port"}}) {
      if (present) {
        return FieldError(absl::StrCat("link_aggregation.", field),
                          "meaningless in flow mode (no bonding peer: each flow goes straight "
                          "to its destination from one uplink)");
      }
    }
  }
  absl::Status s = OptionalIpv4("link_aggregation.peer_address", l.has_peer_address(),
                                l.peer_address(), out.peer_address);
  s.Update(OptionalIpv4("link_aggregation.peer_bond_address", l.has_peer_bond_address(),
                        l.peer_bond_address(), out.peer_bond_address));
  if (s.ok() && out.peer_bond_address && !out.bond_address) {
    return FieldError("link_aggregation.peer_bond_address",
                      "needs link_aggregation.bond_address: probes are sent from it");
  }
  out.port = MB_DEFAULT_PORT;  // the data path's constant is the authority
  s.Update(Checked("link_aggregation.port", l.has_port(), l.port(), kPortRange, out.port));
  s.Update(Checked("link_aggregation.latency_packet_bytes", l.has_latency_packet_bytes(),
                   l.latency_packet_bytes(), Closed(0, 9000), out.latency_packet_bytes));
  if (!s.ok() || !l.has_segmentation_offload()) return s;
  absl::StatusOr<OffloadSetting> offload =
      ParseNamed(kOffloadSettings, "link_aggregation.segmentation_offload", "setting",
                 l.segmentation_offload());
  if (!offload.ok()) return offload.status();
  out.offload = *offload;
  return absl::OkStatus();
}

absl::Status ResolveFailover(const config::Failover& f, FailoverSettings& out) {
  absl::Status s = Checked("failover.monitoring_interval", f.has_monitoring_interval(),
                           f.monitoring_interval(), Closed(0.01, 3600), out.monitoring_interval_s);
  s.Update(
      Checked("failover.threshold", f.has_threshold(), f.threshold(), kProbeCount, out.threshold));
  s.Update(Checked("failover.recovery_threshold", f.has_recovery_threshold(),
                   f.recovery_threshold(), kProbeCount, out.recovery_threshold));
  s.Update(Checked("failover.rebalance_interval", f.has_rebalance_interval(),
                   f.rebalance_interval(), Closed(0.05, 3600), out.rebalance_interval_s));
  s.Update(Checked("failover.probe_port", f.has_probe_port(), f.probe_port(), kPortRange,
                   out.probe_port));
  absl::Status loss = Checked("failover.degrade_loss_percent", f.has_degrade_loss_percent(),
                              f.degrade_loss_percent(), kLossPercent, out.degrade_loss_percent);
  // Hysteresis: recovery needs clearly less loss than degrading did.
  out.recover_loss_percent = out.degrade_loss_percent / 2;
  loss.Update(Checked("failover.recover_loss_percent", f.has_recover_loss_percent(),
                      f.recover_loss_percent(), kLossPercent, out.recover_loss_percent));
  if (loss.ok() && out.recover_loss_percent >= out.degrade_loss_percent) {
    loss = FieldError("failover.recover_loss_percent",
                      absl::StrCat("must be below failover.degrade_loss_percent (",
                                   out.degrade_loss_percent, "), got ",
                                   out.recover_loss_percent));
  }
  s.Update(loss);
  return s;
}

absl::Status ResolveMonitoring(const config::Monitoring& m, MonitoringSettings& out) {
  absl::Status s;
  if (m.has_history_file()) {
    if (m.history_file().empty() || m.history_file()[0] != '/') {
      s.Update(FieldError("monitoring.history_file",
                          absl::StrCat("must be an absolute path, got ", Quote(m.history_file()))));
    }
    out.history_file = m.history_file();
  }
  if (m.has_history()) out.history = m.history();
  s.Update(Checked("monitoring.sample_interval", m.has_sample_interval(), m.sample_interval(),
                   Closed(1, 60), out.sample_interval_s));
  if (m.has_metrics_allow_remote()) out.metrics_allow_remote = m.metrics_allow_remote();
  if (m.has_metrics_listen()) {
    absl::StatusOr<ListenAddress> listen = ParseListenAddress(m.metrics_listen());
    if (!listen.ok()) {
      s.Update(FieldError("monitoring.metrics_listen", listen.status().message()));
    } else if (!IsLoopback(*listen) && !out.metrics_allow_remote) {
      s.Update(FieldError("monitoring.metrics_listen",
                          absl::StrCat(Quote(m.metrics_listen()),
                                       " is not a loopback address; the endpoint has no "
                                       "authentication, so set monitoring.metrics_allow_remote "
                                       "to true to serve it there")));
    } else {
      out.metrics_listen = *listen;
    }
  }
  return s;
}

// uplinks[].relay and uplinks[].learn_remote: where the path's far end comes
// from, and the fields that then do not apply. Runs before the device lookup.
absl::Status ResolveUplinkEndpoint(const config::Uplink& u, const std::string& path,
                                   const NodeSettings& node, PathSettings& out) {
  const bool learn = u.has_learn_remote() && u.learn_remote();
  if (!u.has_relay() && !learn) return absl::OkStatus();
  if (u.has_relay() && learn) {
    return FieldError(path + ".learn_remote",
                      "cannot be combined with relay (relay is the client's side of a relayed "
                      "path, learn_remote the bonding peer's)");
  }
  const std::string field = u.has_relay() ? "relay" : "learn_remote";
  if (node.mode == BondMode::kFlow) {
    return FieldError(absl::StrCat(path, ".", field),
                      "meaningless in flow mode (no bonding peer to relay to)");
  }
  const absl::string_view why = u.has_relay()
                                    ? "the neighbour's uplink is chosen at run time"
                                    : "the far end is learned from the client's probes";
  for (const auto& [present, name] : {std::pair{u.has_remote_address(), ".remote_address"},
                                      std::pair{u.has_remote_port(), ".remote_port"}}) {
    if (present) return FieldError(path + name, absl::StrCat("not allowed with ", field, ": ", why));
  }
  if (learn) {
    if (!node.bond_address) {
      return FieldError(path + ".learn_remote",
                        "needs link_aggregation.bond_address (the far end is learned from the "
                        "client's path probes, which are sent to it)");
    }
    out.endpoint = PathEndpoint::kLearned;
    out.endpoint_known = false;
    return absl::OkStatus();
  }
  for (const auto& [present, name] : {std::pair{u.has_gateway(), ".gateway"},
                                      std::pair{u.has_source_address(), ".source_address"}}) {
    if (present) {
      return FieldError(path + name, "not allowed with relay (the path goes over the LAN "
                                     "interface straight to the neighbour)");
    }
  }
  if (!node.discovery.enabled) {
    return FieldError(path + ".relay",
                      "needs node_discovery.enabled (neighbours are found through discovery)");
  }
  if (!node.peer_address) {
    return FieldError(path + ".relay",
                      "needs link_aggregation.peer_address (where the neighbour forwards to)");
  }
  const config::RelayVia& via = u.relay();
  if (via.has_node()) {
    // Node ids allow every byte node names do, and ':'.
    if (std::optional<std::string> problem = NodeIdProblem(via.node())) {
      return FieldError(path + ".relay.node", absl::StrCat(Quote(via.node()), " ", *problem));
    }
    out.relay.node = via.node();
  }
  if (via.has_uplink()) {
    if (absl::Status s = CheckIfname(path + ".relay.uplink", via.uplink(), ""); !s.ok()) return s;
    out.relay.uplink = via.uplink();
  }
  out.endpoint = PathEndpoint::kRelay;
  out.endpoint_known = false;
  return absl::OkStatus();
}

// Name, device and lookup of one uplink; `path` is "interfaces.uplinks[i]".
absl::Status ResolveUplinkDevice(const config::Uplink& u, const std::string& path,
                                 const NodeSettings& node, const InterfaceLookup& interfaces,
                                 PathSettings& out) {
  const bool relay = out.endpoint == PathEndpoint::kRelay;
  if (!u.has_name() && !u.has_interface() && !relay) {
    return FieldError(path, "needs a name or an interface (or both)");
  }
  if (u.has_name() && u.name().empty()) return FieldError(path + ".name", "must not be empty");
  // A relayed path goes over the LAN: ResolveUplinkEndpoint made sure
  // discovery is enabled, so node_discovery.interfaces is not empty.
  absl::string_view from_name = "";
  if (u.has_interface()) {
    out.interface = u.interface();
  } else if (relay) {
    out.interface = node.discovery.interfaces.front();
    from_name = " (node_discovery.interfaces[0])";
  } else {
    out.interface = u.name();
    from_name = " (taken from name)";
  }
  out.name = u.has_name() ? u.name() : out.interface;
  const std::string iface_path = path + ".interface";
  if (absl::Status s = CheckIfname(iface_path, out.interface, from_name); !s.ok()) return s;
  if (relay && std::find(node.discovery.interfaces.begin(), node.discovery.interfaces.end(),
                         out.interface) == node.discovery.interfaces.end()) {
    return FieldError(iface_path, absl::StrCat(Quote(out.interface),
                                               " is not one of node_discovery.interfaces (a "
                                               "relayed path goes over the LAN to the neighbour)"));
  }
  // Tunnelling the bond over itself would loop every packet.
  if (out.interface == node.bond_interface ||
      out.interface == absl::StrCat(node.bond_interface, kTxSuffix)) {
    return FieldError(iface_path, absl::StrCat(Quote(out.interface), from_name,
                                               " is the bond device itself "
                                               "(link_aggregation.bond_interface)"));
  }
  const std::optional<InterfaceInfo> info = interfaces.Find(out.interface);
  if (!info) {
    return FieldError(iface_path,
                      absl::StrCat("no such network interface ", Quote(out.interface), from_name));
  }
  out.ifindex = info->ifindex;
  out.mtu = info->mtu;
  if (u.has_source_address()) {
    return OptionalIpv4(path + ".source_address", true, u.source_address(), out.source);
  }
  if (!info->ipv4) {
    return FieldError(
        path + ".source_address",
        absl::StrCat("not set and interface ", Quote(out.interface), " has no IPv4 address"));
  }
  out.source = *info->ipv4;
  return absl::OkStatus();
}

// Addresses, port and shaping of one uplink.
absl::Status ResolveUplinkPeer(const config::Uplink& u, const std::string& path,
                               const NodeSettings& node, PathSettings& out) {
  absl::Status s = OptionalIpv4(path + ".gateway", u.has_gateway(), u.gateway(), out.gateway);
  if (node.mode == BondMode::kFlow) {
    // The routing table sends the flows into the bond, so it cannot name
    // their next hop on the uplink.
    if (!u.has_gateway()) {
      s.Update(FieldError(path + ".gateway",
                          "required in flow mode (the next hop of this uplink: the routing "
                          "table sends the bonded traffic into the bond device)"));
    }
    for (const auto& [present, field] : {std::pair{u.has_remote_address(), ".remote_address"},
                                         std::pair{u.has_remote_port(), ".remote_port"}}) {
      if (present) {
        s.Update(FieldError(path + field,
                            "meaningless in flow mode (no bonding peer: each flow goes "
                            "straight to its destination)"));
      }
    }
  } else if (out.endpoint != PathEndpoint::kConfigured) {
    // The agent fills in remote and remote_port at run time.
  } else if (u.has_remote_address()) {
    s.Update(OptionalIpv4(path + ".remote_address", true, u.remote_address(), out.remote));
  } else if (node.peer_address) {
    out.remote = *node.peer_address;
  } else {
    s.Update(FieldError(path + ".remote_address",
                        "not set and link_aggregation.peer_address is not set either"));
  }
  if (out.endpoint == PathEndpoint::kConfigured) out.remote_port = node.port;
  s.Update(Checked(path + ".remote_port", u.has_remote_port(), u.remote_port(), kPortRange,
                   out.remote_port));
  if (!u.has_rate_mbit()) {
    s.Update(FieldError(path + ".rate_mbit", absl::StrCat("required (expected capacity in Mbit/s, ",
                                                          kRateMbit.Describe(), ")")));
  }
  double rate_mbit = 0;
  s.Update(Checked(path + ".rate_mbit", u.has_rate_mbit(), u.rate_mbit(), kRateMbit, rate_mbit));
  out.rate_bps = rate_mbit * 1e6;
  s.Update(
      Checked(path + ".delay_ms", u.has_delay_ms(), u.delay_ms(), Closed(0, 10000), out.delay_ms));
  return s;
}

// Marks the uplinks named in interfaces.backups as backups, in that order.
absl::Status ResolveBackups(const config::Interfaces& in,
                            const std::map<std::string, size_t>& by_name, NodeSettings& out) {
  for (int i = 0; i < in.backups_size(); ++i) {
    const std::string path = absl::StrCat("interfaces.backups[", i, "]");
    const auto it = by_name.find(in.backups(i));
    if (it == by_name.end()) {
      return FieldError(path, absl::StrCat(Quote(in.backups(i)), " is not the name of an uplink"));
    }
    PathSettings& p = out.paths[it->second];
    if (p.role == PathRole::kBackup) {
      return FieldError(path, absl::StrCat(Quote(in.backups(i)), " is already listed as ",
                                           "interfaces.backups[", p.backup_order, "]"));
    }
    p.role = PathRole::kBackup;
    p.backup_order = i;
  }
  if (std::none_of(out.paths.begin(), out.paths.end(),
                   [](const PathSettings& p) { return p.role == PathRole::kBonded; })) {
    return FieldError("interfaces", "every uplink is a backup; at least one must be bonded");
  }
  return absl::OkStatus();
}

absl::Status ResolveInterfaces(const config::Interfaces& in, const InterfaceLookup& interfaces,
                               NodeSettings& out) {
  if (in.uplinks_size() == 0)
    return FieldError("interfaces.uplinks", "at least one uplink is required");
  if (in.uplinks_size() > MB_MAX_PATHS) {
    return FieldError("interfaces.uplinks",
                      absl::StrCat("at most ", MB_MAX_PATHS, " uplinks, got ", in.uplinks_size()));
  }
  // The path id is the index in interfaces.uplinks, so the order is kept.
  std::map<std::string, size_t> by_name;
  for (int i = 0; i < in.uplinks_size(); ++i) {
    const std::string path = absl::StrCat("interfaces.uplinks[", i, "]");
    PathSettings p;
    const config::Uplink& u = in.uplinks(i);
    absl::Status s = ResolveUplinkEndpoint(u, path, out, p);
    if (s.ok()) s = ResolveUplinkDevice(u, path, out, interfaces, p);
    if (s.ok()) s = ResolveUplinkPeer(u, path, out, p);
    if (s.ok() && u.has_data_cap()) {
      absl::StatusOr<CapPlan> plan = ResolveCap(u.data_cap(), path + ".data_cap");
      if (plan.ok()) {
        p.data_cap = *std::move(plan);
      } else {
        s = plan.status();
      }
    }
    if (!s.ok()) return s;
    // `meshbpf cap` and the history store know the share budget by this name.
    if (p.name == kShareCapName) {
      return FieldError(path + (u.has_name() ? ".name" : ".interface"),
                        absl::StrCat(Quote(p.name), " is reserved for the share budget"));
    }
    if (auto [it, inserted] = by_name.emplace(p.name, out.paths.size()); !inserted) {
      return FieldError(path + (in.uplinks(i).has_name() ? ".name" : ".interface"),
                        absl::StrCat("uplink name ", Quote(p.name), " is already used by ",
                                     "interfaces.uplinks[", it->second, "]"));
    }
    // Replies are told apart by the address their flow was NATed to.
    for (size_t j = 0; out.mode == BondMode::kFlow && j < out.paths.size(); ++j) {
      if (out.paths[j].source.s_addr == p.source.s_addr) {
        return FieldError(path + ".source_address",
                          absl::StrCat(AddressText(p.source), " is also the source of "
                                       "interfaces.uplinks[", j, "]; in flow mode every uplink "
                                       "needs its own address"));
      }
    }
    out.paths.push_back(std::move(p));
  }
  if (absl::Status s = ResolveBackups(in, by_name, out); !s.ok()) return s;
  if (!in.has_primary()) {
    out.primary = std::find_if(out.paths.begin(), out.paths.end(), [](const PathSettings& p) {
                    return p.role == PathRole::kBonded;
                  })->name;
    return absl::OkStatus();
  }
  const auto it = by_name.find(in.primary());
  if (it == by_name.end()) {
    return FieldError("interfaces.primary",
                      absl::StrCat(Quote(in.primary()), " is not the name of an uplink"));
  }
  if (out.paths[it->second].role == PathRole::kBackup) {
    return FieldError("interfaces.primary",
                      absl::StrCat(Quote(in.primary()), " is also listed in interfaces.backups"));
  }
  out.primary = in.primary();
  return absl::OkStatus();
}

// After the uplinks: node_discovery.share_uplinks names them.
absl::Status ResolveSharedUplinks(const config::NodeDiscovery& d, NodeSettings& out) {
  // Each shared interface takes one forward relay port; there are never more
  // interfaces than uplinks, so they cannot run out.
  static_assert(MB_MAX_PATHS <= MB_RELAY_MAX_UPLINKS);
  for (int i = 0; i < d.share_uplinks_size(); ++i) {
    const std::string path = absl::StrCat("node_discovery.share_uplinks[", i, "]");
    const std::string& name = d.share_uplinks(i);
    const auto uplink = std::find_if(out.paths.begin(), out.paths.end(),
                                     [&](const PathSettings& p) { return p.name == name; });
    if (uplink == out.paths.end()) {
      return FieldError(path, absl::StrCat(Quote(name), " is not the name of an uplink"));
    }
    if (uplink->endpoint == PathEndpoint::kRelay) {
      return FieldError(path, absl::StrCat(Quote(name),
                                           " is itself relayed through a neighbour (its "
                                           "interface is the LAN); share an uplink of our own"));
    }
    std::vector<std::string>& shared = out.discovery.share_uplinks;
    if (std::find(shared.begin(), shared.end(), name) != shared.end()) {
      return FieldError(path, absl::StrCat(Quote(name), " is listed twice"));
    }
    shared.push_back(name);
  }
  return absl::OkStatus();
}

// After everything: the relay ports (node_discovery.relay_port and the span
// above it, see bpf/meshbpf.h "Relaying") must not take a port this node
// already listens on. Checked when the node relays or the port was set.
absl::Status ResolveRelayPorts(const config::NodeDiscovery& d, const NodeSettings& node) {
  if (node.discovery.share_uplinks.empty() && !d.has_relay_port()) return absl::OkStatus();
  const uint32_t first = node.discovery.relay_port;
  const uint32_t last = first + MB_RELAY_PORT_SPAN - 1;
  for (const auto& [port, field] :
       {std::pair{node.port, "link_aggregation.port"},
        std::pair{node.failover.probe_port, "failover.probe_port"},
        std::pair{node.discovery.port, "node_discovery.port"}}) {
    if (port >= first && port <= last) {
      return FieldError("node_discovery.relay_port",
                        absl::StrCat("relaying takes ports ", first, "..", last, ", which include ",
                                     field, " (", port, ")"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) return absl::InvalidArgumentError(std::strerror(errno));
  std::string data;
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), file)) > 0) data.append(buffer, n);
  const int error = std::ferror(file) ? errno : 0;  // e.g. EISDIR for a directory
  std::fclose(file);
  if (error != 0) return absl::InvalidArgumentError(std::strerror(error));
  return data;
}

}  // namespace

std::string_view BondModeName(BondMode mode) {
  for (const Named<BondMode>& entry : kModes) {
    if (entry.value == mode) return {entry.name.data(), entry.name.size()};
  }
  return "unknown";
}

absl::StatusOr<BondMode> ParseBondMode(std::string_view name) {
  return ParseNamed(kModes, "link_aggregation.mode", "mode", ToAbsl(name));
}

std::string StripLineComments(std::string_view text) {
  std::string out(text);
  bool in_string = false;
  for (size_t i = 0; i < out.size(); ++i) {
    if (in_string) {
      if (out[i] == '\\') {
        ++i;  // the escaped character, even a quote
      } else if (out[i] == '"') {
        in_string = false;
      }
    } else if (out[i] == '"') {
      in_string = true;
    } else if (out[i] == '/' && i + 1 < out.size() && out[i + 1] == '/') {
      // Blanked, not removed: error positions stay where the user sees them.
      for (; i < out.size() && out[i] != '\n'; ++i) out[i] = ' ';
    }
  }
  return out;
}

absl::StatusOr<config::Config> ParseConfigJson(std::string_view json_text) {
  const std::string uncommented = StripLineComments(json_text);
  absl::string_view json = uncommented;
  // Editors on some systems start UTF-8 files with a byte order mark.
  absl::ConsumePrefix(&json, "\xEF\xBB\xBF");
  const absl::string_view start = absl::StripLeadingAsciiWhitespace(json);
  if (start.empty()) return InvalidConfig("empty input (expected a JSON object)");
  // protobuf's own message for this is ": Root element must be a message."
  if (start.front() != '{') return InvalidConfig("expected a JSON object at the top level");
  // Before protobuf, which merges repeated objects and reports a repeated
  // scalar as an obscure oneof conflict.
  if (std::optional<std::string> duplicate = ScanJson(json).duplicate) {
    return InvalidConfig(absl::StrCat(*duplicate, ": key appears more than once"));
  }
  pb::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  const pb::StringPiece text(json.data(), json.size());
  config::Config config;
  if (pb::util::Status s = pb::util::JsonStringToMessage(text, &config, options); !s.ok()) {
    // Only syntax errors are multi-line; the others already name the field.
    const absl::string_view message = ToAbsl(s.message());
    return InvalidConfig(message.find('\n') == absl::string_view::npos
                             ? std::string(message)
                             : DescribeSyntaxError(json, message));
  }
  // The same text as a plain JSON tree, to check the kinds protobuf lets slip.
  pb::Struct tree;
  if (pb::util::Status s = pb::util::JsonStringToMessage(text, &tree, options); !s.ok()) {
    return InvalidConfig(ToAbsl(s.message()));
  }
  if (absl::Status s = CheckObject(tree, *config::Config::descriptor(), ""); !s.ok()) {
    return InvalidConfig(s.message());
  }
  return config;
}

absl::StatusOr<NodeSettings> ResolveConfig(const config::Config& config,
                                           const InterfaceLookup& interfaces) {
  NodeSettings out;
  absl::Status s = ResolveDiscovery(config.node_discovery(), out.discovery);
  if (s.ok()) s = ResolveLinkAggregation(config.link_aggregation(), out);
  if (s.ok()) s = ResolveFailover(config.failover(), out.failover);
  if (s.ok()) s = ResolveInterfaces(config.interfaces(), interfaces, out);
  if (s.ok()) s = ResolveSharedUplinks(config.node_discovery(), out);
  if (s.ok()) s = ResolveRelayPorts(config.node_discovery(), out);
  if (s.ok()) s = ResolveMonitoring(config.monitoring(), out.monitoring);
  if (!s.ok()) return s;
  return out;
}

std::string DefaultHistoryFile(const std::string& instance) {
  return absl::StrCat("/var/lib/meshbpf/", instance, ".db");
}

absl::StatusOr<NodeSettings> LoadConfigFile(const std::string& path,
                                            const InterfaceLookup& interfaces) {
  absl::StatusOr<NodeSettings> settings = [&]() -> absl::StatusOr<NodeSettings> {
    absl::StatusOr<std::string> text = ReadFile(path);
    if (!text.ok()) return text.status();
    absl::StatusOr<config::Config> config = ParseConfigJson(*text);
    if (!config.ok()) return config.status();
    return ResolveConfig(*config, interfaces);
  }();
  if (settings.ok()) return settings;
  return absl::Status(settings.status().code(),
                      absl::StrCat("config file \"", path, "\": ", settings.status().message()));
}

}  // namespace meshbpf
