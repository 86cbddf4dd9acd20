// Checked reading of JSON objects for the control protocol
// (control_protocol.h): every field is checked for presence and type before
// it is read, and a failure names the field ("paths[1].rtt_ms" must be a
// number) instead of throwing nlohmann's exceptions out of the agent.
#pragma once

#include <concepts>
#include <exception>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/status/status.h"

namespace meshbpf {

// A field missing or of the wrong type; thrown only inside from_json, which
// ReadJson turns into a status.
class FieldError : public std::exception {
 public:
  FieldError(std::string field, std::string problem)
      : field_(std::move(field)), problem_(std::move(problem)) {}
  // The same problem, inside `outer` (a field name or "[index]").
  FieldError Within(const std::string& outer) const;
  // "\"paths[1].rtt_ms\" must be a number"; without a field: "must be an object".
  std::string Message() const;
  const char* what() const noexcept override { return problem_.c_str(); }

 private:
  std::string field_, problem_;
};

void ReadValue(const nlohmann::json& json, std::string& out);
void ReadValue(const nlohmann::json& json, bool& out);
void ReadValue(const nlohmann::json& json, double& out);

template <std::unsigned_integral T>
requires(!std::same_as<T, bool>) void ReadValue(const nlohmann::json& json, T& out) {
  const bool non_negative =
      json.is_number_unsigned() || (json.is_number_integer() && json.get<int64_t>() >= 0);
  if (!non_negative || json.get<uint64_t>() > std::numeric_limits<T>::max()) {
    throw FieldError(
        "", "must be an integer within 0.." + std::to_string(std::numeric_limits<T>::max()));
  }
  out = json.get<T>();
}

// null reads as nullopt.
template <typename T>
void ReadValue(const nlohmann::json& json, std::optional<T>& out) {
  if (json.is_null()) {
    out.reset();
    return;
  }
  T value{};
  ReadValue(json, value);
  out = std::move(value);
}

template <typename T>
void ReadValue(const nlohmann::json& json, std::vector<T>& out) {
  if (!json.is_array()) throw FieldError("", "must be an array");
  out.clear();
  for (size_t i = 0; i < json.size(); ++i) {
    T value{};
    try {
      ReadValue(json[i], value);
    } catch (const FieldError& e) {
      throw e.Within("[" + std::to_string(i) + "]");
    }
    out.push_back(std::move(value));
  }
}

template <typename T>
void ReadValue(const nlohmann::json& json, std::map<std::string, T>& out) {
  if (!json.is_object()) throw FieldError("", "must be an object");
  out.clear();
  for (const auto& [key, item] : json.items()) {
    try {
      ReadValue(item, out[key]);
    } catch (const FieldError& e) {
      throw e.Within(key);
    }
  }
}

// A protocol struct: an object, read by its from_json.
template <typename T>
requires std::is_class_v<T>
void ReadValue(const nlohmann::json& json, T& out) {
  if (!json.is_object()) throw FieldError("", "must be an object");
  from_json(json, out);
}

// The field `key` of `object`, which must be there (it may be null when
// `out` is an optional).
template <typename T>
void Field(const nlohmann::json& object, const char* key, T& out) {
  auto it = object.find(key);
  if (it == object.end()) throw FieldError(key, "is missing");
  try {
    ReadValue(*it, out);
  } catch (const FieldError& e) {
    throw e.Within(key);
  }
}

// A field that may be left out: absent reads as nullopt.
template <typename T>
void OptionalField(const nlohmann::json& object, const char* key, std::optional<T>& out) {
  if (!object.contains(key)) {
    out.reset();
    return;
  }
  T value{};
  Field(object, key, value);
  out = std::move(value);
}

// Reads `json` into `out`; the error starts with `what`, e.g.
// `status: "paths[0].name" must be a string`. Never throws.
template <typename T>
absl::Status ReadJson(const nlohmann::json& json, const std::string& what, T& out) {
  try {
    ReadValue(json, out);
  } catch (const FieldError& e) {
    return absl::InvalidArgumentError(what + ": " + e.Message());
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(what + ": " + e.what());
  }
  return absl::OkStatus();
}

// The JSON value of an optional: null when empty.
template <typename T>
nlohmann::json Nullable(const std::optional<T>& value) {
  return value ? nlohmann::json(*value) : nlohmann::json(nullptr);
}

// A field's JSON value; an empty optional is null.
template <typename T>
nlohmann::json FieldJson(const T& value) {
  return value;
}
template <typename T>
nlohmann::json FieldJson(const std::optional<T>& value) {
  return Nullable(value);
}

// Defines WriteFields and ReadFields of a struct, for the listed fields: one
// key per field, named like it; every one must be present (an optional one
// may be null). Structs with more to their JSON build on these.
#define MESHBPF_JSON_FIELD_TO(field) json[#field] = FieldJson(value.field);
#define MESHBPF_JSON_FIELD_FROM(field) Field(json, #field, value.field);
#define MESHBPF_JSON_FIELD_FUNCTIONS(Type, ...)                                       \
  [[maybe_unused]] static void WriteFields(nlohmann::json& json, const Type& value) { \
    NLOHMANN_JSON_EXPAND(NLOHMANN_JSON_PASTE(MESHBPF_JSON_FIELD_TO, __VA_ARGS__))     \
  }                                                                                   \
  [[maybe_unused]] static void ReadFields(const nlohmann::json& json, Type& value) {  \
    NLOHMANN_JSON_EXPAND(NLOHMANN_JSON_PASTE(MESHBPF_JSON_FIELD_FROM, __VA_ARGS__))   \
  }
// to_json and from_json of a struct whose JSON is just the listed fields.
#define MESHBPF_JSON_FIELDS(Type, ...)                    \
  MESHBPF_JSON_FIELD_FUNCTIONS(Type, __VA_ARGS__)         \
  void to_json(nlohmann::json& json, const Type& value) { \
    json = nlohmann::json::object();                      \
    WriteFields(json, value);                             \
  }                                                       \
  void from_json(const nlohmann::json& json, Type& value) { ReadFields(json, value); }

}  // namespace meshbpf
