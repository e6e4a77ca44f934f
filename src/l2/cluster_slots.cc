#include "l2/cluster_slots.h"

#include <charconv>
#include <mutex>
#include <stdexcept>

namespace multicache::l2 {

namespace {

constexpr std::array<std::uint16_t, 256> make_crc_table() {
  std::array<std::uint16_t, 256> table{};
  for (int i = 0; i < 256; ++i) {
    auto crc = static_cast<std::uint16_t>(i << 8);
    for (int bit = 0; bit < 8; ++bit) {
      crc = (crc & 0x8000) != 0 ? static_cast<std::uint16_t>((crc << 1) ^ 0x1021)
                                : static_cast<std::uint16_t>(crc << 1);
    }
    table[static_cast<std::size_t>(i)] = crc;
  }
  return table;
}

constexpr auto k_crc_table = make_crc_table();

// Reads "<prefix><integer>\r\n" at pos; advances pos past it.
bool read_line_int(std::string_view s, std::size_t* pos, char prefix, long long* out) {
  if (*pos >= s.size() || s[*pos] != prefix) return false;
  const std::size_t end = s.find("\r\n", *pos);
  if (end == std::string_view::npos) return false;
  const char* first = s.data() + *pos + 1;
  const auto [p, ec] = std::from_chars(first, s.data() + end, *out);
  if (ec != std::errc() || p != s.data() + end) return false;
  *pos = end + 2;
  return true;
}

// The i-th argument of a RESP array command, or false.
bool argument(std::string_view cmd, std::size_t index, std::string_view* out) {
  std::size_t pos = 0;
  long long n = 0;
  if (!read_line_int(cmd, &pos, '*', &n) || n < 0 || index >= static_cast<std::size_t>(n)) {
    return false;
  }
  for (std::size_t i = 0; i <= index; ++i) {
    long long len = 0;
    if (!read_line_int(cmd, &pos, '$', &len) || len < 0 ||
        pos + static_cast<std::size_t>(len) + 2 > cmd.size()) {
      return false;
    }
    if (i == index) {
      *out = cmd.substr(pos, static_cast<std::size_t>(len));
      return true;
    }
    pos += static_cast<std::size_t>(len) + 2;
  }
  return false;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

bool parse_host_port(std::string_view s, Endpoint* out) {
  const std::size_t colon = s.rfind(':');
  if (colon == std::string_view::npos) return false;
  int port = 0;
  const auto [p, ec] = std::from_chars(s.data() + colon + 1, s.data() + s.size(), port);
  if (ec != std::errc() || p != s.data() + s.size() || port <= 0 || port > 65535) return false;
  out->host = std::string(s.substr(0, colon));
  out->port = port;
  return true;
}

}  // namespace

std::uint16_t crc16(std::string_view data) {
  std::uint16_t crc = 0;
  for (const char c : data) {
    const auto byte = static_cast<std::uint8_t>(c);
    crc = static_cast<std::uint16_t>((crc << 8) ^ k_crc_table[((crc >> 8) ^ byte) & 0xff]);
  }
  return crc;
}

int slot_of(std::string_view key) {
  const std::size_t open = key.find('{');
  if (open != std::string_view::npos) {
    const std::size_t close = key.find('}', open + 1);
    if (close != std::string_view::npos && close > open + 1) {
      key = key.substr(open + 1, close - open - 1);
    }
  }
  return crc16(key) & (k_slot_count - 1);
}

int slot_of_command(std::string_view formatted) {
  std::string_view name;
  if (!argument(formatted, 0, &name)) return -1;
  std::string_view key;
  if (iequals(name, "EVAL") || iequals(name, "EVALSHA")) {
    std::string_view numkeys;
    if (!argument(formatted, 2, &numkeys) || numkeys == "0") return -1;
    if (!argument(formatted, 3, &key)) return -1;
    return slot_of(key);
  }
  for (const char* keyless : {"PUBLISH", "PING", "ASKING", "CLUSTER", "INFO", "SCRIPT", "AUTH",
                              "SELECT", "ROLE", "SUBSCRIBE", "FLUSHALL", "FLUSHDB", "DBSIZE"}) {
    if (iequals(name, keyless)) return -1;
  }
  if (!argument(formatted, 1, &key)) return -1;
  return slot_of(key);
}

const std::string& slot_tag(int slot) {
  static const std::vector<std::string> tags = [] {
    std::vector<std::string> t(k_slot_count);
    int filled = 0;
    for (std::uint64_t n = 0; filled < k_slot_count; ++n) {
      std::string s = std::to_string(n);
      std::string& entry = t[static_cast<std::size_t>(crc16(s) & (k_slot_count - 1))];
      if (entry.empty()) {
        entry = std::move(s);
        ++filled;
      }
    }
    return t;
  }();
  return tags[static_cast<std::size_t>(slot & (k_slot_count - 1))];
}

bool SlotMap::complete() const {
  for (const auto o : owner) {
    if (o < 0) return false;
  }
  return true;
}

SlotMap parse_cluster_slots(const Reply& reply, const std::string& seed_host) {
  if (reply.type != Reply::kind::array) throw std::runtime_error("CLUSTER SLOTS: not an array");
  SlotMap map;
  map.owner.fill(-1);
  for (const Reply& range : reply.elements) {
    if (range.type != Reply::kind::array || range.elements.size() < 3 ||
        range.elements[0].type != Reply::kind::integer ||
        range.elements[1].type != Reply::kind::integer ||
        range.elements[2].type != Reply::kind::array || range.elements[2].elements.size() < 2 ||
        range.elements[2].elements[0].type != Reply::kind::string ||
        range.elements[2].elements[1].type != Reply::kind::integer) {
      throw std::runtime_error("CLUSTER SLOTS: unexpected range shape");
    }
    const std::int64_t first = range.elements[0].integer;
    const std::int64_t last = range.elements[1].integer;
    if (first < 0 || last >= k_slot_count || first > last) {
      throw std::runtime_error("CLUSTER SLOTS: slot range out of bounds");
    }
    Endpoint node;
    node.host = range.elements[2].elements[0].str;
    if (node.host.empty()) node.host = seed_host;
    node.port = static_cast<int>(range.elements[2].elements[1].integer);
    std::size_t index = 0;
    while (index < map.primaries.size() &&
           (map.primaries[index].host != node.host || map.primaries[index].port != node.port)) {
      ++index;
    }
    if (index == map.primaries.size()) map.primaries.push_back(node);
    for (std::int64_t s = first; s <= last; ++s) {
      map.owner[static_cast<std::size_t>(s)] = static_cast<std::int16_t>(index);
    }
  }
  return map;
}

bool parse_redirect(std::string_view error, Redirect* out) {
  Redirect r;
  if (error.starts_with("MOVED ")) {
    error.remove_prefix(6);
  } else if (error.starts_with("ASK ")) {
    r.ask = true;
    error.remove_prefix(4);
  } else {
    return false;
  }
  const std::size_t space = error.find(' ');
  if (space == std::string_view::npos) return false;
  const auto [p, ec] = std::from_chars(error.data(), error.data() + space, r.slot);
  if (ec != std::errc() || p != error.data() + space || r.slot < 0 || r.slot >= k_slot_count) {
    return false;
  }
  if (!parse_host_port(error.substr(space + 1), &r.node)) return false;
  *out = std::move(r);
  return true;
}

}  // namespace multicache::l2
