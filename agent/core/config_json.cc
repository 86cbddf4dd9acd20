#include "agent/core/config.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "agent/core/config_checks.h"

namespace meshbpf {
namespace {

using namespace config_internal;
namespace pb = google::protobuf;

absl::string_view ToAbsl(pb::StringPiece s) { return {s.data(), s.size()}; }

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
    return InvalidField(path, absl::StrCat("expected ", expected, ", got ", KindName(value)));
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
      return InvalidField(field_path, absl::StrCat("expected a list, got ", KindName(it->second)));
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

}  // namespace

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

}  // namespace meshbpf
