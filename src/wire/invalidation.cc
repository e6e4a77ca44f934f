#include "wire/invalidation.h"

#include <nlohmann/json.hpp>

#include "util/utf8.h"

namespace multicache::wire {

namespace {

constexpr char k_hex[] = "0123456789abcdef";

std::string to_hex(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(k_hex[c >> 4]);
    out.push_back(k_hex[c & 15]);
  }
  return out;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::string> from_hex(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  std::string out;
  out.reserve(hex.size() / 2);
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    int hi = hex_digit(hex[i]);
    int lo = hex_digit(hex[i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return out;
}

}  // namespace

std::string encode_invalidation(std::string_view key, std::string_view origin) {
  nlohmann::json j = nlohmann::json::object();
  if (util::is_valid_utf8(key)) {
    j["key"] = std::string(key);
  } else {
    j["key"] = std::string(key);  // replaced below by dump's U+FFFD handler
    j["key_hex"] = to_hex(key);
  }
  if (!origin.empty()) j["origin"] = std::string(origin);
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::optional<Invalidation> parse_invalidation(std::string_view message) {
  if (message.size() > k_max_invalidation_bytes) return std::nullopt;
  nlohmann::json j = nlohmann::json::parse(message, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  Invalidation inv;
  auto hex = j.find("key_hex");
  if (hex != j.end()) {
    if (!hex->is_string()) return std::nullopt;
    auto raw = from_hex(hex->get_ref<const std::string&>());
    if (!raw) return std::nullopt;
    inv.key = std::move(*raw);
  } else {
    auto key = j.find("key");
    if (key == j.end() || !key->is_string()) return std::nullopt;
    inv.key = key->get<std::string>();
  }
  auto origin = j.find("origin");
  if (origin != j.end()) {
    if (!origin->is_string()) return std::nullopt;
    inv.origin = origin->get<std::string>();
  }
  return inv;
}

}  // namespace multicache::wire
