// util/utf8.h — whether bytes are valid UTF-8 (JSON strings and Prometheus
// label values must be). Thread-safe (pure).
#pragma once

#include <string_view>

namespace multicache::util {

bool is_valid_utf8(std::string_view s);

}  // namespace multicache::util
