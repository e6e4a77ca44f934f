#include "util/utf8.h"

#include <nlohmann/json.hpp>
#include <string>

namespace multicache::util {

bool is_valid_utf8(std::string_view s) {
  // Round-trips through the JSON library's own validator: dump() with the
  // strict handler throws on invalid UTF-8.
  try {
    (void)nlohmann::json(std::string(s)).dump();
    return true;
  } catch (const nlohmann::json::exception&) {
    return false;
  }
}

}  // namespace multicache::util
